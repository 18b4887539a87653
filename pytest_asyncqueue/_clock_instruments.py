"""The parts :class:`~pytest_asyncqueue.clock.VirtualClockLoop` fits into asyncio's loop.

An asyncio ``SelectorEventLoop`` is steered through two objects it owns: its selector (asked
how long to wait for I/O when nothing is ready) and its ready queue (a deque it pops callbacks
from). :class:`AutojumpSelector` hands the idle wait to the loop so that virtual time can jump;
:class:`TimedReadyQueue` times every callback and, when the loop is seeded, reorders the timers
due at one instant. :func:`where_task_waits` and :func:`describe_callback` name a suspended task
and a slow callback in the loop's error messages and blocking-call records.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import selectors
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, Final

__all__ = ["AutojumpSelector", "TimedReadyQueue", "describe_callback", "where_task_waits"]

_ASYNCIO_DIR: Final = os.path.dirname(asyncio.__file__)
_perf_counter = time.perf_counter
_popleft = collections.deque.popleft


class AutojumpSelector:
    """Wraps a real selector: polls it without blocking, then lets the loop decide how to wait.

    Args:
        inner: the real selector; registrations go to it unchanged.

    Attributes:
        on_idle: called when the poll found nothing and the loop would block; it returns the
            events to report (after jumping the clock, or after a real wait). None: return
            the empty poll.
    """

    def __init__(self, inner: selectors.BaseSelector) -> None:
        self.inner = inner
        self.on_idle: Callable[[], list[Any]] | None = None

    def select(self, timeout: float | None = None) -> list[Any]:
        events = self.inner.select(0)
        if events or timeout == 0 or self.on_idle is None:
            return events
        return self.on_idle()  # the loop knows its timers; timeout is only a hint

    def __getattr__(self, name: str) -> Any:  # register, unregister, modify, get_map, close
        return getattr(self.inner, name)


class TimedReadyQueue(collections.deque):  # type: ignore[type-arg]
    """A loop's ready queue that times each callback between pops and, seeded, reorders the
    timers due at one instant.

    The gap between two pops is the wall time of the callback popped first; :meth:`finish`
    times the last one of an iteration. No tracing: one clock read per callback.

    Args:
        record_blocking: called with the handle and its wall seconds for each callback that
            ran at least ``threshold`` wall seconds.
        threshold: wall seconds; ``inf`` records nothing.
        rng: reorders the timers due at one instant at the first pop after ``reorder_due``
            is set; None for a loop that never sets it (heap order, as asyncio's).

    Attributes:
        reorder_due: set by the loop at the start of an iteration to reorder once.
    """

    __slots__ = ("_record_blocking", "_threshold", "_rng", "_current", "_started",
                 "reorder_due")

    def __init__(self, record_blocking: Callable[[asyncio.Handle, float], None],
                 threshold: float, rng: random.Random | None) -> None:
        super().__init__()
        self._record_blocking = record_blocking
        self._threshold = threshold
        self._rng = rng
        self._current: Any = None
        self._started = 0.0
        self.reorder_due = False

    def popleft(self) -> Any:
        now = _perf_counter()
        if self._current is not None and now - self._started >= self._threshold:
            self._record_blocking(self._current, now - self._started)
        if self.reorder_due:
            self.reorder_due = False
            self._reorder_ties()
        self._current = handle = _popleft(self)
        self._started = now
        return handle

    def _reorder_ties(self) -> None:
        """Permute the timers due at one instant among their own places in the queue.

        At the first pop of an iteration the only timer handles in the queue are the ones
        the loop has just found due, in heap order; asyncio leaves the order of timers due
        at the same time undefined, so any permutation of them is one a stock loop may run.
        Every other callback keeps its FIFO place.
        """
        ties: dict[float, list[int]] = {}
        for index, handle in enumerate(self):
            if type(handle) is asyncio.TimerHandle:
                ties.setdefault(handle.when(), []).append(index)
        ties = {when: places for when, places in ties.items() if len(places) > 1}
        if not ties:
            return
        items = list(self)
        for places in ties.values():
            handles = [items[i] for i in places]
            self._rng.shuffle(handles)  # type: ignore[union-attr]
            for index, handle in zip(places, handles, strict=True):
                items[index] = handle
        self.clear()
        self.extend(items)

    def finish(self) -> None:
        """Time the last callback of an iteration and drop the reference to it."""
        if self._current is not None:
            elapsed = _perf_counter() - self._started
            if elapsed >= self._threshold:
                self._record_blocking(self._current, elapsed)
            self._current = None


def _task_frames(task: asyncio.Task[Any]) -> tuple[FrameType, FrameType] | None:
    """(innermost frame outside asyncio, innermost frame) where a task is suspended, or None.

    ``task.get_stack()`` gives only the outermost frame of a suspended coroutine, so this
    follows ``cr_await`` down to the await the task is really blocked in.
    """
    frames, obj = [], task.get_coro()  # type: list[FrameType], Any
    while (frame := getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None)) is not None:
        frames.append(frame)
        obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None)
    if not frames:
        return None
    user = [f for f in frames if not f.f_code.co_filename.startswith(_ASYNCIO_DIR)]
    return (user or frames)[-1], frames[-1]


def where_task_waits(task: asyncio.Task[Any]) -> str:
    """"<name> at file:line in <function>[ awaiting <inner>()]" for a suspended task."""
    found = _task_frames(task)
    if found is None:
        return f"{task.get_name()} (not suspended in a coroutine)"
    frame, innermost = found
    code = frame.f_code
    text = f"{task.get_name()} at {code.co_filename}:{frame.f_lineno} in {code.co_qualname}"
    return text if innermost is frame else f"{text} awaiting {innermost.f_code.co_qualname}()"


def describe_callback(handle: asyncio.Handle) -> tuple[str, str]:
    """Name and file:line of what a ready handle ran (best effort, only used on slow ones)."""
    callback = handle._callback  # type: ignore[attr-defined]
    task = getattr(callback, "__self__", None)  # task steps and wakeups are bound to the task
    if isinstance(task, asyncio.Task):
        found = _task_frames(task)
        if found is not None:
            return task.get_name(), f"{found[0].f_code.co_filename}:{found[0].f_lineno}"
        name, code = task.get_name(), getattr(task.get_coro(), "cr_code", None)
    else:
        func = getattr(callback, "func", callback)  # unwrap functools.partial
        name, code = getattr(func, "__qualname__", repr(func)), getattr(func, "__code__", None)
    return name, f"{code.co_filename}:{code.co_firstlineno}" if code else "unknown location"

"""A virtual-time asyncio event loop that detects deadlocks and blocking calls.

IMPLEMENTATION DETAIL - autojump
================================

Problem: code under test waits on the loop clock (``asyncio.sleep``, ``call_later``,
``asyncio.timeout``, retry backoff); real waits make tests slow and timing-dependent.

Solution: ``VirtualClockLoop.time()`` is an integer count of nanoseconds that starts at 0 and
moves only when the loop is idle. The loop's selector is wrapped: each ``select(timeout)`` polls
real I/O with ``select(0)`` (sockets and pipes keep working); if nothing came and a timer is
scheduled, virtual time jumps to that timer, which then runs in the same iteration. Integer
ticks keep time exact: after ``sleep(0.2)`` and ``sleep(0.1)`` the clock reads exactly ``0.3``.
Wall time spent inside callbacks never moves virtual time.

IMPLEMENTATION DETAIL - executor waits
======================================

Work sent to a thread (``run_in_executor``, ``asyncio.to_thread``, and the default executor's
shutdown) takes real time; jumping past it would fire timeouts a real run never hits. While such
work is out, the idle loop waits in short real polls and virtual time stands still.

IMPLEMENTATION DETAIL - deadlock detection
==========================================

When nothing is ready, no timer is scheduled, no executor work is out and no file descriptor but
the loop's self-pipe is registered, only another thread could wake the loop. It waits
``deadlock_grace`` wall seconds for one; then, if tasks are pending, it raises ``DeadlockError``
(listing each task and the line it waits on) out of ``run_until_complete`` instead of hanging.
Code woken later by its own threads needs ``detect_deadlocks=False``.

IMPLEMENTATION DETAIL - blocking calls and seeded order
=======================================================

The ready queue is a deque whose ``popleft`` reads ``time.perf_counter()``: the gap between two
pops is the wall time of the callback popped first; the last one is timed when the iteration
ends. No tracing: one clock read per callback. With ``seed`` set, the timers due at one
instant run in an order drawn from ``random.Random(seed)`` (asyncio leaves that order
undefined); every other callback keeps asyncio's FIFO order, so a seeded loop explores only
schedules a stock loop can produce. The same code and seed give the same schedule.

The wrapped selector, the timed ready queue and the helpers that name a waiting task or a slow
callback live in ``_clock_instruments``; this module is the loop itself and its entry points.

Prior art (read, not copied): trio's ``MockClock`` with ``autojump_threshold=0``
(``trio/_core/_mock_clock.py``) and looptime's integer-tick loop time
(``looptime/_internal/loops.py``).
"""

from __future__ import annotations

import asyncio
import collections
import random
import selectors
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Final, TypeVar, TypeVarTuple, final

from ._clock_instruments import AutojumpSelector, TimedReadyQueue, describe_callback
from ._clock_instruments import where_task_waits as _where_task_waits  # runner.py imports it too
from .contract import NS_PER_S
from .errors import BlockingCallError, DeadlockError, RealTimeLimitError

__all__ = ["BlockingCall", "VirtualClockLoop", "new_virtual_loop", "run"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")
_REAL_POLL: Final = 0.05  # wall seconds one idle select may block while waiting on threads or I/O
_INF: Final = float("inf")
_perf_counter = time.perf_counter


@dataclass(frozen=True)
class BlockingCall:
    """One callback that held the event loop longer than the blocking threshold.

    Attributes:
        duration: Wall seconds the callback ran.
        virtual_time: Virtual time (loop seconds) at which it ran.
        name: The task name for a task step, else the callback's qualified name.
        location: ``file:line`` best effort: for a task step, where the task waits after
            the step (or its coroutine's definition if the step finished it).
    """

    duration: float
    virtual_time: float
    name: str
    location: str


@final
class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop on virtual time that autojumps to the next timer.

    ``time()`` starts at 0.0 and advances only when nothing is ready to run; it is exact to the
    nanosecond. Real I/O still works. Use it through :func:`run`, :func:`new_virtual_loop`,
    ``asyncio.Runner(loop_factory=...)`` or the ``asyncqueue_clock`` pytest marker.

    Args:
        seed: None (default) runs timers due at one instant in heap order, like stock
            asyncio; an int runs them in an order drawn from ``random.Random(seed)``. Ready
            callbacks always run in FIFO order, as asyncio promises.
        detect_deadlocks: Raise :class:`DeadlockError` when tasks wait and nothing can ever
            wake them (default True).
        blocking_threshold: Wall seconds a single callback may hold the loop before it is
            recorded in ``blocking_calls`` (default 0.05); None turns measuring off.
        raise_on_blocking: Raise :class:`BlockingCallError` at the end of the loop iteration
            in which a blocking callback ran (default False: record and go on).
        max_real_seconds: Raise :class:`RealTimeLimitError` when one ``run_forever`` /
            ``run_until_complete`` call has taken more wall seconds than this (default None).
            It is checked between loop iterations, so a coroutine that never yields cannot be
            interrupted.

    Attributes:
        blocking_calls: The :class:`BlockingCall` records so far, oldest first.
        iterations_at_instant: Loop iterations run since virtual time last moved: a loop
            that keeps running without its clock moving is polling (a large number), one that
            merely runs slowly is not.
        detect_deadlocks, raise_on_blocking, max_real_seconds: As above; may be changed.
        deadlock_grace: Wall seconds to wait for another thread before declaring a deadlock
            (default 0.05); a class attribute so that tests can monkeypatch it.

    Example:
        >>> loop = VirtualClockLoop()
        >>> loop.run_until_complete(asyncio.sleep(3600))
        >>> loop.time(), loop.jumps
        (3600.0, 1)
        >>> loop.close()
    """

    deadlock_grace: float = 0.05

    def __init__(
        self,
        *,
        seed: int | None = None,
        detect_deadlocks: bool = True,
        blocking_threshold: float | None = 0.05,
        raise_on_blocking: bool = False,
        max_real_seconds: float | None = None,
    ) -> None:
        self._now_ns = 0
        self._jumps = 0
        self._executor_jobs = 0
        self._run_started = _perf_counter()
        self._blocking_error: BlockingCallError | None = None
        self._seed = seed
        self._blocking_threshold = blocking_threshold
        self.detect_deadlocks = detect_deadlocks
        self.raise_on_blocking = raise_on_blocking
        self.max_real_seconds = max_real_seconds
        self.blocking_calls: list[BlockingCall] = []
        self._observers: list[Callable[[], None]] = []
        self.iterations_at_instant = 0
        self._instant = 0  # the virtual instant (ns) of the last iteration
        self._autojump = AutojumpSelector(selectors.DefaultSelector())
        super().__init__(self._autojump)  # type: ignore[arg-type]
        self._autojump.on_idle = self._on_idle
        try:
            _check_options(seed, blocking_threshold, raise_on_blocking, max_real_seconds)
        except Exception:
            self.close()  # a half-built loop would complain in __del__
            raise
        self._clock_resolution = 1e-9  # one tick: a timer is due once time() reaches it
        if blocking_threshold is not None or seed is not None:
            ready = TimedReadyQueue(
                self._record_blocking,
                _INF if blocking_threshold is None else blocking_threshold,
                None if seed is None else random.Random(seed),
            )
            ready.extend(self._ready)
            self._ready: collections.deque[Any] = ready

    def __repr__(self) -> str:
        return (
            f"<VirtualClockLoop running={self.is_running()} closed={self.is_closed()} "
            f"t={self.time():.3f}s jumps={self._jumps} blocking_calls={len(self.blocking_calls)}>"
        )

    def time(self) -> float:
        """Return the virtual time in seconds since the loop was created (exact to 1 ns)."""
        return self._now_ns / NS_PER_S

    @property
    def virtual_elapsed(self) -> float:
        """Virtual seconds the clock has moved since the loop was created."""
        return self._now_ns / NS_PER_S

    @property
    def jumps(self) -> int:
        """How many times virtual time has jumped forward to a timer."""
        return self._jumps

    @property
    def seed(self) -> int | None:
        """The seed of the order of timers due at one instant, or None for heap order."""
        return self._seed

    @property
    def blocking_threshold(self) -> float | None:
        """Wall seconds a callback may run before it counts as blocking; None: not measured."""
        return self._blocking_threshold

    def observe_iterations(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` after every loop iteration from now on; return its remover.

        The callback sees the state between two iterations, the finest moment at which an
        invariant can be checked without taking part in the schedule (no timers, no tasks).
        An exception it raises propagates out of ``run_until_complete``.
        """
        self._observers.append(callback)
        return lambda: self._observers.remove(callback)

    def run_forever(self) -> None:
        self._run_started = _perf_counter()
        super().run_forever()

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[*_Ts], _T], *args: *_Ts
    ) -> asyncio.Future[_T]:
        future = super().run_in_executor(executor, func, *args)
        self._executor_jobs += 1
        future.add_done_callback(self._executor_job_done)
        return future

    async def shutdown_default_executor(self, *args: Any, **kwargs: Any) -> None:
        # It waits on a thread that reports back with call_soon_threadsafe: executor work.
        self._executor_jobs += 1
        try:
            await super().shutdown_default_executor(*args, **kwargs)
        finally:
            self._executor_jobs -= 1

    def _executor_job_done(self, _future: asyncio.Future[Any]) -> None:
        self._executor_jobs -= 1

    def _run_once(self) -> None:
        ready = self._ready
        if self._seed is not None:
            ready.reorder_due = True  # type: ignore[attr-defined]
        super()._run_once()  # type: ignore[misc]
        if self._blocking_threshold is not None:
            ready.finish()  # type: ignore[attr-defined]
        for observe in self._observers:
            observe()
        if self._instant == self._now_ns:
            self.iterations_at_instant += 1
        else:
            self._instant, self.iterations_at_instant = self._now_ns, 0
        if self._blocking_error is not None:
            error, self._blocking_error = self._blocking_error, None
            raise error
        limit = self.max_real_seconds
        if limit is not None and (spent := _perf_counter() - self._run_started) > limit:
            raise RealTimeLimitError(
                f"the loop ran {spent:.3f} wall s, over max_real_seconds={limit!r}, and reached "
                f"only virtual t={self.time():.3f}s; look for polling that never waits on a "
                f"timer (e.g. 'while True: await asyncio.sleep(0)') or raise max_real_seconds"
            )

    def _on_idle(self) -> list[Any]:
        """Decide how to wait when real I/O had nothing and nothing is ready to run."""
        inner = self._autojump.inner
        if self._executor_jobs:
            return inner.select(_REAL_POLL)  # wait for the thread in real time, clock still
        when = self._scheduled[0]._when if self._scheduled else _INF  # type: ignore[attr-defined]
        if when != _INF:  # sleep(math.inf) is no timer: it can only end in a deadlock
            self._jump_to(when)
            return []
        if self.detect_deadlocks and len(inner.get_map()) <= 1:  # only the self-pipe
            events = inner.select(self.deadlock_grace)
            if events:
                return events
            waiting = asyncio.all_tasks(self)
            if waiting:
                raise DeadlockError(
                    f"nothing can run at virtual t={self.time():.3f}s and no timer is due; "
                    f"waiting: {', '.join(sorted(_where_task_waits(t) for t in waiting))}; "
                    f"set or open what they wait on, bound the wait with asyncio.timeout(), "
                    f"or pass detect_deadlocks=False if another thread will wake them"
                )
        return inner.select(_REAL_POLL)

    def _jump_to(self, when: float) -> None:
        # Round to the nearest tick so decimal delays land exactly on 0.3, 12.5, ...; then make
        # sure asyncio's _run_once sees the timer as due (when < time() + _clock_resolution).
        target = round(when * NS_PER_S)
        while when >= target / NS_PER_S + self._clock_resolution:
            target += 1
        if target > self._now_ns:
            self._now_ns = target
            self._jumps += 1

    def _record_blocking(self, handle: asyncio.Handle, duration: float) -> None:
        name, location = describe_callback(handle)
        call = BlockingCall(duration, self.time(), name, location)
        self.blocking_calls.append(call)
        if self.raise_on_blocking and self._blocking_error is None:
            self._blocking_error = BlockingCallError(
                f"{name} blocked the event loop for {duration:.3f} wall s at virtual "
                f"t={call.virtual_time:.3f}s ({location}), over blocking_threshold="
                f"{self._blocking_threshold!r}; await instead of blocking (asyncio.sleep, "
                f"asyncio.to_thread) or raise blocking_threshold"
            )


def _check_options(seed: Any, threshold: Any, raise_on_blocking: Any, max_real: Any) -> None:
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise TypeError(f"seed={seed!r} must be an int, or None for asyncio's own order")
    for name, value in (("blocking_threshold", threshold), ("max_real_seconds", max_real)):
        if value is not None and (not isinstance(value, (int, float)) or not value > 0):
            raise ValueError(f"{name}={value!r} must be a number of wall seconds > 0, or None")
    if raise_on_blocking and threshold is None:
        raise ValueError("raise_on_blocking=True needs blocking_threshold=<wall seconds>, not None")


def new_virtual_loop(**options: Any) -> VirtualClockLoop:
    """Return a new :class:`VirtualClockLoop`; a loop factory for ``asyncio.Runner``.

    Args:
        **options: Keyword arguments of :class:`VirtualClockLoop`.

    Example:
        >>> with asyncio.Runner(loop_factory=new_virtual_loop) as runner:
        ...     runner.run(asyncio.sleep(60))
        ...     runner.get_loop().time()
        60.0
    """
    return VirtualClockLoop(**options)


def run(coro: Coroutine[Any, Any, _T], *, debug: bool | None = None, **loop_options: Any) -> _T:
    """Run a coroutine to completion on a fresh :class:`VirtualClockLoop`, like ``asyncio.run``.

    Args:
        coro: The coroutine to run.
        debug: asyncio debug mode, as for ``asyncio.run``.
        **loop_options: Keyword arguments of :class:`VirtualClockLoop`.

    Returns:
        What the coroutine returned.

    Raises:
        DeadlockError: if tasks wait on something nothing will ever set.
        BlockingCallError: with ``raise_on_blocking=True``, if a callback blocked the loop.
        RealTimeLimitError: if ``max_real_seconds`` was exceeded.

    Example:
        >>> async def main():
        ...     await asyncio.sleep(3600)
        ...     return asyncio.get_running_loop().time()
        >>> run(main())
        3600.0
    """
    try:
        loop = VirtualClockLoop(**loop_options)
    except Exception:
        coro.close()  # bad options: no "coroutine was never awaited" warning on top
        raise
    with asyncio.Runner(debug=debug, loop_factory=lambda: loop) as runner:
        return runner.run(coro)

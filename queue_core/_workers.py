"""WorkerPool: the tasks, the workers that run them, and how each attempt ends (DESIGN S1-S9).

``TaskQueue`` (``_queue.py``) is this class plus the public calls; splitting them keeps each
module readable while the hot path still reads plain attributes of one object. Design
notes, for speed and for the contract:

- Eligible tasks sit in ``ReadyTasks``: a FIFO per priority level (see ``_ready.py``). A task
  cancelled there stays, marked, until popped or compacted away; its references to user
  objects are dropped at once (S7).
- Each idle worker waits on a future of its own in a FIFO; ``submit`` wakes exactly one of
  them (no Condition broadcast, no polling).
- A handler runs inside its worker's coroutine: no asyncio task per job. Cancelling a running
  task cancels the worker's asyncio task with a reason recorded on the task; the worker
  catches the ``CancelledError`` that unwinds out of the handler, calls ``uncancel()`` and
  carries on with the next task. A per-task timeout does the same with another reason. A
  ``CancelledError`` that no one sent to the worker (something the handler awaited was
  cancelled by someone else) fails the attempt like any other exception.
- A task waiting for a start delay or a retry backoff is held by a loop timer, not a worker.
- Every time comes from ``loop.time()`` (S9).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import random
from collections import deque
from typing import Any, Final

from ._ready import ReadyTasks
from ._results import ResultCache
from ._retry import backoff_delay
from ._task import (
    CANCEL, CANCELLED, COMPLETED, FAILED, PENDING, RUNNING, SELF_CANCEL, TIMEOUT, Task, TaskState,
)

__all__ = ["WorkerPool"]


class WorkerPool:
    """The running part of a ``TaskQueue``: its tasks, its workers and their counters.

    It holds every unfinished task (``_tasks``), the eligible ones (``_ready``), the idle
    workers' futures (``_idle``), the finished tasks' records (``_results``) and the
    counters; ``_work`` is the loop of one worker. ``TaskQueue`` adds the public calls, sets
    ``_loop`` when it binds one, ``_closed`` at shutdown and ``_halted`` when shutdown does
    not drain.

    Args:
        base_delay, max_delay, jitter, non_retryable, max_results, result_ttl, seed: as
            ``TaskQueue``, already checked.
    """

    def __init__(
        self,
        *,
        base_delay: float,
        max_delay: float,
        jitter: float,
        non_retryable: tuple[type[BaseException], ...],
        max_results: int,
        result_ttl: float | None,
        seed: int | None,
    ) -> None:
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._jitter = jitter
        self._rng = random.Random(seed)
        self._non_retryable = non_retryable
        self._results = ResultCache(max_results, result_ttl)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = ReadyTasks()
        self._tasks: dict[Any, Task] = {}  # every unfinished task: pending or running
        self._idle: deque[asyncio.Future[None]] = deque()
        self._closed = self._halted = False
        self._orphaned = False  # its workers were cancelled from outside (their loop ended)
        self._running = self._completed = 0
        self._failed = self._cancelled = self._retried = 0

    async def _work(self) -> None:
        # The hot path: one coroutine per worker, the handler awaited inline, and the
        # COMPLETED case finished here without further calls.
        loop = self._loop
        clock = loop.time
        me = asyncio.current_task()
        tasks = self._tasks
        pop_ready = self._ready.pop
        put_result = self._results.put
        while True:
            task = None if self._halted else pop_ready()
            if task is not None:
                task.state = RUNNING
                task.handle = me
                task.attempts += 1
                self._running += 1
                timer = None if task.timeout is None else loop.call_at(
                    clock() + task.timeout, self._time_out, task, task.attempts)
                try:
                    value = await task.handler(*task.args)
                except asyncio.CancelledError as exc:
                    reason = task.cancel_reason
                    if reason is None and not me.cancelling():
                        # Not ours: something the handler awaited was cancelled by someone
                        # else. The attempt fails like any other exception; the worker lives.
                        self._end_attempt(task, None, exc)
                    elif reason is None or me.uncancel():
                        # The worker itself is cancelled (loop teardown): account, go.
                        self._finish(task, CANCELLED, None)
                        self._orphaned = self._orphaned or not self._closed
                        self._closed = True
                        raise
                    else:
                        self._end_attempt(task, reason, None)
                except (KeyboardInterrupt, SystemExit) as exc:
                    # asyncio's meaning: they stop the loop. The task fails with a copy, so
                    # that a program that goes on finds it ended, not RUNNING for ever, and
                    # the one raised keeps its traceback.
                    self._finish(task, FAILED, copy.copy(exc))
                    raise
                except BaseException as exc:  # GeneratorExit and custom ones too: the attempt
                    if isinstance(exc, GeneratorExit) and asyncio.current_task(loop) is not me:
                        raise  # this worker's coroutine is being closed (garbage collected)
                    if task.cancel_reason is not None:  # fails, the worker lives; a handler
                        await self._undo_cancel(task, me)  # that turned our cancel into exc
                    self._end_attempt(task, task.cancel_reason, exc)
                else:
                    if task.cancel_reason is not None:  # handler swallowed our cancel
                        await self._undo_cancel(task, me)
                        self._end_attempt(task, task.cancel_reason, None)
                    else:
                        # self._finish(task, COMPLETED, value), inlined for speed: keep the
                        # two in step (tests/queue_core/test_completion.py holds them to the
                        # same end state). Its wake-up of idle workers when the queue is
                        # closed and now empty happens below, as this worker leaves.
                        self._running -= 1
                        self._completed += 1
                        task.state = COMPLETED
                        task.outcome = value
                        task.finished_at = clock()
                        del tasks[task.task_id]
                        if task.waiters is not None:
                            _notify(task)
                            task.waiters = None
                        task.handler = task.args = task.handle = None
                        put_result(task, loop)
                finally:
                    if timer is not None:
                        timer.cancel()
            elif self._closed and (self._halted or not tasks):
                self._wake_if_drained()
                return
            else:
                task = value = None  # keep nothing of finished tasks alive (S7)
                if not tasks:
                    tasks.clear()  # give back the table grown at the peak (S7)
                waiter = loop.create_future()
                self._idle.append(waiter)
                try:
                    await waiter
                except asyncio.CancelledError:
                    if waiter.cancelled():
                        with contextlib.suppress(ValueError):
                            self._idle.remove(waiter)
                    else:  # woken, then cancelled before resuming: pass the wake-up on
                        self._wake_one()
                    self._orphaned = self._orphaned or not self._closed  # cancelled from
                    self._closed = True  # outside, as its loop ends: no more work here
                    raise

    @staticmethod
    async def _undo_cancel(task: Task, me: asyncio.Task) -> None:
        """Take back the cancellation sent to the worker for an attempt that did not unwind."""
        if task.cancel_reason is SELF_CANCEL:
            # A handler that cancelled itself and never awaited again left the cancellation
            # pending on its worker: let it land here, at a checkpoint of our own.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0)
        me.uncancel()

    def _end_attempt(self, task: Task, reason: str | None, exc: BaseException | None) -> None:
        if reason is CANCEL or reason is SELF_CANCEL:
            self._finish(task, CANCELLED, None)
            return
        if reason is TIMEOUT:
            exc = TimeoutError(f"attempt {task.attempts} of task {task.task_id!r} exceeded "
                               f"timeout={task.timeout} loop seconds")
        if task.attempts > task.max_retries or isinstance(exc, self._non_retryable):
            self._finish(task, FAILED, exc)
            return
        # Retry (S3): back to PENDING, held by a timer, keeping priority and sequence number.
        self._running -= 1
        self._retried += 1
        task.state = PENDING
        task.cancel_reason = None
        delay = backoff_delay(task.attempts, self._base_delay, self._max_delay,
                              self._jitter, self._rng)
        loop = self._loop
        task.handle = loop.call_at(loop.time() + delay, self._make_eligible, task)

    def _time_out(self, task: Task, attempt: int) -> None:
        if task.state is RUNNING and task.attempts == attempt and task.cancel_reason is None:
            task.cancel_reason = TIMEOUT
            task.handle.cancel()

    def _make_eligible(self, task: Task) -> None:
        task.handle = None
        self._ready.push_late(task)
        if self._idle:
            self._wake_one()

    def _finish(self, task: Task, state: TaskState, outcome: Any) -> None:
        """End an unfinished task in ``state`` with ``outcome``: the handler's value if
        COMPLETED, the error if FAILED, None if CANCELLED.

        Every FAILED and CANCELLED end comes here. A worker ends a COMPLETED task with an
        inlined copy of this method, on its hot path (``_work``): only the test that holds
        the two to the same end state sends COMPLETED here.
        """
        if task.task_id not in self._tasks or self._tasks[task.task_id] is not task:
            return  # abandoned at a shutdown deadline, and its handler has only now ended
        if state is FAILED:
            _drop_tracebacks(outcome)  # their frames would keep arguments alive (S7)
        if task.state is RUNNING:
            self._running -= 1
        task.state = state
        if state is CANCELLED:
            self._cancelled += 1
        elif state is FAILED:
            self._failed += 1
        else:
            self._completed += 1
        del self._tasks[task.task_id]
        loop = self._loop
        task.outcome = outcome
        task.finished_at = loop.time()
        if task.waiters is not None:
            _notify(task)
        task.release(keep_call=state is FAILED)  # a dead letter can be requeued
        self._results.put(task, loop)
        if self._closed:  # open nearly always: no call then
            self._wake_if_drained()

    def _wake_if_drained(self) -> None:
        """Closed and empty: wake every idle worker, so that each sees it and leaves (S5)."""
        if self._closed and not self._tasks:
            self._wake_all()

    def _wake_one(self) -> None:
        idle = self._idle
        while idle:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _wake_all(self) -> None:
        while self._idle:
            self._wake_one()


def _notify(task: Task) -> None:
    """Hand a finished task's result to every ``result()`` caller still waiting."""
    result = task.result()
    for waiter in task.waiters:
        if not waiter.done():
            waiter.set_result(result)


_SET_TRACEBACK: Final = BaseException.__dict__["__traceback__"].__set__


def _drop_tracebacks(error: BaseException) -> None:
    """Clear the tracebacks of ``error`` and of every exception chained to it.

    Iterative, so that a chain thousands deep or cyclic ends; through the slot itself, so
    that an exception whose ``__setattr__`` refuses (a frozen dataclass) is cleared too; into
    exception groups' members.
    """
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        error = stack.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        _SET_TRACEBACK(error, None)
        stack += (error.__cause__, error.__context__, *getattr(error, "exceptions", ()))

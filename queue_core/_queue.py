"""TaskQueue: the reference asyncio task queue (DESIGN S1-S9).

Design notes, for speed and for the contract:

- Eligible tasks sit in ``ReadyTasks``: a FIFO per priority level (see ``_ready.py``). A task
  cancelled there stays, marked, until popped or compacted away; its references to user
  objects are dropped at once (S7).
- Each idle worker waits on a future of its own in a FIFO; ``submit`` wakes exactly one of
  them (no Condition broadcast, no polling).
- A handler runs inside its worker's coroutine: no asyncio task per job. Cancelling a running
  task cancels the worker's asyncio task with a reason recorded on the task; the worker
  catches the ``CancelledError`` that unwinds out of the handler, calls ``uncancel()`` and
  carries on with the next task. A per-task timeout does the same with another reason.
- A task waiting for a start delay or a retry backoff is held by a loop timer, not a worker.
- Every time comes from ``loop.time()`` (S9).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import random
from collections import deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, NamedTuple

from ._errors import DuplicateTask, QueueClosed, QueueFull, ResultGone, UnknownTask
from ._ready import ReadyTasks
from ._results import ResultCache
from ._retry import backoff_delay
from ._task import (
    CANCEL, CANCELLED, COMPLETED, FAILED, PENDING, RUNNING, SELF_CANCEL, TIMEOUT, Task, TaskResult,
    TaskState,
)

__all__ = ["DeadLetter", "QueueStats", "TaskQueue"]

_CO_COROUTINE = inspect.CO_COROUTINE
_new_record = object.__new__


@dataclass(frozen=True, slots=True)
class QueueStats:
    """A snapshot of the counters, taken at one moment (S6).

    ``pending + running + completed + failed + cancelled == submitted`` always holds;
    ``submitted``, ``completed``, ``failed``, ``cancelled`` and ``retried`` never decrease.
    ``pending`` includes tasks waiting for a start delay or a retry backoff; ``retried``
    counts retries scheduled; ``workers`` is the number of live worker coroutines.
    """

    submitted: int
    pending: int
    running: int
    completed: int
    failed: int
    cancelled: int
    retried: int
    workers: int


class DeadLetter(NamedTuple):
    """A FAILED task whose result is still kept, so that it can be requeued."""

    task_id: Any
    handler: Callable[..., Awaitable[Any]]
    args: tuple
    priority: int
    max_retries: int
    timeout: float | None
    error: BaseException


class TaskQueue:
    """A priority task queue run by a pool of worker coroutines.

    Use it as ``async with TaskQueue(workers=4) as q:`` (starts the workers, and on exit
    drains, or cancels everything if the block raised), or call ``start()`` and
    ``await shutdown()`` yourself. Tasks may be submitted before ``start()``.

    Args:
        workers: number of worker coroutines, i.e. handlers running at once (>= 1).
        max_pending: most tasks that may wait (delayed and backing-off ones included);
            ``submit`` raises ``QueueFull`` beyond it. None: unbounded.
        base_delay: backoff after the first failed attempt, in loop seconds.
        max_delay: the cap on any backoff, in loop seconds.
        jitter: fraction of each backoff added at random (0 disables).
        non_retryable: exception types that fail a task at once, without retries.
        max_results: how many finished tasks' results are kept (LRU).
        result_ttl: how long a result is kept, in loop seconds; None keeps it until evicted.
        seed: seeds the jitter's random source, for reproducible runs.
    """

    def __init__(
        self,
        *,
        workers: int = 4,
        max_pending: int | None = None,
        base_delay: float = 0.1,
        max_delay: float = 10.0,
        jitter: float = 0.0,
        non_retryable: tuple[type[BaseException], ...] = (),
        max_results: int = 1000,
        result_ttl: float | None = 300.0,
        seed: int | None = None,
    ) -> None:
        _check_int("workers", workers, 1, "the number of concurrent handlers, e.g. TaskQueue(workers=4)")
        if max_pending is not None:
            _check_int("max_pending", max_pending, 1, "None for no limit")
        _check_number("base_delay", base_delay)
        _check_number("max_delay", max_delay)
        if max_delay < base_delay:
            raise ValueError(f"max_delay={max_delay!r} < base_delay={base_delay!r}; "
                             f"the cap must be at least the first backoff")
        _check_number("jitter", jitter)
        if not (isinstance(non_retryable, tuple) and all(
                isinstance(t, type) and issubclass(t, BaseException) for t in non_retryable)):
            raise TypeError(f"non_retryable={non_retryable!r} must be a tuple of exception "
                            f"types, e.g. (ValueError,)")
        _check_int("max_results", max_results, 1, "how many finished results to keep")
        if result_ttl is not None:
            _check_number("result_ttl", result_ttl, positive=True)
        self._workers_wanted = workers
        self._max_pending = max_pending
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
        self._worker_tasks: list[asyncio.Task[None]] = []
        self._seq = 0
        self._chosen_ids = False
        self._started = self._closed = self._halted = False
        self._submitted = self._running = self._completed = 0
        self._failed = self._cancelled = self._retried = 0

    # Lifecycle (S5)

    def start(self) -> None:
        """Start the workers on the running loop. Idempotent while the queue is open.

        Raises:
            QueueClosed: ``shutdown()`` was called.
            RuntimeError: no event loop is running.
        """
        if self._closed:
            raise QueueClosed(f"cannot start {self!r}: shutdown() was called; "
                              f"create a new TaskQueue")
        if self._started:
            return
        loop = self._bind_loop("start()")
        self._started = True
        self._worker_tasks = [loop.create_task(self._work(), name=f"queue_core-worker-{i}")
                              for i in range(self._workers_wanted)]

    async def shutdown(self, drain: bool = True) -> None:
        """Stop accepting tasks and wait until every worker has exited (S5).

        With ``drain=True`` pending, delayed, backing-off and running tasks all finish first
        (workers are started if they never were). With ``drain=False`` running handlers are
        cancelled and pending tasks become CANCELLED. Either way no asyncio task created by
        the queue is left afterwards. Idempotent; a later ``drain=False`` call cancels what a
        draining one is still waiting for.
        """
        if asyncio.current_task() in self._worker_tasks:
            raise RuntimeError(f"shutdown() awaited by a handler of {self!r} would wait for its "
                               f"own worker; call asyncio.create_task(queue.shutdown()) there")
        if not drain:
            self._closed = True
            self._halt()
        elif self._tasks and not self._started and not self._closed:
            self.start()
        self._closed = True
        if not self._tasks:
            self._wake_all()
        if self._worker_tasks:
            await asyncio.gather(*self._worker_tasks)

    async def __aenter__(self) -> TaskQueue:
        self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        await self.shutdown(drain=exc_type is None)

    # Submitting

    def submit(
        self,
        handler: Callable[..., Awaitable[Any]],
        /,
        *args: Any,
        task_id: Any = None,
        priority: int = 0,
        max_retries: int = 0,
        delay: float = 0.0,
        timeout: float | None = None,
    ) -> Any:
        """Queue ``handler(*args)`` and return its task id. Never waits.

        Higher ``priority`` runs first; equal priorities run in submission order (S1). A
        failing handler is retried up to ``max_retries`` times with exponential backoff (S3).
        ``delay`` holds the task back for that many loop seconds; ``timeout`` bounds each
        attempt (a timed-out attempt fails with ``TimeoutError``). Without ``task_id`` the
        id is a fresh int. For keyword arguments pass ``functools.partial(handler, ...)``.

        Raises:
            TypeError: ``handler`` is not an ``async def`` function, or an argument has the
                wrong type (bool is not accepted as a number).
            ValueError: a negative, NaN or infinite delay or timeout, negative retries.
            DuplicateTask: ``task_id`` belongs to a task this queue still knows.
            QueueFull: ``max_pending`` tasks are already waiting.
            QueueClosed: ``shutdown()`` was called.
            RuntimeError: no event loop is running.
        """
        code = getattr(handler, "__code__", None)
        if code is None or not code.co_flags & _CO_COROUTINE:
            _check_handler(handler)
        if priority.__class__ is not int:
            _check_int("priority", priority, None, "an int; higher runs first")
        if max_retries.__class__ is not int or max_retries < 0:
            _check_int("max_retries", max_retries, 0, "0 for a single attempt")
        if delay.__class__ is not float or delay:
            _check_number("delay", delay)
        if timeout is not None:
            _check_number("timeout", timeout, positive=True)
        if self._closed:
            raise QueueClosed(f"cannot submit to {self!r}: shutdown() was called; "
                              f"submit before shutdown or create a new TaskQueue")
        tasks = self._tasks
        if self._max_pending is not None and len(tasks) - self._running >= self._max_pending:
            raise QueueFull(f"{self!r} already holds max_pending={self._max_pending} "
                            f"pending tasks; retry after some finish or raise max_pending")
        loop = self._loop or self._bind_loop("submit()")
        seq = self._seq = self._seq + 1
        if task_id is None:
            task_id = seq
            # Fresh ids only collide with ids that callers chose themselves.
            while self._chosen_ids and (task_id in tasks or task_id in self._results):
                task_id = seq = self._seq = self._seq + 1
        else:
            try:
                known = task_id in tasks or task_id in self._results
            except TypeError:
                raise TypeError(f"task_id={task_id!r} is not hashable; pass a str or an int")
            if known:
                raise DuplicateTask(f"task_id={task_id!r} is already used by a task this "
                                    f"queue still knows; pass a new id or omit task_id")
            self._chosen_ids = True
        task = _new_record(Task)  # slot by slot: a type call with __init__ costs far more
        task.task_id = task_id
        task.handler = handler
        task.args = args
        task.priority = priority
        task.seq = seq
        task.max_retries = max_retries
        task.timeout = timeout
        task.attempts = 0
        task.state = PENDING
        task.handle = task.cancel_reason = task.waiters = None
        tasks[task_id] = task
        self._submitted += 1
        if delay:
            task.handle = loop.call_at(loop.time() + delay, self._make_eligible, task)
        else:
            self._ready.push(task)
            if self._idle:
                self._wake_one()
        return task_id

    # Asking about tasks

    async def result(self, task_id: Any) -> TaskResult:
        """Wait until the task finishes and return its :class:`TaskResult`.

        A FAILED or CANCELLED task returns a result too; it does not raise. Cancelling the
        caller does not affect the task. Wrap in ``asyncio.timeout()`` to bound the wait.

        Raises:
            UnknownTask: no task with this id was ever submitted here.
            ResultGone: it surely finished, but its result is no longer kept.
        """
        task = self._tasks.get(task_id)
        if task is None:
            return self._finished(task_id).result()
        # A future per caller: cancelling one caller touches neither the task nor the others
        # (and costs a loop iteration less than shielding one shared future).
        waiter = self._loop.create_future()
        if task.waiters is None:
            task.waiters = [waiter]
        else:
            task.waiters.append(waiter)
        return await waiter

    def status(self, task_id: Any) -> TaskState:
        """Return the task's state now. A task waiting for a delay or backoff is PENDING.

        Raises:
            UnknownTask, ResultGone: as ``result()``.
        """
        task = self._tasks.get(task_id)
        return (task or self._finished(task_id)).state

    def stats(self) -> QueueStats:
        """Return a snapshot of the counters (S6); see :class:`QueueStats`."""
        running = self._running
        return QueueStats(
            submitted=self._submitted, pending=len(self._tasks) - running, running=running,
            completed=self._completed, failed=self._failed, cancelled=self._cancelled,
            retried=self._retried, workers=self._live_workers(),
        )

    def _finished(self, task_id: Any) -> Task:
        task = self._results.get(task_id, self._loop.time() if self._loop else 0.0)
        if task is not None:
            return task
        kept = (f"results are kept for result_ttl={self._results.ttl} loop seconds, "
                f"at most max_results={self._results.max_results}")
        if not self._chosen_ids and type(task_id) is int and 0 < task_id <= self._seq:
            raise ResultGone(f"the result of task {task_id} is gone: it expired or was "
                             f"evicted ({kept}); read results sooner or raise the limits")
        raise UnknownTask(f"no task {task_id!r} is known: it was never submitted to this "
                          f"queue, or it finished and its result was dropped ({kept})")

    # Cancelling (S4)

    def cancel(self, task_id: Any) -> bool:
        """Cancel a pending or running task; idempotent (S4).

        A pending task (also one waiting for a delay or backoff) is CANCELLED at once and
        never starts (again). A running one has its handler cancelled at the await it is in;
        it is CANCELLED once the handler has unwound, and its worker takes the next task.

        Returns:
            True if the task was pending or running, False if it is finished or unknown.
        """
        task = self._tasks.get(task_id)
        if task is None:
            return False
        if task.state is RUNNING:
            if task.cancel_reason is None:
                task.handle.cancel()
                if task.handle is asyncio.current_task():  # the handler cancels itself
                    task.cancel_reason = SELF_CANCEL
                    return True
            if task.cancel_reason is not SELF_CANCEL:
                task.cancel_reason = CANCEL
            return True
        timer = task.handle
        self._finish(task, CANCELLED, None)
        if timer is None:  # it is among the ready tasks
            self._ready.cancelled()
        else:  # it waits for a delay or a backoff
            timer.cancel()
        return True

    # Dead letters

    def dead_letters(self) -> list[DeadLetter]:
        """Return the FAILED tasks whose results are still kept, least recently used first.

        A failed task keeps its handler and arguments for as long as its result is kept
        (``max_results``, ``result_ttl``), and not a moment longer (S7).
        """
        return [DeadLetter(t.task_id, t.handler, t.args, t.priority, t.max_retries, t.timeout,
                           t.outcome) for t in self._results.records() if t.state is FAILED]

    def requeue(self, task_id: Any, *, priority: int | None = None) -> Any:
        """Submit a dead-lettered task again under its id, with fresh attempts.

        Raises:
            UnknownTask: ``task_id`` is not among ``dead_letters()``.
            QueueClosed, QueueFull: as ``submit()``.
        """
        dead = self._results.get(task_id, self._loop.time() if self._loop else 0.0)
        if dead is None or dead.state is not FAILED:
            raise UnknownTask(f"task {task_id!r} is not a dead letter; "
                              f"see dead_letters() for the ones that can be requeued")
        self._results.pop(task_id)  # frees the id for the new submission
        try:
            self.submit(dead.handler, *dead.args, task_id=task_id,
                        priority=dead.priority if priority is None else priority,
                        max_retries=dead.max_retries, timeout=dead.timeout)
        except BaseException:
            self._results.restore(dead)
            raise
        return task_id

    # Workers

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
                except asyncio.CancelledError:
                    reason = task.cancel_reason
                    if reason is None or me.uncancel():
                        # The worker itself is cancelled (loop teardown): account, go.
                        self._finish(task, CANCELLED, None)
                        raise
                    self._end_attempt(task, reason, None)
                except Exception as exc:
                    if task.cancel_reason is not None:  # handler turned our cancel into exc
                        await self._undo_cancel(task, me)
                    self._end_attempt(task, task.cancel_reason, exc)
                else:
                    if task.cancel_reason is not None:  # handler swallowed our cancel
                        await self._undo_cancel(task, me)
                        self._end_attempt(task, task.cancel_reason, None)
                    else:
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
                        if self._closed and not tasks:
                            self._wake_all()
                finally:
                    if timer is not None:
                        timer.cancel()
            elif self._closed and (self._halted or not tasks):
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

    def _end_attempt(self, task: Task, reason: str | None, exc: Exception | None) -> None:
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

    def _finish(self, task: Task, state: TaskState, error: Exception | None) -> None:
        """End an unfinished task as CANCELLED or FAILED (with ``error``); a worker ends a
        COMPLETED one itself, on its hot path."""
        if task.state is RUNNING:
            self._running -= 1
        task.state = state
        if state is CANCELLED:
            self._cancelled += 1
        else:
            self._failed += 1
            _drop_tracebacks(error)  # their frames would keep arguments alive (S7)
        del self._tasks[task.task_id]
        loop = self._loop
        task.outcome = error
        task.finished_at = loop.time()
        if task.waiters is not None:
            _notify(task)
        task.release(keep_call=state is FAILED)  # a dead letter can be requeued
        self._results.put(task, loop)
        if self._closed and not self._tasks:
            self._wake_all()

    def _halt(self) -> None:
        """Cancel every task (shutdown(drain=False)): pending ones now, running ones' handlers."""
        self._halted = True
        for task in list(self._tasks.values()):
            self.cancel(task.task_id)
        self._ready.clear()
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

    def _bind_loop(self, what: str) -> asyncio.AbstractEventLoop:
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(f"{what} needs a running event loop; call it from async code "
                               f"(inside asyncio.run or an async test)") from None
        return self._loop

    def _live_workers(self) -> int:
        # Counted, not tracked: a worker task cancelled before its first step never runs
        # its body, so only the task itself knows whether it is alive.
        return sum(1 for worker in self._worker_tasks if not worker.done())

    def __repr__(self) -> str:
        live = self._live_workers()
        state = ("closed" if not live else "closing") if self._closed else (
            "started" if self._started else "new")
        return (f"<TaskQueue {state} workers={live} "
                f"pending={len(self._tasks) - self._running} running={self._running}>")


def _notify(task: Task) -> None:
    """Hand a finished task's result to every ``result()`` caller still waiting."""
    result = task.result()
    for waiter in task.waiters:
        if not waiter.done():
            waiter.set_result(result)


def _drop_tracebacks(error: BaseException) -> None:
    """Clear the tracebacks of ``error`` and of every exception chained to it."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        error.__traceback__ = None
        if error.__cause__ is not None:
            _drop_tracebacks(error.__cause__)
        error = error.__context__


def _check_handler(handler: object) -> None:
    if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
            getattr(handler, "__call__", None)):
        return
    name = getattr(handler, "__qualname__", None) or repr(handler)
    if not callable(handler):
        raise TypeError(f"handler {name} is not callable; pass an 'async def' function")
    raise TypeError(f"handler {name} is a plain function, not a coroutine function; "
                    f"define it with 'async def'")


def _check_int(name: str, value: object, minimum: int | None, hint: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name}={value!r} must be an int; pass {hint}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}={value!r} must be >= {minimum}; pass {hint}")


def _check_number(name: str, value: object, positive: bool = False) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name}={value!r} must be a number of loop seconds, "
                        f"not {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name}={value!r} must be finite and {bound}")

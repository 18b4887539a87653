"""TaskQueue: the reference asyncio task queue (DESIGN S1-S9), its public calls.

The workers, the task table and how an attempt ends live in its base class,
:class:`~queue_core._workers.WorkerPool` (``_workers.py``, with the design notes); the
argument checks in ``_validate.py``; the records it returns in ``_records.py`` and
``_task.py``. What is left here is one class of public calls, each with the docstring of its
contract (errors, loop and thread binding, deadlines), which is why the module runs to
nearly 500 lines: splitting the calls of one class across modules would hide the contract
that they share.
"""

from __future__ import annotations

import asyncio
import threading
from _thread import get_ident as _thread_ident
from asyncio.events import _get_running_loop as _running_loop
from inspect import CO_COROUTINE as _CO_COROUTINE
from typing import Any, Awaitable, Callable, Final

from ._errors import (
    DuplicateTask, QueueClosed, QueueFull, ResultGone, ShutdownTimeout, UnknownTask,
)
from ._records import DeadLetter, QueueStats
from ._task import (
    CANCEL, CANCELLED, FAILED, PENDING, RUNNING, SELF_CANCEL, Task, TaskResult, TaskState,
)
from ._validate import check_handler, check_int, check_number, check_settings
from ._workers import WorkerPool

__all__ = ["TaskQueue"]

_new_record = object.__new__
_UNWIND_GRACE: Final = 1.0  # loop seconds cancelled handlers get to unwind after a deadline


class TaskQueue(WorkerPool):
    """A priority task queue run by a pool of worker coroutines.

    Use it as ``async with TaskQueue(workers=4) as q:`` (starts the workers, and on exit
    drains, or cancels everything if the block raised), or call ``start()`` and
    ``await shutdown()`` yourself. Tasks may be submitted before ``start()``.

    The workers, the task table and how an attempt ends are its base class,
    :class:`~queue_core._workers.WorkerPool`; this class is the public calls alone, each
    with the docstring of its contract, which is why it runs past 250 lines.

    Args:
        workers: number of worker coroutines, i.e. handlers running at once (1 to
            100,000).
        max_pending: most tasks that may wait (delayed and backing-off ones included);
            ``submit`` raises ``QueueFull`` beyond it. None: unbounded.
        base_delay: backoff after the first failed attempt, in loop seconds.
        max_delay: the cap on any backoff, in loop seconds.
        jitter: fraction of each backoff added at random (0 disables).
        non_retryable: exception types that fail a task at once, without retries.
        max_results: how many finished tasks' results are kept (LRU). It counts results,
            not bytes: each may be as large as its handler returned.
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
        check_settings(workers=workers, max_pending=max_pending, base_delay=base_delay,
                       max_delay=max_delay, jitter=jitter, non_retryable=non_retryable,
                       max_results=max_results, result_ttl=result_ttl, seed=seed)
        super().__init__(base_delay=base_delay, max_delay=max_delay, jitter=jitter,
                         non_retryable=non_retryable, max_results=max_results,
                         result_ttl=result_ttl, seed=seed)
        self._workers_wanted = workers
        self._max_pending = max_pending
        self._worker_tasks: list[asyncio.Task[None]] = []
        self._seq = 0
        self._chosen_ids = False
        self._started = False
        self._submitted = 0
        self._thread = ""  # the name of the thread whose loop the queue is bound to
        self._thread_ident = 0  # and its ident

    # Lifecycle (S5)

    def start(self) -> None:
        """Start the workers on the running loop. Idempotent while the queue is open.

        Raises:
            QueueClosed: ``shutdown()`` was called.
            RuntimeError: no event loop is running.
        """
        if self._closed:
            raise QueueClosed(self._why_closed("start"))
        loop = self._bind_loop("start()")
        if self._started:
            return
        self._started = True
        self._worker_tasks = [loop.create_task(self._work(), name=f"queue_core-worker-{i}")
                              for i in range(self._workers_wanted)]

    async def shutdown(self, drain: bool = True, timeout: float | None = None) -> None:
        """Stop accepting tasks and wait until every worker has exited (S5).

        With ``drain=True`` pending, delayed, backing-off and running tasks all finish first
        (workers are started if they never were). With ``drain=False`` running handlers are
        cancelled and pending tasks become CANCELLED. Either way no asyncio task created by
        the queue is left afterwards. Idempotent; a later ``drain=False`` call cancels what a
        draining one is still waiting for.

        Args:
            drain: finish the work first (True) or cancel it (False).
            timeout: loop seconds to wait. At the deadline whatever is unfinished is
                cancelled as with ``drain=False``, and the handlers get ``min(timeout, 1)``
                more loop seconds to unwind; one that has still not ended ignores its
                cancellation: it is abandoned (its task is CANCELLED, its worker left running
                it) and ``ShutdownTimeout`` says so.

        Raises:
            RuntimeError: awaited, directly or through ``gather`` or a task it awaits, by
                one of this queue's own handlers: it would wait for its own worker.
            ShutdownTimeout: handlers were abandoned at the deadline.
            TypeError, ValueError: ``timeout`` is not a finite number >= 0.
        """
        if timeout is not None:
            check_number("timeout", timeout)
        me = asyncio.current_task()
        if me in self._worker_tasks or any(_waits_for(worker, me)
                                           for worker in self._worker_tasks):
            raise RuntimeError(f"shutdown() awaited by a handler of {self!r} would wait for its "
                               f"own worker; call asyncio.create_task(queue.shutdown()) there "
                               f"and do not await it")
        if not drain:
            self._closed = True
            self._halt()
        elif self._tasks and not self._started and not self._closed:
            self.start()
        self._closed = True
        self._wake_if_drained()
        if not self._worker_tasks:
            return
        if timeout is None:
            await asyncio.gather(*self._worker_tasks)
            return
        _, left = await asyncio.wait(self._worker_tasks, timeout=timeout)
        if left:
            self._halt()
            _, left = await asyncio.wait(left, timeout=min(timeout, _UNWIND_GRACE))
            self._abandon(list(left), timeout)

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
            check_handler(handler)
        if priority.__class__ is not int:
            check_int("priority", priority, None)
        if max_retries.__class__ is not int or max_retries < 0:
            check_int("max_retries", max_retries, 0)
        if delay.__class__ is not float or delay:
            check_number("delay", delay)
        if timeout is not None:
            check_number("timeout", timeout, positive=True)
        if self._closed:
            raise QueueClosed(self._why_closed("submit to"))
        tasks = self._tasks
        if self._max_pending is not None and len(tasks) - self._running >= self._max_pending:
            raise QueueFull(f"{self!r} already holds max_pending={self._max_pending} "
                            f"pending tasks; retry after some finish or raise max_pending")
        loop = self._loop
        if loop is None or _thread_ident() != self._thread_ident:  # a cheap test (the hot
            loop = self._bind_loop("submit()")  # path); the other calls check the loop too
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
            if task_id != task_id:  # NaN: no lookup would ever find it again
                raise ValueError(f"task_id={task_id!r} is not equal to itself, so the task "
                                 f"could never be found again; pass a str or an int")
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
        if delay:
            try:  # before the task is counted: a closed loop refuses the timer
                task.handle = loop.call_at(loop.time() + delay, self._make_eligible, task)
            except RuntimeError:
                self._bind_loop("submit()")  # names the loop the queue is bound to
                raise
            tasks[task_id] = task
            self._submitted += 1
        else:
            tasks[task_id] = task
            self._submitted += 1
            self._ready.push(task)
            if self._idle:
                try:
                    self._wake_one()
                except RuntimeError:  # its loop is closed: we run on another one (the task
                    self._bind_loop("submit()")  # stays queued there, and this says where)
                    raise
        return task_id

    # Asking about tasks

    async def result(self, task_id: Any, timeout: float | None = None) -> TaskResult:
        """Wait until the task finishes and return its :class:`TaskResult`.

        A FAILED or CANCELLED task returns a result too; it does not raise. Cancelling the
        caller, or its timeout, does not affect the task.

        Args:
            task_id: the task.
            timeout: loop seconds to wait at most; None waits as long as the task takes, 0
                returns only a finished task's result.

        Raises:
            UnknownTask: no task with this id was ever submitted here.
            ResultGone: it surely finished, but its result is no longer kept.
            TimeoutError: the task had not finished after ``timeout`` seconds (it goes on).
            TypeError, ValueError: ``timeout`` is not a finite number >= 0.
        """
        if timeout is not None:
            check_number("timeout", timeout)
        if self._loop is not None and _running_loop() is not self._loop:
            self._bind_loop("result()")
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
        if timeout is None:
            return await waiter
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except TimeoutError:
            if task.waiters is not None:  # still running: forget this caller
                task.waiters.remove(waiter)
            raise TimeoutError(f"task {task_id!r} had not finished after {timeout:g} loop "
                               f"seconds; it goes on") from None

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
        if self._loop is not None and _running_loop() is not self._loop:
            self._bind_loop("cancel()")
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

    # Helpers

    def _why_closed(self, what: str) -> str:
        """Why the queue takes no more work: ``shutdown()``, or the end of its loop."""
        if self._orphaned:
            return (f"cannot {what} {self!r}: its workers were cancelled with the event loop "
                    f"it was bound to, {self._loop!r} (did that asyncio.run end?); make one "
                    f"TaskQueue per event loop")
        return (f"cannot {what} {self!r}: shutdown() was called; "
                + ("submit before shutdown or " if what == "submit to" else "")
                + "create a new TaskQueue")

    def _abandon(self, workers: list[asyncio.Task[None]], timeout: float) -> None:
        """Give up on workers whose handlers ignore cancellation: their tasks end CANCELLED.

        Raises:
            ShutdownTimeout: there were any.
        """
        abandoned = [task.task_id for task in list(self._tasks.values())
                     if task.state is RUNNING and task.handle in workers]
        for task_id in abandoned:
            self._finish(self._tasks[task_id], CANCELLED, None)
        if workers:
            raise ShutdownTimeout(abandoned, timeout)

    def _halt(self) -> None:
        """Cancel every task (shutdown(drain=False)): pending ones now, running ones' handlers."""
        self._halted = True
        for task in list(self._tasks.values()):
            self.cancel(task.task_id)
        self._ready.clear()
        self._wake_all()

    def _bind_loop(self, what: str) -> asyncio.AbstractEventLoop:
        """The queue's loop: the running one, on first use; after that, a call from another
        thread or another loop is an error (it would not wake the workers, or would mix two
        loops' futures)."""
        running = _running_loop()
        if self._loop is None and running is not None:
            self._loop, self._thread = running, threading.current_thread().name
            self._thread_ident = _thread_ident()
        elif self._loop is None:
            raise RuntimeError(f"{what} needs a running event loop; call it from async code "
                               f"(inside asyncio.run or an async test)")
        elif running is None and _thread_ident() == self._thread_ident:
            pass  # sync code of the loop's own thread, between two runs of the loop
        elif running is None:
            raise RuntimeError(f"{what} was called from thread "
                               f"{threading.current_thread().name!r}, but {self!r} runs on the "
                               f"event loop of thread {self._thread!r}, which would not wake "
                               f"up for it; from another thread use "
                               f"loop.call_soon_threadsafe(queue.{what[:-2]}, ...)")
        elif running is not self._loop:
            raise RuntimeError(f"{what} was called on event loop {running!r}, but {self!r} "
                               f"is bound to {self._loop!r}, where it was first used; make one "
                               f"TaskQueue per event loop")
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



def _waits_for(task: asyncio.Task[Any], target: asyncio.Future[Any] | None) -> bool:
    """Whether ``task`` is waiting, through the tasks and ``gather`` futures it awaits, for
    ``target``. Reads asyncio's ``_fut_waiter`` and ``_children``; without them, False."""
    seen: set[int] = set()
    waiting: list[Any] = [getattr(task, "_fut_waiter", None)]
    while waiting:
        future = waiting.pop()
        if future is None or id(future) in seen:
            continue
        if future is target:
            return True
        seen.add(id(future))
        waiting += getattr(future, "_children", ())
        waiting.append(getattr(future, "_fut_waiter", None))
    return False

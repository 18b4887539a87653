"""A small, correct asyncio task queue of the classic ``AsyncTaskQueue`` shape (``oas37a``).

A teaching example and a target for ``asyncqueue-check --shape oas37a``: it meets every point
of the contract in ``targets/oas37a.md``. Standard library only.

Design, and the readings it takes of the points the shape leaves open:

- Pending tasks sit in a heap of ``(-priority, seq, job)``: higher priority first, equal
  priorities in submission order. A retried task re-enters with its original ``seq``.
- Idle workers wait on an ``asyncio.Condition`` (no polling). Its lock is held only to pop or
  push the heap, never across a handler.
- Each attempt runs in an asyncio task of its own, so ``cancel_task`` cancels that task; the
  worker that awaits it catches the ``CancelledError`` and takes the next task. ``cancel_task``
  returns before the handler has unwound; the status is CANCELLED once it has.
- After failed attempt k (k = 0, 1, ...) a background task sleeps
  ``min(base_delay * 2**k, max_delay)`` loop seconds, then puts the task back: no worker is held.
  ``retry_count`` and ``retried`` rise when the retry is scheduled.
- ``max_queue_size`` counts pending tasks (queued and backing off); beyond it ``submit`` raises
  ``asyncio.QueueFull``. A value below 1 means unbounded, as for ``asyncio.Queue``.
- Results live in a cache bounded by ``result_cache_size`` (LRU) and ``result_ttl`` (loop
  seconds from when the task finished); ``get_result`` raises KeyError for an evicted one.
- ``stop(wait=True)`` lets queued, backing-off and running tasks finish; ``stop(wait=False)``
  (or stopping a queue never started) finishes them as CANCELLED. Then it cancels and awaits
  every asyncio task it created.
  ``start()`` after ``stop()`` raises RuntimeError.
- Every time is ``loop.time()``, so a virtual clock controls all of it.

Example::

    queue = AsyncTaskQueue(num_workers=2)
    await queue.start()
    task_id = await queue.submit(fetch, url, priority=5, max_retries=2)
    result = await queue.get_result(task_id)
    await queue.stop()
"""

from __future__ import annotations

import asyncio
import enum
import heapq
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

__all__ = ["AsyncTaskQueue", "TaskResult", "TaskStatus"]


class TaskStatus(enum.Enum):
    """Where a task is in its life; one waiting for a retry backoff is PENDING."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class TaskResult:
    """The outcome of a finished task.

    ``error`` is ``"Type: message"`` of the last failed attempt (FAILED), ``"cancelled"``
    (CANCELLED) or None; ``duration_ms`` runs from the first attempt's start to the end, in
    loop milliseconds (0 if it never started); ``retry_count`` is the number of retries made.
    """

    task_id: str
    success: bool
    result: Any = None
    error: str | None = None
    duration_ms: float = 0.0
    retry_count: int = 0


class _Job:
    """One accepted, unfinished task."""

    __slots__ = ("task_id", "func", "args", "kwargs", "entry", "max_retries", "retry_count",
                 "status", "started_at", "runner", "backoff", "cancelling", "done")

    def __init__(self, task_id, func, args, kwargs, priority, seq, max_retries, done):
        self.task_id, self.func, self.args, self.kwargs = task_id, func, args, kwargs
        self.entry = (-priority, seq, self)  # seq is unique, so jobs are never compared
        self.max_retries, self.retry_count = max_retries, 0
        self.status, self.started_at = TaskStatus.PENDING, None
        self.runner = self.backoff = None  # the attempt's task / the backoff sleep's task
        self.cancelling = False  # cancel_task() cancelled the running attempt
        self.done: asyncio.Future[TaskResult] = done


class AsyncTaskQueue:
    """A priority task queue run by ``num_workers`` worker coroutines.

    Args:
        num_workers: handlers that may run at once (>= 1, else ValueError).
        max_queue_size: most pending tasks; below 1 means unbounded.
        base_delay: backoff after the first failed attempt, in loop seconds.
        max_delay: the cap on any backoff, in loop seconds.
        result_cache_size: how many finished results are kept (least recently used dropped).
        result_ttl: how long a result is kept after its task finished, in loop seconds.
    """

    def __init__(self, num_workers: int = 4, max_queue_size: int = 1000, base_delay: float = 0.1,
                 max_delay: float = 10.0, result_cache_size: int = 1000,
                 result_ttl: float = 300.0) -> None:
        if not isinstance(num_workers, int) or num_workers < 1:
            raise ValueError(f"num_workers={num_workers!r} must be an int >= 1, "
                             f"e.g. AsyncTaskQueue(num_workers=4)")
        if result_cache_size < 1 or result_ttl <= 0 or base_delay < 0 or max_delay < 0:
            raise ValueError("result_cache_size and result_ttl must be > 0, delays >= 0")
        self.num_workers, self.max_queue_size = num_workers, max_queue_size
        self.base_delay, self.max_delay = base_delay, max_delay
        self.result_cache_size, self.result_ttl = result_cache_size, result_ttl
        self._heap: list[tuple[int, int, _Job]] = []
        self._cond = asyncio.Condition()
        self._jobs: dict[str, _Job] = {}  # every unfinished task
        self._results: OrderedDict[str, tuple[float, TaskStatus, TaskResult]] = OrderedDict()
        self._expiry: deque[tuple[float, str]] = deque()  # (expires_at, id), finishing order
        self._expiry_timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # set by the first finished task
        self._tasks: set[asyncio.Task[Any]] = set()  # every asyncio task we created, until done
        self._workers: list[asyncio.Task[None]] = []
        self._drained = asyncio.Event()  # set while no task is unfinished
        self._drained.set()
        self._seq = self._running = 0
        self._completed = self._failed = self._cancelled = self._retried = 0
        self._closed = False

    async def start(self) -> None:
        """Start the workers. Idempotent; RuntimeError after ``stop()``."""
        if self._closed:
            raise RuntimeError("start() after stop(): create a new AsyncTaskQueue")
        if not self._workers:
            self._workers = [self._spawn(self._worker(), f"oas37a-worker-{i}")
                             for i in range(self.num_workers)]

    async def stop(self, wait: bool = True) -> None:
        """Refuse further submits; finish or cancel every task; cancel and await our tasks.

        With ``wait=True`` (and started) pending, backing-off and running tasks finish first;
        otherwise they are cancelled. Either way no asyncio task created here is left.
        """
        self._closed = True
        if wait and self._workers:
            await self._drained.wait()
        for task_id in list(self._jobs):
            await self.cancel_task(task_id)
        await self._drained.wait()  # running handlers unwind through their workers
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._workers.clear()

    async def submit(self, func: Callable[..., Awaitable[Any]], *args: Any, priority: int = 0,
                     max_retries: int = 3, task_id: str | None = None, **kwargs: Any) -> str:
        """Queue ``await func(*args, **kwargs)``; return its id. Higher ``priority`` runs first.

        Raises:
            RuntimeError: after ``stop()``.
            ValueError: ``task_id`` is already known (unfinished or with a cached result),
                or ``max_retries`` < 0.
            TypeError: ``func`` is not callable.
            asyncio.QueueFull: ``max_queue_size`` tasks are already pending.
        """
        if self._closed:
            raise RuntimeError("submit() after stop(): the queue takes no more tasks")
        if not callable(func):
            raise TypeError(f"func={func!r} is not callable; pass an 'async def' function")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries={max_retries!r} must be an int >= 0")
        if task_id is not None and self._known(task_id):
            raise ValueError(f"task_id={task_id!r} is already in use; pass a new id")
        if 0 < self.max_queue_size <= len(self._jobs) - self._running:
            raise asyncio.QueueFull(f"{self.max_queue_size} tasks are pending already")
        self._seq += 1
        if task_id is None:
            task_id = f"task-{self._seq}"
            while self._known(task_id):  # only if callers chose ids that look like ours
                self._seq += 1
                task_id = f"task-{self._seq}"
        job = _Job(task_id, func, args, kwargs, priority, self._seq, max_retries,
                   asyncio.get_running_loop().create_future())
        self._jobs[task_id] = job
        self._drained.clear()
        async with self._cond:
            heapq.heappush(self._heap, job.entry)
            self._cond.notify()
        return task_id

    async def get_result(self, task_id: str, timeout: float | None = None) -> TaskResult:
        """Wait (on a future, without polling) until the task finishes; return its result.

        Raises:
            TimeoutError: ``timeout`` loop seconds passed first (the task goes on).
            KeyError: unknown id, or its result was evicted or expired.
        """
        job = self._jobs.get(task_id)
        if job is not None:
            return await asyncio.wait_for(asyncio.shield(job.done), timeout)
        return self._cached(task_id)[2]

    async def cancel_task(self, task_id: str) -> bool:
        """Cancel a pending, backing-off or running task; False if finished or unknown.

        A pending one is CANCELLED at once and never runs (again); a running one has its
        handler's asyncio task cancelled and is CANCELLED once the handler has unwound.
        """
        job = self._jobs.get(task_id)
        if job is None:
            return False
        if job.status is TaskStatus.RUNNING:
            job.cancelling = True
            job.runner.cancel()
        else:
            if job.backoff is not None:
                job.backoff.cancel()
            else:
                self._heap.remove(job.entry)
                heapq.heapify(self._heap)
            self._finish(job, TaskStatus.CANCELLED)
        return True

    def get_stats(self) -> dict[str, int]:
        """Counters; ``pending + running + completed + failed + cancelled == submitted``.

        ``pending`` includes tasks waiting for a backoff, ``queue_size`` only those in the
        heap; ``workers`` counts the worker tasks still alive.
        """
        running = self._running
        return {"pending": len(self._jobs) - running, "running": running,
                "completed": self._completed, "failed": self._failed,
                "cancelled": self._cancelled, "retried": self._retried,
                "workers": sum(not w.done() for w in self._workers),
                "queue_size": len(self._heap),
                "submitted": len(self._jobs) + self._completed + self._failed + self._cancelled}

    def get_task_status(self, task_id: str) -> TaskStatus | None:
        """The task's status, or None if unknown or its result is gone."""
        job = self._jobs.get(task_id)
        if job is not None:
            return job.status
        try:
            return self._cached(task_id)[1]
        except KeyError:
            return None

    # Internals

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _worker(self) -> None:
        while True:
            async with self._cond:
                while not self._heap:
                    await self._cond.wait()
                job = heapq.heappop(self._heap)[2]
            await self._execute(job)

    async def _execute(self, job: _Job) -> None:
        loop = asyncio.get_running_loop()
        job.status = TaskStatus.RUNNING
        self._running += 1
        if job.started_at is None:
            job.started_at = loop.time()
        job.runner = self._spawn(self._attempt(job.func, job.args, job.kwargs),
                                 f"oas37a-{job.task_id}")
        try:
            value = await job.runner
        except asyncio.CancelledError:
            self._finish(job, TaskStatus.CANCELLED)
            if asyncio.current_task().cancelling():  # the worker itself is cancelled
                raise
        except Exception as exc:
            if job.cancelling:  # the handler turned our cancel into an exception
                self._finish(job, TaskStatus.CANCELLED)
            elif job.retry_count >= job.max_retries:
                self._finish(job, TaskStatus.FAILED, error=exc)
            else:
                self._schedule_retry(job)
        else:  # a handler that swallowed our cancellation still ends CANCELLED
            status = TaskStatus.CANCELLED if job.cancelling else TaskStatus.COMPLETED
            self._finish(job, status, value)

    @staticmethod
    async def _attempt(func: Callable[..., Awaitable[Any]], args: tuple, kwargs: dict) -> Any:
        return await func(*args, **kwargs)  # a sync func's TypeError fails the attempt

    def _schedule_retry(self, job: _Job) -> None:
        delay = min(self.base_delay * 2 ** job.retry_count, self.max_delay)
        job.retry_count += 1
        self._retried += 1
        self._running -= 1
        job.status, job.runner = TaskStatus.PENDING, None
        job.backoff = self._spawn(self._requeue_after(job, delay), f"oas37a-wait-{job.task_id}")

    async def _requeue_after(self, job: _Job, delay: float) -> None:
        await asyncio.sleep(delay)
        async with self._cond:
            job.backoff = None
            heapq.heappush(self._heap, job.entry)
            self._cond.notify()

    def _finish(self, job: _Job, status: TaskStatus, value: Any = None,
                error: BaseException | None = None) -> None:
        loop = asyncio.get_running_loop()
        if job.status is TaskStatus.RUNNING:
            self._running -= 1
        job.status = status
        if status is TaskStatus.COMPLETED:
            self._completed += 1
        elif status is TaskStatus.FAILED:
            self._failed += 1
        else:
            self._cancelled += 1
        del self._jobs[job.task_id]
        if not self._jobs:
            self._drained.set()
        started = job.started_at
        ok = status is TaskStatus.COMPLETED
        result = TaskResult(
            job.task_id, ok, value if ok else None,
            "cancelled" if status is TaskStatus.CANCELLED else
            None if error is None else f"{type(error).__name__}: {error}",
            0.0 if started is None else (loop.time() - started) * 1000.0, job.retry_count)
        job.done.set_result(result)
        # Keep nothing alive; entry -> job is a cycle that would wait for the GC.
        job.func = job.args = job.kwargs = job.runner = job.backoff = job.entry = job.done = None
        self._store(job.task_id, status, result, loop)

    def _known(self, task_id: str) -> bool:
        entry = self._results.get(task_id)
        return task_id in self._jobs or (entry is not None and entry[0] > self._loop.time())

    def _cached(self, task_id: str) -> tuple[float, TaskStatus, TaskResult]:
        entry = self._results.get(task_id)
        if entry is None or entry[0] <= self._loop.time():
            raise KeyError(f"no result for task {task_id!r}: unknown, or evicted/expired "
                           f"(result_cache_size={self.result_cache_size}, "
                           f"result_ttl={self.result_ttl} s)")
        self._results.move_to_end(task_id)
        return entry

    def _store(self, task_id: str, status: TaskStatus, result: TaskResult,
               loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        expires = loop.time() + self.result_ttl
        self._results[task_id] = (expires, status, result)
        self._results.move_to_end(task_id)
        while len(self._results) > self.result_cache_size:
            self._results.popitem(last=False)
        self._expiry.append((expires, task_id))
        if self._expiry_timer is None:
            self._expiry_timer = loop.call_at(expires, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        # One timer, due at the oldest finish + ttl, so an idle queue lets results go too.
        self._expiry_timer = None
        now = loop.time()
        while self._expiry and self._expiry[0][0] <= now:
            expires, task_id = self._expiry.popleft()
            entry = self._results.get(task_id)
            if entry is not None and entry[0] == expires:
                del self._results[task_id]
        if self._expiry:
            self._expiry_timer = loop.call_at(self._expiry[0][0], self._expire, loop)

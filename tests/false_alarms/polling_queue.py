"""AsyncTaskQueue of the oas37a shape whose get_result polls (false-alarm corpus).

Readings taken on the points oas37a leaves open:

- Retry re-entry: a retried task re-enters BEHIND the tasks waiting (it takes a new sequence
  number when its backoff ends); retries due at the same instant re-enter in whatever order
  the loop runs their per-task ``loop.call_later`` timers (any order).
- retry_count / retried rise when the retry STARTS.
- cancel_task on a running task returns AFTER the handler has unwound.
- stop(wait=True) RUNS every queued task (backoffs included) and LETS running handlers finish;
  if no worker was ever started, queued tasks are finished as CANCELLED.  start() after
  stop() is REFUSED (RuntimeError).
- stop(wait=False) cancels queued, backing-off and running tasks (all CANCELLED at once) and
  returns BEFORE the cancelled handlers have unwound (it awaits only its workers).
- Expired results are dropped LAZILY: at the next insert into the cache or the next read.
- get_result POLLS every 10 ms of loop time (workers themselves wait on an Event, no spin).
- max_queue_size counts every unfinished task (queued, waiting for a backoff, running); a full
  queue raises QueueFullError, a subclass of asyncio.QueueFull.  <= 0 means unbounded.
- An evicted, expired or unknown result: get_result raises KeyError.
- get_stats is a coroutine function.
"""
from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum
from typing import Any, Optional

POLL_INTERVAL = 0.01


class QueueFullError(asyncio.QueueFull):
    pass


class TaskStatus(Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


@dataclass
class TaskResult:
    task_id: str
    success: bool
    result: Any = None
    error: Any = None
    duration_ms: float = 0.0
    retry_count: int = 0


def _backoff(base, cap, k):
    """min(base * 2**k, cap), safe for huge k."""
    try:
        return min(0.0 if base == 0 else base * 2 ** k, cap)
    except OverflowError:
        return cap


class _Rec:
    def __init__(self, task_id, func, args, kwargs, priority, max_retries):
        self.task_id, self.func, self.args, self.kwargs = task_id, func, args, kwargs
        self.priority, self.max_retries = priority, max_retries
        self.status, self.attempts, self.retry_count = TaskStatus.PENDING, 0, 0  # started
        self.entry = self.timer = self.attempt = self.result = None
        self.finished_at = 0.0


class AsyncTaskQueue:
    def __init__(self, num_workers=4, max_queue_size=1000, base_delay=0.1, max_delay=10.0,
                 result_cache_size=1000, result_ttl=300.0):
        if num_workers < 1:
            raise ValueError("num_workers must be >= 1")
        self.num_workers, self.max_queue_size = num_workers, max_queue_size
        self.base_delay, self.max_delay = base_delay, max_delay
        self.result_cache_size, self.result_ttl = result_cache_size, result_ttl
        self._ready: list = []                     # heap of (-priority, seq, rec)
        self._tasks: dict = {}                     # unfinished task_id -> _Rec
        self._results: OrderedDict = OrderedDict()  # LRU: task_id -> rec (finished)
        self._by_finish: OrderedDict = OrderedDict()  # task_id -> finished_at, finish order
        self._seq = itertools.count()
        self._work = asyncio.Event()
        self._all_done = asyncio.Event()
        self._workers: list = []
        self._closed = False
        self._counts = {s: 0 for s in TaskStatus}
        self._retried = 0

    async def start(self):
        if self._closed:
            raise RuntimeError("a stopped queue cannot be restarted")
        if not self._workers:
            loop = asyncio.get_running_loop()
            self._workers = [loop.create_task(self._worker()) for _ in range(self.num_workers)]

    async def stop(self, wait=True):
        self._closed = True
        live = [w for w in self._workers if not w.done()]
        if wait and live:
            while self._tasks:
                self._all_done.clear()
                await self._all_done.wait()
        attempts = [a for a in (self._cancel_now(r, cancel_handler=False)
                                for r in list(self._tasks.values())) if a is not None]
        for w in live:
            w.cancel()
        if live:
            await asyncio.wait(live)        # the workers always end before stop() returns
        for a in attempts:
            a.cancel()
        if wait and attempts:
            await asyncio.wait(attempts)    # wait=False returns before the handlers unwound

    async def submit(self, func, *args, priority=0, max_retries=3, task_id=None, **kwargs) -> str:
        if self._closed:
            raise RuntimeError("queue is stopped")
        if task_id is None:
            task_id = uuid.uuid4().hex
        elif task_id in self._tasks or self._lookup(task_id) is not None:
            raise ValueError(f"duplicate task_id {task_id!r}")
        if self.max_queue_size and self.max_queue_size > 0 and len(self._tasks) >= self.max_queue_size:
            raise QueueFullError(f"{len(self._tasks)} unfinished tasks")
        rec = _Rec(task_id, func, args, kwargs, priority, max_retries)
        self._tasks[task_id] = rec
        self._counts[TaskStatus.PENDING] += 1
        self._push(rec)
        return task_id

    async def cancel_task(self, task_id) -> bool:
        rec = self._tasks.get(task_id)
        if rec is None or rec.status in FINAL:
            return False
        attempt = rec.attempt
        self._cancel_now(rec)
        if attempt is not None and attempt is not asyncio.current_task():
            await asyncio.wait((attempt,))   # return after the handler has unwound
        return True

    async def get_result(self, task_id, timeout=None) -> TaskResult:
        loop = asyncio.get_running_loop()
        rec = self._tasks.get(task_id)
        if rec is None:
            rec = self._lookup(task_id)
            if rec is None:
                raise KeyError(task_id)
            self._results.move_to_end(task_id)
            return rec.result
        deadline = None if timeout is None else loop.time() + timeout
        while rec.status not in FINAL:          # poll every 10 ms
            if deadline is None:
                await asyncio.sleep(POLL_INTERVAL)
            else:
                left = deadline - loop.time()
                if left <= 0:
                    raise asyncio.TimeoutError(task_id)
                await asyncio.sleep(min(POLL_INTERVAL, left))
        if self.result_ttl is not None and loop.time() >= rec.finished_at + self.result_ttl:
            raise KeyError(task_id)
        if self._lookup(task_id) is not None:
            self._results.move_to_end(task_id)
        return rec.result

    def get_task_status(self, task_id) -> Optional[TaskStatus]:
        rec = self._tasks.get(task_id) or self._lookup(task_id)
        return None if rec is None else rec.status

    async def get_stats(self) -> dict:
        c = self._counts
        return {"pending": c[TaskStatus.PENDING], "running": c[TaskStatus.RUNNING],
                "completed": c[TaskStatus.COMPLETED], "failed": c[TaskStatus.FAILED],
                "cancelled": c[TaskStatus.CANCELLED], "retried": self._retried,
                "workers": sum(1 for w in self._workers if not w.done()),
                "queue_size": len(self._ready)}

    # ------------------------------------------------------------------ internals
    def _push(self, rec):
        rec.entry = (-rec.priority, next(self._seq), rec)   # new sequence number: behind
        heapq.heappush(self._ready, rec.entry)
        self._work.set()

    def _cancel_now(self, rec, cancel_handler=True):
        if rec.timer is not None:
            rec.timer.cancel()
        if rec.entry is not None:
            self._ready.remove(rec.entry)
            heapq.heapify(self._ready)
        attempt = rec.attempt
        self._finish(rec, TaskStatus.CANCELLED, error=asyncio.CancelledError())
        if attempt is not None and cancel_handler:
            attempt.cancel()
        return attempt

    async def _worker(self):
        loop = asyncio.get_running_loop()
        while True:
            while not self._ready:
                self._work.clear()
                await self._work.wait()
            rec = heapq.heappop(self._ready)[2]
            rec.entry = None
            if rec.attempts > 0:      # counted when the retry starts
                rec.retry_count += 1
                self._retried += 1
            rec.attempts += 1
            self._set(rec, TaskStatus.RUNNING)
            attempt = rec.attempt = loop.create_task(self._attempt(rec))
            rec = None
            await asyncio.wait((attempt,))
            attempt = None

    async def _attempt(self, rec):
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        try:
            value = rec.func(*rec.args, **rec.kwargs)
            if inspect.isawaitable(value):
                value = await value
        except asyncio.CancelledError:
            self._finish(rec, TaskStatus.CANCELLED, error=asyncio.CancelledError())
            raise
        except Exception as exc:
            if rec.status in FINAL:
                return
            k = rec.attempts - 1
            if k < rec.max_retries:
                delay = _backoff(self.base_delay, self.max_delay, k)
                self._set(rec, TaskStatus.PENDING)
                rec.attempt = None
                rec.timer = loop.call_later(delay, self._requeue, rec)
            else:
                self._finish(rec, TaskStatus.FAILED, error=exc, duration=loop.time() - t0)
        else:
            self._finish(rec, TaskStatus.COMPLETED, result=value, duration=loop.time() - t0)

    def _requeue(self, rec):
        rec.timer = None
        if rec.status is TaskStatus.PENDING:
            self._push(rec)

    def _set(self, rec, status):
        self._counts[rec.status] -= 1
        self._counts[status] += 1
        rec.status = status

    def _finish(self, rec, status, result=None, error=None, duration=0.0):
        if rec.status in FINAL:
            return
        self._set(rec, status)
        ok = status is TaskStatus.COMPLETED
        rec.result = TaskResult(rec.task_id, ok, result if ok else None, None if ok else error,
                                duration * 1000.0, rec.retry_count)
        rec.finished_at = asyncio.get_running_loop().time()
        rec.func = rec.args = rec.kwargs = rec.attempt = rec.timer = rec.entry = None
        self._tasks.pop(rec.task_id, None)
        self._purge_expired()                   # lazy expiry at insert
        if self.result_cache_size is not None and self.result_cache_size > 0:
            self._results[rec.task_id] = rec
            self._by_finish[rec.task_id] = rec.finished_at
            while len(self._results) > self.result_cache_size:
                tid, _ = self._results.popitem(last=False)
                self._by_finish.pop(tid, None)
        if not self._tasks:
            self._all_done.set()

    def _expired(self, finished_at):
        return (self.result_ttl is not None
                and asyncio.get_running_loop().time() >= finished_at + self.result_ttl)

    def _purge_expired(self):
        while self._by_finish:
            tid, fin = next(iter(self._by_finish.items()))
            if not self._expired(fin):
                break
            del self._by_finish[tid]
            self._results.pop(tid, None)

    def _lookup(self, task_id):
        rec = self._results.get(task_id)
        if rec is not None and self._expired(rec.finished_at):   # lazy expiry at read
            del self._results[task_id]
            self._by_finish.pop(task_id, None)
            return None
        return rec

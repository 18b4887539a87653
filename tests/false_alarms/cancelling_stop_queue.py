"""AsyncTaskQueue of the oas37a shape whose stop() cancels (false-alarm corpus).

Readings taken on the points oas37a leaves open:

- Retry re-entry: a retried task re-enters with its ORIGINAL sequence number; retries due at
  the same instant re-enter in the order their per-task ``loop.call_at`` timers fire.
- retry_count / retried rise when the retry STARTS (a task cancelled during its backoff keeps
  the old count).
- cancel_task on a running task returns BEFORE the handler has unwound: the status is
  CANCELLED at once and the handler's asyncio task is cancelled; it unwinds on later loop steps.
- stop(wait=True) finishes queued and backing-off tasks as CANCELLED, CANCELS running handlers
  and returns after they and the workers have unwound.  start() after stop() is REFUSED
  (RuntimeError).
- stop(wait=False) does the same cancelling but returns BEFORE the cancelled handlers have
  unwound (it awaits only its workers, which end at once).
- Expired results are dropped AT ONCE: each cached result has a ``loop.call_at`` timer at
  finish + result_ttl (cancelled when LRU evicts the result).
- get_result wakes on an asyncio.Event.  get_task_status is a coroutine function.
- max_queue_size counts QUEUED plus RUNNING tasks (tasks in backoff are not counted); a full
  queue raises RuntimeError.  max_queue_size <= 0 means unbounded.
- An evicted, expired or unknown result: get_result raises KeyError.
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
    def __init__(self, task_id, func, args, kwargs, priority, max_retries, seq):
        self.task_id, self.func, self.args, self.kwargs = task_id, func, args, kwargs
        self.priority, self.max_retries, self.seq = priority, max_retries, seq
        self.status, self.attempts, self.retry_count = TaskStatus.PENDING, 0, 0  # started
        self.entry = self.timer = self.attempt = self.result = None
        self.done = asyncio.Event()


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
        self._results: OrderedDict = OrderedDict()  # LRU: task_id -> [expires_at, status, result, handle]
        self._seq = itertools.count()
        self._work = asyncio.Event()
        self._workers: list = []
        self._closed = False
        self._counts = {s: 0 for s in TaskStatus}
        self._retried = 0

    async def start(self):
        if self._closed:
            raise RuntimeError("a stopped queue cannot be restarted")
        if self._workers:
            return
        loop = asyncio.get_running_loop()
        self._workers = [loop.create_task(self._worker()) for _ in range(self.num_workers)]

    async def stop(self, wait=True):
        self._closed = True
        attempts = [a for a in (self._cancel(r, cancel_handler=False)
                                for r in list(self._tasks.values())) if a is not None]
        workers = [w for w in self._workers if not w.done()]
        for w in workers:
            w.cancel()
        if workers:
            await asyncio.wait(workers)     # the workers always end before stop() returns
        for a in attempts:
            a.cancel()
        if wait and attempts:
            await asyncio.wait(attempts)    # wait=False returns before the handlers unwound

    async def submit(self, func, *args, priority=0, max_retries=3, task_id=None, **kwargs) -> str:
        if self._closed:
            raise RuntimeError("queue is stopped")
        if task_id is None:
            task_id = uuid.uuid4().hex
        elif task_id in self._tasks or self._entry(task_id) is not None:
            raise ValueError(f"duplicate task_id {task_id!r}")
        in_flight = len(self._ready) + self._counts[TaskStatus.RUNNING]
        if self.max_queue_size and self.max_queue_size > 0 and in_flight >= self.max_queue_size:
            raise RuntimeError("queue is full")
        rec = _Rec(task_id, func, args, kwargs, priority, max_retries, next(self._seq))
        self._tasks[task_id] = rec
        self._counts[TaskStatus.PENDING] += 1
        self._push(rec)
        return task_id

    async def cancel_task(self, task_id) -> bool:
        rec = self._tasks.get(task_id)
        if rec is None or rec.status in FINAL:
            return False
        self._cancel(rec)  # returns before a running handler has unwound
        return True

    async def get_result(self, task_id, timeout=None) -> TaskResult:
        rec = self._tasks.get(task_id)
        if rec is not None:
            await asyncio.wait_for(rec.done.wait(), timeout)
            if task_id in self._results:
                self._results.move_to_end(task_id)
            elif self.result_ttl is not None and self.result_ttl <= 0:
                raise KeyError(task_id)
            return rec.result
        entry = self._entry(task_id)
        if entry is None:
            raise KeyError(task_id)
        self._results.move_to_end(task_id)
        return entry[2]

    async def get_task_status(self, task_id) -> Optional[TaskStatus]:
        rec = self._tasks.get(task_id)
        if rec is not None:
            return rec.status
        entry = self._entry(task_id)
        return None if entry is None else entry[1]

    def get_stats(self) -> dict:
        c = self._counts
        return {"pending": c[TaskStatus.PENDING], "running": c[TaskStatus.RUNNING],
                "completed": c[TaskStatus.COMPLETED], "failed": c[TaskStatus.FAILED],
                "cancelled": c[TaskStatus.CANCELLED], "retried": self._retried,
                "workers": sum(1 for w in self._workers if not w.done()),
                "queue_size": len(self._ready)}

    # ------------------------------------------------------------------ internals
    def _push(self, rec):
        rec.entry = (-rec.priority, rec.seq, rec)   # original sequence number, retries too
        heapq.heappush(self._ready, rec.entry)
        self._work.set()

    def _cancel(self, rec, cancel_handler=True):
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
            if rec.attempts > 0:     # counted when the retry starts
                rec.retry_count += 1
                self._retried += 1
            rec.attempts += 1
            self._set(rec, TaskStatus.RUNNING)
            attempt = rec.attempt = loop.create_task(self._attempt(rec))
            rec = None
            try:
                await asyncio.wait((attempt,))
            finally:
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
                rec.timer = loop.call_at(loop.time() + delay, self._requeue, rec)
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
        rec.func = rec.args = rec.kwargs = rec.attempt = rec.timer = rec.entry = None
        self._tasks.pop(rec.task_id, None)
        self._store(rec)
        rec.done.set()

    def _store(self, rec):
        if self.result_cache_size is None or self.result_cache_size <= 0:
            return
        if self.result_ttl is not None and self.result_ttl <= 0:
            return   # expired the moment it finished
        loop = asyncio.get_running_loop()
        expires = None if self.result_ttl is None else loop.time() + self.result_ttl
        handle = None if expires is None else loop.call_at(expires, self._expire, rec.task_id, expires)
        self._results[rec.task_id] = [expires, rec.status, rec.result, handle]
        while len(self._results) > self.result_cache_size:
            _, old = self._results.popitem(last=False)
            if old[3] is not None:
                old[3].cancel()

    def _expire(self, task_id, expires):
        entry = self._results.get(task_id)
        if entry is not None and entry[0] == expires:
            del self._results[task_id]

    def _entry(self, task_id):
        entry = self._results.get(task_id)
        if entry is not None and entry[0] is not None:
            if asyncio.get_running_loop().time() >= entry[0]:   # timer not run yet this instant
                entry[3].cancel()
                del self._results[task_id]
                return None
        return entry

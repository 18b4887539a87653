"""AsyncTaskQueue of the oas37a shape whose retries go to the back of the line (false-alarm corpus).

Readings taken on the points oas37a leaves open:

- Retry re-entry: a retried task re-enters BEHIND the tasks waiting (new sequence number when
  its backoff ends).  Backoffs are kept in one heap served by one timer; retries due at the
  SAME instant re-enter in REVERSE order of scheduling (last scheduled first).  Retries due
  at different instants re-enter in time order.
- retry_count / retried rise when the retry is SCHEDULED (at the failure); a failure during
  stop() schedules no retry, so it counts none.
- cancel_task on a running task returns BEFORE the handler has unwound (status CANCELLED at
  once, the handler's asyncio task cancelled; it unwinds on later loop steps).
- stop(wait=True) finishes queued and backing-off tasks as CANCELLED and LETS running
  handlers finish (an attempt that fails during stop() with retries left is CANCELLED, not
  retried; a last attempt that fails is FAILED), then stops the workers.  start() after
  stop() is ALLOWED (the queue reopens).
- stop(wait=False) cancels everything and returns AFTER the cancelled handlers have unwound.
- Expired results are dropped AT ONCE: one timer, re-armed for the oldest cached result.
- get_result wakes on an asyncio.Event.
- max_queue_size counts PENDING tasks (queued plus waiting for a backoff), not running ones;
  a full queue raises RuntimeError.  max_queue_size <= 0 means unbounded.
- An evicted, expired or unknown result: get_result returns None.
- (Not an open point, but unspecified: TaskResult.error is a string "ExcType: message".)
"""
from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from enum import Enum
from typing import Any, Optional


class TaskStatus(str, Enum):
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
    error: Optional[str] = None
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
        self.status, self.retry_count, self.done = TaskStatus.PENDING, 0, asyncio.Event()
        self.entry = self.backoff = self.attempt = self.result = None


class AsyncTaskQueue:
    def __init__(self, num_workers=4, max_queue_size=1000, base_delay=0.1, max_delay=10.0,
                 result_cache_size=1000, result_ttl=300.0):
        if num_workers < 1:
            raise ValueError("num_workers must be >= 1")
        self.num_workers, self.max_queue_size = num_workers, max_queue_size
        self.base_delay, self.max_delay = base_delay, max_delay
        self.result_cache_size, self.result_ttl = result_cache_size, result_ttl
        self._ready: list = []          # heap of (-priority, seq, rec)
        self._backoffs: list = []       # heap of (due, -schedule_seq, rec)
        self._backoff_timer = None
        self._tasks: dict = {}          # unfinished task_id -> _Rec
        self._results: OrderedDict = OrderedDict()   # LRU: task_id -> (expires, status, result)
        self._by_finish: OrderedDict = OrderedDict()  # task_id -> expires, finish order
        self._expiry_timer = None
        self._seq = itertools.count()
        self._idle: deque = deque()      # futures of idle workers
        self._workers: list = []
        self._closed = False
        self._counts = {s: 0 for s in TaskStatus}
        self._retried = 0

    async def start(self):
        if any(not w.done() for w in self._workers):
            return
        self._closed = False  # start() after stop() reopens the queue
        loop = asyncio.get_running_loop()
        self._workers = [loop.create_task(self._worker()) for _ in range(self.num_workers)]

    async def stop(self, wait=True):
        self._closed = True
        running = [r for r in self._tasks.values() if r.status is TaskStatus.RUNNING]
        for rec in list(self._tasks.values()):
            if rec.status is TaskStatus.PENDING:
                self._cancel(rec)
        attempts = [r.attempt for r in running]
        if wait and attempts:
            await asyncio.wait(attempts)          # running handlers finish
        elif not wait:
            for rec in running:
                self._cancel(rec)
        workers, self._workers = self._workers, []
        for w in workers:
            w.cancel()
        rest = workers + [a for a in attempts if not a.done()]
        if rest:
            await asyncio.wait(rest)              # returns after everything unwound

    async def submit(self, func, *args, priority=0, max_retries=3, task_id=None, **kwargs) -> str:
        if self._closed:
            raise RuntimeError("queue is stopped")
        if task_id is None:
            task_id = uuid.uuid4().hex
        elif task_id in self._tasks or self._entry(task_id) is not None:
            raise ValueError(f"duplicate task_id {task_id!r}")
        pending = self._counts[TaskStatus.PENDING]
        if self.max_queue_size and self.max_queue_size > 0 and pending >= self.max_queue_size:
            raise RuntimeError("queue is full")
        rec = _Rec(task_id, func, args, kwargs, priority, max_retries)
        self._tasks[task_id] = rec
        self._counts[TaskStatus.PENDING] += 1
        self._push(rec)
        return task_id

    async def cancel_task(self, task_id) -> bool:
        rec = self._tasks.get(task_id)
        if rec is None or rec.status in FINAL:
            return False
        self._cancel(rec)    # a running handler unwinds after we return
        return True

    async def get_result(self, task_id, timeout=None) -> Optional[TaskResult]:
        rec = self._tasks.get(task_id)
        if rec is not None:
            await asyncio.wait_for(rec.done.wait(), timeout)
            if task_id in self._results:
                self._results.move_to_end(task_id)
            elif self.result_ttl is not None and self.result_ttl <= 0:
                return None
            return rec.result
        entry = self._entry(task_id)
        if entry is None:
            return None
        self._results.move_to_end(task_id)
        return entry[2]

    def get_task_status(self, task_id) -> Optional[TaskStatus]:
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
        rec.entry = (-rec.priority, next(self._seq), rec)   # new sequence number: behind
        heapq.heappush(self._ready, rec.entry)
        self._wake_one()

    def _wake_one(self):
        while self._idle:
            fut = self._idle.popleft()
            if not fut.done():
                fut.set_result(None)
                break

    def _cancel(self, rec):
        if rec.backoff is not None:
            self._backoffs.remove(rec.backoff)
            heapq.heapify(self._backoffs)
            self._arm_backoff_timer()
        if rec.entry is not None:
            self._ready.remove(rec.entry)
            heapq.heapify(self._ready)
        attempt = rec.attempt
        self._finish(rec, TaskStatus.CANCELLED, error="CancelledError")
        if attempt is not None:
            attempt.cancel()

    async def _worker(self):
        loop = asyncio.get_running_loop()
        while True:
            while not self._ready:
                fut = loop.create_future()
                self._idle.append(fut)
                try:
                    await fut
                except asyncio.CancelledError:
                    if fut.done() and not fut.cancelled() and self._ready:
                        self._wake_one()   # hand the wake-up on
                    raise
            rec = heapq.heappop(self._ready)[2]
            rec.entry = None
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
            self._finish(rec, TaskStatus.CANCELLED, error="CancelledError")
            raise
        except Exception as exc:
            if rec.status in FINAL:
                return
            error = f"{type(exc).__name__}: {exc}"
            if rec.retry_count >= rec.max_retries:
                self._finish(rec, TaskStatus.FAILED, error=error, duration=loop.time() - t0)
            elif self._closed:   # stopping: the retry would be a queued task, so CANCELLED
                self._finish(rec, TaskStatus.CANCELLED, error=error, duration=loop.time() - t0)
            else:
                delay = _backoff(self.base_delay, self.max_delay, rec.retry_count)
                rec.retry_count += 1       # counted when scheduled
                self._retried += 1
                self._set(rec, TaskStatus.PENDING)
                rec.attempt = None
                rec.backoff = (loop.time() + delay, -next(self._seq), rec)
                heapq.heappush(self._backoffs, rec.backoff)
                self._arm_backoff_timer()
        else:
            self._finish(rec, TaskStatus.COMPLETED, result=value, duration=loop.time() - t0)

    def _arm_backoff_timer(self):
        if self._backoff_timer is not None:
            self._backoff_timer.cancel()
            self._backoff_timer = None
        if self._backoffs:
            due = self._backoffs[0][0]
            self._backoff_timer = asyncio.get_running_loop().call_at(due, self._backoffs_due, due)

    def _backoffs_due(self, due):
        self._backoff_timer = None
        # pop everything due by `due`; the heap order (due, -schedule_seq) puts the last
        # scheduled of several retries due at the same instant first
        while self._backoffs and self._backoffs[0][0] <= due:
            rec = heapq.heappop(self._backoffs)[2]
            rec.backoff = None
            self._push(rec)
        self._arm_backoff_timer()

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
        rec.func = rec.args = rec.kwargs = rec.attempt = rec.entry = rec.backoff = None
        self._tasks.pop(rec.task_id, None)
        rec.done.set()
        if not self.result_cache_size or self.result_cache_size <= 0:
            return
        if self.result_ttl is not None and self.result_ttl <= 0:
            return
        loop = asyncio.get_running_loop()
        expires = None if self.result_ttl is None else loop.time() + self.result_ttl
        self._results[rec.task_id] = (expires, rec.status, rec.result)
        while len(self._results) > self.result_cache_size:
            tid, _ = self._results.popitem(last=False)
            self._by_finish.pop(tid, None)
        if expires is not None:
            self._by_finish[rec.task_id] = expires
            if self._expiry_timer is None:
                self._arm_expiry()

    def _arm_expiry(self):
        self._expiry_timer = None
        if self._by_finish:
            when = next(iter(self._by_finish.values()))
            self._expiry_timer = asyncio.get_running_loop().call_at(when, self._expire, when)

    def _expire(self, when):
        while self._by_finish:
            tid, expires = next(iter(self._by_finish.items()))
            if expires > when:
                break
            del self._by_finish[tid]
            self._results.pop(tid, None)
        self._arm_expiry()

    def _entry(self, task_id):
        entry = self._results.get(task_id)
        if entry is not None and entry[0] is not None:
            if asyncio.get_running_loop().time() >= entry[0]:   # timer not run yet this instant
                del self._results[task_id]
                self._by_finish.pop(task_id, None)
                return None
        return entry

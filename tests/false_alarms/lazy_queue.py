"""AsyncTaskQueue of the oas37a shape, written from the contract alone (false-alarm corpus).

Readings taken on the points oas37a leaves open:

- Retry re-entry: a retried task re-enters with its ORIGINAL sequence number (ahead of
  equal-priority tasks submitted after it); retries due at the same instant re-enter in the
  order their per-task ``loop.call_later`` timers fire.
- retry_count / retried rise when the retry is SCHEDULED (at the failure, before the backoff).
- cancel_task on a running task returns AFTER the handler has unwound.
- stop(wait=True) RUNS every queued task (waiting out backoffs) and LETS running handlers
  finish; if no worker was ever started, queued tasks are finished as CANCELLED.
  start() after stop() is ALLOWED (the queue reopens).
- stop(wait=False) cancels queued, backing-off and running tasks and returns AFTER the
  cancelled handlers have unwound.
- Expired results are dropped LAZILY: at the next insert into the cache or the next read.
- get_result wakes on an asyncio.Event (no polling); idle workers wait on an Event too.
- max_queue_size counts QUEUED tasks only (not running, not backing off); a full queue raises
  asyncio.QueueFull.  max_queue_size <= 0 means unbounded.
- An evicted, expired or unknown result: get_result returns None.
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
        self.status, self.retry_count, self.cancel_requested = TaskStatus.PENDING, 0, False
        # heap entry while queued, TimerHandle while backing off, asyncio.Task while running
        self.entry = self.timer = self.attempt = self.result = None
        self.done, self.finished_at = asyncio.Event(), 0.0


class AsyncTaskQueue:
    def __init__(self, num_workers=4, max_queue_size=1000, base_delay=0.1, max_delay=10.0,
                 result_cache_size=1000, result_ttl=300.0):
        if num_workers < 1:
            raise ValueError("num_workers must be >= 1")
        self.num_workers, self.max_queue_size = num_workers, max_queue_size
        self.base_delay, self.max_delay = base_delay, max_delay
        self.result_cache_size, self.result_ttl = result_cache_size, result_ttl
        self._ready: list = []                        # heap of (-priority, seq, rec)
        self._tasks: dict = {}                        # unfinished task_id -> _Rec
        self._results: OrderedDict = OrderedDict()    # LRU: task_id -> (finished_at, status, result)
        self._by_finish: OrderedDict = OrderedDict()  # task_id -> finished_at, in finish order
        self._seq = itertools.count()
        self._work = asyncio.Event()                  # set when something is queued
        self._workers: list = []
        self._closed = False
        self._all_done = asyncio.Event()
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
        if wait and any(not w.done() for w in self._workers):
            while self._tasks:  # run everything accepted, backoffs included
                self._all_done.clear()
                await self._all_done.wait()
        running = []
        for rec in list(self._tasks.values()):
            if rec.status is TaskStatus.RUNNING:
                rec.cancel_requested = True
                rec.attempt.cancel()
                running.append((rec, rec.attempt))
            else:
                self._drop_pending(rec)
                self._finish(rec, TaskStatus.CANCELLED, error=asyncio.CancelledError())
        workers, self._workers = self._workers, []
        for w in workers:
            w.cancel()
        if workers or running:
            await asyncio.wait(workers + [a for _, a in running])  # after handlers unwound
        for rec, _ in running:
            self._finish(rec, TaskStatus.CANCELLED, error=asyncio.CancelledError())

    async def submit(self, func, *args, priority=0, max_retries=3, task_id=None, **kwargs) -> str:
        if self._closed:
            raise RuntimeError("queue is stopped")
        if task_id is None:
            task_id = uuid.uuid4().hex
        elif task_id in self._tasks or self._lookup(task_id) is not None:
            raise ValueError(f"duplicate task_id {task_id!r}")
        if self.max_queue_size and self.max_queue_size > 0 and len(self._ready) >= self.max_queue_size:
            raise asyncio.QueueFull()
        rec = _Rec(task_id, func, args, kwargs, priority, max_retries, next(self._seq))
        self._tasks[task_id] = rec
        self._counts[TaskStatus.PENDING] += 1
        self._push(rec)
        return task_id

    async def cancel_task(self, task_id) -> bool:
        rec = self._tasks.get(task_id)
        if rec is None or rec.status in FINAL:
            return False
        if rec.status is TaskStatus.PENDING:
            self._drop_pending(rec)
        else:
            rec.cancel_requested = True
            attempt = rec.attempt
            attempt.cancel()
            if attempt is not asyncio.current_task():
                await asyncio.wait((attempt,))  # return only after the handler unwound
        self._finish(rec, TaskStatus.CANCELLED, error=asyncio.CancelledError())
        return True

    async def get_result(self, task_id, timeout=None) -> Optional[TaskResult]:
        rec = self._tasks.get(task_id)
        if rec is not None:
            await asyncio.wait_for(rec.done.wait(), timeout)
            if self._expired(rec.finished_at):
                return None
            if self._lookup(task_id) is not None:
                self._results.move_to_end(task_id)  # LRU touch
            return rec.result
        entry = self._lookup(task_id)
        if entry is None:
            return None
        self._results.move_to_end(task_id)
        return entry[2]

    def get_task_status(self, task_id) -> Optional[TaskStatus]:
        rec = self._tasks.get(task_id)
        if rec is not None:
            return rec.status
        entry = self._lookup(task_id)
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

    def _drop_pending(self, rec):
        if rec.timer is not None:
            rec.timer.cancel()
            rec.timer = None
        if rec.entry is not None:
            self._ready.remove(rec.entry)
            heapq.heapify(self._ready)
            rec.entry = None

    async def _worker(self):
        loop = asyncio.get_running_loop()
        while True:
            while not self._ready:
                self._work.clear()
                await self._work.wait()
            rec = heapq.heappop(self._ready)[2]
            rec.entry = None
            self._set(rec, TaskStatus.RUNNING)
            attempt = rec.attempt = loop.create_task(self._attempt(rec))
            rec = None  # do not keep the last finished task alive while idle
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
            # a fresh CancelledError: the caught one's traceback would keep the handler's
            # frame (and its arguments) alive in the result cache
            self._finish(rec, TaskStatus.CANCELLED, error=asyncio.CancelledError())
            raise
        except Exception as exc:
            if rec.cancel_requested:
                self._finish(rec, TaskStatus.CANCELLED, error=exc, duration=loop.time() - t0)
            elif rec.retry_count < rec.max_retries:
                delay = _backoff(self.base_delay, self.max_delay, rec.retry_count)
                rec.retry_count += 1   # counted when scheduled
                self._retried += 1
                self._set(rec, TaskStatus.PENDING)
                rec.attempt = None
                rec.timer = loop.call_later(delay, self._requeue, rec)
            else:
                self._finish(rec, TaskStatus.FAILED, error=exc, duration=loop.time() - t0)
        else:
            status = TaskStatus.CANCELLED if rec.cancel_requested else TaskStatus.COMPLETED
            self._finish(rec, status, result=value, duration=loop.time() - t0)

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
        rec.func = rec.args = rec.kwargs = rec.attempt = None
        self._tasks.pop(rec.task_id, None)
        self._purge_expired()  # lazy expiry at insert
        if self.result_cache_size is not None and self.result_cache_size > 0:
            self._results[rec.task_id] = (rec.finished_at, rec.status, rec.result)
            self._by_finish[rec.task_id] = rec.finished_at
            while len(self._results) > self.result_cache_size:
                self._by_finish.pop(self._results.popitem(last=False)[0], None)
        rec.done.set()
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
        entry = self._results.get(task_id)
        if entry is not None and self._expired(entry[0]):  # lazy expiry at read
            del self._results[task_id]
            self._by_finish.pop(task_id, None)
            return None
        return entry

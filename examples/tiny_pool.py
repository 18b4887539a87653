"""A queue of a shape the harness does not ship, and the adapter that lets it be checked.

``TinyPool`` is a small FIFO worker pool with an API of its own (``add``, ``outcome``,
``drop``, ``counters``, ``close``): no priorities, no retries, no result cache settings.
``TinyPoolAdapter`` maps the harness's :class:`pytest_asyncqueue.adapters.Adapter` protocol
onto it. Check it with::

    asyncqueue-check examples/tiny_pool.py

The adapter is found by its ``adapts`` attribute. Checks that need what the pool lacks
(priorities, retries, task ids, delays, the result cache settings) are skipped with that
reason; the rest must pass.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from pytest_asyncqueue.adapters import Capabilities, Outcome, ResultMissing, Unsupported


class TinyPool:
    """Runs ``add``-ed coroutine functions on ``size`` workers, first in, first out.

    Each job runs in an asyncio task of its own, so ``drop`` can cancel a running one. The
    outcomes of the last ``keep`` finished jobs are kept; ``outcome`` of an older job raises
    KeyError.
    """

    def __init__(self, size: int = 2, keep: int = 1000) -> None:
        if size < 1:
            raise ValueError(f"size={size!r} must be >= 1")
        self.size, self.keep = size, keep
        self._ids = itertools.count(1)
        self._queue: deque[int] = deque()
        self._jobs: dict[int, list[Any]] = {}  # id -> [fn, args, state, asyncio task, future]
        self._done: OrderedDict[int, tuple[str, Any]] = OrderedDict()
        self._wake = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._closed = False
        self._count = dict.fromkeys(("completed", "failed", "cancelled"), 0)

    async def open(self) -> None:
        self._workers = [asyncio.create_task(self._work()) for _ in range(self.size)]

    def add(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> int:
        if self._closed:
            raise RuntimeError("the pool is closed; add jobs before close()")
        job_id = next(self._ids)
        self._jobs[job_id] = [fn, args, "queued", None, asyncio.get_running_loop().create_future()]
        self._queue.append(job_id)
        self._wake.set()
        return job_id

    async def outcome(self, job_id: int) -> tuple[str, Any]:
        if job_id in self._jobs:
            return await asyncio.shield(self._jobs[job_id][4])
        return self._done[job_id]

    def drop(self, job_id: int) -> bool:
        job = self._jobs.get(job_id)
        if job is None:
            return False
        if job[2] == "active":
            job[3].cancel()
        else:
            self._finish(job_id, "cancelled", None)
        return True

    def state(self, job_id: int) -> str | None:
        job = self._jobs.get(job_id)
        if job is not None:
            return job[2]
        return self._done[job_id][0] if job_id in self._done else None

    def counters(self) -> dict[str, int]:
        running = sum(1 for job in self._jobs.values() if job[2] == "active")
        return {"pending": len(self._jobs) - running, "running": running, **self._count,
                "retried": 0, "workers": sum(1 for w in self._workers if not w.done())}

    async def close(self, finish: bool = True) -> None:
        self._closed = True
        if not finish:
            for job_id in list(self._jobs):
                self.drop(job_id)
        self._wake.set()
        await asyncio.gather(*self._workers)

    async def _work(self) -> None:
        while True:
            while not self._queue:
                if self._closed and not self._jobs:
                    self._wake.set()  # let the other workers see it too
                    return
                self._wake.clear()
                await self._wake.wait()
            job_id = self._queue.popleft()
            job = self._jobs.get(job_id)
            if job is None:  # dropped while queued
                continue
            job[2] = "active"
            job[3] = asyncio.create_task(self._run(job_id, job[0], job[1]))
            try:
                await job[3]
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():
                    raise
                if job_id in self._jobs:  # dropped before its first step
                    self._finish(job_id, "cancelled", None)

    async def _run(self, job_id: int, fn: Callable[..., Awaitable[Any]], args: tuple) -> None:
        # The job's own task accounts for it, in the step in which the handler ends: a drop()
        # can never see a job that has ended but is not finished yet.
        try:
            value = await fn(*args)
        except asyncio.CancelledError:
            self._finish(job_id, "cancelled", None)
        except Exception as exc:
            self._finish(job_id, "error", f"{type(exc).__name__}: {exc}")
        else:
            self._finish(job_id, "done", value)

    def _finish(self, job_id: int, state: str, value: Any) -> None:
        job = self._jobs.pop(job_id)
        future = job[4]
        job[:] = [None, None, state, None, None]  # a worker may still hold the list (S7)
        self._count[{"done": "completed", "error": "failed"}.get(state, state)] += 1
        self._done[job_id] = (state, value)
        if len(self._done) > self.keep:
            self._done.popitem(last=False)
        future.set_result((state, value))
        if self._closed and not self._jobs:
            self._wake.set()


class TinyPoolAdapter:
    """Drives a :class:`TinyPool` through the harness's Adapter protocol."""

    adapts = TinyPool
    shape = "tiny_pool"
    _states = {"queued": "pending", "active": "running", "done": "completed",
               "error": "failed", "cancelled": "cancelled"}

    @classmethod
    def capabilities_of(cls, queue_class: type) -> Capabilities:
        return Capabilities(settings=frozenset({"workers"}), submit_options=frozenset(),
                            drain_choice=True, stop_runs_queued=frozenset({"run"}),
                            closed_errors=(RuntimeError,), extras=frozenset({"cancel_running"}))

    def __init__(self, queue_class: type, settings: dict[str, Any]) -> None:
        self.capabilities = self.capabilities_of(queue_class)
        self.queue = queue_class(size=settings.get("workers", 2))

    async def start(self) -> None:
        await self.queue.open()

    async def submit(self, handler: Callable[..., Awaitable[Any]], *args: Any,
                     **options: Any) -> Hashable:
        if options:
            raise Unsupported(f"TinyPool.add takes no {', '.join(options)} option")
        return self.queue.add(handler, *args)

    async def cancel(self, task_id: Hashable) -> bool:
        return self.queue.drop(task_id)

    async def result(self, task_id: Hashable) -> Outcome:
        try:
            state, value = await self.queue.outcome(task_id)
        except KeyError as exc:
            raise ResultMissing(f"outcome({task_id!r}) raised KeyError") from exc
        state = self._states[state]
        return Outcome(state, value if state == "completed" else None,
                       value if state == "failed" else None)

    async def status(self, task_id: Hashable) -> str | None:
        state = self.queue.state(task_id)
        return None if state is None else self._states[state]

    async def stats(self) -> dict[str, int]:
        return self.queue.counters()

    def stats_now(self) -> dict[str, int]:
        return self.queue.counters()

    async def stop(self, drain: bool = True) -> None:
        await self.queue.close(finish=drain)

"""The pools a throughput round runs on, behind one small interface (:class:`Pool`).

A round starts a pool on a fresh loop and lets its workers go idle, then calls
``pool.submit(handler)`` once per task and awaits ``pool.wait_all(last)`` with what the last
``submit`` returned. ``submit`` is the implementation's own bound method, not a wrapper, so
the timed loop holds nothing but the implementation's calls.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from queue_core import TaskQueue

from .workloads import Handler

__all__ = ["BarePool", "Pool", "QueueCorePool"]


class Pool(Protocol):
    """What a throughput round needs from a pool."""

    def submit(self, handler: Handler, /) -> Any:
        """Queue one call of ``handler``; never waits. Each pool binds its own method here."""

    async def start(self) -> None:
        """Start the workers on the running loop and return once every one of them is idle."""

    async def wait_all(self, last: Any) -> None:
        """Return once every task submitted so far has finished.

        Args:
            last: what the last ``submit`` call returned.
        """

    async def close(self) -> None:
        """Stop the workers and wait until they have exited."""


class BarePool:
    """An ``asyncio.Queue`` and W worker coroutines: the practical speed limit of an asyncio pool.

    Each worker runs ``await queue.get(); await handler(); queue.task_done()`` and nothing
    else: no priorities, ids, results, retries, stats or error handling.

    Args:
        workers: how many worker coroutines to run.
    """

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._queue: asyncio.Queue[Handler] = asyncio.Queue()
        self._worker_tasks: list[asyncio.Task[None]] = []
        self.submit = self._queue.put_nowait

    async def start(self) -> None:
        self._worker_tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]
        await asyncio.sleep(0)  # one loop turn takes every new worker to its queue.get()

    async def _work(self) -> None:
        queue = self._queue
        while True:
            handler = await queue.get()
            await handler()
            queue.task_done()

    async def wait_all(self, last: Any) -> None:
        await self._queue.join()

    async def close(self) -> None:
        for worker in self._worker_tasks:
            worker.cancel()
        await asyncio.gather(*self._worker_tasks, return_exceptions=True)


class QueueCorePool:
    """A ``queue_core.TaskQueue`` with its defaults: ids, stats, an LRU + TTL result cache.

    Args:
        workers: how many worker coroutines the queue runs.
    """

    def __init__(self, workers: int) -> None:
        self._queue = TaskQueue(workers=workers)
        self.submit = self._queue.submit

    async def start(self) -> None:
        self._queue.start()
        await asyncio.sleep(0)  # one loop turn takes every new worker to its idle wait

    async def wait_all(self, last: Any) -> None:
        """Wait for the last task submitted, then check that no other is left unfinished.

        Tasks of one priority start in submission order, and a workload's handler suspends
        at most once, so they finish in that order too; the count proves it for each round.

        Raises:
            RuntimeError: a task submitted earlier had not finished.
        """
        await self._queue.result(last)
        stats = self._queue.stats()
        if stats.completed != stats.submitted:
            raise RuntimeError(f"task {last!r} finished before others: {stats}; the round "
                               f"would time less than the whole workload")

    async def close(self) -> None:
        await self._queue.shutdown()

"""Peers of queue_core as benchmark pools (:class:`pytest_asyncqueue.benchmark.Pool`).

The peers are aiojobs and asyncio-pool.

Both are in the ``bench`` extra (``pip install -e '.[bench]'``), never a runtime dependency;
a test of a peer that is not installed is skipped. Neither has priorities, ids, retries or
results, so each runs the noop and yield workloads only, through its own spawning call.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

from pytest_asyncqueue.adapters import Unsupported
from pytest_asyncqueue.benchmark import Handler

__all__ = ["PEERS", "AiojobsPool", "AsyncioPoolPool"]


def _only_flat(peer: str, workload: str) -> None:
    if workload not in ("noop", "yield"):
        raise Unsupported(f"{peer} has no retries or task ids: it runs the noop and yield "
                          f"workloads only, not {workload!r}")


class AiojobsPool:
    """``aiojobs.Scheduler(limit=W, pending_limit=0)``: one asyncio task per job, W at a time.

    Args:
        workers: the scheduler's ``limit``.
        workload: noop or yield.
    """

    async_calls = True

    def __init__(self, workers: int, workload: str = "noop") -> None:
        _only_flat("aiojobs", workload)
        import aiojobs

        self.name = f"aiojobs {importlib.metadata.version('aiojobs')}"
        self._scheduler = aiojobs.Scheduler(limit=workers, pending_limit=0)

    async def start(self) -> None:
        """Nothing to start: jobs start as they are spawned."""

    async def submit(self, handler: Handler, *args: Any) -> Any:
        return await self._scheduler.spawn(handler(*args))

    async def wait(self, job: Any) -> None:
        await job.wait()

    async def close(self) -> None:
        await self._scheduler.close()


class AsyncioPoolPool:
    """``asyncio_pool.AioPool(size=W)`` with ``spawn``: waits for a free slot, then a task.

    Args:
        workers: the pool's ``size``.
        workload: noop or yield.
    """

    async_calls = True

    def __init__(self, workers: int, workload: str = "noop") -> None:
        _only_flat("asyncio-pool", workload)
        import asyncio_pool

        self.name = f"asyncio-pool {importlib.metadata.version('asyncio-pool')}"
        self._pool = asyncio_pool.AioPool(size=workers)

    async def start(self) -> None:
        """Nothing to start: tasks are created as they are spawned."""

    async def submit(self, handler: Handler, *args: Any) -> Any:
        return await self._pool.spawn(handler(*args))

    async def wait(self, future: Any) -> None:
        await future

    async def close(self) -> None:
        await self._pool.cancel()


PEERS: dict[str, tuple[str, type]] = {
    "aiojobs": ("aiojobs", AiojobsPool),
    "asyncio-pool": ("asyncio_pool", AsyncioPoolPool),
}
"""Each peer by name: the module it needs, and its pool class."""

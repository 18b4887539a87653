"""An adapter that lets the harness check asyncio-pool's ``AioPool`` (``pip install asyncio-pool``).

``AioPool(size)`` runs at most ``size`` coroutines at once, each in an asyncio task of its
own, behind an ``asyncio.Semaphore``; ``spawn_n`` queues a coroutine without waiting for room
and returns a future for its result. Check it with::

    asyncqueue-check examples/asyncio_pool_aiopool.py

What asyncio-pool lacks, declared below so that the checks needing it are skipped, not
failed: priorities, retries (and so backoff settings), caller-chosen task ids, start delays,
per-task timeouts, a result cache with a size or a TTL, a bound on the queue, a closed state
(``join()`` waits for the work and ``cancel()`` cancels it, but the pool takes new work
afterwards: nothing raises), and every stats counter but the two it keeps (``n_active``, and
``len(pool)`` of which the rest wait): it counts no completed, failed, cancelled or retried
coroutines and has no worker coroutines (a coroutine is its own task). The adapter does not
invent those: it declares them ``absent``, with the missing closed state.

How the adapter maps the protocol:

* ``workers`` -> ``AioPool(size=...)``, built in the running loop (it binds that loop; the
  harness builds every target inside the loop that runs it).
* ``start`` does nothing: an AioPool has no start.
* ``submit`` -> ``pool.spawn_n(handler(*args))``; the task id is the future it returns.
* ``cancel`` -> ``await pool.cancel(future)``; True when it cancelled a task.
* ``status``: the future's outcome once done, else whether the future is among the pool's
  active or waiting ones (``pool._active``, private: the pool has no public per-task state).
* ``result``: waits for the future (without cancelling it if the wait is cut short). The
  pool reports a cancelled coroutine by setting ``CancelledError`` as the future's
  exception: that reads "cancelled".
* ``stop(drain=True)`` -> ``join()``; ``stop(drain=False)`` -> ``cancel()`` (all of them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from asyncio_pool import AioPool

from pytest_asyncqueue.adapters import Capabilities, Outcome, ResultMissing, Unsupported


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class AioPoolAdapter:
    """Drives an :class:`asyncio_pool.AioPool` through the harness's Adapter protocol."""

    adapts = AioPool
    shape = "asyncio_pool"

    @classmethod
    def capabilities_of(cls, queue_class: type) -> Capabilities:
        return Capabilities(settings=frozenset({"workers"}), submit_options=frozenset(),
                            drain_choice=True, stop_runs_queued=frozenset({"run"}),
                            closed_errors=(),  # no closed state: nothing is ever refused
                            extras=frozenset({"cancel_running"}),
                            # A job is its own task (no workers), and only these are counted.
                            absent=frozenset({"worker_tasks", "stats.completed", "stats.failed",
                                              "stats.cancelled", "stats.retried", "stats.workers",
                                              "closed_state"}))

    def __init__(self, queue_class: type, settings: dict[str, Any]) -> None:
        self.capabilities = self.capabilities_of(queue_class)
        self._size = settings.get("workers", 1024)  # asyncio-pool's own default size
        self.queue = queue_class(self._size)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} size={self._size} {self.queue!r}>"

    async def start(self) -> None:
        pass  # an AioPool has no start: spawned coroutines run when there is room

    async def submit(self, handler: Callable[..., Awaitable[Any]], *args: Any,
                     **options: Any) -> Hashable:
        if options:
            raise Unsupported(f"AioPool.spawn_n takes no {', '.join(options)} option")
        return self.queue.spawn_n(handler(*args))

    async def cancel(self, task_id: Hashable) -> bool:
        if not isinstance(task_id, asyncio.Future):
            return False  # (and never pool.cancel() without futures: that cancels all)
        cancelled, _results = await self.queue.cancel(task_id)
        return cancelled == 1

    async def result(self, task_id: Hashable) -> Outcome:
        if not isinstance(task_id, asyncio.Future):
            raise ResultMissing(f"{task_id!r} is no future of this pool")
        await asyncio.wait({task_id})  # unlike `await task_id`, never cancels the future
        return self._outcome(task_id)

    @staticmethod
    def _outcome(future: asyncio.Future[Any]) -> Outcome:
        if future.cancelled():
            return Outcome("cancelled")
        exc = future.exception()
        if isinstance(exc, asyncio.CancelledError):
            return Outcome("cancelled")
        if exc is not None:
            return Outcome("failed", error=_error(exc))
        return Outcome("completed", future.result())

    async def status(self, task_id: Hashable) -> str | None:
        if not isinstance(task_id, asyncio.Future):
            return None
        if task_id.done():
            return self._outcome(task_id).state
        return "running" if task_id in self.queue._active else "pending"

    async def stats(self) -> dict[str, int]:
        return self.stats_now()

    def stats_now(self) -> dict[str, int]:
        # Only what asyncio-pool counts; see the module docstring.
        running = self.queue.n_active
        return {"pending": len(self.queue) - running, "running": running}

    async def stop(self, drain: bool = True) -> None:
        if drain:
            await self.queue.join()
        else:
            await self.queue.cancel()

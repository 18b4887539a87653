"""Driving the target's loop from a synchronous machine.

Every call runs a small coroutine with ``loop.run_until_complete`` and then *settles* the
loop: it lets ready callbacks run until none is left and no timer is due, without moving the
clock. Between two steps the target is therefore quiescent, and virtual time moves only in
the calls that sleep until an instant (:meth:`LoopDriver.sleep_until`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable, Coroutine
from typing import Any, Final

from ..clock import VirtualClockLoop
from ..contract import NS_PER_S
from ..errors import AsyncQueueError

SETTLE_LIMIT: Final = 20_000  # loop iterations one instant may take before we call it polling


class NotAtOnce(AsyncQueueError):
    """A call that should return without the clock moving did not."""


class LoopDriver:
    """A seeded virtual loop and the one call running on it at a time.

    Args:
        seed: the loop's schedule seed (the order of callbacks ready at one instant).
        on_iteration: called after every loop iteration.

    Attributes:
        loop: the :class:`VirtualClockLoop`.
        task: the asyncio task running the current call (not one of the target's).
    """

    def __init__(self, seed: int, on_iteration: Callable[[], None]) -> None:
        self.loop = VirtualClockLoop(seed=seed, max_real_seconds=30.0)
        self.loop.observe_iterations(on_iteration)
        self.task: asyncio.Task[Any] | None = None

    def run(self, coro: Coroutine[Any, Any, Any], *, now: bool = True, limit: float = 0.0
            ) -> Any:
        """Run ``coro``, settle the loop, return what ``coro`` returned.

        ``now``: it must return without the clock moving; else it may take ``limit`` virtual
        seconds (0: as long as it takes).

        Raises:
            NotAtOnce: it did not return in time (it is cancelled).
            AsyncQueueError: the loop deadlocked, hit its real-time limit or never settled.
            Exception: what ``coro`` raised.
        """
        gc.disable()  # a collection inside a callback would look like a blocking call
        try:
            return self.loop.run_until_complete(self._settled(coro, now, limit))
        finally:
            gc.enable()

    async def sleep_until(self, when: int) -> None:
        """Wait until virtual instant ``when`` (nanoseconds)."""
        waiter = self.loop.create_future()
        handle = self.loop.call_at(when / NS_PER_S, waiter.set_result, None)
        try:
            await waiter
        finally:
            handle.cancel()

    def close(self, stop: Callable[[], Coroutine[Any, Any, Any]] | None) -> None:
        """Await ``stop()`` (the target's, if it still runs), cancel every task left, close
        the loop; a broken target that fails to stop does not stop the clean-up."""
        loop = self.loop
        loop.max_real_seconds = 5.0
        broken = (Exception, asyncio.CancelledError)
        try:
            with contextlib.suppress(*broken):
                if stop is not None:
                    loop.run_until_complete(self._settled(stop(), False, 60))
            with contextlib.suppress(*broken):
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.wait(pending, timeout=60.0))
                loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    async def _settled(self, coro: Coroutine[Any, Any, Any], now: bool, limit: float) -> Any:
        self.task = asyncio.current_task()
        task = asyncio.ensure_future(coro)
        if limit:
            await asyncio.wait({task}, timeout=limit)
        elif not now:
            await task
        await self._settle()
        if not task.done():
            task.cancel()
            raise NotAtOnce
        return task.result()

    async def _settle(self) -> None:
        loop = self.loop
        for _ in range(SETTLE_LIMIT):
            await asyncio.sleep(0)
            scheduled = loop._scheduled  # type: ignore[attr-defined]
            if not loop._ready and not (  # type: ignore[attr-defined]
                    scheduled and scheduled[0].when() < loop.time() + 1e-9):
                return
        raise AsyncQueueError(f"the loop never went idle at t={loop.time():g} in "
                              f"{SETTLE_LIMIT} iterations; idle workers must wait, not poll")

"""The handlers a throughput round runs: one async handler per workload, called bare."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

__all__ = ["WORKLOADS", "Handler", "noop", "yield_once"]

Handler = Callable[[], Awaitable[object]]


async def noop() -> None:
    """Do nothing, so that a round measures the pool's own cost per task."""


async def yield_once() -> None:
    """Give the loop one turn, as a handler that awaits I/O does."""
    await asyncio.sleep(0)


WORKLOADS: Final[dict[str, Handler]] = {"noop": noop, "yield": yield_once}

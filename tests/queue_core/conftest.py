"""Helpers for the queue_core tests: every test runs on the virtual clock."""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Coroutine

import pytest

from pytest_asyncqueue.clock import run as run_virtual


@pytest.fixture
def run() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Run a coroutine to completion on a fresh virtual-time loop and return its result."""
    return run_virtual


class Gate:
    """An event a test opens to let probe handlers go on: orders tasks without delays."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def open(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()


def each_iteration(check: Callable[[], None]) -> None:
    """Call ``check`` after every iteration of the running virtual loop."""
    asyncio.get_running_loop().observe_iterations(check)


class Overlap:
    """A probe handler that runs ``duration`` virtual seconds and records the peak overlap."""

    def __init__(self, duration: float = 1.0) -> None:
        self.duration = duration
        self.running = self.peak = 0

    async def __call__(self) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(self.duration)
        finally:
            self.running -= 1


class IterationCounter:
    """Counts the iterations of the running loop from now on (see ``each_iteration``)."""

    def __init__(self) -> None:
        self.count = 0
        each_iteration(self._tick)

    def _tick(self) -> None:
        self.count += 1

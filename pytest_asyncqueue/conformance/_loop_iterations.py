"""What the checks read from the loop's iteration observer.

A :class:`~pytest_asyncqueue.clock.VirtualClockLoop` calls observers after every iteration
(``observe_iterations``). The ``stats`` checks read the counters there; the idle checks of
``concurrency`` (S2) and ``edge_cases`` (S8) count how often an idle queue makes the loop
turn, with one limit for both.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

from ._base import Skip

__all__ = ["IDLE_ITERATIONS", "IDLE_SECONDS", "IdleCount", "count_idle_iterations",
           "require_iteration_observer"]

IDLE_SECONDS: Final = 3600.0  # virtual seconds the idle checks leave the queue alone
IDLE_ITERATIONS: Final = 600  # loop iterations allowed in them: one wake-up per 6 s at most


def require_iteration_observer(loop: asyncio.AbstractEventLoop) -> None:
    """Skip the check unless ``loop`` reports its iterations (a VirtualClockLoop does)."""
    if not hasattr(loop, "observe_iterations"):
        raise Skip("the event loop cannot report its iterations (it needs a VirtualClockLoop)")


@dataclass(frozen=True)
class IdleCount:
    """The loop iterations counted while the queue was left alone.

    Attributes:
        polled: the count passed :data:`IDLE_ITERATIONS` before :data:`IDLE_SECONDS` were
            over, and stopped there.
        iterations: iterations counted until the observer was removed.
        seconds: virtual seconds until the count stopped, early or at the end.
    """

    polled: bool
    iterations: int
    seconds: float


async def count_idle_iterations(loop: asyncio.AbstractEventLoop) -> IdleCount:
    """Leave the loop alone for :data:`IDLE_SECONDS` virtual seconds, counting its iterations.

    The count stops as soon as it passes :data:`IDLE_ITERATIONS`: a polling target would
    otherwise take wall seconds to get through a virtual hour.

    Args:
        loop: the running loop; it must have ``observe_iterations`` (see
            :func:`require_iteration_observer`).

    Returns:
        What was counted; see :class:`IdleCount`.
    """
    iterations = 0
    too_many: asyncio.Future[float] = loop.create_future()

    def count() -> None:
        nonlocal iterations
        iterations += 1
        if iterations > IDLE_ITERATIONS and not too_many.done():
            too_many.set_result(loop.time())

    remove = loop.observe_iterations(count)  # type: ignore[attr-defined]
    started = loop.time()
    try:
        async with asyncio.timeout(IDLE_SECONDS):
            await too_many
    except TimeoutError:
        pass
    finally:
        remove()
    polled = too_many.done() and not too_many.cancelled()  # the timeout cancels it
    stopped = too_many.result() if polled else loop.time()
    return IdleCount(polled, iterations, stopped - started)

"""Memory figures of queue_core, traced with tracemalloc (DESIGN S7).

Both figures count every block Python allocates while the measured code runs and still
holds at the end: tracemalloc sees the queue's own structures, the task ids and the
containers' growth, at the size the allocator was asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import tracemalloc
from collections.abc import Iterator
from typing import Any, Final

from queue_core import TaskQueue

from .rounds import STOCK_LOOP
from .workloads import noop

__all__ = [
    "ASYNCIO_TASK_ANCHOR_BYTES", "HEAP_SLOTS_DICT_ANCHOR_BYTES", "bytes_per_pending_task",
    "memory_retained_after_expiry",
]

HEAP_SLOTS_DICT_ANCHOR_BYTES: Final = 243
"""A pending task as a heap tuple, a slots record and an id-dict entry (issue 3's anchor)."""

ASYNCIO_TASK_ANCHOR_BYTES: Final = 766
"""An unstarted ``asyncio.Task`` alone (issue 3's anchor)."""


def bytes_per_pending_task(tasks: int = 10_000, workers: int = 8) -> dict[str, Any]:
    """Measure the traced bytes each task holds while it waits in a queue not yet started.

    The ids ``submit`` returns are dropped, so an id counts once: as the queue holds it.

    Returns:
        The row for ``benchmark.extra_info``: ``tasks``, ``workers``, ``bytes_per_pending``
        and the two anchors.
    """

    async def submit_all() -> int:
        queue = TaskQueue(workers=workers)
        gc.collect()
        with _tracing():
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(tasks):
                queue.submit(noop)
            held = tracemalloc.get_traced_memory()[0] - before
        await queue.shutdown(drain=False)
        return held

    with asyncio.Runner(loop_factory=STOCK_LOOP) as runner:
        held = runner.run(submit_all())
    return {
        "tasks": tasks,
        "workers": workers,
        "bytes_per_pending": round(held / tasks, 1),
        "anchor_heap_slots_dict_bytes": HEAP_SLOTS_DICT_ANCHOR_BYTES,
        "anchor_asyncio_task_bytes": ASYNCIO_TASK_ANCHOR_BYTES,
    }


def memory_retained_after_expiry(tasks: int = 10_000, workers: int = 8,
                                 max_results: int = 1000,
                                 result_ttl: float = 0.01) -> dict[str, Any]:
    """Measure what a started queue still holds after running tasks whose results expired.

    The queue keeps its defaults but ``max_results`` and ``result_ttl``; the figure is taken
    while it still runs, after its expiry timer has dropped every result (``result_ttl`` is
    in loop seconds, here wall seconds: the loop is a real one). With ``max_results`` below
    ``tasks`` most results are evicted before they can expire.

    Returns:
        The row for ``benchmark.extra_info``: ``tasks``, ``workers``, ``max_results``,
        ``result_ttl_s``, ``retained_bytes`` (traced memory after expiry minus before the
        first submit) and ``peak_bytes`` (the most traced above that start, while the tasks
        ran).
    """

    async def run_and_expire() -> tuple[int, int]:
        queue = TaskQueue(workers=workers, max_results=max_results, result_ttl=result_ttl)
        queue.start()
        await asyncio.sleep(0)
        gc.collect()
        with _tracing():
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            last = None
            for _ in range(tasks):
                last = queue.submit(noop)
            await queue.result(last)
            await asyncio.sleep(result_ttl * 5)
            gc.collect()
            after, peak = tracemalloc.get_traced_memory()
        await queue.shutdown()
        return after - before, peak - before

    with asyncio.Runner(loop_factory=STOCK_LOOP) as runner:
        retained, peak = runner.run(run_and_expire())
    return {
        "tasks": tasks,
        "workers": workers,
        "max_results": max_results,
        "result_ttl_s": result_ttl,
        "retained_bytes": retained,
        "peak_bytes": peak,
    }


@contextlib.contextmanager
def _tracing() -> Iterator[None]:
    """Trace allocations inside the block, unless tracing was on already (``-X tracemalloc``)."""
    if tracemalloc.is_tracing():
        yield
        return
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()

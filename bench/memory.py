"""What queue_core still holds once its results have expired (DESIGN S7), traced.

Bytes per pending task are a figure of every throughput row (``bytes_per_pending``, see
:mod:`pytest_asyncqueue.benchmark`); this module adds the other memory figure, what stays
held after expiry, and the anchors both are read against.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from typing import Any, Final

from pytest_asyncqueue.benchmark import loop_factory, traced
from queue_core import TaskQueue

__all__ = ["ASYNCIO_TASK_ANCHOR_BYTES", "HEAP_SLOTS_DICT_ANCHOR_BYTES",
           "memory_retained_after_expiry"]

HEAP_SLOTS_DICT_ANCHOR_BYTES: Final = 243
"""A pending task as a heap tuple, a slots record and an id-dict entry (a memory anchor)."""

ASYNCIO_TASK_ANCHOR_BYTES: Final = 766
"""An unstarted ``asyncio.Task`` alone (a memory anchor)."""


async def _noop() -> None:
    """The handler: does nothing."""


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
        with traced():
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            last = None
            for _ in range(tasks):
                last = queue.submit(_noop)
            await queue.result(last)
            await asyncio.sleep(result_ttl * 5)
            gc.collect()
            after, peak = tracemalloc.get_traced_memory()
        await queue.shutdown()
        return after - before, peak - before

    with asyncio.Runner(loop_factory=loop_factory("asyncio")) as runner:
        retained, peak = runner.run(run_and_expire())
    return {
        "tasks": tasks,
        "workers": workers,
        "max_results": max_results,
        "result_ttl_s": result_ttl,
        "retained_bytes": retained,
        "peak_bytes": peak,
    }

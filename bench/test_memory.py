"""Memory figures of queue_core (DESIGN S7), reported in ``benchmark.extra_info``.

The time pytest-benchmark records here is that of one measurement run under tracemalloc,
which slows every allocation; read the figures in ``extra_info``, not the time.
"""

from __future__ import annotations

import pytest

from .memory import bytes_per_pending_task, memory_retained_after_expiry

pytestmark = [pytest.mark.timeout(120), pytest.mark.benchmark(group="memory")]


def test_bytes_held_per_pending_task_are_measured(benchmark):
    figures = benchmark.pedantic(bytes_per_pending_task, rounds=1)
    benchmark.extra_info.update(figures)


@pytest.mark.parametrize("max_results", [
    pytest.param(1000, id="default-max-results"),
    pytest.param(10_000, id="every-result-kept-until-it-expires"),
])
def test_memory_retained_after_ten_thousand_tasks_expire_is_measured(benchmark, max_results):
    figures = benchmark.pedantic(memory_retained_after_expiry, kwargs={"max_results": max_results},
                                 rounds=1)
    benchmark.extra_info.update(figures)

"""What queue_core holds once its results expired (DESIGN S7), in ``benchmark.extra_info``.

The time pytest-benchmark records here is that of one measurement run under tracemalloc,
which slows every allocation; read the figures in ``extra_info``, not the time. Bytes per
pending task are a figure of every throughput case.
"""

from __future__ import annotations

import pytest

from .memory import memory_retained_after_expiry

pytestmark = [pytest.mark.timeout(120), pytest.mark.benchmark(group="memory"), pytest.mark.quick]


@pytest.mark.parametrize("max_results", [
    pytest.param(1000, id="default-max-results"),
    pytest.param(10_000, id="every-result-kept-until-it-expires"),
])
def test_memory_retained_after_ten_thousand_tasks_expire_is_measured(benchmark, max_results):
    figures = benchmark.pedantic(memory_retained_after_expiry, kwargs={"max_results": max_results},
                                 rounds=1)
    benchmark.extra_info.update(figures)

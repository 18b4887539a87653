"""Throughput of queue_core beside the bare asyncio pool, measured in the same run.

Each case alternates rounds of the bare pool and of queue_core, 8 workers each, on a fresh
stock loop per round; ``benchmark.extra_info`` holds the median ratio of their throughputs.
What is timed and why: see :mod:`bench.rounds`.
"""

from __future__ import annotations

import pytest

from .pools import QueueCorePool

# Rounds of 100,000 tasks run for ~1 s a pair; seven pairs keep the suite under a minute.
pytestmark = pytest.mark.timeout(300)

WORKERS = 8


@pytest.mark.benchmark(group="throughput")
@pytest.mark.parametrize(("workload", "tasks", "rounds"), [
    pytest.param("noop", 10_000, 21, id="noop-10000"),
    pytest.param("noop", 100_000, 7, id="noop-100000"),
    pytest.param("yield", 10_000, 21, id="yield-10000"),
    pytest.param("yield", 100_000, 7, id="yield-100000"),
])
def test_queue_core_throughput_is_measured_against_the_bare_pool(
        benchmark, interleaved_rounds, workload, tasks, rounds):
    measured = interleaved_rounds(QueueCorePool, workload, tasks, WORKERS)
    benchmark.extra_info.update(measured.measure(benchmark, rounds))

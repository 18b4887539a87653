"""Throughput, latency and memory of queue_core beside the bare asyncio pool and its peers.

Every case runs through the ``asyncqueue_bench`` fixture: rounds of the subject alternate
with rounds of a baseline, each on a fresh loop, and ``benchmark.extra_info`` holds the
figures, the ratio being the median over pairs. What is timed and why: see
:mod:`pytest_asyncqueue.benchmark`.
"""

from __future__ import annotations

import functools

import pytest

from pytest_asyncqueue.benchmark import Contender, TargetPool

from .peers import PEERS

pytestmark = pytest.mark.timeout(600)

QUICK = pytest.mark.quick
# The matrix: noop and yield at 10,000 and 100,000 tasks on 1 to 1,000 workers; retry, cancel.
MATRIX = [*((workload, tasks, workers) for workload in ("noop", "yield")
            for tasks in (10_000, 100_000) for workers in (1, 8, 100, 1000)),
          ("retry", 10_000, 8), ("cancel", 10_000, 8)]
QUICK_CASES = {("noop", 10_000, 8), ("noop", 100_000, 8), ("yield", 10_000, 8),
               ("retry", 10_000, 8), ("cancel", 10_000, 8)}
"""The cases CI runs: the anchors of the performance targets, and one of each other workload."""


def case(workload: str, tasks: int, workers: int = 8) -> object:
    return pytest.param(workload, tasks, workers, id=f"{workload}-{tasks}-{workers}",
                        marks=[QUICK] if (workload, tasks, workers) in QUICK_CASES else [])


@pytest.mark.benchmark(group="queue_core beside the bare pool")
@pytest.mark.parametrize(("workload", "tasks", "workers"), [case(*c) for c in MATRIX])
def test_queue_core_beside_the_bare_pool(asyncqueue_bench, queue_core, workload, tasks,
                                         workers):
    asyncqueue_bench(workload, tasks=tasks, workers=workers, target=queue_core)


@pytest.mark.benchmark(group="peers beside the bare pool")
@pytest.mark.parametrize("peer", list(PEERS))
@pytest.mark.parametrize(("workload", "tasks", "workers"), [
    pytest.param("noop", 10_000, 8, id="noop-10000-8", marks=QUICK),
    pytest.param("yield", 10_000, 8, id="yield-10000-8", marks=QUICK),
    pytest.param("noop", 100_000, 8, id="noop-100000-8"),
    pytest.param("yield", 100_000, 8, id="yield-100000-8"),
])
def test_peer_beside_the_bare_pool(asyncqueue_bench, peer, workload, tasks, workers):
    module, pool = PEERS[peer]
    pytest.importorskip(module, reason=f"{peer} is not installed: pip install -e '.[bench]'")
    # aiojobs runs ~50x slower than the bare pool: fewer pairs keep the suite short.
    asyncqueue_bench(workload, tasks=tasks, workers=workers, target=Contender(pool),
                     rounds=5 if tasks <= 10_000 else 3)


@pytest.mark.benchmark(group="queue_core beside itself")
@QUICK
def test_the_virtual_loop_beside_the_stock_loop(asyncqueue_bench, queue_core):
    # ratio = stock-loop time / virtual-loop time; the target is at most 1.3x, >= 0.77.
    pool = functools.partial(TargetPool, queue_core)
    asyncqueue_bench("noop", tasks=10_000, workers=8, target=Contender(pool, "virtual"),
                     baseline=Contender(pool, "asyncio"), latency_samples=0, memory_tasks=None)


@pytest.mark.benchmark(group="queue_core beside itself")
@QUICK
def test_a_thousand_workers_beside_eight(asyncqueue_bench, queue_core):
    # ratio = throughput with 1,000 workers / with 8; the target is at least 0.5.
    asyncqueue_bench("noop", tasks=100_000, workers=1000, target=queue_core,
                     baseline=Contender(functools.partial(TargetPool, queue_core), workers=8),
                     rounds=3, latency_samples=0, memory_tasks=None)


@pytest.mark.benchmark(group="queue_core beside the bare pool")
def test_queue_core_on_uvloop(asyncqueue_bench, queue_core):
    asyncqueue_bench("noop", tasks=10_000, workers=8, target=queue_core, loop="uvloop")

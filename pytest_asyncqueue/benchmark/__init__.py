"""Benchmarks of any queue beside a bare asyncio pool: throughput, latency, memory.

A *row* runs one workload (:data:`WORKLOADS`) of ``tasks`` tasks on ``workers`` workers and
reports the subject's throughput as a ratio to a baseline, by default the bare pool
(:class:`BarePool`: an ``asyncio.Queue`` and W worker coroutines, the practical speed limit of
a pure-Python asyncio pool), plus the subject's idle submit-to-start latency and the traced
bytes each pending task holds. :func:`bench_target` runs a row for any adapter target;
:func:`measure` for any two :class:`Contender` s.

IMPLEMENTATION DETAIL - what is timed, and why
==============================================

A *round* runs the workload once on one pool, on a fresh real event loop (stock asyncio,
uvloop, or the virtual-time loop when asked): the pool is started and its workers are idle
before the clock starts; the clock runs from the first submit to the moment the last task has
ended (``perf_counter`` inside the coroutine) and stops before the pool is shut down. The
handlers themselves say when the last one has ended, so a target's order or its own word
does not matter; that count costs every pool the same few tens of nanoseconds a task.
Baseline and subject rounds alternate, one pair at a time, so that both see the same
machine: these machines are shared and noisy, so the figure to read is the median over pairs
of (baseline time / subject time). Absolute times are only comparable within one run.

Under pytest-benchmark (``benchmark=``) the subject's rounds are its rounds: its untimed
``setup`` runs a baseline round and opens the subject's, its timed target is the subject's
run (plus entering and leaving the loop, well under a millisecond), so ``--benchmark-json``
and ``--benchmark-compare`` work as usual; the ratio in ``extra_info`` uses the in-coroutine
times of both. The garbage collector stays on, as in real use, but is run before each round;
what the process held before the row is frozen out of it meanwhile (``gc.freeze``), so that a
collection costs the same in a bare script as inside a large pytest session.

queue_core-shaped targets are driven through their own synchronous ``submit`` and
``cancel``; other targets through their adapter, whose async call is then part of the time.

The modules: ``_contenders`` (the pools a round runs on, and the loops), ``_runs`` (the
workloads, a round, interleaved pairs), ``_measure`` (a row from pairs, latency and memory),
``_row`` (:class:`BenchRow`), ``_tables`` (text and markdown tables).
"""

from __future__ import annotations

from ._contenders import (
    BARE,
    LOOPS,
    BarePool,
    Contender,
    Handler,
    Pool,
    PoolMaker,
    TargetPool,
    loop_factory,
)
from ._measure import CHECK_PLAN, bench_target, check_arguments, default_rounds, measure, run_plan
from ._row import REPORT_KEYS, BenchRow
from ._runs import WORKLOADS, BenchError, traced
from ._tables import markdown_table, table_lines

__all__ = [
    "BARE",
    "CHECK_PLAN",
    "LOOPS",
    "REPORT_KEYS",
    "WORKLOADS",
    "BarePool",
    "BenchError",
    "BenchRow",
    "Contender",
    "Handler",
    "Pool",
    "PoolMaker",
    "TargetPool",
    "bench_target",
    "check_arguments",
    "default_rounds",
    "loop_factory",
    "markdown_table",
    "measure",
    "run_plan",
    "table_lines",
    "traced",
]

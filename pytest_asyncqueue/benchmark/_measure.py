"""Measure a row: interleaved rounds of subject and baseline, then latency and memory.

Private: the public names are re-exported by :mod:`pytest_asyncqueue.benchmark`, whose
docstring says what is timed and why.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from ..adapters import TargetFactory, Unsupported
from ._contenders import BARE, BarePool, Contender, TargetPool
from ._row import BenchRow
from ._runs import WORKLOADS, BenchError, Pairs, Round, latencies, pending_bytes

__all__ = ["CHECK_PLAN", "bench_target", "check_arguments", "default_rounds", "measure",
           "run_plan"]

CHECK_PLAN: Final = (("noop", 10_000, 8), ("yield", 10_000, 8), ("retry", 10_000, 8),
                     ("cancel", 10_000, 8), ("noop", 10_000, 100))
"""(workload, tasks, workers) of the rows ``asyncqueue-check --bench`` runs."""


def default_rounds(tasks: int) -> int:
    """Pairs of rounds worth measuring for this many tasks: 11 at 10,000, 5 at 100,000."""
    return max(5, min(21, 110_000 // tasks))


def measure(subject: Contender, workload: str, tasks: int = 10_000, workers: int = 8, *,
            baseline: Contender = BARE, rounds: int | None = None, warmup: int = 1,
            budget: float | None = None, benchmark: Any = None, latency_samples: int = 200,
            memory_tasks: int | None = 10_000, limit: float | None = 60.0) -> BenchRow:
    """Run one row: interleaved rounds of subject and baseline, then latency and memory.

    Args:
        subject: the pool under test.
        workload: a name of :data:`WORKLOADS`.
        tasks: tasks per round.
        workers: workers of both pools (unless a contender fixes its own).
        baseline: what the subject is compared with (default: the bare pool).
        rounds: pairs measured; default :func:`default_rounds`.
        warmup: pairs run first and left out of every figure.
        budget: wall seconds after which no further pair is started (not with
            ``benchmark``, whose rounds are fixed); if only the warm-up pair ran by then,
            the figures are taken from it.
        benchmark: pytest-benchmark's ``benchmark`` fixture: the subject's rounds become its
            rounds. Call it once per test.
        latency_samples: idle round trips for the latencies (fewer for a slow pool: they
            stop after a quarter second once 20 are taken); 0 skips them.
        memory_tasks: tasks submitted under tracemalloc (at most ``tasks``); None skips it.
        limit: wall seconds one round may take (virtual seconds on the virtual loop).

    Raises:
        Unsupported: a pool cannot run the workload, or uvloop is missing.
        BenchError: a round did not end within ``limit``, or a figure cannot be taken.
        ValueError: a bad argument.
    """
    check_arguments(workload, tasks, workers, rounds, warmup)
    rounds = rounds or default_rounds(tasks)
    pairs = Pairs(subject, baseline, workload, tasks, workers, limit)
    gc.collect()
    gc.freeze()
    try:
        _run_pairs(pairs, rounds, warmup, budget, benchmark)
        row = _throughput_row(pairs, rounds, warmup)
        notes = []
        if latency_samples:
            row = dataclasses.replace(row, **_latency_figures(pairs, latency_samples))
        else:
            notes.append("latency not measured (latency_samples=0)")
        held = (_pending_bytes(pairs, min(tasks, memory_tasks)) if memory_tasks
                else "bytes/pending not measured (memory_tasks=None)")
        if isinstance(held, str):
            notes.append(held)
        else:
            row = dataclasses.replace(row, bytes_per_pending=round(held, 1))
        return dataclasses.replace(row, note="; ".join(notes))
    finally:
        gc.unfreeze()


def check_arguments(workload: str, tasks: int, workers: int, rounds: int | None = None,
                    warmup: int = 1) -> None:
    """Check the arguments of a row as :func:`measure` does, before anything runs.

    Raises:
        ValueError: naming the bad value and the valid ones.
    """
    if workload not in WORKLOADS:
        raise ValueError(f"workload={workload!r} is not a workload; valid: {', '.join(WORKLOADS)}")
    for name, value, least in (("tasks", tasks, 1), ("workers", workers, 1),
                               ("rounds", 1 if rounds is None else rounds, 1),
                               ("warmup", warmup, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ValueError(f"{name}={value!r} must be an int >= {least}")


def _run_pairs(pairs: Pairs, rounds: int, warmup: int, budget: float | None,
               benchmark: Any) -> None:
    try:
        if benchmark is not None:
            benchmark.pedantic(pairs.run_subject, setup=pairs.prepare, teardown=pairs.finish,
                               rounds=rounds, warmup_rounds=warmup)
            return
        started = time.perf_counter()
        for done in range(warmup + rounds):
            if done and budget is not None and time.perf_counter() - started > budget:
                break
            args, _ = pairs.prepare()
            pairs.run_subject(*args)
            pairs.finish()
    finally:
        pairs.finish()


def _throughput_row(pairs: Pairs, rounds: int, warmup: int) -> BenchRow:
    # A disabled benchmark, or a budget spent on the warm-up, leaves one pair: keep it.
    kept = min(rounds, max(1, len(pairs.subject_s) - warmup))
    baseline_s, subject_s = pairs.baseline_s[-kept:], pairs.subject_s[-kept:]
    ratios = [b / s for b, s in zip(baseline_s, subject_s, strict=True)]
    subject, baseline, workers = pairs.subject, pairs.baseline, pairs.workers
    baseline_workers = baseline.workers or workers
    return BenchRow(
        pairs.workload, pairs.tasks, workers,
        tasks_per_s=round(pairs.tasks / statistics.median(subject_s)),
        baseline_tasks_per_s=round(pairs.tasks / statistics.median(baseline_s)),
        ratio=round(statistics.median(ratios), 3),
        subject=pairs.names[0], baseline=pairs.names[1], loop=subject.loop,
        baseline_workers=(baseline_workers if baseline_workers != (subject.workers or workers)
                          else None),
        baseline_loop=baseline.loop if baseline.loop != subject.loop else None,
        round_ratios=tuple(round(r, 3) for r in ratios))


def _pending_bytes(pairs: Pairs, tasks: int) -> float | str:
    memory = Round(pairs.subject, pairs.workers, pairs.workload, pairs.limit)
    try:
        return memory.run(pending_bytes(memory.pool, tasks))
    finally:
        memory.close()


def _latency_figures(pairs: Pairs, samples: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for side, key in ((pairs.baseline, "baseline"), (pairs.subject, "subject")):
        prepared = Round(side, pairs.workers, pairs.workload, pairs.limit)
        try:
            to_start, to_result = prepared.run(latencies(prepared.pool, samples))
        finally:
            prepared.close()
        if key == "baseline":
            figures.update(baseline_p50_us=_micro(_percentile(to_start, 0.5)),
                           baseline_result_p50_us=_micro(_percentile(to_result, 0.5)))
            continue
        figures.update(p50_us=_micro(_percentile(to_start, 0.5)),
                       p99_us=_micro(_percentile(to_start, 0.99)),
                       result_p50_us=_micro(_percentile(to_result, 0.5)),
                       latency_samples=len(to_start))
    return figures


def _percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile: the smallest value with at least q of them at or below."""
    ranked = sorted(values)
    return ranked[max(0, math.ceil(q * len(ranked)) - 1)]


def _micro(seconds: float) -> float:
    return round(seconds * 1e6, 1)


def bench_target(target: TargetFactory | Contender, workload: str, tasks: int = 10_000,
                 workers: int = 8, *, loop: str = "asyncio", baseline: Contender | None = None,
                 **options: Any) -> BenchRow:
    """Run one row for a target beside the bare pool (or ``baseline``).

    Args:
        target: an adapter target (``make_factory("queue_core")``, the ``asyncqueue_target``
            fixture), run on ``loop``; or any pool as a :class:`Contender`, which names its
            own loop.
        workload, tasks, workers: what to run.
        loop: a name of :data:`LOOPS`, for an adapter target.
        baseline: what to compare with; default the bare pool on the subject's loop.
        **options: those of :func:`measure`.

    Example::

        row = bench_target(make_factory("queue_core"), "noop", 10_000, 8)
        print(row.tasks_per_s, row.ratio, row.p50_us)
    """
    subject = target if isinstance(target, Contender) else Contender(
        functools.partial(TargetPool, target), loop)
    return measure(subject, workload, tasks, workers,
                   baseline=baseline or Contender(BarePool, subject.loop), **options)


def run_plan(factory: TargetFactory, plan: Sequence[tuple[str, int, int]] | None = None,
             on_row: Callable[[BenchRow], None] | None = None, budget: float = 3.0
             ) -> list[BenchRow]:
    """Run the rows of ``plan`` (default :data:`CHECK_PLAN`) for a target, one after another.

    A row that cannot be measured is kept with a note saying why, and the next one runs.

    Args:
        factory: the target.
        plan: (workload, tasks, workers) of each row.
        on_row: called with each row as soon as it is measured.
        budget: wall seconds of rounds per row (see :func:`measure`).
    """
    rows = []
    for workload, tasks, workers in CHECK_PLAN if plan is None else plan:
        try:
            row = bench_target(factory, workload, tasks, workers, budget=budget,
                               rounds=default_rounds(tasks), limit=30.0)
        except (Unsupported, BenchError) as exc:
            row = BenchRow(workload, tasks, workers, note=str(exc))
        except Exception as exc:  # the target's own error, e.g. a handler exception it let out
            row = BenchRow(workload, tasks, workers, note=f"{type(exc).__name__}: {exc}")
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows

"""Throughput rounds of a subject pool interleaved with rounds of the bare pool.

What is timed, and why. A round runs one workload on one pool on a fresh stock event loop:
the pool is started and its workers are idle before the clock starts; the clock runs from
the first ``submit`` to the moment the last task has finished (``perf_counter`` inside the
coroutine) and stops before the pool is shut down. Bare-pool and subject rounds alternate,
one pair at a time, so that both see the same machine: these machines are shared and noisy,
so the figure to read is the median over pairs of (bare time / subject time), the subject's
throughput as a fraction of the bare pool's; absolute times are only comparable inside a
run.

pytest-benchmark records the subject's rounds too: its ``setup`` (untimed) runs a bare-pool
round and starts the subject pool on a fresh loop, its target is the subject's timed run.
What it times is the same interval plus entering and leaving the loop (``Runner.run``:
under half a millisecond here), which keeps ``--benchmark-compare`` between commits
meaningful; the ratio in ``extra_info`` uses the in-coroutine times of both pools, measured
alike.

The garbage collector is left on, as in real use, but collected before each timed run so
that no round pays for garbage left by the one before.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any, Final

from .pools import BarePool, Pool
from .workloads import WORKLOADS, Handler

__all__ = ["STOCK_LOOP", "InterleavedRounds", "PreparedRound", "timed_run"]

LoopFactory = Callable[[], asyncio.AbstractEventLoop]

STOCK_LOOP: Final[LoopFactory] = asyncio.SelectorEventLoop
"""The standard library's loop, chosen explicitly so that no installed policy replaces it."""


async def timed_run(pool: Pool, handler: Handler, tasks: int) -> float:
    """Submit ``tasks`` calls of ``handler`` to a started, idle pool and wait for all of them.

    Returns:
        Wall seconds from the first submit to the last task's completion.
    """
    submit = pool.submit
    last = None
    started = time.perf_counter()
    for _ in range(tasks):
        last = submit(handler)
    await pool.wait_all(last)
    return time.perf_counter() - started


class PreparedRound:
    """A pool started, with its workers idle, on a fresh loop of its own, ready to be timed.

    Args:
        pool: the pool to run; this round starts it and, on ``close()``, shuts it down.
        loop_factory: makes the round's event loop.
    """

    def __init__(self, pool: Pool, loop_factory: LoopFactory) -> None:
        self._pool = pool
        self._runner = asyncio.Runner(loop_factory=loop_factory)
        try:
            self._runner.run(pool.start())
        except BaseException:
            self._runner.close()
            raise
        gc.collect()

    def run(self, handler: Handler, tasks: int) -> float:
        """Time one run of the workload (see :func:`timed_run`); call at most once."""
        return self._runner.run(timed_run(self._pool, handler, tasks))

    def close(self) -> None:
        """Shut the pool down and close the loop."""
        try:
            self._runner.run(self._pool.close())
        finally:
            self._runner.close()


class InterleavedRounds:
    """Rounds of one workload on a subject pool, each preceded by a round on the bare pool.

    ``measure(benchmark, rounds)`` runs them under pytest-benchmark and returns the figures.
    Call ``close()`` when done: a disabled pytest-benchmark (``--benchmark-disable``) runs
    one round without its teardown, leaving that round's loop open.

    Args:
        make_subject: builds the pool under test for a number of workers.
        workload: a key of :data:`bench.workloads.WORKLOADS`.
        tasks: tasks per round.
        workers: worker coroutines in both pools.
        loop_factory: makes each round's fresh event loop.
    """

    def __init__(self, make_subject: Callable[[int], Pool], workload: str, tasks: int,
                 workers: int, loop_factory: LoopFactory = STOCK_LOOP) -> None:
        self.workload = workload
        self.tasks = tasks
        self.workers = workers
        self._make_subject = make_subject
        self._handler = WORKLOADS[workload]
        self._loop_factory = loop_factory
        self._baseline_s: list[float] = []
        self._subject_s: list[float] = []
        self._open: PreparedRound | None = None

    def measure(self, benchmark: Any, rounds: int, warmup_rounds: int = 1) -> dict[str, Any]:
        """Run the interleaved rounds as ``benchmark.pedantic`` rounds and return the figures.

        Args:
            benchmark: pytest-benchmark's ``benchmark`` fixture.
            rounds: pairs of rounds measured.
            warmup_rounds: pairs run first and left out of every figure.

        Returns:
            The row for ``benchmark.extra_info``: ``workload``, ``tasks``, ``workers``,
            ``tasks_per_s`` (median of the subject's rounds), ``baseline_tasks_per_s``
            (median of the bare pool's), ``ratio`` (median of the pairs' ratios) and
            ``round_ratios``.
        """
        benchmark.pedantic(self._run_subject, setup=self._prepare, teardown=self._finish,
                           rounds=rounds, warmup_rounds=warmup_rounds)
        # A disabled benchmark runs one round and no warm-up: keep the last `rounds` pairs.
        baseline_s = self._baseline_s[-rounds:]
        subject_s = self._subject_s[-rounds:]
        ratios = [bare / subject for bare, subject in zip(baseline_s, subject_s, strict=True)]
        return {
            "workload": self.workload,
            "tasks": self.tasks,
            "workers": self.workers,
            "tasks_per_s": round(self.tasks / statistics.median(subject_s)),
            "baseline_tasks_per_s": round(self.tasks / statistics.median(baseline_s)),
            "ratio": round(statistics.median(ratios), 3),
            "round_ratios": [round(ratio, 3) for ratio in ratios],
        }

    def close(self) -> None:
        """Close the loop of a round left open, if any. Idempotent."""
        if self._open is not None:
            self._open.close()
            self._open = None

    def _prepare(self) -> tuple[tuple[PreparedRound], dict[str, Any]]:
        bare = PreparedRound(BarePool(self.workers), self._loop_factory)
        try:
            self._baseline_s.append(bare.run(self._handler, self.tasks))
        finally:
            bare.close()
        self._open = PreparedRound(self._make_subject(self.workers), self._loop_factory)
        return (self._open,), {}

    def _run_subject(self, prepared: PreparedRound) -> None:
        self._subject_s.append(prepared.run(self._handler, self.tasks))

    def _finish(self, prepared: PreparedRound) -> None:
        self.close()

"""One benchmark row's figures (:class:`BenchRow`) and the keys it has in the JSON report.

Private: the public names are re-exported by :mod:`pytest_asyncqueue.benchmark`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["REPORT_KEYS", "BenchRow"]

REPORT_KEYS: Final = ("workload", "tasks", "workers", "tasks_per_s", "baseline_tasks_per_s",
                      "ratio", "p50_us", "p99_us", "bytes_per_pending")
"""The keys of one row in the ``"bench"`` list of the JSON report."""


@dataclass(frozen=True)
class BenchRow:
    """The figures of one row. Figures not measured are None, with a ``note`` saying why.

    Attributes:
        workload, tasks, workers: what ran.
        tasks_per_s: the subject's throughput, median of its rounds.
        baseline_tasks_per_s: the baseline's, median of its rounds.
        ratio: median over interleaved pairs of (baseline time / subject time).
        p50_us, p99_us: the subject's idle submit-to-start latency, microseconds.
        bytes_per_pending: traced bytes each task holds while it waits to start.
        subject, baseline: the pools' names; loop: the subject's loop; baseline_workers,
            baseline_loop: the baseline's workers and loop, when not those of the subject.
        round_ratios: the ratio of each pair.
        result_p50_us: the subject's idle submit-to-result latency, through its own result
            call; baseline_p50_us, baseline_result_p50_us: the baseline's submit-to-start
            and submit-to-result latencies, measured in the same run (the bare pool has no
            results: its caller waits until it has seen the task run, two loop iterations
            as for a result), so that an absolute latency can be read beside the speed of
            the machine at the time.
        latency_samples: how many idle round trips the latencies are taken from.
        note: why a figure is missing.
    """

    workload: str
    tasks: int
    workers: int
    tasks_per_s: int | None = None
    baseline_tasks_per_s: int | None = None
    ratio: float | None = None
    p50_us: float | None = None
    p99_us: float | None = None
    bytes_per_pending: float | None = None
    subject: str = ""
    baseline: str = ""
    loop: str = "asyncio"
    baseline_workers: int | None = None
    baseline_loop: str | None = None
    round_ratios: tuple[float, ...] = ()
    result_p50_us: float | None = None
    baseline_p50_us: float | None = None
    baseline_result_p50_us: float | None = None
    latency_samples: int = 0
    note: str = ""

    def entry(self) -> dict[str, Any]:
        """The row for the JSON report: :data:`REPORT_KEYS`, plus ``note`` when there is one."""
        entry = {key: getattr(self, key) for key in REPORT_KEYS}
        return {**entry, "note": self.note} if self.note else entry

    def extra_info(self) -> dict[str, Any]:
        """Every field, for pytest-benchmark's ``extra_info`` (JSON types only)."""
        info = dataclasses.asdict(self)
        info["round_ratios"] = list(self.round_ratios)
        return info

"""Run the benchmark suite and print its figures as markdown: ``python -m bench.report``.

Runs ``python -m pytest bench`` (about 25 wall seconds; pytest's own output goes to stderr),
reads the pytest-benchmark JSON it wrote and prints to stdout one table of throughput
ratios to the bare pool (the median over interleaved pairs of rounds, see ``bench.rounds``)
and one of memory figures, each beside its target from issue 3.
Arguments are passed on to pytest, e.g. ``python -m bench.report -k noop`` or
``--benchmark-save=NAME``. Exits with pytest's status when the run fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Final

BENCH_DIR: Final = Path(__file__).resolve().parent

RATIO_TARGETS: Final[dict[tuple[str, int], float]] = {
    ("noop", 10_000): 0.30,
    ("noop", 100_000): 0.20,
    ("yield", 10_000): 0.60,
}
"""Least throughput ratio to the bare pool, by (workload, tasks), at 8 workers."""

BYTES_PER_PENDING_TARGET: Final = 350
RETAINED_BYTES_TARGET: Final = 1_000_000


def run_suite(pytest_args: list[str], json_path: Path) -> int:
    """Run the benchmark suite, writing pytest-benchmark's JSON; return pytest's exit status."""
    command = [sys.executable, "-m", "pytest", str(BENCH_DIR), "-p", "no:cacheprovider", "-q",
               "--benchmark-quiet", f"--benchmark-json={json_path}", *pytest_args]
    return subprocess.run(command, cwd=BENCH_DIR.parent, stdout=sys.stderr, check=False).returncode


def markdown_report(benchmarks: list[dict[str, Any]]) -> str:
    """Format the ``extra_info`` of pytest-benchmark's JSON ``benchmarks`` list as markdown."""
    throughput = [bench["extra_info"] for bench in benchmarks if bench["group"] == "throughput"]
    memory = [bench["extra_info"] for bench in benchmarks if bench["group"] == "memory"]
    lines = []
    if throughput:
        lines += [
            "| workload | tasks | workers | queue_core tasks/s | bare tasks/s | ratio | pairs "
            "| target |",
            "|---|--:|--:|--:|--:|--:|--:|---|",
        ]
    for info in throughput:
        target = RATIO_TARGETS.get((info["workload"], info["tasks"]))
        lines.append(
            f"| {info['workload']} | {info['tasks']:,} | {info['workers']} "
            f"| {info['tasks_per_s']:,} | {info['baseline_tasks_per_s']:,} "
            f"| {info['ratio']:.3f} | {len(info['round_ratios'])} "
            f"| {_verdict(info['ratio'], target, at_least=True)} |")
    if memory:
        lines += ["", "| memory | measured | target |", "|---|--:|---|"]
    lines += [_memory_row(info) for info in memory]
    return "\n".join(lines).strip()


def _memory_row(info: dict[str, Any]) -> str:
    if "bytes_per_pending" in info:
        return (f"| bytes per pending task ({info['tasks']:,} queued; anchors: "
                f"{info['anchor_heap_slots_dict_bytes']} B heap tuple + slots record + id dict, "
                f"{info['anchor_asyncio_task_bytes']} B unstarted asyncio.Task) "
                f"| {info['bytes_per_pending']:.0f} B "
                f"| {_verdict(info['bytes_per_pending'], BYTES_PER_PENDING_TARGET, unit=' B')} |")
    return (f"| retained after {info['tasks']:,} tasks once their results expired "
            f"(max_results={info['max_results']:,}; peak {info['peak_bytes'] / 1e6:.2f} MB) "
            f"| {info['retained_bytes'] / 1e3:,.0f} kB "
            f"| {_verdict(info['retained_bytes'], RETAINED_BYTES_TARGET, unit=' B')} |")


def _verdict(value: float, target: float | None, at_least: bool = False, unit: str = "") -> str:
    if target is None:
        return ""
    met = value >= target if at_least else value <= target
    return f"{'met' if met else 'MISSED'} ({'>=' if at_least else '<='} {target:,}{unit})"


def main(argv: list[str] | None = None) -> int:
    """Run the suite with ``argv`` passed on to pytest and print the markdown report."""
    with tempfile.TemporaryDirectory() as tmp:
        json_path = Path(tmp) / "benchmark.json"
        status = run_suite(sys.argv[1:] if argv is None else argv, json_path)
        if status:
            return status
        print(markdown_report(json.loads(json_path.read_text())["benchmarks"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run the benchmark suite and print its figures as markdown: ``python -m bench.report``.

Runs ``python -m pytest bench`` (pytest's own output goes to stderr), reads the
pytest-benchmark JSON it wrote and prints to stdout the table of every case (ratios are
same-run medians of interleaved pairs, see :mod:`pytest_asyncqueue.benchmark`), the
performance targets each marked met or MISSED, and the memory retained after expiry.

Options: ``--quick`` runs the CI subset (``-m quick``, about 30 s); ``--markdown FILE`` also
writes the report there; ``--json FILE`` keeps pytest-benchmark's JSON there;
``--fail-below RATIO`` exits 1 when queue_core's noop 10,000/8 ratio to the bare pool is
below RATIO (a gross regression: CI uses 0.15), or when that case did not run. Any other
argument goes to pytest, e.g. ``-k noop`` or ``--benchmark-save=NAME``. Exits with pytest's
status when the run fails (5, no case selected, included).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from pytest_asyncqueue.benchmark import BarePool, BenchRow, markdown_table

from .memory import ASYNCIO_TASK_ANCHOR_BYTES, HEAP_SLOTS_DICT_ANCHOR_BYTES
from .peers import PEERS

BENCH_DIR: Final = Path(__file__).resolve().parent
QUEUE_CORE: Final = "TaskQueue"
GATE: Final = ("noop", 10_000, 8)
"""The case whose ratio ``--fail-below`` checks: queue_core beside the bare pool."""

_ROW_FIELDS: Final = {f.name for f in dataclasses.fields(BenchRow)}


def run_suite(pytest_args: list[str], json_path: Path) -> int:
    """Run the benchmark suite, writing pytest-benchmark's JSON; return pytest's exit status."""
    command = [sys.executable, "-m", "pytest", str(BENCH_DIR), "-p", "no:cacheprovider", "-q",
               "--benchmark-quiet", f"--benchmark-json={json_path}", *pytest_args]
    return subprocess.run(command, cwd=BENCH_DIR.parent, stdout=sys.stderr, check=False).returncode


def rows_of(benchmarks: list[dict[str, Any]]) -> list[BenchRow]:
    """The throughput rows in pytest-benchmark's JSON ``benchmarks`` list, in run order."""
    return [BenchRow(**{**info, "round_ratios": tuple(info["round_ratios"])})
            for info in (bench["extra_info"] for bench in benchmarks)
            if "ratio" in info and set(info) <= _ROW_FIELDS]


def find(rows: list[BenchRow], workload: str, tasks: int, workers: int, *,
         subject: str = QUEUE_CORE, **fields: Any) -> BenchRow | None:
    """The row of ``subject`` (a name prefix) for this case; by default beside the bare pool."""
    wanted = {"baseline": BarePool.name, "loop": "asyncio", "baseline_workers": None,
              "baseline_loop": None, **fields}
    for row in rows:
        if ((row.workload, row.tasks, row.workers) == (workload, tasks, workers)
                and row.subject.startswith(subject)
                and all(getattr(row, k) == v for k, v in wanted.items())):
            return row
    return None


def targets_table(rows: list[BenchRow], memory: list[dict[str, Any]]) -> str:
    """The performance targets: what was measured in this run, and whether each is met."""
    lines = ["| performance target | measured | verdict |", "|---|--:|---|"]

    def add(what: str, row: BenchRow | None, value: Callable[[BenchRow], float | None],
            bound: float, at_least: bool, unit: str = "", pairs: bool = False) -> None:
        measured = None if row is None else value(row)
        if measured is None:
            lines.append(f"| {what} | - | not run |")
            return
        met = measured >= bound if at_least else measured <= bound
        spread = (f" (pairs {min(row.round_ratios):.3g}-{max(row.round_ratios):.3g})"
                  if pairs and row.round_ratios else "")
        lines.append(f"| {what} | {measured:,.3g}{unit}{spread} | "
                     f"{'met' if met else 'MISSED'} ({'>=' if at_least else '<='} "
                     f"{bound:g}{unit}) |")

    def ratio(row: BenchRow) -> float | None:
        return row.ratio

    for (workload, tasks), bound in {("noop", 10_000): 0.30, ("noop", 100_000): 0.20,
                                     ("yield", 10_000): 0.60}.items():
        add(f"queue_core / bare pool, {workload} {tasks:,}, 8 workers",
            find(rows, workload, tasks, 8), ratio, bound, at_least=True, pairs=True)
    for peer in ("aiojobs", "asyncio-pool"):
        for workload in ("noop", "yield"):
            ours, theirs = find(rows, workload, 10_000, 8), find(rows, workload, 10_000, 8,
                                                                 subject=peer)
            add(f"queue_core / {peer}, {workload} 10,000, 8 workers (same run)",
                ours if theirs else None, lambda r, t=theirs: r.ratio / t.ratio, 1.0,
                at_least=True)
    gate = find(rows, *GATE)
    bare = ("" if gate is None or gate.baseline_result_p50_us is None else
            f" (the bare pool's, same run: {gate.baseline_result_p50_us:,.3g} µs)")
    add(f"idle submit-to-result latency p50, queue_core{bare}", gate,
        lambda r: r.result_p50_us, 20, at_least=False, unit=" µs")
    add(f"bytes per pending task, queue_core (anchors: {HEAP_SLOTS_DICT_ANCHOR_BYTES} B heap "
        f"tuple + slots record + id dict, {ASYNCIO_TASK_ANCHOR_BYTES} B unstarted asyncio.Task)",
        gate, lambda r: r.bytes_per_pending, 350, at_least=False, unit=" B")
    add("queue_core 1,000 workers / 8 workers, noop 100,000",
        find(rows, "noop", 100_000, 1000, baseline=QUEUE_CORE, baseline_workers=8), ratio,
        0.5, at_least=True)
    add("virtual loop time / stock loop time, queue_core noop 10,000",
        find(rows, "noop", 10_000, 8, baseline=QUEUE_CORE, loop="virtual",
             baseline_loop="asyncio"), lambda r: 1 / r.ratio, 1.3, at_least=False, unit="x")
    for info in memory:
        lines.append(f"| retained after {info['tasks']:,} tasks once their results expired "
                     f"(max_results={info['max_results']:,}; peak "
                     f"{info['peak_bytes'] / 1e6:.2f} MB) | {info['retained_bytes'] / 1e3:,.0f} kB "
                     f"| {'met' if info['retained_bytes'] <= 1e6 else 'MISSED'} (<= 1 MB) |")
    return "\n".join(lines)


def markdown_report(benchmarks: list[dict[str, Any]], command: str) -> str:
    """The whole report: how it was run, every row, then the targets."""
    rows = rows_of(benchmarks)
    memory = [b["extra_info"] for b in benchmarks if "retained_bytes" in b["extra_info"]]
    header = (f"Benchmarks: `{command}` (Python {platform.python_version()}, "
              f"{platform.machine()}). Ratios are the median over interleaved pairs of rounds, "
              f"each on a fresh loop, of the baseline's time over the subject's, measured in "
              f"this run; p50/p99 are idle submit-to-start latencies.")
    missing = [f"{peer} is not installed, so its rows were skipped (pip install -e '.[bench]')."
               for peer, (module, _) in PEERS.items() if importlib.util.find_spec(module) is None]
    return "\n".join([
        header,
        *(["", *missing] if missing else []),
        "",
        markdown_table(rows),
        "",
        targets_table(rows, memory),
    ])


def gate_failure(benchmarks: list[dict[str, Any]], least: float) -> str | None:
    """Why the run fails the ratio gate, or None when queue_core's noop 10,000/8 ratio holds."""
    row = find(rows_of(benchmarks), *GATE)
    if row is None:
        return "queue_core's noop 10,000/8 case did not run: there is no ratio to check"
    if row.ratio < least:
        return (f"queue_core runs noop 10,000/8 at {row.ratio:.3f}x the bare asyncio pool "
                f"(rounds: {', '.join(map(str, row.round_ratios))}); the floor is {least}x: "
                f"a gross regression")
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the suite, print (and write) the markdown report; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.split(
        "\n")[0], epilog="Other arguments go to pytest.")
    parser.add_argument("--quick", action="store_true", help="run the CI subset (-m quick)")
    parser.add_argument("--markdown", metavar="FILE", type=Path, help="also write it here")
    parser.add_argument("--json", metavar="FILE", type=Path,
                        help="keep pytest-benchmark's JSON here. Default: a temporary file")
    parser.add_argument("--fail-below", metavar="RATIO", type=float,
                        help="exit 1 when queue_core's noop 10,000/8 ratio is below RATIO")
    args, pytest_args = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    pytest_args = (["-m", "quick"] if args.quick else []) + pytest_args
    with tempfile.TemporaryDirectory() as tmp:
        json_path = args.json or Path(tmp) / "benchmark.json"
        status = run_suite(pytest_args, json_path)
        if status:
            return status
        benchmarks = json.loads(json_path.read_text())["benchmarks"]
    report = markdown_report(benchmarks, " ".join(["python -m bench.report", *(
        argv if argv is not None else sys.argv[1:])]))
    print(report)
    if args.markdown:
        args.markdown.write_text(report + "\n", encoding="utf-8")
    failure = None if args.fail_below is None else gate_failure(benchmarks, args.fail_below)
    if failure:
        print(f"\nFAILED: {failure}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The benchmark helpers (pytest_asyncqueue.benchmark), on tiny task counts: what they measure."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import io
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_asyncqueue import benchmark
from pytest_asyncqueue.adapters import TargetFactory, Unsupported, make_factory
from pytest_asyncqueue.benchmark import (
    REPORT_KEYS,
    WORKLOADS,
    BarePool,
    BenchError,
    BenchRow,
    Contender,
    TargetPool,
    bench_target,
    measure,
)
from pytest_asyncqueue.benchmark import _measure
from pytest_asyncqueue.benchmark._runs import RUNS
from pytest_asyncqueue.cli import main
from pytest_asyncqueue.report import build_report, validate_report

TINY = {"rounds": 2, "warmup": 0, "latency_samples": 20, "memory_tasks": 50}
OAS37A = str(Path(__file__).parents[2] / "examples" / "oas37a_queue.py")
# queue_core without max_retries: the retry workload cannot run on it.
NO_RETRIES = """
from queue_core import TaskQueue as _TaskQueue

class TaskQueue(_TaskQueue):
    def submit(self, handler, /, *args, task_id=None, priority=0):
        return super().submit(handler, *args, task_id=task_id, priority=priority)
"""


@pytest.fixture(scope="module")
def queue_core() -> TargetFactory:
    return make_factory("queue_core")


def on_fresh_loop(pool: Any, run: Any) -> Any:
    """Start the pool on a fresh stock loop, run ``run(pool)``, close it; return the result."""

    async def main() -> Any:
        await pool.start()
        try:
            return await run(pool)
        finally:
            await pool.close()

    with asyncio.Runner(loop_factory=benchmark.loop_factory("asyncio")) as runner:
        return runner.run(main())


@pytest.mark.parametrize("workload", WORKLOADS)
def test_every_workload_runs_on_queue_core_beside_the_bare_pool(queue_core, workload):
    row = bench_target(queue_core, workload, tasks=60, workers=3, **TINY)

    assert (row.workload, row.tasks, row.workers, row.loop) == (workload, 60, 3, "asyncio")
    assert (row.subject, row.baseline) == ("TaskQueue", BarePool.name)
    assert row.tasks_per_s > 0 and row.baseline_tasks_per_s > 0
    assert len(row.round_ratios) == 2
    assert row.ratio == pytest.approx(statistics.median(row.round_ratios), abs=0.001)
    assert 0 < row.p50_us <= row.p99_us
    assert row.result_p50_us >= row.p50_us
    assert 0 < row.baseline_p50_us <= row.baseline_result_p50_us
    assert row.latency_samples >= 20
    assert row.bytes_per_pending > 0
    assert row.note == ""


def test_queue_core_is_driven_through_its_own_synchronous_calls(queue_core):
    pool = TargetPool(queue_core, 2)

    assert pool.async_calls is False
    assert pool.submit == pool.adapter.queue.submit
    assert pool.wait == pool.adapter.queue.result


def test_other_shapes_are_driven_through_their_adapter_with_a_default_bound_lifted():
    factory = make_factory(OAS37A)
    pool = TargetPool(factory, 2)

    assert pool.async_calls is True
    # More tasks than the shape's default max_queue_size=1000 fit in a round.
    row = bench_target(factory, "noop", tasks=1200, workers=2, **TINY)
    assert row.tasks_per_s > 0 and row.bytes_per_pending > 0


def test_the_retry_workload_fails_every_tenth_task_once_and_retries_it(queue_core):
    pool = TargetPool(queue_core, 2, "retry")
    on_fresh_loop(pool, lambda p: RUNS["retry"](p, 100))

    stats = pool.adapter.stats_now()
    assert (stats["completed"], stats["retried"], stats["failed"]) == (100, 10, 0)


def test_the_cancel_workload_cancels_half_while_pending_and_a_tenth_while_running(queue_core):
    pool = TargetPool(queue_core, 2, "cancel")
    on_fresh_loop(pool, lambda p: RUNS["cancel"](p, 100))

    stats = pool.adapter.stats_now()
    assert (stats["cancelled"], stats["completed"], stats["pending"]) == (50 + 10, 40, 0)


class SpyPool(BarePool):
    """The bare pool, recording the index of every call that starts."""

    def __init__(self, workers: int, workload: str) -> None:
        super().__init__(workers, workload)
        self.started: list[int] = []
        put = self.submit

        def submit(handler: Any, i: int) -> Any:
            async def spy(i: int) -> None:
                self.started.append(i)
                await handler(i)

            return put(spy, i)

        self.submit = submit


def test_the_bare_pool_retries_each_failed_call_once():
    pool = SpyPool(2, "retry")
    on_fresh_loop(pool, lambda p: RUNS["retry"](p, 100))

    assert sorted(pool.started) == sorted([*range(100), *range(0, 100, 10)])


def test_the_bare_pool_never_starts_a_call_cancelled_while_queued():
    pool = SpyPool(2, "cancel")
    on_fresh_loop(pool, lambda p: RUNS["cancel"](p, 100))

    assert sorted(pool.started) == list(range(0, 100, 2))


def test_a_thousand_workers_and_a_fixed_baseline_are_recorded(queue_core):
    pool = functools.partial(TargetPool, queue_core)
    row = measure(Contender(pool), "noop", 50, 1000, baseline=Contender(pool, workers=8),
                  rounds=1, warmup=0, latency_samples=0, memory_tasks=None)

    assert (row.workers, row.baseline_workers, row.baseline) == (1000, 8, "TaskQueue")
    assert row.note == ("latency not measured (latency_samples=0); bytes/pending not measured "
                        "(memory_tasks=None)")


def test_rounds_can_run_on_the_virtual_loop(queue_core):
    pool = functools.partial(TargetPool, queue_core)
    row = measure(Contender(pool, "virtual"), "yield", 50, 2, baseline=Contender(pool),
                  **TINY)

    assert (row.loop, row.baseline_loop) == ("virtual", "asyncio")
    assert row.ratio > 0


def test_uvloop_is_unsupported_when_it_is_not_installed(monkeypatch, queue_core):
    monkeypatch.setitem(sys.modules, "uvloop", None)

    with pytest.raises(Unsupported, match=r"uvloop is not installed \(pip install uvloop\)"):
        bench_target(queue_core, "noop", 10, 1, loop="uvloop", **TINY)


def test_a_target_without_max_retries_cannot_run_the_retry_workload(tmp_path):
    path = tmp_path / "no_retries.py"
    path.write_text(NO_RETRIES)

    with pytest.raises(Unsupported, match="TaskQueue.submit takes no max_retries option"):
        bench_target(make_factory(str(path)), "retry", 10, 1, **TINY)


class StuckPool(BarePool):
    """Takes every task and never runs one."""

    name = "stuck"

    async def start(self) -> None:
        """No workers."""


def test_a_round_that_never_ends_fails_within_its_limit():
    with pytest.raises(BenchError, match=r"stuck: the noop workload of 10 tasks did not end "
                                         r"within 0\.05 s"):
        measure(Contender(StuckPool), "noop", 10, 1, limit=0.05, **TINY)


class WaitingPool(BarePool):
    """A bare pool whose submit waits a loop turn: its workers start tasks meanwhile."""

    async_calls = True

    def __init__(self, workers: int, workload: str = "noop") -> None:
        super().__init__(workers, workload)
        self._put = self.submit
        self.submit = self._submit_later

    async def _submit_later(self, handler: Any, *args: Any) -> None:
        await asyncio.sleep(0)
        self._put(handler, *args)


def test_a_pool_whose_submit_waits_has_no_bytes_per_pending_figure_and_says_why():
    row = measure(Contender(WaitingPool), "noop", 50, 2, **TINY)

    assert row.bytes_per_pending is None
    assert "tasks started while they were being submitted" in row.note


@pytest.mark.parametrize(("arguments", "message"), [
    ({"workload": "sleep"},
     "workload='sleep' is not a workload; valid: noop, yield, retry, cancel"),
    ({"tasks": 0}, "tasks=0 must be an int >= 1"),
    ({"workers": 1.5}, "workers=1.5 must be an int >= 1"),
    ({"warmup": -1}, "warmup=-1 must be an int >= 0"),
])
def test_bad_arguments_are_refused_naming_the_value(arguments, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        measure(benchmark.BARE, **{"workload": "noop", **arguments})


def test_an_unknown_loop_is_refused_listing_the_valid_ones():
    with pytest.raises(ValueError, match="loop='trio' is not a known loop; valid: asyncio, "
                                         "uvloop, virtual"):
        benchmark.loop_factory("trio")


def test_rounds_by_default_fall_with_the_task_count():
    assert [benchmark.default_rounds(n) for n in (10, 10_000, 100_000, 1_000_000)] == [21, 11, 5, 5]


ROW = BenchRow("noop", 10_000, 8, tasks_per_s=310_000, baseline_tasks_per_s=1_000_000,
               ratio=0.31, p50_us=9.8, p99_us=22.1, bytes_per_pending=213.2,
               subject="TaskQueue", baseline=BarePool.name)


def test_a_row_for_the_report_has_exactly_the_documented_keys():
    assert tuple(ROW.entry()) == REPORT_KEYS
    skipped = BenchRow("retry", 10_000, 8, note="no max_retries")
    assert skipped.entry() == {**dict.fromkeys(REPORT_KEYS), "workload": "retry",
                               "tasks": 10_000, "workers": 8, "note": "no max_retries"}
    assert json.loads(json.dumps(ROW.extra_info()))["round_ratios"] == []


def test_the_report_validates_bench_rows_and_names_what_is_wrong():
    report = build_report("queue_core", "queue_core", 1, [], bench=[ROW.entry()])
    validate_report(report)
    validate_report(build_report("q", "queue_core", 1, [], bench=[
        BenchRow("retry", 10, 1, note="why").entry()]))

    broken = {**ROW.entry(), "ratio": None, "tasks": 0}
    del broken["p50_us"]
    with pytest.raises(ValueError) as error:
        validate_report({**report, "bench": [broken, "row"]})
    assert str(error.value).split(": ", 1)[1] == (
        "bench[0] lacks p50_us; bench[0].tasks is 0; expected an integer >= 1; bench[0] has a "
        "null figure but no note saying why; bench[1] is 'row'; expected an object")


def test_the_text_table_aligns_its_columns_and_shows_notes_under_their_row():
    lines = benchmark.table_lines([ROW, BenchRow("retry", 10_000, 8, note="no max_retries")])

    assert lines == [
        "workload    tasks  workers    tasks/s   ratio   p50 µs   p99 µs  bytes/pending",
        "noop       10,000        8    310,000   0.310      9.8     22.1            213",
        "retry      10,000        8          -       -        -        -              -",
        "  (no max_retries)",
    ]
    assert benchmark.table_lines([])[0] == lines[0]


def test_the_markdown_table_names_what_each_subject_ran_beside():
    other = BenchRow("noop", 100, 1000, 1, 2, 0.5, subject="TaskQueue", baseline="TaskQueue",
                     baseline_workers=8, loop="virtual", baseline_loop="asyncio")
    lines = benchmark.markdown_table([ROW, other]).splitlines()

    assert lines[2] == ("| TaskQueue | noop | 10,000 | 8 | 310,000 | bare pool | 1,000,000 "
                        "| 0.310 | 9.8 | 22.1 | 213 |  |")
    assert lines[3].startswith("| TaskQueue on the virtual-time loop | noop | 100 | 1000 | 1 "
                               "| TaskQueue, 8 workers, on the stock loop | 2 | 0.500 |")


def test_asyncqueue_check_bench_prints_the_table_and_adds_the_rows_to_the_report(
        monkeypatch, tmp_path):
    monkeypatch.setattr(_measure, "CHECK_PLAN", (("noop", 30, 2), ("retry", 30, 2)))
    monkeypatch.setattr(_measure, "default_rounds", lambda tasks: 1)
    out = io.StringIO()

    status = main(["queue_core", "--only", "ordering", "--suite", "conformance", "--seed", "3",
                   "--bench", "--report", str(tmp_path / "r.json")], out=out)

    lines = out.getvalue().splitlines()
    assert status == 0
    start = next(i for i, line in enumerate(lines) if line.startswith("bench: TaskQueue beside "))
    assert lines[start + 1] == benchmark.table_lines([])[0]
    assert [line.split()[:3] for line in lines[start + 2:start + 4]] == [
        ["noop", "30", "2"], ["retry", "30", "2"]]
    report = json.loads((tmp_path / "r.json").read_text())
    validate_report(report)
    assert [(r["workload"], r["tasks"], r["workers"]) for r in report["bench"]] == [
        ("noop", 30, 2), ("retry", 30, 2)]
    assert all(r["ratio"] > 0 and r["p50_us"] > 0 for r in report["bench"])


def test_a_row_that_cannot_run_is_kept_with_its_reason_and_the_next_one_runs(tmp_path):
    path = tmp_path / "no_retries.py"
    path.write_text(NO_RETRIES)

    rows = benchmark.run_plan(make_factory(str(path)), [("retry", 20, 1), ("noop", 20, 1)],
                          budget=0.0)

    assert rows[0].note.startswith("target TaskQueue.submit takes no max_retries option")
    assert rows[0].ratio is None and rows[1].ratio > 0


def bench_json(*rows: BenchRow, retained: int = 12_000) -> list[dict[str, Any]]:
    """pytest-benchmark's ``benchmarks`` list holding these rows and one memory figure."""
    memory = {"tasks": 10_000, "workers": 8, "max_results": 1000, "result_ttl_s": 0.01,
              "retained_bytes": retained, "peak_bytes": 2_000_000}
    return [{"extra_info": row.extra_info()} for row in rows] + [{"extra_info": memory}]


GATE_ROW = dataclasses.replace(ROW, round_ratios=(0.3, 0.31), result_p50_us=22.0,
                               baseline_result_p50_us=17.5)


def test_the_ci_gate_fails_only_below_its_floor_or_when_its_case_did_not_run():
    from bench.report import gate_failure

    assert gate_failure(bench_json(GATE_ROW), 0.15) is None
    slow = dataclasses.replace(GATE_ROW, ratio=0.12, round_ratios=(0.12, 0.11))
    assert gate_failure(bench_json(slow), 0.15) == (
        "queue_core runs noop 10,000/8 at 0.120x the bare asyncio pool (rounds: 0.12, 0.11); "
        "the floor is 0.15x: a gross regression")
    on_uvloop = dataclasses.replace(GATE_ROW, loop="uvloop")
    assert gate_failure(bench_json(on_uvloop), 0.15) == (
        "queue_core's noop 10,000/8 case did not run: there is no ratio to check")


def test_the_markdown_report_reads_each_performance_target_from_the_same_run():
    from bench.report import markdown_report

    peer = dataclasses.replace(GATE_ROW, subject="aiojobs 1.4.0", ratio=0.05)
    report = markdown_report(bench_json(GATE_ROW, peer), "python -m bench.report")

    assert report.startswith("Benchmarks: `python -m bench.report` (Python ")
    assert ("| queue_core / bare pool, noop 10,000, 8 workers | 0.31 (pairs 0.3-0.31) | "
            "met (>= 0.3) |" in report)
    assert ("| queue_core / aiojobs, noop 10,000, 8 workers (same run) | 6.2 | met (>= 1) |"
            in report)
    assert "| queue_core / bare pool, yield 10,000, 8 workers | - | not run |" in report
    assert ("| idle submit-to-result latency p50, queue_core (the bare pool's, same run: "
            "17.5 µs) | 22 µs | MISSED (<= 20 µs) |" in report)
    assert "| 12 kB | met (<= 1 MB) |" in report


def test_the_previous_module_name_still_gives_each_name_and_says_it_is_deprecated():
    import pytest_asyncqueue.bench as old  # importing it alone does not warn

    with pytest.warns(DeprecationWarning, match=r"^pytest_asyncqueue\.bench is deprecated; "
                                                r"import BenchRow from pytest_asyncqueue\."
                                                r"benchmark$"):
        from pytest_asyncqueue.bench import BenchRow as OldBenchRow
    with pytest.warns(DeprecationWarning):
        assert old.bench_target is bench_target
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        old.nothing  # noqa: B018

    assert OldBenchRow is BenchRow
    assert old.__all__ == benchmark.__all__

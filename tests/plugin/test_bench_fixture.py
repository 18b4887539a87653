"""The asyncqueue_bench fixture inside pytest-benchmark (pytester)."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import pytest

from pytest_asyncqueue.benchmark import REPORT_KEYS
from pytest_asyncqueue.plugin import BENCH_IN_LOOP, NEEDS_BENCHMARK, NO_TARGET

# As in test_harness_plugin.py: no Hypothesis plugin, which would cost ~1 s per in-process run.
INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
addopts = --strict-markers -p no:cacheprovider -p no:hypothesispytest
filterwarnings = error
"""
OAS37A = Path(__file__).parents[2] / "examples" / "oas37a_queue.py"
TINY = "rounds=2, warmup=0, latency_samples=20, memory_tasks=50"


@pytest.fixture
def tester(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    return pytester


def test_a_row_lands_in_the_benchmark_json_beside_pytest_benchmarks_own_stats(tester):
    tester.makepyfile(dedent(f"""
        def test_noop(asyncqueue_bench):
            row = asyncqueue_bench("noop", tasks=40, workers=2, target="queue_core", {TINY})
            assert row.ratio > 0 and row.subject == "TaskQueue"
    """))

    # In a subprocess: pytest-benchmark leaves its JSON file open, which would surface as a
    # ResourceWarning (an error here) in the next in-process run.
    result = tester.runpytest_subprocess("--benchmark-json=out.json", "--benchmark-quiet")

    result.assert_outcomes(passed=1)
    [case] = json.loads((tester.path / "out.json").read_text())["benchmarks"]
    assert case["stats"]["rounds"] == 2
    info = case["extra_info"]
    assert set(REPORT_KEYS) <= set(info)
    assert (info["workload"], info["tasks"], info["workers"]) == ("noop", 40, 2)
    assert info["ratio"] > 0 and info["p50_us"] > 0 and info["bytes_per_pending"] > 0


def test_the_target_comes_from_the_option_or_the_marker_when_not_passed(tester):
    tester.makepyfile(dedent(f"""
        import pytest

        def test_from_the_option(asyncqueue_bench):
            assert asyncqueue_bench("yield", tasks=30, workers=2, {TINY}).ratio > 0

        @pytest.mark.asyncqueue(target="examples/oas37a_queue.py")
        def test_from_the_marker(asyncqueue_bench):
            row = asyncqueue_bench("noop", tasks=30, workers=2, {TINY})
            assert row.subject == "AsyncTaskQueue"
    """))
    (tester.path / "examples").mkdir()
    (tester.path / "examples" / "oas37a_queue.py").write_text(OAS37A.read_text())

    result = tester.runpytest("--asyncqueue-target=queue_core", "--benchmark-quiet",
                              "-k", "test_from")

    result.assert_outcomes(passed=2)


def test_without_a_target_the_benchmark_is_skipped_saying_how_to_name_one(tester):
    tester.makepyfile(dedent("""
        def test_noop(asyncqueue_bench):
            asyncqueue_bench("noop", tasks=10)
    """))

    result = tester.runpytest("-rs", "--benchmark-quiet")

    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines([f"*{NO_TARGET}*"])


def test_a_workload_the_target_cannot_run_is_skipped_saying_why(tester):
    tester.makepyfile(dedent(f"""
        import sys

        def test_retry(asyncqueue_bench):
            asyncqueue_bench("retry", tasks=10, workers=1, target="examples/no_retries.py",
                             {TINY})

        def test_uvloop(asyncqueue_bench, monkeypatch):
            monkeypatch.setitem(sys.modules, "uvloop", None)
            asyncqueue_bench("noop", tasks=10, workers=1, target="queue_core", loop="uvloop",
                             {TINY})
    """))
    (tester.path / "examples").mkdir()
    (tester.path / "examples" / "no_retries.py").write_text(dedent("""
        from queue_core import TaskQueue as _TaskQueue

        class TaskQueue(_TaskQueue):
            def submit(self, handler, /, *args, task_id=None, priority=0):
                return super().submit(handler, *args, task_id=task_id, priority=priority)
    """))

    result = tester.runpytest("-rs", "--benchmark-quiet")

    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines([
        ("*asyncqueue_bench: target TaskQueue.submit takes no max_retries option: the retry "
         "workload needs it*"),
        "*asyncqueue_bench: uvloop is not installed (pip install uvloop)*",
    ])


def test_a_disabled_benchmark_still_measures_one_pair_and_leaves_no_loop_open(tester):
    tester.makepyfile(dedent(f"""
        def test_noop(asyncqueue_bench):
            row = asyncqueue_bench("cancel", tasks=40, workers=2, target="queue_core", {TINY})
            assert len(row.round_ratios) == 1
    """))

    # filterwarnings = error turns an unclosed loop's ResourceWarning into a failure.
    result = tester.runpytest("--benchmark-disable", "-W", "error::ResourceWarning")

    result.assert_outcomes(passed=1)


def test_benchmark_skip_skips_before_anything_runs(tester):
    tester.makepyfile(dedent("""
        def test_noop(asyncqueue_bench):
            asyncqueue_bench("noop", target="queue_core")
            raise AssertionError("never reached")
    """))

    tester.runpytest("--benchmark-skip").assert_outcomes(skipped=1)


def test_without_pytest_benchmark_the_fixture_fails_saying_what_it_needs(tester):
    tester.makepyfile(dedent("""
        def test_noop(asyncqueue_bench):
            asyncqueue_bench("noop", target="queue_core")
            raise AssertionError("never reached")
    """))

    result = tester.runpytest("-p", "no:benchmark")

    result.assert_outcomes(failed=1)
    assert any(line.endswith(f".py::test_noop: {NEEDS_BENCHMARK}") for line in result.stdout.lines)


def test_a_target_that_cannot_be_loaded_fails_naming_it(tester):
    tester.makepyfile(dedent("""
        def test_noop(asyncqueue_bench):
            asyncqueue_bench("noop", target="no_such_module")
    """))

    result = tester.runpytest("--benchmark-quiet")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([(
        "*::test_noop: asyncqueue_bench(target='no_such_module') cannot be benchmarked: cannot "
        "import 'no_such_module'*")])
    result.stdout.no_fnmatch_line("*During handling of the above exception*")


def test_an_async_test_is_told_to_call_it_from_a_plain_function(tester):
    tester.makepyfile(dedent("""
        import pytest

        @pytest.mark.asyncio
        async def test_noop(asyncqueue_bench):
            asyncqueue_bench("noop", target="queue_core")
    """))

    result = tester.runpytest("--benchmark-quiet")

    result.assert_outcomes(failed=1)
    assert any(line.endswith(f".py::test_noop: {BENCH_IN_LOOP}") for line in result.stdout.lines)

"""The conformance suite inside pytest: options, items, markers, report, fixtures (pytester)."""

from __future__ import annotations

import json
from collections.abc import Callable
from textwrap import dedent

import pytest

from pytest_asyncqueue.conformance import ALL_CHECKS
from pytest_asyncqueue.contract import CATEGORIES, MODEL_CATEGORIES
from pytest_asyncqueue.plugin import (
    CATEGORY_MARKER_DESC,
    EXAMPLES_HELP,
    MODEL_EXAMPLES_HELP,
    NO_TARGET,
    REPORT_HELP,
    SEED_HELP,
    SHAPE_HELP,
    SUITE_HELP,
    SUITE_MARKER_DESC,
    TARGET_HELP,
)
from pytest_asyncqueue.report import validate_report
from pytest_asyncqueue.runner import MODEL_EXAMPLES, SPIN_HINT

# queue_core that takes no setting but workers: checks needing another one are skipped.
WORKERS_ONLY = """
from queue_core import TaskQueue as _TaskQueue

class TaskQueue(_TaskQueue):
    def __init__(self, *, workers=4):
        super().__init__(workers=workers)
"""
# An oas37a-shaped queue whose worker swallows everything around a blocking sleep.
SPINNING = """
import asyncio, time

class AsyncTaskQueue:
    def __init__(self, num_workers=1):
        self._running = False

    async def start(self):
        self._running = True
        self._worker_task = asyncio.ensure_future(self._worker())

    async def _worker(self):
        while self._running:
            try:
                time.sleep(0.005)
            except Exception:
                pass

    async def stop(self, wait=True):
        self._running = False

    async def submit(self, func, *args, priority=0, max_retries=3, task_id=None):
        return "1"

    async def get_result(self, task_id, timeout=None): ...
    async def cancel_task(self, task_id): return False
    def get_stats(self): return {}
    def get_task_status(self, task_id): return None
"""
USER_TESTS = """
import pytest
from pytest_asyncqueue.clock import run

@pytest.mark.asyncqueue("ordering", target="queue_core")
def test_runs_a_probe(asyncqueue_target, asyncqueue_probes, asyncqueue_timeline):
    async def main():
        queue = asyncqueue_target(workers=1)
        await queue.start()
        await queue.result(await queue.submit(asyncqueue_probes.succeed(name="mine")))
        await queue.stop()

    run(main())
    assert asyncqueue_timeline.start_order() == ["mine"]

@pytest.mark.asyncqueue_retries
def test_without_a_target(asyncqueue_target):
    pass
"""
ORDERING = [c for c in ALL_CHECKS if c.category == "ordering"]


def item_id(check) -> str:
    return f"asyncqueue::{check.category}::{check.name}"


def test_the_options_form_one_group_with_ini_twins_and_say_their_defaults(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest("--help")

    result.stdout.fnmatch_lines(["asyncqueue: check an asyncio task queue:",
                                 "  --asyncqueue-target=TARGET", "  --asyncqueue-shape=SHAPE",
                                 "  --asyncqueue-report=REPORT", "  --asyncqueue-seed=SEED",
                                 "  --asyncqueue-suite=SUITE", "  --asyncqueue-model-examples=N",
                                 "  --asyncqueue-examples=N"],
                                consecutive=False)
    result.stdout.fnmatch_lines([f"  asyncqueue_{noun} (string):*" for noun in (
        "target", "shape", "report", "seed", "suite", "model_examples", "examples")])
    for text in (TARGET_HELP, SHAPE_HELP, REPORT_HELP, SEED_HELP, SUITE_HELP,
                 MODEL_EXAMPLES_HELP):
        assert "Default: " in text.rsplit(". ", 1)[-1]
    assert MODEL_EXAMPLES_HELP.endswith(f"Default: {MODEL_EXAMPLES}.")
    assert EXAMPLES_HELP.startswith("Deprecated: the old name of --asyncqueue-model-examples")
    assert "examples, the old name of conformance, is deprecated" in SUITE_HELP


def test_a_target_adds_one_item_per_check_named_by_its_category(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest("--asyncqueue-target=queue_core", "--collect-only", "-q")
    model = project.runpytest("--asyncqueue-target=queue_core", "--asyncqueue-suite=model",
                              "--collect-only", "-q")

    assert [line for line in result.outlines if line.startswith("asyncqueue::")] == [
        item_id(c) for c in sorted(ALL_CHECKS, key=lambda c: CATEGORIES.index(c.category))
    ] + [f"asyncqueue::model::{c}" for c in MODEL_CATEGORIES]
    assert [line for line in model.outlines if line.startswith("asyncqueue::")] == [
        f"asyncqueue::model::{c}" for c in MODEL_CATEGORIES]


def test_the_suite_passes_against_queue_core_and_writes_a_valid_report(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest("--asyncqueue-target=queue_core", "--asyncqueue-seed=42",
                               "--asyncqueue-report=out/report.json",
                               "--asyncqueue-model-examples=5")

    result.assert_outcomes(passed=len(ALL_CHECKS) + len(MODEL_CATEGORIES))
    result.stdout.fnmatch_lines([
        ("asyncqueue: target queue_core (shape queue_core, class TaskQueue), seed 42; replay "
        "with --asyncqueue-seed=42"),
        "*= asyncqueue =*",
        f"ordering ......... passed {len(ORDERING) + 1}/{len(ORDERING) + 1}",
        f"report written to {project.path / 'out' / 'report.json'}",
    ])
    report = json.loads((project.path / "out" / "report.json").read_text())
    validate_report(report)
    assert (report["ok"], report["seed"], report["shape"]) == (True, 42, "queue_core")


PRYING_QUEUE = """
import os
from queue_core import TaskQueue as _Base


class TaskQueue(_Base):
    def start(self):
        if os.environ.get("ASYNCQUEUE_TEST_SECRET") != {expected!r}:
            raise RuntimeError("the environment was not what the test expected")
        return super().start()
"""


@pytest.mark.parametrize(("flag", "expected"), [([], None), (["--asyncqueue-pass-env"], "s3")])
def test_the_targets_environment_is_scrubbed_unless_passed(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, flag: list[str],
    expected: str | None,
) -> None:
    project.makepyfile(prying_queue=PRYING_QUEUE.format(expected=expected))
    monkeypatch.setenv("ASYNCQUEUE_TEST_SECRET", "s3")
    result = project.runpytest("--asyncqueue-target=prying_queue.py:TaskQueue",
                               "--asyncqueue-shape=queue_core", "--asyncqueue-suite=conformance",
                               "-m", "asyncqueue_ordering", *flag)
    result.assert_outcomes(passed=len(ORDERING))


def test_a_failed_check_shows_its_message_and_the_replay_command(
    project: pytest.Pytester, inverted_queue: str
) -> None:
    result = project.runpytest(f"--asyncqueue-target={inverted_queue}", "--asyncqueue-seed=5",
                               "-k", "priority_order_before_start")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*_ asyncqueue::ordering::priority_order_before_start _*",
        "S1: start order of priorities [[]1, 5, 3, 5, 2[]] submitted before start was *",
        ("replay: asyncqueue-check inverted_queue.py --shape queue_core --suite conformance "
        "--only ordering --seed 5"),
        "ordering ......... failed 0/1 (1 failed)",
    ])


def test_a_model_failure_fails_the_item_of_its_category_with_steps_and_replay(
    project: pytest.Pytester, inverted_queue: str
) -> None:
    result = project.runpytest(f"--asyncqueue-target={inverted_queue}", "--asyncqueue-seed=5",
                               "--asyncqueue-suite=model", "--asyncqueue-model-examples=10",
                               "-m", "asyncqueue_ordering or asyncqueue_stats")

    # Stats is judged on the examples that do not break ordering first.
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines([
        "*_ asyncqueue::model::ordering _*",
        "[[]ordering[]] S1: at t=* started before *; expected higher priority first, then "
        "submission order",
        "state = QueueMachine(*",
        ("replay: asyncqueue-check inverted_queue.py --shape queue_core --suite model "
         "--only ordering,stats --model-examples 10 --seed 5"),
    ])


def test_a_skipped_check_shows_its_reason(project: pytest.Pytester) -> None:
    needy = next(c for c in ALL_CHECKS if "base_delay" in c.needs)
    project.makepyfile(workers_only=WORKERS_ONLY)

    result = project.runpytest("--asyncqueue-target=workers_only.py", "-rs", "-k", needy.name)

    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] *: target has no base_delay*"])


def test_a_check_that_hangs_fails_in_its_category_and_the_session_ends(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(spinning_queue=SPINNING)

    result = project.runpytest("--asyncqueue-target=spinning_queue.py",
                               "-k", "priority_order_while_busy")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        ("S1: did not finish: the event loop was stuck in one callback for * wall s at "
        f"*spinning_queue.py:* in _worker: {SPIN_HINT}"),
    ])


def test_category_markers_select_checks_and_are_registered_for_strict_markers(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(USER_TESTS)

    selected = project.runpytest("--asyncqueue-target=queue_core", "-m", "asyncqueue_ordering",
                                 "--collect-only", "-q")
    markers = project.runpytest("--markers")

    assert [line for line in selected.outlines if "::" in line] == [
        *map(item_id, ORDERING), "asyncqueue::model::ordering"]
    markers.stdout.fnmatch_lines([f"@pytest.mark.{SUITE_MARKER_DESC}",
                                  *(f"@pytest.mark.{CATEGORY_MARKER_DESC.format(category=c)}"
                                    for c in CATEGORIES)])


def test_the_fixtures_give_probes_a_timeline_and_the_marked_target_or_skip_without_one(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(USER_TESTS)

    result = project.runpytest("-rs")

    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines([f"SKIPPED [[]1[]] *: {NO_TARGET}"])


def test_a_marker_with_an_unknown_category_or_keyword_is_an_error(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        dedent(
            """
            import pytest

            @pytest.mark.asyncqueue("retry", targt="queue_core")
            def test_typo(asyncqueue_target):
                pass
            """
        )
    )

    result = project.runpytest()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        (f"*mark.asyncqueue takes one category ({', '.join(CATEGORIES)}) and the keywords "
        "target, shape; got 'retry', targt")])


def test_the_command_line_wins_over_the_ini_file(
    project: pytest.Pytester, add_ini: Callable[[str], None]
) -> None:
    add_ini("asyncqueue_target = queue_core\nasyncqueue_seed = 1\n")

    from_ini = project.runpytest("--collect-only")
    overridden = project.runpytest("--collect-only", "--asyncqueue-seed=2")

    from_ini.stdout.fnmatch_lines(["asyncqueue: target queue_core (*), seed 1; *"])
    overridden.stdout.fnmatch_lines(["asyncqueue: target queue_core (*), seed 2; *"])


@pytest.mark.parametrize(
    ("args", "ini", "error"),
    [
        (["--asyncqueue-target=queue_core", "--asyncqueue-shape=oas"], "",
         ("--asyncqueue-shape='oas' (from command line) is not a built-in shape; valid: "
         "queue_core, oas37a")),
        (["--asyncqueue-target=queue_core"], "asyncqueue_shape = oas",
         ("asyncqueue_shape='oas' (from ini file *tox.ini) is not a built-in shape; valid: "
         "queue_core, oas37a")),
        (["--asyncqueue-target=queue_core", "--asyncqueue-seed=abc"], "",
         ("--asyncqueue-seed='abc' (from command line) is not an integer; pass the seed a "
         "report or header shows, e.g. --asyncqueue-seed=1234")),
        (["--asyncqueue-target=queue_core", "--asyncqueue-suite=models"], "",
         ("--asyncqueue-suite='models' (from command line) is not a suite; valid: "
          "conformance, model, all")),
        (["--asyncqueue-target=queue_core"], "asyncqueue_model_examples = 0",
         ("asyncqueue_model_examples='0' (from ini file *tox.ini) is not a whole number >= 1; "
          "e.g. --asyncqueue-model-examples=50")),
        (["--asyncqueue-target=no_such.py"], "",
         ("--asyncqueue-target='no_such.py' (from command line) cannot be checked: no file "
         "'no_such.py'; pass an existing .py file, a package folder or an importable module "
         "name")),
        (["--asyncqueue-report=r.json"], "",
         ("--asyncqueue-report='r.json' (from command line) has no suite to report on; pass "
         "--asyncqueue-target=TARGET too (or set asyncqueue_target in the ini file)")),
    ],
)
def test_a_bad_option_value_is_a_usage_error_naming_it_and_where_it_came_from(
    project: pytest.Pytester, add_ini: Callable[[str], None], args: list[str], ini: str,
    error: str
) -> None:
    add_ini(ini)

    result = project.runpytest(*args)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {error}"])


PLAIN_PROJECT = """
import pytest

def test_sync():
    assert True

@pytest.mark.asyncio
async def test_async():
    pass
"""


def test_without_a_target_the_suite_options_change_nothing(
    project: pytest.Pytester, add_ini: Callable[[str], None]
) -> None:
    project.makepyfile(PLAIN_PROJECT)

    without_plugin = project.runpytest("-v", "-p", "no:asyncqueue")
    add_ini("asyncqueue_report = report.json\n")
    with_options = project.runpytest("-v", "--asyncqueue-seed=3", "--asyncqueue-shape=oas37a")

    with_options.assert_outcomes(passed=2)
    assert _test_lines(with_options) == _test_lines(without_plugin)
    assert not any("asyncqueue" in line for line in with_options.outlines
                   if "plugins:" not in line)
    assert not (project.path / "report.json").exists()


def _test_lines(result: pytest.RunResult) -> list[str]:
    return sorted(line.split(" ")[0] for line in result.outlines if "::" in line)


# Records which child processes run while each suite item ends, and which are left after.
CHILDREN_SEEN = """
import json, multiprocessing
import pytest

seen = {}

@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    seen[item.nodeid] = sorted(p.name for p in multiprocessing.active_children())

@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    seen["after"] = sorted(p.name for p in multiprocessing.active_children())
    with open("children.json", "w") as out:
        json.dump(seen, out)
"""


def test_the_model_items_run_in_their_own_process_beside_the_checks_and_leave_none(
    project: pytest.Pytester,
) -> None:
    project.makeconftest(CHILDREN_SEEN)

    result = project.runpytest("--asyncqueue-target=queue_core", "-m", "asyncqueue_ordering",
                               "--asyncqueue-model-examples=20")
    seen = json.loads((project.path / "children.json").read_text())

    result.assert_outcomes(passed=len(ORDERING) + 1)
    assert "asyncqueue-model" in seen[item_id(ORDERING[0])]  # started with the first check
    assert seen["after"] == []


# Lists what the run left on the config object: the plugin keeps its state in config.stash.
CONFIG_SEEN = """
import json

def pytest_unconfigure(config):
    with open("config.json", "w") as out:
        json.dump([name for name in vars(config) if "asyncqueue" in name.lower()], out)
"""


def test_the_plugin_keeps_its_state_in_the_stash_not_on_the_config(
    project: pytest.Pytester,
) -> None:
    project.makeconftest(CONFIG_SEEN)

    result = project.runpytest("--asyncqueue-target=queue_core", "--asyncqueue-suite=conformance",
                               "-m", "asyncqueue_ordering")

    result.assert_outcomes(passed=len(ORDERING))
    assert json.loads((project.path / "config.json").read_text()) == []

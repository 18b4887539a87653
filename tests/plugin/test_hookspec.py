"""The hooks a conftest implements: a target from pytest_asyncqueue_make_target, a report
changed by pytest_asyncqueue_update_report (pytester)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable

import pytest

from pytest_asyncqueue import hookspec
from pytest_asyncqueue.conformance import ALL_CHECKS
from pytest_asyncqueue.contract import MODEL_CATEGORIES
from pytest_asyncqueue.report import validate_report

MAKE_TARGET = """
from pytest_asyncqueue.adapters import make_factory

def pytest_asyncqueue_make_target(config):
    return {answer}
"""
ORDERING = [c for c in ALL_CHECKS if c.category == "ordering"]


def test_each_hook_says_in_its_docstring_how_a_conftest_implements_it() -> None:
    hooks = [name for name in hookspec.__all__ if name.startswith("pytest_asyncqueue_")]

    assert hooks == ["pytest_asyncqueue_make_target", "pytest_asyncqueue_update_report"]
    for name in hooks:
        doc = inspect.getdoc(getattr(hookspec, name)) or ""
        assert ".. sourcecode:: python" in doc
        assert f"def {name}(config" in doc


def test_a_target_factory_from_the_hook_runs_the_suite_without_an_option(
    project: pytest.Pytester,
) -> None:
    project.makeconftest(MAKE_TARGET.format(answer='make_factory("queue_core")'))

    result = project.runpytest("--asyncqueue-seed=7", "--asyncqueue-model-examples=3")

    result.assert_outcomes(passed=len(ALL_CHECKS) + len(MODEL_CATEGORIES))
    result.stdout.fnmatch_lines([
        ("asyncqueue: target queue_core._queue:TaskQueue (shape queue_core, class TaskQueue), "
         "seed 7; replay with --asyncqueue-seed=7"),
        f"ordering ......... passed {len(ORDERING) + 1}/{len(ORDERING) + 1}",
    ])


def test_a_target_spec_from_the_hook_is_loaded_as_the_option_would_be(
    project: pytest.Pytester, inverted_queue: str
) -> None:
    project.makeconftest(MAKE_TARGET.format(answer=repr(inverted_queue)))

    result = project.runpytest("--asyncqueue-seed=5", "--asyncqueue-suite=conformance",
                               "-k", "priority_order_before_start")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "asyncqueue: target inverted_queue.py (shape queue_core, class TaskQueue), seed 5; *",
        ("replay: asyncqueue-check inverted_queue.py --shape queue_core --suite * --only "
        "ordering --seed 5"),
    ])


def test_the_command_line_wins_over_the_hook_and_the_hook_over_the_ini_file(
    project: pytest.Pytester, add_ini: Callable[[str], None], inverted_queue: str
) -> None:
    add_ini(f"asyncqueue_target = {inverted_queue}\n")
    project.makeconftest(MAKE_TARGET.format(answer='"queue_core"'))

    from_hook = project.runpytest("--collect-only")
    from_command_line = project.runpytest("--collect-only", f"--asyncqueue-target={inverted_queue}")

    from_hook.stdout.fnmatch_lines(["asyncqueue: target queue_core (shape queue_core, *"])
    from_command_line.stdout.fnmatch_lines(["asyncqueue: target inverted_queue.py (*"])


@pytest.mark.parametrize(
    ("answer", "args", "error"),
    [
        ("42", [],
         ("pytest_asyncqueue_make_target returned 42; expected a TargetFactory (for example "
          "pytest_asyncqueue.adapters.make_factory('package.module:Class')), a target spec "
          "such as 'package.module:Class' or 'path/to/file.py', or None")),
        ('"no_such.py"', [],
         ("pytest_asyncqueue_make_target='no_such.py' (returned by the hook) cannot be "
          "checked: no file 'no_such.py'; *")),
        ('make_factory("queue_core")', ["--asyncqueue-shape=oas37a"],
         ("--asyncqueue-shape='oas37a' (from command line) does not apply to the "
          "TargetFactory pytest_asyncqueue_make_target returned (shape queue_core); drop it, "
          "or return a target spec instead of a factory")),
    ],
)
def test_a_bad_answer_of_the_hook_is_a_usage_error_saying_what_it_takes(
    project: pytest.Pytester, answer: str, args: list[str], error: str
) -> None:
    project.makeconftest(MAKE_TARGET.format(answer=answer))

    result = project.runpytest("--collect-only", *args)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {error}"])


UPDATE_REPORT = """
def pytest_asyncqueue_update_report(config, report):
    report["target"] = "the reference queue"
    report["ci_job"] = config.getoption("asyncqueue_seed")
"""


def test_a_conftest_changes_the_report_before_it_is_written(project: pytest.Pytester) -> None:
    project.makeconftest(UPDATE_REPORT)

    result = project.runpytest("--asyncqueue-target=queue_core", "--asyncqueue-seed=3",
                               "--asyncqueue-suite=conformance", "-m", "asyncqueue_ordering",
                               "--asyncqueue-report=report.json")
    report = json.loads((project.path / "report.json").read_text())

    result.assert_outcomes(passed=len(ORDERING))
    assert (report["target"], report["ci_job"], report["ok"]) == ("the reference queue", "3",
                                                                  True)
    # As the hook's docstring says: changed values validate, an added key must be dropped.
    with pytest.raises(ValueError, match="the report has unexpected ci_job"):
        validate_report(report)
    validate_report({key: value for key, value in report.items() if key != "ci_job"})


@pytest.mark.parametrize("autoload", [True, False])
def test_the_hooks_are_there_once_when_loaded_with_dash_p(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, autoload: bool
) -> None:
    # Without autoload the asyncqueue entry point is not loaded, nor pytest-asyncio's.
    plugins = ["-p", "pytest_asyncqueue"]
    if not autoload:
        monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
        plugins += ["-p", "pytest_asyncio.plugin"]
    project.makeconftest(MAKE_TARGET.format(answer='"queue_core"'))

    result = project.runpytest(*plugins, "--collect-only", "-q")

    assert result.ret == pytest.ExitCode.OK
    assert sum(line.startswith("asyncqueue::") for line in result.outlines) == (
        len(ALL_CHECKS) + len(MODEL_CATEGORIES))

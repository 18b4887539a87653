"""--asyncqueue-suite=conformance and --asyncqueue-model-examples, and their old spellings
kept for one release with a deprecation warning (pytester)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_asyncqueue.conformance import ALL_CHECKS
from pytest_asyncqueue.contract import CATEGORIES

# The project's own filterwarnings = error turns the deprecation warning into an error; these
# runs let it through to see it in the summary.
SHOW_DEPRECATIONS = ("-W", "default::pytest.PytestDeprecationWarning")
CONFORMANCE_IDS = [f"asyncqueue::{c.category}::{c.name}"
                   for c in sorted(ALL_CHECKS, key=lambda c: CATEGORIES.index(c.category))]


def _suite_ids(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if line.startswith("asyncqueue::")]


def test_the_conformance_suite_is_the_checks_alone(project: pytest.Pytester) -> None:
    result = project.runpytest("--asyncqueue-target=queue_core", "--asyncqueue-suite=conformance",
                               "--collect-only", "-q")

    assert _suite_ids(result) == CONFORMANCE_IDS


def test_suite_examples_still_means_conformance_and_warns_that_it_is_deprecated(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest("--asyncqueue-target=queue_core", "--asyncqueue-suite=examples",
                               "--collect-only", "-q", *SHOW_DEPRECATIONS)

    assert _suite_ids(result) == CONFORMANCE_IDS
    result.stdout.fnmatch_lines([
        ("*PytestDeprecationWarning: --asyncqueue-suite=examples is deprecated and will be "
        "removed in the next release; use --asyncqueue-suite=conformance")])


def test_the_old_spelling_is_an_error_under_filterwarnings_error(
    project: pytest.Pytester,
) -> None:
    result = project.runpytest("--asyncqueue-target=queue_core", "--asyncqueue-suite=examples",
                               "--collect-only")

    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stderr.fnmatch_lines([("INTERNALERROR> *PytestDeprecationWarning: "
                                 "--asyncqueue-suite=examples is deprecated *")])


def test_asyncqueue_examples_still_sets_the_model_examples_and_warns(
    project: pytest.Pytester, inverted_queue: str
) -> None:
    result = project.runpytest(f"--asyncqueue-target={inverted_queue}", "--asyncqueue-seed=5",
                               "--asyncqueue-suite=model", "--asyncqueue-examples=3",
                               "-m", "asyncqueue_ordering", *SHOW_DEPRECATIONS)

    result.assert_outcomes(failed=1, warnings=1)
    result.stdout.fnmatch_lines([
        # The replay command spells the option the CLI's new way, with the value given.
        ("replay: asyncqueue-check inverted_queue.py --shape queue_core --suite model "
         "--only ordering --model-examples 3 --seed 5"),
        ("*PytestDeprecationWarning: --asyncqueue-examples is deprecated and will be removed "
        "in the next release; use --asyncqueue-model-examples"),
    ])


@pytest.mark.parametrize(
    ("args", "ini", "warning"),
    [
        (["--asyncqueue-examples=2"], "",
         "--asyncqueue-examples is deprecated *; use --asyncqueue-model-examples"),
        ([], "asyncqueue_examples = 2",
         "asyncqueue_examples is deprecated *; use asyncqueue_model_examples"),
        ([], "asyncqueue_suite = examples",
         "asyncqueue_suite=examples is deprecated *; use asyncqueue_suite=conformance"),
    ],
)
def test_each_old_spelling_warns_naming_the_new_one(
    project: pytest.Pytester, add_ini: Callable[[str], None], args: list[str], ini: str,
    warning: str
) -> None:
    add_ini(ini)

    result = project.runpytest("--asyncqueue-target=queue_core", "--collect-only", *args,
                               *SHOW_DEPRECATIONS)

    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"*PytestDeprecationWarning: {warning}"])


@pytest.mark.parametrize(
    ("args", "ini", "error"),
    [
        ([], "asyncqueue_examples = 0",
         "asyncqueue_examples='0' (from ini file *tox.ini) is not a whole number >= 1; *"),
        (["--asyncqueue-model-examples=0", "--asyncqueue-examples=2"], "",
         "--asyncqueue-model-examples='0' (from command line) is not a whole number >= 1; *"),
    ],
)
def test_the_old_name_is_read_when_the_new_one_is_not_given(
    project: pytest.Pytester, add_ini: Callable[[str], None], args: list[str], ini: str,
    error: str
) -> None:
    add_ini(ini)

    result = project.runpytest("--asyncqueue-target=queue_core", *args, *SHOW_DEPRECATIONS)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {error}"])

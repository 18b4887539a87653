"""The JSON report (DESIGN section 5), its validator, and the terminal lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_asyncqueue.adapters import make_factory
from pytest_asyncqueue.conformance import ALL_CHECKS
from pytest_asyncqueue.report import (
    SCHEMA,
    build_report,
    category_line,
    failure_lines,
    replay_command,
    summarize,
    validate_report,
    skip_lines,
    write_report,
)
from pytest_asyncqueue.runner import CheckResult, run_checks

# The example of DESIGN section 5, verbatim.
DESIGN_EXAMPLE = """
{"schema": "asyncqueue-report/1", "target": "...", "shape": "oas37a", "ok": false,
 "seed": 1234,
 "categories": {
   "ordering":  {"status": "passed",  "passed": 6, "failed": 0, "skipped": 0, "failures": []},
   "retries":   {"status": "failed",  "passed": 4, "failed": 1, "skipped": 0,
                 "failures": [{"check": "backoff_is_exponential",
                               "message": "waits were [0.1, 0.2, 0.3]; expected [0.1, 0.2, 0.4]",
                               "seed": 1234}]},
   "durability": {"status": "skipped", "passed": 0, "failed": 0, "skipped": 3,
                  "failures": [], "reason": "target has no durable store"}}}
"""


def result(name: str, category: str, status: str, message: str = "") -> CheckResult:
    return CheckResult(name, category, "S3", status, message, 1234)


RESULTS = [
    result("a", "ordering", "passed"),
    result("b", "ordering", "skipped", "target has no delay"),
    result("backoff_is_exponential", "retries", "failed", "S3: waits were [0.1, 0.2, 0.3]"),
    result("c", "retries", "passed"),
    result("d", "durability", "skipped", "target has no durable store"),
    result("e", "durability", "skipped", "target has no durable store"),
]


def test_a_category_fails_if_one_check_failed_is_skipped_if_all_were_else_passes() -> None:
    report = build_report("my/queue.py", "oas37a", 1234, RESULTS)

    assert report == {
        "schema": SCHEMA, "target": "my/queue.py", "shape": "oas37a", "ok": False, "seed": 1234,
        "categories": {
            "ordering": {"status": "passed", "passed": 1, "failed": 0, "skipped": 1,
                         "failures": [],
                         "skips": [{"check": "b", "reason": "target has no delay"}]},
            "retries": {"status": "failed", "passed": 1, "failed": 1, "skipped": 0,
                        "failures": [{"check": "backoff_is_exponential",
                                      "message": "S3: waits were [0.1, 0.2, 0.3]",
                                      "seed": 1234}]},
            "durability": {"status": "skipped", "passed": 0, "failed": 0, "skipped": 2,
                           "failures": [], "reason": "target has no durable store",
                           "skips": [{"check": "d", "reason": "target has no durable store"},
                                     {"check": "e", "reason": "target has no durable store"}]},
        },
    }
    validate_report(report)
    assert skip_lines(report["categories"]["ordering"]) == [
        "    skipped b: target has no delay"]


def test_a_run_in_which_every_check_skipped_is_not_ok() -> None:
    report = build_report("my/queue.py", "oas37a", 1234, RESULTS[-2:])

    assert report["ok"] is False
    validate_report(report)
    with pytest.raises(ValueError, match="ok is True; expected False .no category failed, "
                                         "no check passed"):
        validate_report({**report, "ok": True})


def test_ok_is_true_when_no_category_failed_and_listed_empty_categories_are_skipped() -> None:
    report = build_report("queue_core", "queue_core", 7, RESULTS[:2],
                          categories=["ordering", "scheduling"])

    assert report["ok"] is True
    assert report["categories"]["scheduling"] == {
        "status": "skipped", "passed": 0, "failed": 0, "skipped": 0, "failures": [],
        "reason": "no checks in this category yet"}


def test_a_real_report_validates_and_survives_a_json_round_trip(tmp_path: Path) -> None:
    results = run_checks(make_factory("queue_core"), ALL_CHECKS, seed=99)
    report = build_report("queue_core", "queue_core", 99, results)

    path = write_report(report, tmp_path / "reports" / "queue_core.json")

    loaded = json.loads(path.read_text(encoding="utf-8"))
    validate_report(loaded)
    assert loaded == report and loaded["ok"] is True
    assert list(loaded["categories"]) == list(dict.fromkeys(c.category for c in ALL_CHECKS))


def test_the_example_of_the_design_validates() -> None:
    validate_report(json.loads(DESIGN_EXAMPLE))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda r: r.pop("seed"), "the report lacks seed"),
        (lambda r: r.update(extra=1), "the report has unexpected extra"),
        (lambda r: r.update(schema="asyncqueue-report/2"),
         "schema is 'asyncqueue-report/2'; expected 'asyncqueue-report/1'"),
        (lambda r: r.update(ok=True), "ok is True; expected False (a category failed, some check passed)"),
        (lambda r: r["categories"]["ordering"].update(status="failed"),
         "categories.ordering.status is 'failed'; expected 'passed' for counts"),
        (lambda r: r["categories"]["retries"].update(failed=2),
         "categories.retries lists 1 failures; failed is 2"),
        (lambda r: r["categories"]["durability"].pop("reason"),
         "categories.durability lacks reason"),
        (lambda r: r["categories"]["ordering"].update(reason="why"),
         "categories.ordering has unexpected reason"),
        (lambda r: r["categories"].update(retry=r["categories"]["retries"]),
         "categories.retry: 'retry' is not a category; valid: ordering, concurrency, "),
        (lambda r: r["categories"]["retries"]["failures"][0].update(seed="1234"),
         "categories.retries.failures[0].seed is '1234'; expected an integer"),
        (lambda r: r["categories"]["ordering"].update(passed=-1),
         "categories.ordering.passed is -1; expected an integer >= 0"),
    ],
)
def test_the_validator_names_what_is_wrong(change, problem: str) -> None:
    report = json.loads(DESIGN_EXAMPLE)
    change(report)

    with pytest.raises(ValueError, match="^not an asyncqueue-report/1 report: ") as raised:
        validate_report(report)
    assert problem in str(raised.value)


def test_category_lines_align_their_status_and_count_checks_passed_of_all() -> None:
    report = json.loads(DESIGN_EXAMPLE)

    lines = [category_line(c, e) for c, e in report["categories"].items()]

    assert lines == [
        "ordering ......... passed 6/6",
        "retries .......... failed 4/5 (1 failed)",
        "durability ....... skipped 0/3 (target has no durable store)",
    ]
    assert summarize([]) == {"status": "skipped", "passed": 0, "failed": 0, "skipped": 0,
                             "failures": [], "reason": "no checks in this category yet"}


def test_each_failure_shows_category_check_message_and_the_command_that_replays_it() -> None:
    report = build_report("my queues/q.py:Queue", "oas37a", 1234, RESULTS)

    assert failure_lines(report) == [
        "FAILED retries::backoff_is_exponential",
        "  S3: waits were [0.1, 0.2, 0.3]",
        ("  replay: asyncqueue-check 'my queues/q.py:Queue' --shape oas37a --suite conformance "
        "--only retries --seed 1234"),
    ]
    assert replay_command("queue_core", "queue_core", "stats", 5) == (
        "asyncqueue-check queue_core --shape queue_core --suite conformance --only stats "
        "--seed 5")


def test_a_failure_with_its_own_replay_command_keeps_it_and_shows_every_message_line() -> None:
    model = CheckResult("model.backoff_gap", "retries", "model", "failed",
                        "[retries] S3: gap 0.75s; expected 1s\nstate.init()\nstate.advance()",
                        9, replay=("asyncqueue-check q.py --suite model --model-examples 50 "
                                   "--seed 9"))
    report = build_report("q.py", "oas37a", 9, [model])

    validate_report(json.loads(json.dumps(report)))
    assert report["categories"]["retries"]["failures"][0]["replay"] == model.replay
    assert failure_lines(report) == [
        "FAILED retries::model.backoff_gap", "  [retries] S3: gap 0.75s; expected 1s",
        "  state.init()", "  state.advance()", f"  replay: {model.replay}"]

"""One defect, one failure: which failures follow from a failed foundation check."""

from __future__ import annotations

from pytest_asyncqueue.runner import FOUNDATIONS, CheckResult, attribute
from pytest_asyncqueue.runner._follows import model_uses


def result(name: str, status: str = "failed", used: frozenset[str] = frozenset(),
           follows_from: str = "") -> CheckResult:
    category, check = name.split("::")
    return CheckResult(check, category, "S3", status, "broken" * (status == "failed"),
                       follows_from=follows_from, used=frozenset(used))


def follows(results: list[CheckResult]) -> dict[str, str]:
    return {f"{r.category}::{r.name}": r.follows_from for r in attribute(results)}


def test_a_failure_that_leaned_on_a_failed_foundation_follows_from_it() -> None:
    attempts = "retries::attempts_are_max_retries_plus_one"
    assert follows([
        result(attempts, used={"handlers", "failures", "retries"}),
        result("retries::backoff_is_capped", used={"handlers", "failures", "retries"}),
        result("stats::retried_counts_the_retries", used={"handlers"}),  # no retry ran
        result("ordering::fifo_among_equal_priorities", "passed", used={"order"}),
    ]) == {attempts: "", "retries::backoff_is_capped": attempts,
           "stats::retried_counts_the_retries": "", "ordering::fifo_among_equal_priorities": ""}


def test_a_foundation_follows_only_from_one_listed_before_it() -> None:
    workers, attempts = FOUNDATIONS[1][0], "retries::attempts_are_max_retries_plus_one"
    everything = {"handlers", "failures", "retries", "cancel", "priorities", "order"}
    assert follows([result(attempts, used=everything), result(workers, used=everything)]) == {
        attempts: workers, workers: ""}


def test_a_model_failure_keeps_its_own_cause_unless_a_foundation_explains_it() -> None:
    own = result("stats::model.stats_match_model", used={"handlers"},
                 follows_from="retries::model.attempt_count")
    explained = result("cancellation::model.status_matches", used={"handlers", "retries"})
    attempts = result("retries::attempts_are_max_retries_plus_one", used={"retries"})
    assert follows([attempts, own, explained])["stats::model.stats_match_model"] == (
        "retries::model.attempt_count")
    assert follows([attempts, own, explained])["cancellation::model.status_matches"] == (
        "retries::attempts_are_max_retries_plus_one")


def test_an_examples_steps_say_what_it_leaned_on() -> None:
    calls = [("init", {"workers": 1, "tasks": [{"retries": 2, "outcome": "doomed"}]}),
             ("submit", {"tasks": [{"priority": 2}, {"outcome": "flaky"}]}),
             ("advance", {"seconds": 1.0})]
    assert model_uses(calls) == {"handlers", "failures", "retries", "priorities"}
    assert model_uses([("submit", {"tasks": [{"outcome": "flaky"}]}),
                       ("cancel_racing", {"pick": 0, "lag": 1})]) == {"handlers", "cancel"}


def test_a_check_result_says_what_the_check_leaned_on() -> None:
    from pytest_asyncqueue.adapters import make_factory
    from pytest_asyncqueue.conformance import ALL_CHECKS
    from pytest_asyncqueue.runner import run_check

    factory = make_factory("queue_core")
    by_name = {c.name: c for c in ALL_CHECKS}
    used = {name: run_check(by_name[name], factory, seed=1).used
            for name in ("attempts_are_max_retries_plus_one", "cancel_queued_task_never_starts",
                         "fifo_among_equal_priorities", "zero_workers_refused_at_construction")}
    assert used["attempts_are_max_retries_plus_one"] >= {"handlers", "failures", "retries"}
    assert "cancel" in used["cancel_queued_task_never_starts"]
    assert "order" in used["fifo_among_equal_priorities"]
    assert used["zero_workers_refused_at_construction"] == frozenset()


def test_every_foundation_names_a_registered_check_and_what_checks_use() -> None:
    from pytest_asyncqueue.conformance import ALL_CHECKS, USES

    registered = {f"{c.category}::{c.name}" for c in ALL_CHECKS}
    assert [name for name, _ in FOUNDATIONS if name not in registered] == []
    assert {basis for _, basis in FOUNDATIONS} <= set(USES)

"""Absent is not wrong, and one defect is one failure (DESIGN section 3), for the conformance
checks: a feature the adapter declares absent skips exactly the checks that need it (the rest
run without it), a stats key the target lacks fails one check while the others judge the
keys that are there, and a counter the adapter declares absent is missing from no check."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import asdict, replace
from typing import Any

from pytest_asyncqueue.adapters import Capabilities, TargetFactory, Unsupported
from pytest_asyncqueue.adapters.shapes.queue_core import QueueCoreAdapter
from pytest_asyncqueue.conformance import ALL_CHECKS
from pytest_asyncqueue.runner import CheckResult, run_checks, select_checks
from queue_core import TaskQueue

ABSENT = frozenset({"cancel", "closed_state", "worker_tasks", "stats.retried"})


class WithoutFeaturesAdapter(QueueCoreAdapter):
    """queue_core, as the adapter of a queue without cancel, a closed state, worker tasks or
    a retried counter: its cancel raises Unsupported (a check calling it fails) and its
    retried counter reads -1 (a check judging it fails)."""

    @classmethod
    def capabilities_of(cls, target: type) -> Capabilities:
        return replace(QueueCoreAdapter.capabilities_of(target), absent=ABSENT)

    async def cancel(self, task_id: Hashable) -> bool:
        raise Unsupported("this target has no cancel")

    def stats_now(self) -> dict[str, int]:
        return {**super().stats_now(), "retried": -1}


class WithoutRetriedQueue(TaskQueue):
    """queue_core whose stats lack ``retried``, and whose ``pending`` goes negative: one
    handler in flight is also counted pending-1 -> running+1, the sum left intact."""

    def stats(self) -> Any:
        counters = {k: v for k, v in asdict(super().stats()).items() if k != "retried"}
        if counters["running"]:
            counters["pending"] -= 1
            counters["running"] += 1
        return counters


class PinnedAdapter(QueueCoreAdapter):
    """The queue_core adapter, reading the error classes from queue_core itself (a subclass
    defined here would find none in this module's package)."""

    @classmethod
    def capabilities_of(cls, target: type) -> Capabilities:
        return QueueCoreAdapter.capabilities_of(TaskQueue)


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


def test_checks_needing_an_absent_feature_skip_saying_so_and_the_rest_pass() -> None:
    results = by_name(run_checks(TargetFactory(TaskQueue, WithoutFeaturesAdapter), ALL_CHECKS,
                                 seed=7))

    skipped = {name: r.message for name, r in results.items() if r.status == "skipped"}
    assert skipped == {
        **{c.name: "target has no cancel" for c in select_checks(["cancellation"])},
        "cancelled_running_task_moves_once": "target has no cancel",
        "cancel_at_attempt_boundaries_counted_once": "target has no cancel",
        "cancelled_tasks_free_their_place": "target has no cancel",
        "retried_counts_the_retries": "target has no stats.retried",
        "workers_counts_live_workers": "target has no worker_tasks",
        "submit_after_stop_raises": "target has no closed_state",
    }
    # The rest ran and passed without calling cancel or judging retried=-1: the counters,
    # each task's count, and memory after cancels among them.
    assert [(r.name, r.message) for r in results.values() if r.status == "failed"] == []
    assert len(results) == len(ALL_CHECKS)


def test_a_missing_stats_key_fails_one_check_and_an_s6_bug_elsewhere_is_still_found() -> None:
    results = by_name(run_checks(TargetFactory(WithoutRetriedQueue, PinnedAdapter),
                                 select_checks(["stats"]), seed=7, isolate=False))

    naming = {name: r.message for name, r in results.items()
              if r.status == "failed" and "retried" in r.message}
    assert list(naming) == ["stats_has_every_key"]
    assert naming["stats_has_every_key"].startswith("S6: stats() lacks the key(s) 'retried' (")
    assert (results["retried_counts_the_retries"].status,
            results["retried_counts_the_retries"].message) == (
        "skipped", "stats() has no 'retried', so the count of retries cannot be judged (the "
                   "missing key is reported by stats_has_every_key)")
    consistent = results["counters_consistent_at_every_iteration"]
    assert consistent.status == "failed"
    assert consistent.message.startswith("S6: pending went negative at virtual t=")
    assert results["each_task_counted_once"].status == "passed"


def test_a_counter_declared_absent_is_missing_from_no_check() -> None:
    class Adapter(PinnedAdapter):
        @classmethod
        def capabilities_of(cls, target: type) -> Capabilities:
            return replace(super().capabilities_of(target), absent=frozenset({"stats.retried"}))

    class Queue(TaskQueue):
        def stats(self) -> Any:
            return {k: v for k, v in asdict(super().stats()).items() if k != "retried"}

    results = run_checks(TargetFactory(Queue, Adapter), select_checks(["stats"]), seed=7,
                         isolate=False)

    assert [(r.name, r.message) for r in results if r.status == "failed"] == []
    assert [(r.name, r.message) for r in results if r.status == "skipped"] == [
        ("retried_counts_the_retries", "target has no stats.retried")]

"""The executable model (DESIGN section 2) and the state machines built on it."""

from __future__ import annotations

import importlib.util
import asyncio
import inspect
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from pytest_asyncqueue.adapters import (
    Capabilities,
    QueueCoreAdapter,
    TargetFactory,
    make_factory,
)
from pytest_asyncqueue.machines import MachineFailure, run_machines, run_steps
from pytest_asyncqueue.model import (
    Divergence,
    Expect,
    Model,
    Params,
    Work,
    follow,
    readings,
)
from pytest_asyncqueue.contract import ns
from queue_core import TaskQueue


def starts(model: Model) -> list[tuple[float, str, int]]:
    return [(t, name, attempt) for t, kind, name, attempt in model.history if kind == "start"]


def test_priority_then_submission_order() -> None:
    # S1: priorities [1, 5, 3, 5, 2] run as [5, 5, 3, 2, 1], the two 5s in submission order.
    model = Model(Params(workers=1))
    for name, priority in zip("abcde", [1, 5, 3, 5, 2]):
        model.submit(name, Work(1.0), priority=priority)
    assert [name for _, name, _ in starts(model.run())] == ["b", "d", "c", "e", "a"]


def test_lower_first_direction() -> None:
    model = Model(Params(workers=1, high_first=False))
    for name, priority in zip("abc", [3, 1, 2]):
        model.submit(name, Work(1.0), priority=priority)
    assert [name for _, name, _ in starts(model.run())] == ["b", "c", "a"]


def test_exponential_backoff_and_attempt_count() -> None:
    # S3: max_retries=3 -> 4 attempts; waits min(0.1 * 2**k, 0.3) after failure k.
    model = Model(Params(workers=1, base_delay=0.1, max_delay=0.3))
    model.submit("flaky", Work(0.0, fails=9), max_retries=3)
    model = model.run()
    assert [t for t, _, _ in starts(model)] == pytest.approx([0.0, 0.1, 0.3, 0.6])
    assert model.status("flaky") == "failed"
    assert model.stats() == {"submitted": 1, "pending": 0, "running": 0, "completed": 0,
                             "failed": 1, "cancelled": 0, "retried": 3, "workers": 1}


def test_no_retries_means_one_attempt_and_backoff_holds_no_worker() -> None:
    model = Model(Params(workers=1, base_delay=1.0))
    model.submit("once", Work(0.0, fails=1))
    model.submit("twice", Work(0.0, fails=1), max_retries=1)
    model.submit("other", Work(0.5))
    model = model.run()
    assert starts(model) == [(0.0, "once", 1), (0.0, "twice", 1), (0.0, "other", 1),
                             (1.0, "twice", 2)]
    assert (model.status("once"), model.status("twice")) == ("failed", "completed")


def test_retry_place_readings() -> None:
    # A retries at t=0.5 while B runs; C waits. "original": A before C; "back": C first.
    def order(place: str) -> list[str]:
        model = Model(Params(workers=1, base_delay=0.5, retry_place=place))
        model.submit("A", Work(0.0, fails=1), max_retries=1)
        model.submit("B", Work(1.0))
        model.submit("C", Work(0.0))
        return [name for _, name, _ in starts(model.run())]

    assert order("original") == ["A", "B", "A", "C"]
    assert order("back") == ["A", "B", "C", "A"]


def test_retried_counted_when_started() -> None:
    model = Model(Params(workers=1, base_delay=1.0, retried_when="started"))
    model.submit("a", Work(0.0, fails=1), max_retries=1)
    assert model.run(until=0.5).retried == 0
    assert model.run().retried == 1


def test_cancel_answers_and_effects() -> None:
    # S4: True for pending (also backing off) and running, False for finished or unknown.
    model = Model(Params(workers=1, base_delay=1.0))
    model.submit("run", Work(None, gate="g"))
    model.submit("wait", Work(0.0))
    model.submit("retry", Work(0.0, fails=1), max_retries=2, delay=0.1)
    model = model.at(0)[0]  # "run" starts; "retry" waits for its delay
    assert model.cancel("wait") and model.status("wait") == "cancelled"
    assert model.cancel("run") and model.cancel("run")  # idempotent while it unwinds
    model = model.at(0)[0]
    assert model.log == [Expect("finish", "run", 1, frozenset({"cancelled"}))]
    assert model.status("run") == "cancelled"
    model = model.run(until=0.5)  # "retry" failed at 0.1 and backs off until 1.1
    assert model.status("retry") == "pending" and model.task("retry").state == "backoff"
    assert model.cancel("retry") and not model.cancel("retry")
    assert not model.cancel("nobody")
    model = model.run()
    assert [name for _, name, _ in starts(model)] == ["run", "retry"]
    assert model.stats()["cancelled"] == 3 and model.stats()["retried"] == 1


def test_stats_invariant_holds_throughout() -> None:
    # S6: pending + running + completed + failed + cancelled == submitted at every instant.
    model = Model(Params(workers=2, base_delay=0.25, max_delay=1.0))
    for i in range(8):
        model.submit(f"t{i}", Work(0.25 * (i % 3), fails=i % 4), max_retries=i % 3,
                     priority=i % 2, delay=0.5 * (i % 2))
    model.cancel_at("t3", 0.5)
    while (when := model.next_time()) is not None:
        model = model.at(when)[0]
        stats = model.stats()
        assert sum(stats[k] for k in ("pending", "running", "completed", "failed",
                                      "cancelled")) == stats["submitted"] == 8


def test_racing_cancel_has_both_outcomes() -> None:
    # A cancel that lands at the instant the attempt ends may come before or after it.
    model = Model(Params(workers=1))
    model.submit("a", Work(1.0))
    model = model.at(0)[0]
    model.cancel_at("a", 1.0)
    outcomes = {(m.status("a"), m.answers["a"]) for m in model.at(ns(1.0))}
    assert outcomes == {("cancelled", True), ("completed", False)}


def test_timeout_fails_the_attempt_and_ties_branch() -> None:
    model = Model(Params(workers=1, base_delay=1.0))
    model.submit("slow", Work(2.0), max_retries=1, timeout=0.5)
    model = model.run()
    assert [kind for _, kind, _, _ in model.history] == ["start", "cancelled", "start",
                                                         "cancelled"]
    assert model.status("slow") == "failed" and model.task("slow").timed_out
    tie = Model(Params(workers=1))
    tie.submit("edge", Work(0.5), timeout=0.5)
    assert {m.status("edge") for m in tie.at(0)[0].at(ns(0.5))} == {"completed", "failed"}


def test_stop_drain_or_halt() -> None:
    model = Model(Params(workers=1))
    model.submit("running", Work(1.0))
    model.submit("queued", Work(1.0))
    model = model.at(0)[0]
    halted = model.clone()
    halted.stop(drain=False)
    halted = halted.run()
    assert (halted.status("running"), halted.status("queued")) == ("cancelled", "cancelled")
    model.stop(drain=True)
    assert model.run().stats()["completed"] == 2 and model.run().workers_alive() == 0


def test_readings_follow_capabilities() -> None:
    loose = Capabilities(frozenset(), frozenset(), True,
                         retry_keeps_place=frozenset({"back", "original"}),
                         retried_counted=frozenset({"started", "scheduled"}))
    params = readings(loose, workers=2)
    assert len(params) == 4 and params[0] == Params(workers=2)


def test_follow_names_the_broken_rule() -> None:
    model = Model(Params(workers=1))
    model.submit("low", Work(1.0), priority=0)
    model.submit("high", Work(1.0), priority=5)
    observed = {0: [("start", "low", 1)]}
    with pytest.raises(Divergence) as caught:
        follow([model], 0, observed)
    finding = caught.value.explain()
    assert finding.category == "ordering" and "high" in finding.message


# The machines


class InvertedQueue(TaskQueue):
    """queue_core with the priority negated: the lowest priority runs first."""

    def submit(self, handler, /, *args, priority=0, **options):  # type: ignore[no-untyped-def]
        return super().submit(handler, *args, priority=-priority, **options)


def test_machines_pass_queue_core() -> None:
    results = run_machines(make_factory("queue_core"), seed=1, examples=15)
    assert {r.category: r.status for r in results} == dict.fromkeys(
        ("ordering", "concurrency", "retries", "cancellation", "stats", "memory",
         "edge_cases", "scheduling"), "passed")


def test_failure_replays_identically(tmp_path: Path) -> None:
    factory = TargetFactory(InvertedQueue, QueueCoreAdapter)
    first = run_machines(factory, seed=7, examples=20, steps=8, categories=["ordering"],
                         save_regression=tmp_path, target="queue_core")
    again = run_machines(factory, seed=7, examples=20, steps=8, categories=["ordering"])
    assert first[0].status == "failed" and first[0].check == "best_rank_first"
    assert first == again  # same seed: same finding, same shrunk steps
    assert first[0].steps[0].startswith("state = QueueMachine(")
    with pytest.raises(MachineFailure) as caught:
        run_steps(factory, first[0].calls)
    assert caught.value.finding.message == first[0].finding
    # The regression file replays the same steps; against the fixed queue it passes.
    path = tmp_path / "test_model_regression_ordering.py"
    spec = importlib.util.spec_from_file_location("regression", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.TARGET == "queue_core" and module.STEPS == list(first[0].calls)
    module.test_model_regression_ordering()


def test_a_step_line_shows_only_what_sets_a_task_apart() -> None:
    factory = TargetFactory(InvertedQueue, QueueCoreAdapter)
    [failed] = run_machines(factory, seed=7, examples=20, steps=8, categories=["ordering"])
    init = failed.steps[1]
    specs = dict(failed.calls[0][1])["tasks"]
    assert init.startswith("state.init(") and "'own_id': False" not in init
    assert any(spec["priority"] for spec in specs)  # what ordering turns on is shown
    for spec in specs:
        assert ("'priority': %r" % spec["priority"] in init) == (spec["priority"] != 0)
    # And a step written that way replays: the fields left out take their plain values.
    init_call = ("init", {"workers": 1, "loop_seed": 0, "base_delay": 0.25, "cap": 2,
                          "cache": 100_000, "drain": True,
                          "tasks": [{"work": 0.5}, {"priority": 1}, {"priority": 2}]})
    with pytest.raises(MachineFailure) as caught:
        run_steps(factory, [init_call])
    assert caught.value.finding.check == "best_rank_first"


class ZeroWorkersAccepted(TaskQueue):
    """Takes ``workers=0`` for one worker: every example breaks edge_cases at its start."""

    def __init__(self, *, workers: int = 4, **settings) -> None:  # type: ignore[no-untyped-def]
        super().__init__(workers=max(workers, 1), **settings)


def test_a_defect_every_example_shows_does_not_stop_other_categories_being_judged() -> None:
    # Accepting workers=0 changes nothing the model follows: once edge_cases is muted, the
    # finding is passed over and the examples go on to judge stats (DESIGN section 3).
    factory = TargetFactory(ZeroWorkersAccepted, QueueCoreAdapter)
    stats, edge = run_machines(factory, seed=3, examples=5, categories=["edge_cases", "stats"])
    assert (edge.status, edge.check) == ("failed", "zero_workers_rejected")
    assert (stats.status, stats.examples) == ("passed", 5)


class StartRaises(TaskQueue):
    """Cannot start: every example breaks at its start, and nothing else can be judged."""

    def start(self) -> None:
        raise RuntimeError("no workers today")


def test_a_category_is_not_judged_when_every_example_breaks_another_first() -> None:
    factory = TargetFactory(StartRaises, QueueCoreAdapter)
    concurrency, stats = run_machines(factory, seed=3, examples=5,
                                      categories=["concurrency", "stats"])
    assert (concurrency.status, concurrency.check) == ("failed", "target_raises")
    assert (stats.status, stats.message) == (
        "skipped", "model: not judged; every example broke concurrency first")


class SubmitAfterStopAccepted(TaskQueue):
    """Accepts a submit after shutdown: a failure only the example's final stop shows."""

    def submit(self, handler, /, *args, **options):  # type: ignore[no-untyped-def]
        closed, self._closed = self._closed, False
        try:
            return super().submit(handler, *args, **options)
        finally:
            self._closed = closed


def test_a_failure_seen_at_the_final_stop_is_pruned_to_the_steps_it_needs() -> None:
    factory = TargetFactory(SubmitAfterStopAccepted, QueueCoreAdapter)
    [edge] = run_machines(factory, seed=4, examples=10, categories=["edge_cases"])
    assert (edge.status, edge.check) == ("failed", "submit_after_stop_raises")
    assert [call[0] for call in edge.calls] == ["init", "stop"]
    assert len(edge.calls[0][1]["tasks"]) == 1
    with pytest.raises(MachineFailure):
        run_steps(factory, edge.calls)


def test_the_old_name_of_work_still_works_and_warns() -> None:
    with pytest.warns(DeprecationWarning, match="model.Work"):
        from pytest_asyncqueue.model import Probe
    assert Probe is Work


def test_the_machines_skip_what_a_target_declares_absent_and_judge_the_rest() -> None:
    # No cancel and no retried counter: cancellation is not judged, and the stats are
    # compared without retried (queue_core keeps it, but the adapter says it does not).
    caps = replace(QueueCoreAdapter.capabilities_of(TaskQueue),
                   absent=frozenset({"cancel", "stats.retried"}))

    class WithoutCancel(QueueCoreAdapter):
        @classmethod
        def capabilities_of(cls, queue_class):  # type: ignore[no-untyped-def]
            return caps

        async def cancel(self, task_id):  # type: ignore[no-untyped-def]
            raise AssertionError("cancel was called although the target has none")

    results = run_machines(TargetFactory(TaskQueue, WithoutCancel), seed=2, examples=10)
    verdicts = {r.category: (r.status, r.message) for r in results}
    assert verdicts.pop("cancellation") == ("skipped", "model: target has no cancel")
    assert {status for status, _ in verdicts.values()} == {"passed"}


class NeedsRunningLoop(TaskQueue):
    """Takes the running loop when built, as some pools do (asyncio-pool's AioPool)."""

    def __init__(self, **settings) -> None:  # type: ignore[no-untyped-def]
        self.loop = asyncio.get_running_loop()
        super().__init__(**settings)

    __init__.__signature__ = inspect.signature(TaskQueue.__init__)  # its settings, as read


def test_the_machines_build_targets_inside_the_running_loop() -> None:
    results = run_machines(TargetFactory(NeedsRunningLoop, QueueCoreAdapter), seed=1,
                           examples=5, categories=["ordering", "edge_cases"])
    assert [(r.status, r.message) for r in results] == [("passed", "")] * 2


class TwoBugs(TaskQueue):
    """Two defects of their own: priorities inverted (S1), failed tasks counted as completed
    (S6)."""

    def submit(self, handler, /, *args, task_id=None, priority=0, max_retries=0,  # type: ignore[no-untyped-def]
               delay=0.0, timeout=None):
        return super().submit(handler, *args, task_id=task_id, priority=-priority,
                              max_retries=max_retries, delay=delay, timeout=timeout)

    def stats(self):  # type: ignore[no-untyped-def]
        counted = super().stats()
        return replace(counted, completed=counted.completed + counted.failed, failed=0)


def test_two_independent_defects_are_both_reported_once_neither_following_from_the_other(
        ) -> None:
    factory = TargetFactory(TwoBugs, QueueCoreAdapter)
    ordering, stats = run_machines(factory, seed=7, examples=30,
                                   categories=["ordering", "stats"])
    assert (ordering.status, ordering.check, ordering.follows_from) == (
        "failed", "best_rank_first", "")
    assert (stats.status, stats.check, stats.follows_from) == ("failed", "stats_match_model", "")
    assert "following" not in ordering.message + stats.message


def test_a_consequence_of_an_earlier_failure_says_which_it_follows_from() -> None:
    # A worker that dies on a failed attempt: the lost worker is reported (edge_cases) and
    # what else goes wrong in the same examples is marked as following from a failure.
    from tests.zoo.mutants import MUTANTS, materialize

    mutant = next(m for m in MUTANTS if m.name == "qc_exception_kills_worker")
    factory = make_factory(str(materialize(mutant, Path(tempfile.mkdtemp()))))
    results = {r.category: r for r in run_machines(factory, seed=20261123, examples=30)}
    failed = [r for r in results.values() if r.status == "failed"]
    roots = {f"{r.category}::model.{r.check}" for r in failed if not r.follows_from}
    assert results["edge_cases"].status == "failed"
    assert any(r.follows_from for r in failed)
    assert {r.follows_from for r in failed if r.follows_from} <= roots

"""Threads a target starts: the ones it leaves running after stop are reported (in both
suites, without the model suite piling up more with every example), and ones it ends pass."""

from __future__ import annotations

import threading

from pytest_asyncqueue.adapters import TargetFactory
from pytest_asyncqueue.adapters.shapes.queue_core import QueueCoreAdapter
from pytest_asyncqueue.conformance import ALL_CHECKS
from pytest_asyncqueue.machines import run_machines, run_steps
from pytest_asyncqueue.runner import run_check
from queue_core import TaskQueue

LEAK_CHECK = next(c for c in ALL_CHECKS if c.name == "stop_leaves_no_task_alive")


class LeavesAThread(TaskQueue):
    """Starts a thread that waits forever (it costs no CPU) and never ends it."""

    def __init__(self, **settings) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**settings)
        self.forever = threading.Event()
        threading.Thread(target=self.forever.wait, name="leaked-poller", daemon=True).start()


class EndsItsThread(LeavesAThread):
    """The same thread, ended when the queue shuts down."""

    async def shutdown(self, drain: bool = True) -> None:
        try:
            await super().shutdown(drain=drain)
        finally:
            self.forever.set()


def factory(cls: type) -> TargetFactory:
    return TargetFactory(cls, QueueCoreAdapter)


def test_a_thread_left_running_after_stop_fails_the_conformance_check() -> None:
    leaked = run_check(LEAK_CHECK, factory(LeavesAThread), seed=1)
    assert leaked.status == "failed"
    assert "threads started since the target was built were still running: leaked-poller" in (
        leaked.message)
    assert run_check(LEAK_CHECK, factory(EndsItsThread), seed=1).status == "passed"


def test_the_model_reports_a_leaked_thread_once_and_stops_there() -> None:
    results = {r.category: r for r in run_machines(factory(LeavesAThread), seed=1, examples=5,
                                                   categories=["memory", "stats"])}
    memory, stats = results["memory"], results["stats"]
    assert (memory.status, memory.check) == ("failed", "stop_ends_threads")
    assert [rule for rule, _ in memory.calls] == ["init", "stop"]  # the simplest example
    assert stats.status == "skipped" and "threads outlive its stop" in stats.message
    ended = run_machines(factory(EndsItsThread), seed=1, examples=5, categories=["memory"])
    assert [r.status for r in ended] == ["passed"]


def test_a_replayed_leak_is_a_memory_failure_a_test_can_report() -> None:
    memory = run_machines(factory(LeavesAThread), seed=1, examples=5, categories=["memory"])[0]
    try:
        run_steps(factory(LeavesAThread), memory.calls)
    except Exception as failure:  # noqa: BLE001
        assert "leaked-poller" in str(failure)
    else:
        raise AssertionError("the replayed leak passed")

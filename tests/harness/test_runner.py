"""The runner: results, skips, failures, replay, and the guards against targets that hang."""

from __future__ import annotations

import asyncio
import importlib.util
import multiprocessing
import re
import sys
from pathlib import Path
from textwrap import dedent

import pytest

from pytest_asyncqueue.runner import _model_suite
from pytest_asyncqueue.adapters import TargetFactory, make_factory
from pytest_asyncqueue.conformance import ALL_CHECKS, Check, CheckFailed, Harness, Skip
from pytest_asyncqueue.runner import (
    SPIN_HINT,
    VIRTUAL_LIMIT,
    CheckResult,
    iter_results,
    run_check,
    run_checks,
    run_machines_as_checks,
    select_checks,
    start_machines,
)

# An oas37a-shaped queue whose worker loop is WORKER; every check below drives it.
TARGET = '''
import asyncio, os, time
from types import SimpleNamespace as TaskResult

class AsyncTaskQueue:
    def __init__(self, num_workers=1):
        self._queue = []
        self._results = {{}}
        self._running = False

    async def start(self):
        self._running = True
        self._worker_task = asyncio.ensure_future(self._worker())

    async def _worker(self):
{worker}

    async def stop(self, wait=True):
        self._running = False
        self._worker_task.cancel()

    async def submit(self, func, *args, priority=0, max_retries=0, task_id=None):
        if not callable(func):
            raise TypeError(f"func={{func!r}} is not callable")
        task_id = task_id or str(len(self._results) + len(self._queue))
        self._queue.append((task_id, func, args))
        return task_id

    async def get_result(self, task_id, timeout=None):
        while task_id not in self._results:
            await asyncio.sleep(1)
        return self._results[task_id]

    async def cancel_task(self, task_id):
        return False

    def get_stats(self):
        return {{"pending": len(self._queue)}}

    def get_task_status(self, task_id):
        return None
'''
CORRECT_WORKER = '''
        while self._running:
            if not self._queue:
                await asyncio.sleep(0.01)
                continue
            task_id, func, args = self._queue.pop(0)
            value = await func(*args)
            self._results[task_id] = TaskResult(success=True, result=value, retry_count=0)
'''
SPINNING_WORKER = '''
        while True:
            pass
'''
# A signal raised into this loop is caught and ignored: only a kill stops it.
SWALLOWING_WORKER = '''
        while self._running:
            try:
                time.sleep(0.005)
            except Exception:
                pass
'''
BUSY_WORKER = '''
        while True:
            await asyncio.sleep(0)
'''
EXITING_WORKER = '''
        os._exit(3)
'''
FAST = {"wall_budget": 1.0, "stall_limit": 0.3}  # wall seconds: hangs cost little here


def target(tmp_path: Path, worker: str) -> TargetFactory:
    """Write the queue with this worker loop to tmp_path/queue.py and load it."""
    path = tmp_path / "queue.py"
    path.write_text(TARGET.format(worker=dedent(worker).replace("\n", "\n        ")))
    return make_factory(str(path))


def line_of(factory: TargetFactory, text: str) -> int:
    """The line number of the first line of the target's file that contains text."""
    lines = Path(sys.modules[factory.cls.__module__].__file__).read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


def make_check(name: str, func, category: str = "concurrency", needs=()) -> Check:
    return Check(name, category, "S2", tuple(needs), func)


async def run_one_task(h: Harness) -> None:
    """Start the queue, run one task, and wait for its result."""
    queue = await h.make(workers=1)
    task_id = await h.submit(queue, h.probes.succeed("done", name="one"))
    outcome = await queue.result(task_id)
    if outcome.value != "done":
        raise CheckFailed(f"S2: result was {outcome.value!r}; expected 'done'")


async def only_submit(h: Harness) -> None:
    """Build the queue and submit without starting it: no worker runs."""
    queue = await h.make(start=False, workers=1)
    await h.submit(queue, h.probes.succeed(name="never-run"))


async def wait_forever(h: Harness) -> None:
    """Wait on an event that nothing sets."""
    await asyncio.Event().wait()


async def fail_on_purpose(h: Harness) -> None:
    raise CheckFailed("S2: peak overlap was 1; expected 2")


async def skip_on_purpose(h: Harness) -> None:
    raise Skip("target has no durable store")


async def bare_assertion_error(h: Harness) -> None:
    raise AssertionError


async def submit_none(h: Harness) -> None:
    queue = await h.make(workers=1)
    await h.submit(queue, None)


async def draw(h: Harness) -> None:
    raise CheckFailed(f"S2: drew {h.rng.random()!r}")


def outcomes(results: list[CheckResult]) -> list[tuple[str, str, str]]:
    return [(r.name, r.status, r.message) for r in results]


def test_every_check_of_the_suite_passes_against_queue_core() -> None:
    results = run_checks(make_factory("queue_core"), ALL_CHECKS, seed=1)

    assert [r for r in results if r.status == "failed"] == []
    assert [r.name for r in results] == [c.name for c in select_checks()]


def test_a_check_passes_fails_or_skips_with_its_message(tmp_path: Path) -> None:
    factory = target(tmp_path, CORRECT_WORKER)
    checks = [make_check("runs", run_one_task), make_check("fails", fail_on_purpose),
              make_check("skips", skip_on_purpose),
              make_check("needs_delay", run_one_task, needs=("delay",)),
              make_check("asserts", bare_assertion_error)]

    results = run_checks(factory, checks, seed=5)

    assert outcomes(results)[:4] == [
        ("runs", "passed", ""),
        ("fails", "failed", "S2: peak overlap was 1; expected 2"),
        ("skips", "skipped", "target has no durable store"),
        ("needs_delay", "skipped", "target has no delay"),
    ]
    assert results[4].status == "failed"
    assert results[4].message.startswith("S2: assertion failed at ")
    assert results[4].message.endswith(
        f"test_runner.py:{bare_assertion_error.__code__.co_firstlineno + 1} in "
        f"bare_assertion_error")
    assert {(r.category, r.rule, r.seed) for r in results} == {("concurrency", "S2", 5)}


def test_the_same_seed_replays_the_same_results_and_another_seed_does_not() -> None:
    factory = make_factory("queue_core")
    checks = [*select_checks(["ordering"]), make_check("draw", draw)]

    first, again = (run_checks(factory, checks, seed=1234) for _ in range(2))
    other = run_checks(factory, checks, seed=4321)

    assert outcomes(first) == outcomes(again)
    assert outcomes(first)[-1] != outcomes(other)[-1]


def test_an_exception_from_the_target_fails_with_its_type_message_and_line(
    tmp_path: Path,
) -> None:
    factory = target(tmp_path, CORRECT_WORKER)

    [result] = run_checks(factory, [make_check("submit_none", submit_none)], seed=1)

    assert (result.status, result.hung) == ("failed", False)
    assert result.message == (
        f"S2: raised TypeError: func=None is not callable at {tmp_path / 'queue.py'}:"
        f"{line_of(factory, 'raise TypeError')} in submit")


def test_waiting_for_something_that_never_happens_fails_at_the_virtual_limit(
    tmp_path: Path,
) -> None:
    factory = target(tmp_path, CORRECT_WORKER)

    [result] = run_checks(factory, [make_check("stuck", wait_forever)], seed=1)

    assert (result.status, result.hung) == ("failed", False)
    assert f"did not finish within {VIRTUAL_LIMIT:g} virtual s; waiting: " in result.message
    assert "in wait_forever awaiting Event.wait()" in result.message


def test_a_worker_that_spins_without_awaiting_fails_that_check_and_the_rest_still_run(
    tmp_path: Path,
) -> None:
    factory = target(tmp_path, SPINNING_WORKER)
    checks = [make_check("spins", run_one_task), make_check("never_starts", only_submit),
              make_check("fails", fail_on_purpose)]

    results = run_checks(factory, checks, seed=1, **FAST)

    assert [(r.name, r.status) for r in results] == [
        ("spins", "failed"), ("never_starts", "passed"), ("fails", "failed")]
    spun = results[0]
    assert spun.hung and spun.category == "concurrency"
    assert spun.message.startswith("S2: did not finish: the event loop was stuck in one "
                                   "callback for ")
    where = re.search(r" at (.+):(\d+) in _worker: (.+)$", spun.message)
    assert where is not None, spun.message
    assert where[1] == str(tmp_path / "queue.py") and where[3] == SPIN_HINT
    assert int(where[2]) in (line_of(factory, "while True"), line_of(factory, "pass"))


def test_a_worker_loop_that_swallows_every_exception_around_time_sleep_cannot_hang_the_run(
    tmp_path: Path,
) -> None:
    factory = target(tmp_path, SWALLOWING_WORKER)
    checks = [make_check("first", run_one_task), make_check("second", run_one_task,
                                                             category="retries")]

    results = run_checks(factory, checks, seed=1, **FAST)

    assert [(r.category, r.status, r.hung) for r in results] == [
        ("concurrency", "failed", True), ("retries", "failed", True)]
    for result in results:
        assert "in _worker: the target spins without awaiting" in result.message
    assert multiprocessing.active_children() == []


def test_a_target_that_keeps_the_loop_busy_fails_at_the_wall_limit_naming_its_tasks(
    tmp_path: Path,
) -> None:
    factory = target(tmp_path, BUSY_WORKER)

    [result] = run_checks(factory, [make_check("busy", run_one_task)], seed=1,
                          wall_budget=0.5, isolate=False)

    assert result.status == "failed" and result.hung
    assert re.match(r"S2: did not finish within 0.4 wall s, at virtual t=0.000s \(\d+ loop "
                    r"iterations without the clock moving\); waiting: ", result.message)
    assert "in AsyncTaskQueue._worker awaiting " in result.message


def test_a_check_that_runs_out_of_wall_time_while_its_target_progresses_is_not_judged(
    tmp_path: Path,
) -> None:
    # A slow machine, simulated by a budget no check can meet: the target made progress
    # (its clock moved), so the check is not judged, and the target is not blamed.
    factory = make_factory("queue_core")
    heavy = next(c for c in ALL_CHECKS if c.name == "memory_returns_after_many_tasks")

    [result] = run_checks(factory, [heavy], seed=1, wall_budget=0.02, isolate=False)

    assert (result.status, result.hung) == ("skipped", False)
    assert result.message.startswith("not judged: the machine was too slow to run this check "
                                     "within 0.016 wall s (the target was making progress")


def test_a_target_that_ends_the_interpreter_fails_the_running_check(tmp_path: Path) -> None:
    factory = target(tmp_path, EXITING_WORKER)
    checks = [make_check("exits", run_one_task), make_check("fails", fail_on_purpose)]

    results = run_checks(factory, checks, seed=1, **FAST)

    assert outcomes(results) == [
        ("exits", "failed", ("S2: the check process ended while the check ran: the target "
                            "ended the interpreter (exit code 3: os._exit, a crash)")),
        ("fails", "failed", "S2: peak overlap was 1; expected 2"),
    ]


def test_results_stream_grouped_by_category_and_closing_early_kills_the_child(
    tmp_path: Path,
) -> None:
    factory = target(tmp_path, SPINNING_WORKER)
    checks = [make_check("a", only_submit, "retries"), make_check("b", only_submit),
              make_check("c", run_one_task, "retries")]

    stream = iter_results(factory, checks, seed=1, **FAST)
    first = next(stream)
    stream.close()

    assert (first.category, first.name, first.status) == ("retries", "a", "passed")
    assert multiprocessing.active_children() == []


def test_run_check_runs_in_this_process() -> None:
    factory = make_factory("queue_core")

    result = run_check(make_check("runs", run_one_task), factory, seed=3)

    assert (result.status, result.seed, result.hung) == ("passed", 3, False)
    assert result.wall > 0


def test_bad_limits_and_unknown_categories_are_refused_with_the_valid_ones() -> None:
    factory = make_factory("queue_core")

    with pytest.raises(ValueError, match=r"^wall_budget=0 must be a number of wall seconds > 0"):
        next(iter_results(factory, ALL_CHECKS, seed=1, wall_budget=0))
    with pytest.raises(ValueError, match=r"^unknown category retry; valid: ordering, "
                                         r"concurrency, retries, "):
        select_checks(["retry", "ordering"])


SPINNING_CANCEL = '''
from queue_core import TaskQueue as _TaskQueue


class TaskQueue(_TaskQueue):
    def cancel(self, task_id):
        while True:
            pass
'''


def test_a_model_run_stuck_in_the_target_fails_naming_the_line_and_skips_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "spinning_cancel.py").write_text(SPINNING_CANCEL)
    factory = make_factory(str(tmp_path / "spinning_cancel.py"))
    monkeypatch.setattr(_model_suite, "MODEL_STALL_LIMIT", 0.3)

    results = run_machines_as_checks(factory, ["ordering", "concurrency"], seed=1, examples=20,
                                     replay="asyncqueue-check spinning_cancel.py --suite model")

    assert [(r.category, r.name, r.status) for r in results] == [
        ("ordering", "model", "skipped"), ("concurrency", "model.finishes", "failed")]
    stuck = results[1]
    assert stuck.hung and stuck.replay == "asyncqueue-check spinning_cancel.py --suite model"
    assert re.search(r"the event loop was stuck in one callback for .* wall s at "
                     r".*spinning_cancel\.py:\d+ in cancel", stuck.message), stuck.message
    assert results[0].message == "model: not judged: the run was stopped (concurrency failed)"


def test_the_model_runs_in_a_process_of_its_own_while_the_caller_goes_on() -> None:
    # asyncqueue-check runs the conformance checks meanwhile: the machines must already be
    # running when start_machines returns, and the process gone once their results are in.
    with start_machines(make_factory("queue_core"), ["ordering", "stats"], seed=1,
                        examples=5) as run:
        running = [p.name for p in multiprocessing.active_children()]
        results = run.wait()
        again = run.wait()

    assert running == ["asyncqueue-model"]
    assert [(r.category, r.status) for r in results] == [("ordering", "passed"),
                                                         ("stats", "passed")]
    assert again is results
    assert not multiprocessing.active_children()


def test_a_model_run_closed_or_dropped_before_its_results_stops_its_process() -> None:
    factory = make_factory("queue_core")
    with start_machines(factory, ["ordering"], seed=1, examples=200):
        assert [p.name for p in multiprocessing.active_children()] == ["asyncqueue-model"]
    assert not multiprocessing.active_children()

    dropped = start_machines(factory, ["ordering"], seed=1, examples=200)
    assert multiprocessing.active_children()
    del dropped
    assert not multiprocessing.active_children()


EAGER_ADAPTER = '''
from pytest_asyncqueue.adapters import QueueCoreAdapter


class EagerAdapter(QueueCoreAdapter):
    """A broken user adapter: it runs each handler once itself before submitting it."""

    async def submit(self, handler, *args, **options):
        await handler(*args)  # line 9: the probe's error passes through here
        return await super().submit(handler, *args, **options)
'''


def test_an_error_raised_through_a_users_adapter_names_the_adapters_line(tmp_path) -> None:
    path = tmp_path / "eager_adapter.py"
    path.write_text(EAGER_ADAPTER)
    spec = importlib.util.spec_from_file_location("eager_adapter", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from queue_core import TaskQueue

    check = next(c for c in ALL_CHECKS if c.name == "attempts_are_max_retries_plus_one")
    result = run_check(check, TargetFactory(TaskQueue, module.EagerAdapter), seed=1)
    assert result.status == "failed"
    assert result.message.startswith("S3: raised ProbeError: ")
    assert result.message.endswith(f"at {path}:9 in submit")

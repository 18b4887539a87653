"""Hypothesis state machines that check a target against the executable model, step by step.

:class:`QueueMachine` drives one target through its adapter on a :class:`VirtualClockLoop`
whose schedule seed Hypothesis draws, so that every example also explores another order of
the callbacks that are ready at one instant. Rules submit probes (run for a while, fail k
times, time out, wait on a gate), cancel tasks in every state (also at the very instant
another event is due, racing it), move virtual time and open gates; every example ends by
stopping the queue (draining or not). After every step :meth:`QueueMachine.agrees_with_model`
compares the target with :mod:`.model`: the attempts started and ended at each instant,
``cancel``'s answers, every task's status and result, every stats counter (and S6 after
every loop iteration), live workers, blocking calls, what ``stop`` leaves behind. A failure
is raised in the category of the rule it breaks.

:func:`run_machines` runs the machine under a seed and returns one :class:`MachineResult`
per category; a failure carries the shrunk step list, which the same seed or
:func:`run_steps` replays exactly, and :func:`write_regression` saves as a pytest file.

IMPLEMENTATION DETAIL - driving the loop from a synchronous machine
===================================================================

Every rule runs small coroutines with ``loop.run_until_complete`` and then *settles* the
loop: it lets ready callbacks run until none is left and no timer is due, without moving
the clock. Between two steps the target is therefore quiescent, and virtual time moves only
in the rules that advance it. The model follows the target instant by instant
(:func:`.model.follow`), keeping every reading of the open points the target has not refuted.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import itertools
import pprint
import warnings
import weakref
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from hypothesis import HealthCheck, Phase, Verbosity, reject
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.control import current_build_context
from hypothesis.errors import Flaky, InvalidArgument, Unsatisfiable
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from .adapters import Outcome, ResultMissing, TargetFactory
from .clock import VirtualClockLoop
from .conformance._base import CheckFailed
from .errors import AsyncQueueError
from .contract import (
    FINISHED,
    MODEL_CATEGORIES,
    NS_PER_S,
    REQUIRED_STATS,
    ns,
    s6_breaches,
    in_seconds,
)
from .model import (
    Divergence,
    Finding,
    Model,
    Work,
    follow,
    readings,
)
from .probes import Gate, ProbeError, Timeline

__all__ = ["MachineFailure", "MachineResult", "QueueMachine", "run_machines",
           "run_steps", "write_regression"]

GATES: Final = ("gate-a", "gate-b", "gate-c")
_SETTLE_LIMIT: Final = 20_000  # loop iterations one instant may take before we call it polling
_BIG_CACHE: Final = 100_000
_BLOCKING_REPEATS: Final = 3
_DISCARDS_PER_EXAMPLE: Final = 3  # examples broken by a muted category, per one asked for
_FAILS: Final = {"ok": 0, "flaky": 0, "doomed": 1}  # + max_retries: how many attempts fail
_HARNESS: Final = str(Path(__file__).parent)
_TASK_FIELDS: Final = {
    "priority": st.integers(-1, 2),
    "work": st.sampled_from((0.0, 0.25, 0.5, 1.0, 1.5) + GATES),
    "retries": st.integers(0, 3),
    "outcome": st.sampled_from(("ok", "ok", "flaky", "doomed")),  # see _FAILS
    "delay": st.sampled_from((0.0, 0.0, 0.0, 0.5, 1.25)),
    "timeout": st.sampled_from((None, None, None, 0.5, 1.0)),
    "own_id": st.booleans(),
}
_TASK: Final = st.fixed_dictionaries(_TASK_FIELDS)
_PLAIN_TASK: Final = {"priority": 0, "work": 0.0, "retries": 0, "outcome": "ok", "delay": 0.0,
                      "timeout": None, "own_id": False}
"""A task spec's fields that a step line leaves out when they have these values (and that a
spec written without them takes)."""
assert _PLAIN_TASK.keys() == _TASK_FIELDS.keys(), "every task field needs its plain value"


class MachineFailure(CheckFailed):
    """Raised when the target breaks an invariant.

    Attributes:
        finding: what broke. steps: the step lines so far. calls: the same steps as
        ``(rule, arguments)`` pairs, for :func:`run_steps`.
    """

    def __init__(self, finding: Finding, calls: list[tuple[str, dict[str, Any]]],
                 steps: list[str]) -> None:
        super().__init__(f"[{finding.category}] {finding.message}\n" + "\n".join(steps))
        self.finding, self.calls, self.steps = finding, tuple(calls), tuple(steps)


# One subclass per category: Hypothesis tells failures apart by type, so a shrunk example
# stays in the category in which it was found.
_FAILURES: Final = {c: type(f"{c.title().replace('_', '')}Failure", (MachineFailure,), {})
                    for c in MODEL_CATEGORIES}


@dataclass(frozen=True)
class MachineResult:
    """The machines' verdict in one category.

    Attributes:
        category: one of :data:`MODEL_CATEGORIES`.
        status: "passed", "failed" or "skipped".
        check: the invariant that broke ("model" when none did).
        message: for a failure, what was observed vs expected, then the shrunk steps; for a
            skip, the reason.
        finding: for a failure, the first line of ``message`` alone.
        steps: the shrunk step list, one line per step.
        calls: the same steps as ``(rule, arguments)``, for :func:`run_steps`.
        seed: the seed that replays the run.
        examples: examples run until the failure was first seen (else in the last run).
    """

    category: str
    status: str
    check: str = "model"
    message: str = ""
    finding: str = ""
    steps: tuple[str, ...] = ()
    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    seed: int = 0
    examples: int = 0


@dataclass
class _Tally:
    """What one Hypothesis run saw across its examples."""

    examples: int = 0
    first_failure: int | None = None
    shrink_budget: int = 10**9  # examples run to shrink a failure, at most
    smallest: MachineFailure | None = None  # the failure with the fewest steps so far
    discarded: int = 0  # examples that broke a muted category
    discard_budget: int = 10**9
    blocking: dict[str, list[Any]] = field(default_factory=dict)  # call site -> records
    blocking_seen: dict[str, tuple[int, list[str]]] = field(default_factory=dict)
    heartbeat: Callable[[], None] | None = None  # called after every loop iteration


@dataclass
class _Observation:
    stats: dict[str, int] | None
    statuses: dict[str, str | None] = field(default_factory=dict)
    results: dict[str, Outcome | str] = field(default_factory=dict)
    answers: dict[str, bool] = field(default_factory=dict)


class _NotAtOnce(AsyncQueueError):
    """A call that should return without the clock moving did not."""


class _ShrinkingDone(KeyboardInterrupt):
    """Ends shrinking early. Hypothesis lets only an interrupt through untouched (other
    exceptions become failures or flaky-data errors), so it is one; ``_run_once`` stops it."""


class _StepNotAllowed(AsyncQueueError):
    """A replayed step whose precondition does not hold (pruning dropped what it needs)."""


class _RunOver(KeyboardInterrupt):
    """Ends a run whose examples keep being discarded (an interrupt, as above)."""


def _size(failure: MachineFailure) -> tuple[int, int]:
    return len(failure.calls), len(repr(failure.calls))


class QueueMachine(RuleBasedStateMachine):
    """Drives one target on a seeded virtual loop and checks it against the model.

    Args:
        factory: builds the target.
        muted: categories not judged: an example in which one of them breaks is discarded.
        tally: counts examples (shared by one run).
    """

    def __init__(self, factory: TargetFactory, *, muted: frozenset[str] = frozenset(),
                 tally: _Tally | None = None) -> None:
        super().__init__()
        self.factory, self.muted = factory, muted
        self.tally = tally or _Tally()
        self.tally.examples += 1
        caps = factory.capabilities
        self.can = {o: o in caps.submit_options
                    for o in ("priority", "max_retries", "delay", "task_id", "timeout")}
        self.can["retry"] = self.can["max_retries"] and {"base_delay", "max_delay"} <= caps.settings
        self.loop: VirtualClockLoop | None = None
        self.adapter: Any = None
        self.models: list[Model] = []
        self.timeline = Timeline()
        self.gates = {name: Gate() for name in GATES}
        self.ids: dict[str, Any] = {}
        self.handlers: dict[str, weakref.ref[Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.steps = [f"state = {type(self).__name__}({factory!r})"]
        self.names = itertools.count(1)
        self.op: Callable[[Model], list[Model]] | None = None
        self.answer: tuple[str, bool] | None = None  # an immediate cancel's answer
        self.answers: dict[str, bool] = {}  # racing cancels' answers, this step
        self.race: asyncio.Task[bool] | None = None
        self.driver: asyncio.Task[Any] | None = None  # the task running the current call
        self.cache: int | None = None
        self.exact = False  # every finished task's status stays known
        self.drain = True
        self.clean = self.closed = self.cancelled_running = False
        self.seen = self.accepted = self.in_flight = self.iterations = 0
        self.checked: set[str] = set()
        self.last: dict[str, int] | None = None
        self.s6_problem: str | None = None

    # Rules

    @initialize(workers=st.integers(1, 3), loop_seed=st.integers(0, 2**32 - 1),
                base_delay=st.sampled_from((0.25, 0.5)), cap=st.sampled_from((2, 8)),
                cache=st.sampled_from((_BIG_CACHE, 3)), drain=st.booleans(),
                tasks=st.lists(_TASK, min_size=2, max_size=6))
    def init(self, workers: int, loop_seed: int, base_delay: float, cap: int, cache: int,
             drain: bool, tasks: list[dict[str, Any]]) -> None:
        """Build and start the target (and check that ``workers=0`` is refused), submit
        ``tasks``; the example will end with ``stop(drain)``."""
        self._record("init", workers=workers, loop_seed=loop_seed, base_delay=base_delay,
                     cap=cap, cache=cache, drain=drain, tasks=tasks)
        tally = self.tally
        if tally.first_failure is not None and not _final_replay() and (
                tally.examples - tally.first_failure > tally.shrink_budget):
            raise _ShrinkingDone  # enough shrinking: report the smallest failure so far
        caps = self.factory.capabilities
        wanted = {"workers": workers, "base_delay": base_delay, "max_delay": base_delay * cap,
                  "max_results": cache, "result_ttl": 1e7}
        settings = {k: v for k, v in wanted.items() if k == "workers" or k in caps.settings}
        self.cache, self.drain = settings.get("max_results"), drain
        self.exact = self.cache == _BIG_CACHE and "result_ttl" in settings
        self.loop = VirtualClockLoop(seed=loop_seed, max_real_seconds=30.0)
        self.loop.observe_iterations(self._observe_iteration)
        try:
            self.factory(workers=0)
        except ValueError:
            pass
        except Exception as exc:  # noqa: BLE001  # target's error
            self._fail("edge_cases", "zero_workers_rejected", f"S8: building with workers=0 "
                       f"raised {_exc(exc)}; expected ValueError")
        else:
            self._fail("edge_cases", "zero_workers_rejected",
                       "S8: building with workers=0 succeeded; expected ValueError")
        try:
            self.adapter = self.factory(**settings)
        except Exception as exc:  # noqa: BLE001  # target's error
            self._fail("edge_cases", "target_builds", f"building with {settings} raised "
                       f"{_exc(exc)}")
        self._call(self.adapter.start(), "start()", "concurrency")
        self.models = [Model(p) for p in readings(caps, workers=workers, base_delay=base_delay,
                                                  max_delay=base_delay * cap)]
        self._submit_tasks(tasks)

    @rule(tasks=st.lists(_TASK, min_size=1, max_size=4))
    def submit(self, tasks: list[dict[str, Any]]) -> None:
        """Submit probes in one go: run for a while or wait on a gate, fail ``fails`` times."""
        self._record("submit", tasks=tasks)
        self._submit_tasks(tasks)

    @precondition(lambda self: self._can_submit_duplicate())
    @rule(pick=st.integers(0, 7))
    def submit_duplicate(self, pick: int) -> None:
        """Submit with the id of an unfinished task: S8 wants a ValueError."""
        self._record("submit_duplicate", pick=pick)
        names = self._unfinished()
        name = names[pick % len(names)]
        self.steps[-1] += f"  # id of {name}"
        outcome = self._call(self._submit(self._probe(f"dup{next(self.names)}", Work()),
                                          {"task_id": self.ids[name]}),
                             f"submit(task_id={self.ids[name]!r})", "edge_cases", expect=Exception)
        if not isinstance(outcome, BaseException):
            self._fail("edge_cases", "duplicate_id_rejected", f"S8: submit with the task_id "
                       f"{self.ids[name]!r} of unfinished task {name} was accepted; expected "
                       f"ValueError (DuplicateTask)")
        elif not isinstance(outcome, ValueError):
            self._fail("edge_cases", "duplicate_id_rejected", f"S8: submit with a duplicate "
                       f"task_id raised {_exc(outcome)}; expected a ValueError")

    @rule(which=st.sampled_from(("pending", "running", "backoff", "finished", "unknown")),
          pick=st.integers(0, 7))
    def cancel(self, which: str, pick: int) -> None:
        """Cancel a task in the given state (any task if none is), or an unknown id."""
        self._record("cancel", which=which, pick=pick)
        name = self._choose(which, pick)
        state = self.models[0].task(name).state if name else "unknown"
        self.steps[-1] += f"  # {name or 'an unknown id'} ({state})"
        self.cancelled_running |= state == "running"
        answer = self._call(self.adapter.cancel(self.ids.get(name, "no-such-task")),
                            f"cancel({name})", "cancellation")
        if name is None:
            if answer is not False:
                self._fail("cancellation", "cancel_answers", f"S4: cancel of an unknown id "
                           f"returned {answer!r}; expected False")
            return
        self.answer = (name, answer)
        self.op = lambda model: [model] if model.cancel(name) == answer else []

    @precondition(lambda self: self._racing())
    @rule(pick=st.integers(0, 7), lag=st.integers(0, 4))
    def cancel_racing(self, pick: int, lag: int) -> None:
        """Cancel a task at the very instant its next event is due (end, timeout, backoff
        or delay), ``lag`` loop iterations after that instant began, racing the event and
        what the target does in the iterations that follow it; then run the loop to that
        instant."""
        self._record("cancel_racing", pick=pick, lag=lag)
        names = self._racing()
        name = names[pick % len(names)]
        task = self.models[0].task(name)
        when = task.next_event()
        self.steps[-1] += f"  # {name} at t={in_seconds(when)} ({task.state})"
        self.cancelled_running |= task.state == "running"
        self.loop.call_at(when / NS_PER_S, self._fire_cancel, name, lag)
        self._call(self._sleep_until(when), f"running to t={in_seconds(when)}", "concurrency", now=False)
        race, self.race = self.race, None
        if race is None or not race.done():
            self._fail("cancellation", "cancel_answers", f"S4: cancel({name}) issued at "
                       f"t={in_seconds(when)} had not returned once that instant was over")
        if race.exception() is not None:
            self._fail("cancellation", "cancel_answers",
                       f"S4: cancel({name}) raised {_exc(race.exception())}")
        self.answers = {name: race.result()}
        self.op = lambda model: (model.cancel_at(name, when / NS_PER_S), [model])[1]

    @rule(seconds=st.sampled_from((0.25, 0.5, 1.0, 2.0, 4.0)))
    def advance(self, seconds: float) -> None:
        """Let virtual time run on by ``seconds``."""
        self._record("advance", seconds=seconds)
        when = ns(self.loop.time()) + ns(seconds)
        self._call(self._sleep_until(when), f"running to t={in_seconds(when)}", "concurrency", now=False)

    @precondition(lambda self: self._has_next_event())
    @rule()
    def advance_to_next_event(self) -> None:
        """Let virtual time run on to the model's next event."""
        self._record("advance_to_next_event")
        when = self.models[0].next_time()
        self.steps[-1] += f"  # t={in_seconds(when)}"
        self._call(self._sleep_until(when), f"running to t={in_seconds(when)}", "concurrency", now=False)

    @rule(gate=st.sampled_from(GATES))
    def open_gate(self, gate: str) -> None:
        """Open a gate: the attempts waiting on it end."""
        self._record("open_gate", gate=gate)
        self._call(self._open([gate]), f"opening {gate}", "concurrency")
        self.op = lambda model: (model.open_gate(gate), [model])[1]

    def teardown(self) -> None:
        """End the example with ``stop(drain)`` and judge it, unless a step failed; clean up."""
        try:
            if self.clean and self.adapter is not None and not _example_over():
                self._finish()
        finally:
            self._clean_up()

    # The invariant

    @invariant()
    def agrees_with_model(self) -> None:
        """After every step the target did exactly what the model allows."""
        if not self.models:
            return
        self.clean = False
        fresh = self.timeline.events[self.seen:]
        self.seen = len(self.timeline.events)
        snapshot = self._snapshot()
        for call in self.loop.blocking_calls:  # judged after the run: wall time is not replayable
            if not call.location.startswith(_HARNESS):
                self.tally.blocking.setdefault(call.location, []).append(call)
                self.tally.blocking_seen.setdefault(call.location,
                                                    (self.tally.examples, list(self.steps)))
        self.loop.blocking_calls.clear()
        self._fail_with(self._worker_loss(snapshot, fresh))
        if self.op is not None:
            op, self.op = self.op, None
            kept = [m for model in self.models for m in op(model.clone())]
            if not kept:
                self._fail_with(self._explain_answer())
            self.models = kept
        observed: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
        for event in fresh:
            observed[ns(event.time)].append((event.kind, event.probe, event.attempt))
        try:
            self.models = follow(self.models, ns(self.loop.time()), observed)
        except Divergence as divergence:
            self._fail_with(self._worker_loss(snapshot, fresh) or self._gave_up(divergence)
                            or divergence.explain())
        self._judge(self._observe(snapshot))
        self.cancelled_running = False
        self.clean = True

    # Judging

    def _judge(self, seen: _Observation) -> None:
        kept = [n for n, status in seen.statuses.items() if status in FINISHED]
        if self.cache is not None and len(kept) > self.cache:
            self._fail("memory", "result_cache_bounded", f"S7: {len(kept)} finished tasks "
                       f"still have a status ({', '.join(kept)}); max_results={self.cache} "
                       f"keeps at most {self.cache}")
        if self.s6_problem is not None:
            self._fail("stats", "stats_invariant_every_iteration", self.s6_problem)
        survivors = [m for m in self.models if not self._findings(m, seen)]
        if not survivors:
            self._fail_with(self._findings(self.models[0], seen)[0])
        self.models = survivors
        self.checked.update(seen.results)

    def _findings(self, model: Model, seen: _Observation) -> list[Finding]:
        found = [Finding("cancellation", "cancel_answers", f"S4: cancel({name}) returned "
                         f"{answer!r}; expected {model.answers[name]!r}")
                 for name, answer in seen.answers.items() if model.answers[name] != answer]
        for name, got in seen.statuses.items():
            want = model.status(name)
            if got != want and not (got is None and want in FINISHED and not self.exact):
                found.append(Finding(_status_category(want, got), "status_matches",
                                     f"status of {name} was {got!r}; expected {want!r}"))
        for name, outcome in seen.results.items():
            found += _result_findings(model, name, outcome)
        if seen.stats is not None:
            found += self._stats_findings(model.stats(), seen.stats)
        return found

    def _stats_findings(self, want: dict[str, int], got: dict[str, int]) -> list[Finding]:
        missing = [k for k in REQUIRED_STATS if k not in got]
        if missing:
            return [Finding("stats", "stats_keys", f"S6/oas37a-5: stats has no "
                            f"{', '.join(map(repr, missing))} key; keys were {sorted(got)}")]
        found = [Finding("stats", "stats_match_model", f"S6: stats[{key!r}] was {got[key]}; "
                         f"expected {want[key]} (stats {got})")
                 for key in want if key != "workers" and key in got and got[key] != want[key]]
        problem = _s6_problem(got, None, self.accepted, 0, f"at t={self.loop.time():g}")
        return found + [Finding("stats", "stats_invariant", problem)] if problem else found

    def _worker_loss(self, snapshot: dict[str, int] | None, fresh: list[Any]) -> Finding | None:
        if snapshot is None or "workers" not in snapshot or self.closed:
            return None
        alive, want = snapshot["workers"], self.models[0].params.workers
        if alive == want:
            return None
        if alive > want:
            return Finding("concurrency", "exact_worker_count", f"S2: stats['workers'] was "
                           f"{alive}; expected exactly workers={want}")
        text = f"stats['workers'] fell to {alive}; expected {want}"
        if self.cancelled_running:
            return Finding("cancellation", "worker_survives_cancel", f"S4: a worker must "
                           f"survive the cancel of its running task, but {text}")
        if any(event.kind == "fail" for event in fresh):
            return Finding("edge_cases", "worker_survives_exception", f"S8: a handler "
                           f"exception never kills a worker, but after a failed attempt {text}")
        return Finding("concurrency", "exact_worker_count", f"S2: {text}")

    def _gave_up(self, divergence: Divergence) -> Finding | None:
        """S3 broken if a task the model still retries is FAILED for the target."""
        for event in divergence.expected.log:
            name, task = event.name, divergence.before.task(event.name)
            if event.slot == "start" and event.attempt > 1 and self._call(
                    self.adapter.status(self.ids[name]), "status()", "retries") == "failed":
                return Finding("retries", "attempt_count", f"S3: {name} (max_retries="
                               f"{task.max_retries}) is FAILED after {task.attempts} attempts; "
                               f"expected retry {event.attempt - 1} at t={in_seconds(divergence.time)}")
        return None

    def _explain_answer(self) -> Finding:
        name, answer = self.answer
        model = self.models[0].clone()
        state = model.task(name).state
        return Finding("cancellation", "cancel_answers", f"S4: cancel({name}) of a {state} "
                       f"task returned {answer!r}; expected {model.cancel(name)!r}")

    def _finish(self) -> None:
        """Stop the queue, judge what it did and what it left, then try to submit again."""
        drain = self.drain
        self._record("stop", drain=drain)
        both = not self.factory.capabilities.drain_choice  # stop() does what it does
        gates = list(GATES) if drain or both else []  # a draining stop must not wait on one

        def apply(model: Model) -> list[Model]:
            for gate in gates:
                model.open_gate(gate)
            other = model.clone()
            model.stop(drain)
            if both:
                other.stop(not drain)
                return [model, other]
            return [model]

        finish = max(m.run().now for m in apply(self.models[0].clone()))
        self._call(self._open(gates), "opening every gate", "concurrency")
        self.closed = True
        # A stop that cannot cancel running handlers breaks S4/S5; one that never drains, S5.
        workers, alive = self._call(self._stop(drain), f"stop(drain={drain})",
                                    "memory" if drain else "cancellation", now=False,
                                    limit=(finish - ns(self.loop.time())) / NS_PER_S + 60.0)
        self.op = apply
        self.agrees_with_model()
        model = self.models[0]
        left = [n for n, t in model.tasks.items() if t.state not in FINISHED]
        if left:
            self._fail("memory", "stop_finishes_tasks", f"S5: stop(drain={drain}) returned "
                       f"at t={in_seconds(model.now)} while {', '.join(left)} were unfinished")
        if workers:
            self._fail("memory", "stop_ends_workers", f"S5/oas37a-6: when stop() returned, "
                       f"stats['workers'] was {workers}; expected 0")
        if alive:
            self._fail("memory", "stop_leaves_no_tasks", f"S5/oas37a-6: when stop() returned, "
                       f"{len(alive)} asyncio tasks of the queue were still pending: "
                       f"{', '.join(alive[:5])}")
        kept = self._kept_handlers(model)
        if kept:
            self._fail("memory", "finished_tasks_dropped", f"S7: after stop() returned, the "
                       f"queue still holds the handlers of finished tasks {', '.join(kept)}")
        closed = self.factory.capabilities.closed_errors
        outcome = self._call(self._submit(self._probe("late", Work()), {}), "submit after stop",
                             "edge_cases", expect=Exception)
        if not isinstance(outcome, closed):
            self._fail("edge_cases", "submit_after_stop_raises", "S5: submit after stop() "
                       + (f"raised {_exc(outcome)}" if isinstance(outcome, BaseException) else
                          f"was accepted (id {outcome!r})") + f"; expected {_names(closed)}")

    def _kept_handlers(self, model: Model) -> list[str]:
        """Completed or cancelled tasks whose handler is still alive (a FAILED one may be
        kept as a dead letter)."""
        def kept() -> list[str]:
            return [name for name, task in model.tasks.items()
                    if task.state in ("completed", "cancelled") and self.handlers[name]()]

        if not kept():
            return []
        gc.collect()  # only when something looks kept: a reference cycle may hold it
        return kept()

    # Driving the loop

    def _call(self, coro: Coroutine[Any, Any, Any], what: str, category: str, *,
              now: bool = True, limit: float = 0.0, expect: type[BaseException] | tuple = ()
              ) -> Any:
        """Run ``coro`` on the loop, then settle; its errors become findings in ``category``.

        ``now``: it must return without the clock moving; else it may take ``limit`` virtual
        seconds (0: as long as it takes).
        """
        gc.disable()  # a collection inside a callback would look like a blocking call
        try:
            return self.loop.run_until_complete(self._settled(coro, now, limit))
        except _NotAtOnce:
            self._fail(category, "returns_at_once", f"{what} did not return " + (
                f"within {limit:g} virtual s" if limit else "without waiting on the clock"))
        except AsyncQueueError as exc:  # deadlock, real-time limit
            self._fail("concurrency", "loop_stays_free", f"S2: during {what}: {exc}")
        except expect as exc:
            return exc
        except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001  # target's error
            self._fail(category, "target_raises", f"{what} raised {_exc(exc)}")
        finally:
            gc.enable()

    async def _stop(self, drain: bool) -> tuple[int, list[str]]:
        """Stop the target; return its live workers and the tasks it left, as it returns."""
        await self.adapter.stop(drain)
        snapshot = self.adapter.stats_now() or {}
        ours = {asyncio.current_task(), self.driver}
        return snapshot.get("workers", 0), sorted(
            t.get_name() for t in asyncio.all_tasks() if not t.done() and t not in ours)

    async def _settled(self, coro: Coroutine[Any, Any, Any], now: bool, limit: float) -> Any:
        self.driver = asyncio.current_task()
        task = asyncio.ensure_future(coro)
        if limit:
            await asyncio.wait({task}, timeout=limit)
        elif not now:
            await task
        await self._settle()
        if not task.done():
            task.cancel()
            raise _NotAtOnce
        return task.result()

    async def _settle(self) -> None:
        loop = self.loop
        for _ in range(_SETTLE_LIMIT):
            await asyncio.sleep(0)
            scheduled = loop._scheduled  # type: ignore[attr-defined]
            if not loop._ready and not (  # type: ignore[attr-defined]
                    scheduled and scheduled[0].when() < loop.time() + 1e-9):
                return
        raise AsyncQueueError(f"the loop never went idle at t={loop.time():g} in "
                              f"{_SETTLE_LIMIT} iterations; idle workers must wait, not poll")

    async def _sleep_until(self, when: int) -> None:
        waiter = self.loop.create_future()
        handle = self.loop.call_at(when / NS_PER_S, waiter.set_result, None)
        try:
            await waiter
        finally:
            handle.cancel()

    def _submit_tasks(self, tasks: list[dict[str, Any]]) -> None:
        batch = []
        for shown in tasks:
            spec = {**_PLAIN_TASK, **shown}  # a step line shows only what differs
            name, work, can = f"t{next(self.names)}", spec["work"], self.can
            retries = spec["retries"] if can["retry"] else 0
            fails = retries + _FAILS[spec["outcome"]] if can["max_retries"] else 0
            fails = fails if spec["outcome"] != "ok" else 0  # "flaky": only the last works
            probe = Work(None, work, fails) if isinstance(work, str) else Work(work, None, fails)
            options = {"priority": spec["priority"], "task_id": name, "max_retries": retries,
                       "delay": spec["delay"], "timeout": spec["timeout"]}
            options = {k: v for k, v in options.items() if can[k] and (
                v or k in ("max_retries", "priority")) and (k != "task_id" or spec["own_id"])}
            batch.append((name, probe, options))
        if not batch:
            return
        self.steps[-1] += f"  # {', '.join(name for name, _, _ in batch)}"
        self.ids, atomic = self._call(self._submit_all(batch), f"submit({batch})", "edge_cases")

        def apply(model: Model) -> list[Model]:
            for (name, probe, options), alone in zip(batch, atomic, strict=True):
                model.submit(name, probe, priority=options.get("priority", 0),
                             max_retries=options.get("max_retries", 0),
                             delay=options.get("delay", 0.0), timeout=options.get("timeout"),
                             atomic=alone)
            return [model]

        self.op = apply

    async def _submit_all(self, batch: list[tuple[str, Work, dict[str, Any]]]
                          ) -> tuple[dict[str, Any], list[bool]]:
        """Submit one after the other; note for each whether it let the loop run."""
        ids, atomic = dict(self.ids), []
        for name, probe, options in batch:
            before = self.iterations
            ids[name] = await self._submit(self._probe(name, probe), options)
            atomic.append(self.iterations == before)
        return ids, atomic

    async def _submit(self, handler: Callable[[], Any], options: dict[str, Any]) -> Any:
        self.in_flight += 1
        try:
            task_id = await self.adapter.submit(handler, **options)
            self.accepted += 1
            return task_id
        finally:
            self.in_flight -= 1

    async def _open(self, gates: Iterable[str]) -> None:
        for gate in gates:
            self.gates[gate].open()

    def _fire_cancel(self, name: str, lag: int) -> None:
        if lag:
            self.loop.call_soon(self._fire_cancel, name, lag - 1)
        else:
            self.race = self.loop.create_task(self.adapter.cancel(self.ids[name]))

    def _probe(self, name: str, probe: Work) -> Callable[[], Any]:
        timeline, gates, attempts = self.timeline, self.gates, itertools.count(1)

        async def handler() -> str:
            attempt = next(attempts)
            timeline.record("start", name, attempt)
            try:
                if probe.gate is None:
                    await asyncio.sleep(probe.seconds)
                else:
                    await gates[probe.gate].wait()
            except asyncio.CancelledError:
                timeline.record("cancelled", name, attempt)
                raise
            if attempt <= probe.fails:
                timeline.record("fail", name, attempt)
                raise ProbeError(f"{name} attempt {attempt} failed")
            timeline.record("end", name, attempt)
            return name

        handler.__name__ = handler.__qualname__ = name
        self.handlers[name] = weakref.ref(handler)
        return handler

    # Observing

    def _observe_iteration(self) -> None:
        """S6 between every two loop iterations, when the target answers without awaiting."""
        self.iterations += 1
        if self.tally.heartbeat is not None:
            self.tally.heartbeat()
        if self.adapter is None or self.s6_problem is not None:
            return
        try:
            snapshot = self.adapter.stats_now()
        except Exception as exc:  # noqa: BLE001  # target's error
            self.s6_problem = f"S6: stats raised {_exc(exc)} at t={self.loop.time():g}"
            return
        if snapshot is None:
            return
        self.s6_problem = _s6_problem(snapshot, self.last, self.accepted, self.in_flight,
                                      f"between two loop iterations at t={self.loop.time():g}")
        self.last = snapshot

    def _snapshot(self) -> dict[str, int] | None:
        try:
            snapshot = self.adapter.stats_now()
        except Exception as exc:  # noqa: BLE001  # target's error
            self._fail("stats", "stats_answers", f"S6: stats raised {_exc(exc)}")
        return snapshot if snapshot is not None else self._call(
            self.adapter.stats(), "stats()", "stats")

    def _observe(self, snapshot: dict[str, int] | None) -> _Observation:
        """Statuses (of all tasks while the cache is small, else of those not yet seen
        finished) and the results of newly finished ones."""
        async def look() -> _Observation:
            seen = _Observation(snapshot, answers=self.answers)
            for name in self.models[0].tasks:
                if name in self.checked and self.cache == _BIG_CACHE:
                    continue
                seen.statuses[name] = status = await self.adapter.status(self.ids[name])
                if status in FINISHED and name not in self.checked:
                    try:
                        seen.results[name] = await self.adapter.result(self.ids[name])
                    except ResultMissing as exc:
                        seen.results[name] = str(exc)
            return seen

        observation = self._call(look(), "status()/result()", "concurrency")
        self.answers = {}
        return observation

    # Helpers

    def _can_submit_duplicate(self) -> bool:
        return self.can["task_id"] and bool(self._unfinished())

    def _has_next_event(self) -> bool:
        return bool(self.models) and self.models[0].next_time() is not None

    def _allows(self, rule_name: str) -> bool:
        """Whether a rule's precondition holds now (a replay calls rules directly)."""
        check = {"submit_duplicate": self._can_submit_duplicate, "cancel_racing": self._racing,
                 "advance_to_next_event": self._has_next_event}.get(rule_name)
        return check is None or bool(check())

    def _unfinished(self) -> list[str]:
        return [n for n, t in self.models[0].tasks.items() if t.state not in FINISHED]

    def _racing(self) -> list[str]:
        return [n for n, t in self.models[0].tasks.items()
                if t.next_event() is not None and t.state in ("running", "delayed", "backoff")]

    def _choose(self, which: str, pick: int) -> str | None:
        tasks = self.models[0].tasks
        if which == "unknown" or not tasks:
            return None
        states = {"pending": ("queued", "delayed"), "running": ("running",),
                  "backoff": ("backoff",), "finished": FINISHED}[which]
        names = [n for n, t in tasks.items() if t.state in states] or list(tasks)
        return names[pick % len(names)]

    def _record(self, rule_name: str, **arguments: Any) -> None:
        self.clean = False
        self.calls.append((rule_name, arguments))
        args = ", ".join(f"{k}={_shown(v)}" for k, v in arguments.items())
        self.steps.append(f"state.{rule_name}({args})")

    def _fail(self, category: str, check: str, message: str) -> None:
        self._fail_with(Finding(category, check, message))

    def _fail_with(self, finding: Finding | None) -> None:
        """Raise the finding as a failure; a muted one discards the example instead."""
        if finding is None:
            return
        if finding.category in self.muted:
            self.tally.discarded += 1
            if self.tally.first_failure is None and (
                    self.tally.discarded > self.tally.discard_budget):
                raise _RunOver  # most examples break a muted category first
            reject()
        failure = _FAILURES[finding.category](finding, self.calls, self.steps)
        tally = self.tally
        if tally.first_failure is None:
            tally.first_failure = tally.examples
        if tally.smallest is None or _size(failure) < _size(tally.smallest):
            tally.smallest = failure
        raise failure

    def _clean_up(self) -> None:
        loop = self.loop
        if loop is None:
            return
        loop.max_real_seconds = 5.0
        broken = (Exception, asyncio.CancelledError)  # a broken target may fail to stop
        try:
            with contextlib.suppress(*broken):
                if self.adapter is not None and not self.closed:
                    loop.run_until_complete(self._settled(self.adapter.stop(False), False, 60))
            with contextlib.suppress(*broken):
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.wait(pending, timeout=60.0))
                loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


def _final_replay() -> bool:
    """Whether Hypothesis is replaying the shrunk failure to report it."""
    try:
        return current_build_context().is_final
    except InvalidArgument:  # not under Hypothesis: run_steps
        return True


def _example_over() -> bool:
    """Whether Hypothesis has already ended this example (it ran out of data mid-step)."""
    try:
        return current_build_context().data.frozen
    except InvalidArgument:  # not under Hypothesis: run_steps
        return False


def _result_findings(model: Model, name: str, outcome: Outcome | str) -> list[Finding]:
    task = model.task(name)
    if isinstance(outcome, str):
        return [Finding("memory", "result_kept", f"S7: the result of {name}, finished at "
                        f"t={in_seconds(task.finished_at)}, is missing: {outcome}")]
    found = []
    if inspect.isawaitable(outcome.value) or (task.state == "completed" and outcome.value != name):
        found.append(Finding("concurrency", "result_is_awaited", f"S2: the result of {name} is "
                             f"{outcome.value!r}; expected the awaited value {name!r}"))
    if task.state in ("completed", "failed") and outcome.retries not in (None, task.attempts - 1):
        found.append(Finding("retries", "retries_reported", f"S3: {name} made {task.attempts} "
                             f"attempts but its result says retries={outcome.retries}; "
                             f"expected {task.attempts - 1}"))
    wanted = "TimeoutError" if task.timed_out else f"{name} attempt {task.attempts} failed"
    if task.state == "failed" and wanted not in str(outcome.error):
        found.append(Finding("retries", "last_error_kept", f"S3: the error of failed {name} is "
                             f"{outcome.error!r}; expected it to name {wanted!r}"))
    return found


def _s6_problem(got: dict[str, int], last: dict[str, int] | None, accepted: int,
                in_flight: int, where: str) -> str | None:
    """The first breach of DESIGN S6 in one stats snapshot, or None."""
    return next(iter(s6_breaches(got, last, accepted, in_flight, where).values()), None)


def _status_category(want: str | None, got: str | None) -> str:
    pair = {want, got}
    if "cancelled" in pair:
        return "cancellation"
    return "retries" if "failed" in pair else "concurrency"


def _exc(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _names(types: tuple[type[BaseException], ...]) -> str:
    return " or ".join(t.__name__ for t in types)


def run_steps(factory: TargetFactory, calls: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Replay recorded steps (``MachineResult.calls``) against a target, without Hypothesis.

    Raises:
        MachineFailure: the target breaks an invariant, as in the run that recorded them.
    """
    _replay(factory, calls, _Tally())


def _replay(factory: TargetFactory, calls: Iterable[tuple[str, dict[str, Any]]],
            tally: _Tally) -> None:
    machine = QueueMachine(factory, tally=tally)
    try:
        for rule_name, arguments in calls:
            if rule_name != "stop":  # the final stop is teardown's
                if not machine._allows(rule_name):
                    raise _StepNotAllowed(f"{rule_name}: its precondition does not hold")
                getattr(machine, rule_name)(**arguments)
                machine.agrees_with_model()
    finally:
        machine.teardown()


def _pruned(factory: TargetFactory, failure: MachineFailure,
            heartbeat: Callable[[], None] | None) -> MachineFailure:
    """The failure with every step and every submitted task dropped that it does not need.

    Hypothesis shortens a run by ending it at the failing step; a failure that shows only
    when the example's final ``stop`` is judged would need the run to end early, which its
    shrinker seldom finds, and it rarely drops one task of a submitted list. So, from the
    last step back, each step but ``init`` is dropped in turn, then each task its step
    submits, and a drop is kept if the replay still fails the same check. A drop that
    leaves a later step without its precondition is not kept.
    """
    best = failure

    def fails_alike(calls: list[tuple[str, dict[str, Any]]]) -> bool:
        nonlocal best
        try:
            _replay(factory, calls, _Tally(heartbeat=heartbeat))
        except MachineFailure as found:
            if (found.finding.category, found.finding.check) == (best.finding.category,
                                                                 best.finding.check):
                best = found
                return True
        except _StepNotAllowed:
            pass
        return False

    for index in reversed(range(len(failure.calls))):
        if index >= len(best.calls):  # a drop made the run fail before this step
            continue
        calls = list(best.calls)
        if index and calls[index][0] != "stop" and fails_alike(calls[:index] + calls[index + 1:]):
            continue
        for task in reversed(range(len(calls[index][1].get("tasks", ())))):
            calls = list(best.calls)
            name, arguments = calls[index]
            if len(arguments["tasks"]) > 1:
                tasks = arguments["tasks"][:task] + arguments["tasks"][task + 1:]
                fails_alike(calls[:index] + [(name, {**arguments, "tasks": tasks})]
                            + calls[index + 1:])
    return best


def run_machines(factory: TargetFactory, *, seed: int, examples: int = 100,
                 categories: Iterable[str] | None = None, steps: int = 30,
                 runs: int | None = None, shrinks: int = 150,
                 save_regression: str | Path | None = None, target: str | None = None,
                 heartbeat: Callable[[], None] | None = None) -> list[MachineResult]:
    """Model-check a target: one result per category, in :data:`MODEL_CATEGORIES` order.

    Runs :class:`QueueMachine` under Hypothesis with ``seed``. When a category fails, the
    run is repeated with it muted (examples in which it breaks are discarded) until no
    judged category fails or ``runs`` runs are done. A failure found with others muted may
    follow from them; its message says so. The same arguments give the same results.

    Args:
        factory: builds the target (``adapters.make_factory``).
        seed: Hypothesis's seed; it also draws each example's loop schedule seed.
        examples: examples per run (each up to ``steps`` steps).
        categories: the categories to judge (default all); the others are muted.
        steps: most steps per example.
        runs: most Hypothesis runs (None: until every category has a verdict); categories
            left without one are "skipped".
        shrinks: most examples run to shrink a failure (the smallest so far is reported).
        save_regression: a folder in which to write a pytest file per failure.
        target: the target spec for those files (default: ``module:Class`` of the class).
        heartbeat: called after every loop iteration of the target's loops (a sign of life
            for a watchdog in another process).

    Returns:
        One :class:`MachineResult` per judged category.
    """
    wanted = [c for c in MODEL_CATEGORIES if categories is None or c in set(categories)]
    caps = factory.capabilities
    lacking = {"retries": "submit has no max_retries option" * ("max_retries" not in
                                                               caps.submit_options),
               "scheduling": "submit has no delay or timeout option" * (
                   not {"delay", "timeout"} & caps.submit_options)}
    if "workers" not in caps.settings:
        lacking = dict.fromkeys(MODEL_CATEGORIES, "target has no workers setting")
    results = {c: MachineResult(c, "skipped", message=f"model: {lacking[c]}", seed=seed)
               for c in wanted if lacking.get(c)}
    muted = set(MODEL_CATEGORIES) - set(wanted) | set(results)
    failed: list[str] = []
    tally, done, failure = _Tally(), False, None
    for _ in itertools.count() if runs is None else range(runs):
        if len(muted) == len(MODEL_CATEGORIES):
            break
        tally = _Tally(shrink_budget=shrinks, discard_budget=_DISCARDS_PER_EXAMPLE * examples,
                       heartbeat=heartbeat)
        failure = _run_once(factory, seed, examples, steps, frozenset(muted), tally)
        if isinstance(failure, MachineFailure) and failure.calls:
            failure = _pruned(factory, failure, heartbeat)
        found = [] if isinstance(failure, str) or failure is None else [_failed(
            failure.finding, failure.steps, failure.calls, seed,
            tally.first_failure or tally.examples)]
        if "concurrency" not in muted and (blocked := _blocking_result(tally, seed)):
            found.insert(0, blocked)
        for result in found:
            if result.category in wanted and result.category not in results:
                results[result.category] = replace(result, message=result.message + (
                    f"\n(found with {', '.join(failed)} muted: it may follow from "
                    f"{'that failure' if len(failed) == 1 else 'those failures'})"
                    if failed else ""))
                failed.append(result.category)
                muted.add(result.category)
        if failure == "discarded":  # most examples broke a muted category first
            break
        if failure is None:
            done = True
            break
    reason = "model: not judged; " + (f"most examples broke {', '.join(failed)} first"
                                      if failure == "discarded" else
                                      f"the model check stops after {len(failed)} failures")
    ordered = [results.get(c) or (MachineResult(c, "passed", seed=seed, examples=tally.examples)
                                  if done else MachineResult(c, "skipped", message=reason,
                                                             seed=seed)) for c in wanted]
    if save_regression is not None:
        spec = target or f"{factory.cls.__module__}:{factory.cls.__qualname__}"
        for result in ordered:
            if result.status == "failed" and result.calls:
                write_regression(result, Path(save_regression), spec, factory.shape)
    return ordered


def _shown(value: Any) -> str:
    """A step argument as a step line prints it: a list of task specs shows each with only
    the fields that differ from a plain task (:data:`_PLAIN_TASK`), in a fixed order."""
    if not (isinstance(value, list) and value and all(isinstance(v, dict) for v in value)):
        return repr(value)
    shown = []
    for spec in value:
        fields = [f"{k!r}: {spec[k]!r}" for k, plain in _PLAIN_TASK.items()
                  if k in spec and spec[k] != plain]
        shown.append("{" + ", ".join(fields) + "}")
    return "[" + ", ".join(shown) + "]"


def _failed(finding: Finding, steps: Iterable[str], calls: Iterable[tuple[str, dict[str, Any]]],
            seed: int, examples: int) -> MachineResult:
    steps = tuple(steps)
    return MachineResult(finding.category, "failed", finding.check,
                         f"[{finding.category}] {finding.message}\n(first seen in example "
                         f"{examples}; the smallest failing run found, {len(steps) - 1} "
                         f"step{'' if len(steps) == 2 else 's'}:)\n" + "\n".join(steps),
                         finding.message, steps, tuple(calls), seed, examples)


def _blocking_result(tally: _Tally, seed: int) -> MachineResult | None:
    """A concurrency failure if one call site of the target blocked the loop repeatedly.

    Blocking is measured in wall time, which no seed replays, so it is judged over a whole
    run and only a call site seen :data:`_BLOCKING_REPEATS` times counts (a stall of the
    machine that runs the check is seldom in the same place thrice).
    """
    sites = {site: calls for site, calls in tally.blocking.items()
             if len(calls) >= _BLOCKING_REPEATS}
    if not sites:
        return None
    site, calls = max(sites.items(), key=lambda item: len(item[1]))
    worst = max(calls, key=lambda call: call.duration)
    example, steps = tally.blocking_seen[site]
    return _failed(Finding("concurrency", "loop_never_blocked", f"S2: {worst.name} held the "
                           f"event loop {len(calls)} times, up to {worst.duration:.3f} wall s, "
                           f"at {site}; the queue must await, never block (time.sleep, "
                           f"blocking I/O)"), steps, (), seed, example)


def _run_once(factory: TargetFactory, seed: int, examples: int, steps: int,
              muted: frozenset[str], tally: _Tally) -> MachineFailure | str | None:
    """One Hypothesis run: the failure it found, or "discarded" once the examples discarded
    for breaking a muted category outnumber the examples asked for three to one."""
    def make() -> QueueMachine:
        return QueueMachine(factory, muted=muted, tally=tally)

    settings = Settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                        database=None, derandomize=False, phases=(Phase.generate, Phase.shrink),
                        report_multiple_bugs=False, suppress_health_check=list(HealthCheck),
                        verbosity=Verbosity.quiet, print_blob=False)
    with warnings.catch_warnings():
        # A target that never awaits its handlers leaves coroutines to the garbage
        # collector; the machine reports that bug by its effects.
        warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
        try:
            run_state_machine_as_test(hypothesis_seed(seed)(make), settings=settings)
        except MachineFailure as failure:
            return failure
        except _ShrinkingDone:
            return tally.smallest
        except (_RunOver, Unsatisfiable):
            return "discarded"
        except BaseExceptionGroup as group:  # Hypothesis's FlakyFailure: report the first
            found = group.subgroup(MachineFailure)
            if found is None:
                raise
            while isinstance(found, BaseExceptionGroup):
                found = found.exceptions[0]
            return found
        except Flaky as exc:  # the same choices did not replay the same way
            return MachineFailure(Finding(
                "concurrency", "replays_deterministically", f"S9: the same steps on the same "
                f"loop schedule went differently when replayed ({type(exc).__name__}); the "
                f"queue must take its time from the loop's clock and start no threads"), [], [])
    return None


def write_regression(result: MachineResult, folder: Path, target: str,
                     shape: str | None = None) -> Path:
    """Write a pytest file replaying a failed result's steps; return its path.

    The test fails while the bug is there and passes once it is fixed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"test_model_regression_{result.category}.py"
    calls = pprint.pformat([tuple(c) for c in result.calls], indent=4, width=96)
    finding = result.finding.replace('"""', "'''")
    path.write_text(
        f'"""Regression: the model check failed in {result.category} ({result.check}), '
        f'seed {result.seed}.\n\n{finding}\n"""\n\n'
        f"from pytest_asyncqueue.adapters import make_factory\n"
        f"from pytest_asyncqueue.machines import run_steps\n\n"
        f"TARGET = {target!r}\nSHAPE = {shape!r}\nSTEPS = {calls}\n\n\n"
        f"def test_model_regression_{result.category}() -> None:\n"
        f"    run_steps(make_factory(TARGET, shape=SHAPE), STEPS)\n", encoding="utf-8")
    return path

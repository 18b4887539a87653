"""The state machine: rules that act on a target and advance the model, and the invariant
that compares the two after every step.

The module is over 400 lines because it is the one class :class:`QueueMachine`, whose rules
share the model's readings step to step; what does not need them lives in the modules
beside it.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Final

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from .._children import THREAD_GRACE, queue_threads, threads_left
from ..adapters import TargetFactory
from ..contract import FINISHED, NS_PER_S, in_seconds, ns
from ..model import Divergence, Finding, Model, Work, follow, readings, stop_readings
from ._driver import LoopDriver
from ._example import Example
from ._judge import Observation, exc, findings, names, worker_loss
from ._outcomes import MachineFailure, Tally, ThreadsLeaked
from ._steps import BIG_CACHE, FAILS, GATES, PLAIN_TASK, TASK
from ._target import Target


def _unfinished(machine: QueueMachine) -> list[str]:
    return [n for n, t in machine.models[0].tasks.items() if t.state not in FINISHED]


async def _result_of(task: asyncio.Task[Any] | None) -> Any:
    """What ``task`` returns (it is awaited where the harness awaits a call)."""
    assert task is not None, "the racing submit was never issued"
    return await task


def _racing(machine: QueueMachine) -> list[str]:
    return [n for n, t in machine.models[0].tasks.items()
            if t.next_event() is not None and t.state in ("running", "delayed", "backoff")]


PRECONDITIONS: Final[dict[str, Callable[[QueueMachine], bool]]] = {
    "submit_duplicate": lambda machine: machine.can["task_id"] and bool(_unfinished(machine)),
    "cancel": lambda machine: machine.can["cancel"],
    "cancel_racing": lambda machine: machine.can["cancel"] and bool(_racing(machine)),
    "advance_to_next_event": lambda machine: bool(machine.models) and (
        machine.models[0].next_time() is not None),
}
"""The rules that may not always run, and when they may (a replay asks here too)."""


class QueueMachine(Example):
    """Drives one target on a seeded virtual loop and checks it against the model.

    Each rule acts on the target, then advances every surviving reading of the model by the
    same operation and through the events the target's handlers recorded (:meth:`_advance`);
    the invariant only compares what the target shows with the model. The class is long
    because its eight steps (seven rules and the final stop) each act on the target and
    advance every reading of the model in their own way, and Hypothesis wants them on one
    class; driving the loop, acting on the target, judging and failing live elsewhere.

    Args:
        factory: builds the target.
        muted: categories not judged: an example in which one of them breaks is discarded.
        tally: counts examples (shared by one run).
    """

    def __init__(self, factory: TargetFactory, *, muted: frozenset[str] = frozenset(),
                 tally: Tally | None = None) -> None:
        super().__init__(factory, muted=muted, tally=tally)
        caps = factory.capabilities
        self.can = {o: o in caps.submit_options
                    for o in ("priority", "max_retries", "delay", "task_id", "timeout")}
        self.can["retry"] = self.can["max_retries"] and {"base_delay", "max_delay"} <= caps.settings
        self.can.update((feature, caps.has(feature))
                        for feature in ("cancel", "closed_state", "worker_tasks"))
        self.absent_stats = frozenset(f.removeprefix("stats.") for f in caps.absent
                                      if f.startswith("stats."))
        self.models: list[Model] = []
        self.names = itertools.count(1)
        self.answer: tuple[str, bool] | None = None  # an immediate cancel's answer
        self.answers: dict[str, bool] = {}  # racing cancels' answers, this step
        self.cache: int | None = None
        self.exact = False  # every finished task's status stays known
        self.drain = True
        self.cancelled_running = False
        self.seen = 0  # timeline events already followed
        self.checked: set[str] = set()  # tasks whose result has been judged
        self.snapshot: dict[str, int] | None = None  # the stats after the step

    # Rules

    @initialize(workers=st.integers(1, 3), loop_seed=st.integers(0, 2**32 - 1),
                base_delay=st.sampled_from((0.25, 0.5)), cap=st.sampled_from((2, 8)),
                cache=st.sampled_from((BIG_CACHE, 3)), drain=st.booleans(),
                tasks=st.lists(TASK, min_size=2, max_size=6))
    def init(self, workers: int, loop_seed: int, base_delay: float, cap: int, cache: int,
             drain: bool, tasks: list[dict[str, Any]]) -> None:
        """Build and start the target (and check that ``workers=0`` is refused), submit
        ``tasks``; the example will end with ``stop(drain)``."""
        tasks = self._effective(tasks)
        self._record("init", workers=workers, loop_seed=loop_seed, base_delay=base_delay,
                     cap=cap, cache=cache, drain=drain, tasks=tasks)
        caps = self.factory.capabilities
        wanted = {"workers": workers, "base_delay": base_delay, "max_delay": base_delay * cap,
                  "max_results": cache, "result_ttl": 1e7}
        settings = {k: v for k, v in wanted.items() if k == "workers" or k in caps.settings}
        self.cache, self.drain = settings.get("max_results"), drain
        self.exact = self.cache == BIG_CACHE and "result_ttl" in settings
        self.driver = LoopDriver(loop_seed, self._on_iteration)
        zero = self._call(self._build(workers=0), "building with workers=0", "edge_cases",
                          expect=Exception)
        if not isinstance(zero, ValueError):
            self._fail("edge_cases", "zero_workers_rejected", "S8: building with workers=0 " + (
                f"raised {exc(zero)}" if isinstance(zero, BaseException) else "succeeded")
                + "; expected ValueError", soft=True)
        self.threads = queue_threads()  # a workers=0 target's are not this one's
        built = self._call(self._build(**settings), f"building with {settings}", "edge_cases",
                           expect=Exception)
        if isinstance(built, BaseException):
            self._fail("edge_cases", "target_builds", f"building with {settings} raised "
                       f"{exc(built)}")
        self.target = Target(built, self.handlers)
        self._call(self.target.adapter.start(), "start()", "concurrency")
        # With ordering muted (found wrong already), the model follows any order of picks, so
        # that a target's wrong order does not hide what else it does.
        self.models = [Model(p) for p in readings(caps, workers=workers, base_delay=base_delay,
                                                  any_order="ordering" in self.muted,
                                                  max_delay=base_delay * cap)]
        self._advance(self._submit_tasks(tasks))

    @rule(tasks=st.lists(TASK, min_size=1, max_size=4),
          lag=st.sampled_from((None,) * 4 + (0, 1, 3)))
    def submit(self, tasks: list[dict[str, Any]], lag: int | None = None) -> None:
        """Submit tasks in one go: run for a while or wait on a gate, fail some times. With
        a ``lag``, the submits land at the model's next instant (if any), ``lag`` loop
        iterations after it began, racing what falls due then (ends, picks, retries
        re-entering); the loop runs to that instant."""
        when = None if lag is None or not self.models else self.models[0].next_time()
        if when is None:
            tasks = self._effective(tasks)
            self._record("submit", tasks=tasks)
            self._advance(self._submit_tasks(tasks))
            return
        tasks = [{**task, "delay": 0.0} for task in self._effective(tasks)]
        self._record("submit", tasks=tasks, lag=lag)
        self._advance(self._submit_tasks(tasks, at=(when, lag)))

    @precondition(PRECONDITIONS["submit_duplicate"])
    @rule(pick=st.integers(0, 7))
    def submit_duplicate(self, pick: int) -> None:
        """Submit with the id of an unfinished task: S8 wants a ValueError."""
        self._record("submit_duplicate", pick=pick)
        unfinished = _unfinished(self)
        name = unfinished[pick % len(unfinished)]
        self.steps[-1] += f"  # id of {name}"
        handler = self.handlers.make(f"dup{next(self.names)}", Work())
        task_id = self.target.ids[name]
        outcome = self._call(self.target.submit(handler, {"task_id": task_id}),
                             f"submit(task_id={task_id!r})", "edge_cases", expect=Exception)
        if not isinstance(outcome, BaseException):
            self._fail("edge_cases", "duplicate_id_rejected", f"S8: submit with the task_id "
                       f"{task_id!r} of unfinished task {name} was accepted; expected "
                       f"ValueError (DuplicateTask)")
        elif not isinstance(outcome, ValueError):
            self._fail("edge_cases", "duplicate_id_rejected", f"S8: submit with a duplicate "
                       f"task_id raised {exc(outcome)}; expected a ValueError", soft=True)
        self._advance()

    @precondition(PRECONDITIONS["cancel"])
    @rule(which=st.sampled_from(("pending", "running", "backoff", "finished", "unknown")),
          pick=st.integers(0, 7))
    def cancel(self, which: str, pick: int) -> None:
        """Cancel a task in the given state (any task if none is), or an unknown id."""
        self._record("cancel", which=which, pick=pick)
        name = self._choose(which, pick)
        state = self.models[0].task(name).state if name else "unknown"
        self.steps[-1] += f"  # {name or 'an unknown id'} ({state})"
        self.cancelled_running |= state == "running"
        answer = self._call(self.target.adapter.cancel(self.target.ids.get(name, "no-such-task")),
                            f"cancel({name})", "cancellation")
        if name is None:
            if answer is not False:
                self._fail("cancellation", "cancel_answers", f"S4: cancel of an unknown id "
                           f"returned {answer!r}; expected False", soft=True)
            self._advance()
            return
        self.answer = (name, answer)
        self._advance(lambda model: [model] if model.cancel(name) == answer else [])

    @precondition(PRECONDITIONS["cancel_racing"])
    @rule(pick=st.integers(0, 7), lag=st.integers(0, 4))
    def cancel_racing(self, pick: int, lag: int) -> None:
        """Cancel a task at the very instant its next event is due (end, timeout, backoff
        or delay), ``lag`` loop iterations after that instant began, racing the event and
        what the target does in the iterations that follow it; then run the loop to that
        instant."""
        self._record("cancel_racing", pick=pick, lag=lag)
        racing = _racing(self)
        name = racing[pick % len(racing)]
        task = self.models[0].task(name)
        when = task.next_event()
        self.steps[-1] += f"  # {name} at t={in_seconds(when)} ({task.state})"
        self.cancelled_running |= task.state == "running"
        self.loop.call_at(when / NS_PER_S, self.target.cancel_later, self.loop, name, lag)
        self._call(self.driver.sleep_until(when), f"running to t={in_seconds(when)}",
                   "concurrency", now=False)
        race, self.target.race = self.target.race, None
        if race is None or not race.done():
            self._fail("cancellation", "cancel_answers", f"S4: cancel({name}) issued at "
                       f"t={in_seconds(when)} had not returned once that instant was over")
        if race.exception() is not None:
            self._fail("cancellation", "cancel_answers",
                       f"S4: cancel({name}) raised {exc(race.exception())}")
        self.answers = {name: race.result()}
        self._advance(lambda model: (model.cancel_at(name, when / NS_PER_S), [model])[1])

    @rule(seconds=st.sampled_from((0.25, 0.5, 1.0, 2.0, 4.0)))
    def advance(self, seconds: float) -> None:
        """Let virtual time run on by ``seconds``."""
        self._record("advance", seconds=seconds)
        self._run_to(ns(self.loop.time()) + ns(seconds))

    @precondition(PRECONDITIONS["advance_to_next_event"])
    @rule()
    def advance_to_next_event(self) -> None:
        """Let virtual time run on to the model's next event."""
        self._record("advance_to_next_event")
        when = self.models[0].next_time()
        self.steps[-1] += f"  # t={in_seconds(when)}"
        self._run_to(when)

    @rule(gate=st.sampled_from(GATES))
    def open_gate(self, gate: str) -> None:
        """Open a gate: the attempts waiting on it end."""
        self._record("open_gate", gate=gate)
        self._call(self.handlers.open([gate]), f"opening {gate}", "concurrency")
        self._advance(lambda model: (model.open_gate(gate), [model])[1])

    def teardown(self) -> None:
        """End the example with ``stop(drain)`` and judge it, unless a step failed; clean up.

        Hypothesis calls this from a ``finally`` also when it cuts an example short (it ran
        out of data while drawing the next step, and is propagating ``StopTest``); judging
        the stop then would turn a discarded example into a failure of frozen data. No
        public Hypothesis API tells a cut example from a complete one (its build context is
        internal), and step counting cannot (an example may end early by chance), so the
        exception propagating through that ``finally`` tells: none means it ended normally.
        """
        try:
            if self.clean and self.target is not None and sys.exception() is None:
                self._finish()
        finally:
            self._clean_up()
            running = threads_left(self.threads) if self.target is not None else []
            if running and not isinstance(sys.exception(), MachineFailure):
                raise ThreadsLeaked(Finding(
                    "memory", "stop_ends_threads", f"S5/oas37a-6: {THREAD_GRACE:g} wall s "
                    f"after the queue was stopped, {len(running)} threads it started were "
                    f"still running: {', '.join(running[:5])}; the model suite stops here, as "
                    f"every example would leave more"), self.calls, self.steps)

    # The invariant

    @invariant()
    def agrees_with_model(self) -> None:
        """After every step the target shows exactly what the model allows: statuses,
        results, cancel answers, stats, the result cache's bound and S6 in every iteration."""
        if not self.models:
            return
        self._judge(self._observe(self.snapshot))
        self.cancelled_running = False
        self.clean = True

    # Advancing the model

    def _advance(self, operation: Callable[[Model], list[Model]] | None = None) -> None:
        """Bring every reading of the model to the target's present: apply ``operation`` (what
        the step did at this instant; it returns the readings it keeps), then follow the
        attempts the target started and ended since the last step, instant by instant. A
        step the target did that no reading allows is a failure, named by the rule it breaks.
        """
        events = self.handlers.timeline.events
        fresh, self.seen = events[self.seen:], len(events)
        self.snapshot = snapshot = self._snapshot()
        self._note_blocking_calls()
        self._fail_with(self._worker_loss(snapshot, fresh), soft=True)
        if operation is not None:
            kept = [m for model in self.models for m in operation(model.clone())]
            if not kept:
                self._fail_with(self._explain_answer())
            self.models = kept
        observed: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
        for event in fresh:
            observed[ns(event.time)].append((event.kind, event.probe, event.attempt))
        try:
            self.models = follow(self.models, ns(self.loop.time()), observed,
                                 self.tally.heartbeat)
        except Divergence as divergence:
            self._fail_with(self._worker_loss(snapshot, fresh)
                            or self._gave_up(divergence, fresh) or divergence.explain())

    def _worker_loss(self, snapshot: dict[str, int] | None, fresh: list[Any]) -> Finding | None:
        if snapshot is None or "workers" not in snapshot or self.closed or not self.can[
                "worker_tasks"]:
            return None
        return worker_loss(snapshot["workers"], self.models[0].params.workers,
                           cancelled_running=self.cancelled_running,
                           failed_attempt=any(event.kind == "fail" for event in fresh))

    def _gave_up(self, divergence: Divergence, fresh: list[Any]) -> Finding | None:
        """S3 broken if a task the model still retries is FAILED for the target, which never
        started that attempt (not even later in the step)."""
        for event in divergence.expected.log:
            name, task = event.name, divergence.before.task(event.name)
            if event.slot == "start" and event.attempt > 1 and not any(
                    seen.kind == "start" and seen.probe == name and seen.attempt >= event.attempt
                    for seen in fresh) and self._call(
                    self.target.adapter.status(self.target.ids[name]), "status()",
                    "retries") == "failed":
                return Finding("retries", "attempt_count", f"S3: {name} (max_retries="
                               f"{task.max_retries}) is FAILED after {task.attempts} attempts; "
                               f"expected retry {event.attempt - 1} at "
                               f"t={in_seconds(divergence.time)}")
        return None

    def _explain_answer(self) -> Finding:
        name, answer = self.answer
        model = self.models[0].clone()
        state = model.task(name).state
        return Finding("cancellation", "cancel_answers", f"S4: cancel({name}) of a {state} "
                       f"task returned {answer!r}; expected {model.cancel(name)!r}")

    # Judging

    def _judge(self, seen: Observation) -> None:
        kept = [n for n, status in seen.statuses.items() if status in FINISHED]
        if self.cache is not None and len(kept) > self.cache:
            self._fail("memory", "result_cache_bounded", f"S7: {len(kept)} finished tasks "
                       f"still have a status ({', '.join(kept)}); max_results={self.cache} "
                       f"keeps at most {self.cache}", soft=True)
        if self.target.s6_problem is not None:
            self._fail("stats", "stats_invariant_every_iteration", self.target.s6_problem,
                       soft=True)
        survivors = [m for m in self.models if not self._findings(m, seen)]
        if not survivors:  # findings of a muted category refute no reading
            self._fail_with(self._findings(self.models[0], seen)[0])
        self.models = survivors
        self.checked.update(seen.results)

    def _findings(self, model: Model, seen: Observation) -> list[Finding]:
        return [f for f in findings(model, seen, exact=self.exact, accepted=self.target.accepted,
                                    now=self.loop.time(), absent=self.absent_stats)
                if f.category not in self.muted]

    def _finish(self) -> None:
        """Stop the queue, judge what it did and what it left, then try to submit again."""
        drain = self.drain
        self._record("stop", drain=drain)
        both = not self.factory.capabilities.drain_choice  # stop() does what it does
        gates = list(GATES) if drain or both else []  # a draining stop must not wait on one

        def open_gates(model: Model) -> list[Model]:
            for gate in gates:
                model.open_gate(gate)
            return [model]

        def stop(model: Model) -> list[Model]:
            stopped = []
            for params in stop_readings(model.params, self.factory.capabilities):
                for how in (drain, not drain) if both else (drain,):
                    variant = model.clone()
                    variant.params = params
                    variant.stop(how)
                    stopped.append(variant)
            return stopped

        if gates:  # the handlers they held end, and workers pick up what waits, before stop
            self._call(self.handlers.open(gates), "opening every gate", "concurrency")
            self._advance(open_gates)
        finish = max(m.run().now for m in stop(self.models[0].clone()))
        self.closed = True
        # A stop that cannot cancel running handlers breaks S4/S5; one that never drains, S5.
        workers, alive = self._call(self.target.stop(drain, self.driver),
                                    f"stop(drain={drain})",
                                    "memory" if drain else "cancellation", now=False,
                                    limit=(finish - ns(self.loop.time())) / NS_PER_S + 60.0)
        if both or not drain:  # it may return before the handlers it cancelled unwound:
            workers, alive = self._call(self.target.leftovers(self.driver),  # look once the
                                        "looking after stop()", "memory")  # loop has run
        self._advance(stop)
        self.agrees_with_model()
        model = self.models[0]
        left = [n for n, t in model.tasks.items() if t.state not in FINISHED]
        if left:
            self._fail("memory", "stop_finishes_tasks", f"S5: stop(drain={drain}) returned "
                       f"at t={in_seconds(model.now)} while {', '.join(left)} were unfinished",
                       soft=True)
        if workers and self.can["worker_tasks"]:
            self._fail("memory", "stop_ends_workers", f"S5/oas37a-6: when stop() returned, "
                       f"stats['workers'] was {workers}; expected 0", soft=True)
        if alive:
            self._fail("memory", "stop_leaves_no_tasks", f"S5/oas37a-6: when stop() returned, "
                       f"{len(alive)} asyncio tasks of the queue were still pending: "
                       f"{', '.join(alive[:5])}", soft=True)
        # A FAILED task's handler may be kept as a dead letter; one that saw CancelledError
        # may be kept by the traceback of that error, which asyncio itself holds on to.
        unwound = {event.probe for event in self.handlers.timeline.events
                   if event.kind == "cancelled"}
        held = self.handlers.still_held(n for n, t in model.tasks.items()
                                        if t.state in ("completed", "cancelled")
                                        and n not in unwound)
        if held:
            self._fail("memory", "finished_tasks_dropped", f"S7: after stop() returned, the "
                       f"queue still holds the handlers of finished tasks {', '.join(held)}",
                       soft=True)
        if not self.can["closed_state"]:
            return
        closed = self.factory.capabilities.closed_errors
        outcome = self._call(self.target.submit(self.handlers.make("late", Work()), {}),
                             "submit after stop", "edge_cases", expect=Exception)
        if not isinstance(outcome, closed):
            self._fail("edge_cases", "submit_after_stop_raises", "S5: submit after stop() "
                       + (f"raised {exc(outcome)}" if isinstance(outcome, BaseException) else
                          f"was accepted (id {outcome!r})") + f"; expected {names(closed)}",
                       soft=True)

    async def _build(self, **settings: Any) -> Any:
        """Build a target inside the running loop, as the conformance checks do (a target
        may take the running loop when it is built)."""
        return self.factory(**settings)

    def _run_to(self, when: int) -> None:
        self._call(self.driver.sleep_until(when), f"running to t={in_seconds(when)}",
                   "concurrency", now=False)
        self._advance()

    def _effective(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The task specs with each field the target cannot take at its plain value: it
        changes nothing, so a step line does not show it."""
        can = self.can
        unused = {"priority": not can["priority"], "retries": not can["retry"],
                  "outcome": not can["max_retries"], "delay": not can["delay"],
                  "timeout": not can["timeout"], "own_id": not can["task_id"], "work": False}
        return [{k: PLAIN_TASK[k] if unused[k] else v for k, v in task.items()}
                for task in tasks]

    def _submit_tasks(self, tasks: list[dict[str, Any]], at: tuple[int, int] | None = None
                      ) -> Callable[[Model], list[Model]] | None:
        """Submit task specs in one go, now or ``at`` (instant, lag: as :meth:`submit`
        says); return the operation that does the same to a model."""
        batch = []
        for written in tasks:
            spec = {**PLAIN_TASK, **written}  # a step line shows only what differs
            name, work, can = f"t{next(self.names)}", spec["work"], self.can
            retries = spec["retries"] if can["retry"] else 0
            fails = retries + FAILS[spec["outcome"]] if can["max_retries"] else 0
            fails = fails if spec["outcome"] != "ok" else 0  # "flaky": only the last works
            does = Work(None, work, fails) if isinstance(work, str) else Work(work, None, fails)
            options = {"priority": spec["priority"], "task_id": name, "max_retries": retries,
                       "delay": spec["delay"], "timeout": spec["timeout"]}
            options = {k: v for k, v in options.items() if can[k] and (
                v or k in ("max_retries", "priority")) and (k != "task_id" or spec["own_id"])}
            batch.append((name, does, options))
        if not batch:
            return None
        self.steps[-1] += f"  # {', '.join(name for name, _, _ in batch)}"
        if at is None:
            submitting = self.target.submit_all(batch)
        else:
            self.steps[-1] += f" at t={in_seconds(at[0])}"
            self.loop.call_at(at[0] / NS_PER_S, self.target.submit_later, self.loop, batch, at[1])
            self._call(self.driver.sleep_until(at[0]), f"running to t={in_seconds(at[0])}",
                       "concurrency", now=False)
            submitting, self.target.incoming = _result_of(self.target.incoming), None
        self.target.ids, atomic = self._call(submitting, f"submit({batch})", "edge_cases")

        def submit(model: Model) -> list[Model]:
            for (name, does, options), alone in zip(batch, atomic, strict=True):
                model.submit(name, does, priority=options.get("priority", 0),
                             max_retries=options.get("max_retries", 0),
                             delay=options.get("delay", 0.0), timeout=options.get("timeout"),
                             atomic=alone, at=None if at is None else at[0])
            return [model]

        return submit

    # Observing the target

    def _observe(self, snapshot: dict[str, int] | None) -> Observation:
        """Statuses (of all tasks while the cache is small, else of those not yet seen
        finished) and the results of newly finished ones."""
        names = [n for n in self.models[0].tasks
                 if not (n in self.checked and self.cache == BIG_CACHE)]
        observation = self._call(self.target.look(snapshot, names, self.answers, self.checked),
                                 "status()/result()", "concurrency")
        self.answers = {}
        return observation

    # Steps and failures

    def allows(self, rule_name: str) -> bool:
        """Whether a rule's precondition holds now (a replay calls rules directly)."""
        holds = PRECONDITIONS.get(rule_name)
        return holds is None or bool(holds(self))

    def _choose(self, which: str, pick: int) -> str | None:
        tasks = self.models[0].tasks
        if which == "unknown" or not tasks:
            return None
        states = {"pending": ("queued", "delayed"), "running": ("running",),
                  "backoff": ("backoff",), "finished": FINISHED}[which]
        chosen = [n for n, t in tasks.items() if t.state in states] or list(tasks)
        return chosen[pick % len(chosen)]

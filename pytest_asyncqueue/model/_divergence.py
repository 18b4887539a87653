"""Following a target instant by instant, and naming the rule it broke when no outcome fits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..contract import NS_PER_S, in_seconds
from ._model import Model
from ._params import backoff
from ._task import _Task


@dataclass(frozen=True)
class Finding:
    """A broken rule: the report category, the invariant's name, observed vs expected."""

    category: str
    check: str
    message: str


class Divergence(Exception):
    """The target did something at an instant that no outcome of the model allows.

    Attributes:
        time: the instant, in nanoseconds.
        before: the first surviving model just before the instant.
        expected: its canonical outcome at that instant.
        observed: the events ``(kind, name, attempt)`` the target produced there, in order.
    """

    def __init__(self, time: int, before: Model, expected: Model,
                 observed: list[tuple[str, str, int]]) -> None:
        super().__init__(f"divergence at {time / NS_PER_S:g}s")
        self.time, self.before, self.expected, self.observed = time, before, expected, observed

    def explain(self) -> Finding:
        """Name the rule the target broke at this instant, and how.

        The most specific explanation wins: a start that a rule forbids outright, then the
        order of starts, then a retry or delayed start that did not happen, then how
        attempts ended, then how many ran at once.
        """
        expected = {(e.slot, e.name, e.attempt): e for e in self.expected.log}
        seen = {("start" if k == "start" else "finish", n, a): k for k, n, a in self.observed}
        extra = [(n, a) for (s, n, a) in seen if s == "start" and (s, n, a) not in expected]
        missing = [(n, a) for (s, n, a), e in expected.items()
                   if s == "start" and not e.optional and (s, n, a) not in seen]
        for name, attempt in extra:
            if found := self._forbidden_start(name, attempt):
                return found
        for kind, name, _ in self.observed:
            if kind == "start" and (found := self._overtaken(self.before.task(name))):
                return found
        for name, attempt in missing:
            if attempt > 1 or self.before.task(name).state == "delayed":
                return self._missing_start(name, attempt)
        for (slot, name, attempt), event in expected.items():
            kind = seen.get((slot, name, attempt))
            if slot == "finish" and not event.optional and kind not in event.kinds:
                return self._wrong_end(name, attempt, event.kinds, kind)
        for (slot, name, attempt), kind in seen.items():
            if (slot, name, attempt) not in expected:
                task = self.before.tasks.get(name)
                if slot == "start":
                    return Finding("concurrency", "at_most_workers", f"S2: attempt {attempt} "
                                   f"of {name} started at t={self._t()} ({_about(task)}) and "
                                   f"{self._peak()} handlers ran at once; expected at most "
                                   f"workers={self.before.params.workers}")
                cancelled = task is not None and (task.state == "cancelled" or task.cancelling)
                return Finding("cancellation" if cancelled else "concurrency", "attempt_ends",
                               f"{'S4' if cancelled else 'S2'}: attempt {attempt} of {name} "
                               f"ended ({kind}) at t={self._t()}; expected no end then "
                               f"({_about(task)})")
        if missing:
            return self._missing_start(*missing[0])
        return Finding("concurrency", "model_timeline", f"at t={self._t()} the target did "
                       f"{self.observed}; expected {sorted(expected)}")

    def _t(self, when: int | None = None) -> str:
        return in_seconds(self.time if when is None else when)

    def _forbidden_start(self, name: str, attempt: int) -> Finding | None:
        """The rule an unexpected start breaks outright, or None if it was eligible."""
        task, p, t = self.before.tasks.get(name), self.before.params, self._t()
        if task is None:
            return Finding("concurrency", "model_timeline", f"unknown {name} started at t={t}")
        if task.state == "cancelled":
            return Finding("cancellation", "cancelled_never_starts", f"S4: {name} was "
                           f"cancelled at t={self._t(task.finished_at)} but attempt {attempt} "
                           f"started at t={t}")
        if task.state == "failed" or attempt > task.max_retries + 1:
            return Finding("retries", "attempt_count", f"S3: {name} (max_retries="
                           f"{task.max_retries}) started attempt {attempt} at t={t}; expected "
                           f"at most {task.max_retries + 1} attempts")
        if task.state == "completed":
            return Finding("concurrency", "attempt_ends", f"S2: {name} completed at "
                           f"t={self._t(task.finished_at)} but started again at t={t}")
        if task.state == "backoff" and task.due != self.time:
            wait = backoff(task.attempts, p.base_delay, p.max_delay)
            return Finding("retries", "backoff_gap", f"S3: retry {attempt - 1} of {name} started "
                           f"at t={t}, {self._t(self.time - task.failed_at)}s after attempt "
                           f"{task.attempts} failed; expected min({p.base_delay} * 2**"
                           f"{task.attempts - 1}, {p.max_delay}) = {wait:g}s")
        if task.state == "delayed" and task.due != self.time:
            return Finding("scheduling", "delay_respected", f"S1: {name} started at t={t}; its "
                           f"start delay ends at t={self._t(task.due)}")
        return None

    def _peak(self) -> int:
        """The most attempts running at once during the instant, as the target did it."""
        running = peak = self.before.running()
        for kind, _, _ in self.observed:
            running += 1 if kind == "start" else -1
            peak = max(peak, running)
        return peak

    def _overtaken(self, task: _Task) -> Finding | None:
        """S1 broken if ``task`` started before (or instead of) a task of better rank that
        was eligible at this instant."""
        before, p = self.before, self.before.params
        starts = [name for kind, name, _ in self.observed if kind == "start"]
        earlier = set(starts[:starts.index(task.name)]) if task.name in starts else set(starts)
        better = [other for other in before.tasks.values() if other.name not in earlier and (
            other.state == "queued" or other.state in ("delayed", "backoff")
            and other.due == self.time) and before.rank(other) < before.rank(task)]
        if task.state not in ("queued", "delayed", "backoff") or not better or (
                self._peak() > p.workers):
            return None
        other = min(better, key=before.rank)
        return Finding("ordering", "best_rank_first", f"S1: at t={self._t()} {task.name} "
                       f"(priority {task.priority}, submitted #{task.seq}) started before "
                       f"{other.name} (priority {other.priority}, submitted #{other.seq}), "
                       f"which was waiting; expected "
                       f"{'higher' if p.high_first else 'lower'} priority first, then "
                       f"submission order"
                       + ("" if other.place == other.seq else " (a retry keeps its place)"))

    def _wrong_end(self, name: str, attempt: int, kinds: frozenset[str], kind: str | None
                   ) -> Finding:
        task, t = self.before.task(name), self.time
        seen = f"ended {kind}" if kind else "went on running"
        want = "/".join(sorted(kinds))
        if "cancelled" in kinds and task.cancelling is None and task.deadline == t:
            return Finding("scheduling", "timeout_cancels", f"S4: attempt {attempt} of {name} "
                           f"reached its timeout={task.timeout} at t={self._t()} and should "
                           f"end {want}; the handler {seen}")
        if "cancelled" in kinds:
            return Finding("cancellation", "cancel_reaches_handler", f"S4: attempt {attempt} "
                           f"of {name} was cancelled and should end {want} at t={self._t()}; "
                           f"the handler {seen}")
        return Finding("concurrency", "attempt_ends", f"S2: attempt {attempt} of {name} should "
                       f"end {want} at t={self._t()}; the handler {seen}")

    def _missing_start(self, name: str, attempt: int) -> Finding:
        task, t = self.before.task(name), self._t()
        if attempt > 1:
            return Finding("retries", "retry_happens", f"S3: retry {attempt - 1} of {name} "
                           f"(max_retries={task.max_retries}) should start at t={t}, after "
                           f"attempt {task.attempts} failed at t={self._t(task.failed_at)} and "
                           f"its backoff; it did not")
        if task.state == "delayed":
            return Finding("scheduling", "delay_respected", f"S1: {name} should start at t={t} "
                           f"when its start delay ends; it did not")
        return Finding("concurrency", "free_worker_starts", f"S2: at t={t} {name} was eligible "
                       f"and a worker was free ({self.before.running()} of "
                       f"{self.before.params.workers} busy before), but it did not start")


def _about(task: _Task | None) -> str:
    if task is None:
        return "unknown to the model"
    return (f"{task.state}, {task.attempts} attempts, max_retries={task.max_retries}, "
            f"priority={task.priority}")


def follow(models: list[Model], until: int, observed: dict[int, list[tuple[str, str, int]]],
           alive: Callable[[], None] | None = None) -> list[Model]:
    """Advance every candidate model through ``[now, until]``, keeping those that agree.

    The instant ``now`` is processed first (an operation may just have happened there),
    then every instant at which a candidate has something due or the target did something.

    Args:
        models: candidate models, all at the same ``now``.
        until: the target's time after the step, in nanoseconds.
        observed: the target's events by instant.
        alive: called after each instant: a sign of life for a watchdog (this is the
            harness's work, not a target stuck in a callback).

    Returns:
        The distinct surviving candidates (never empty).

    Raises:
        Divergence: no candidate matches at some instant.
    """
    when = models[0].now
    while True:
        survivors: dict[tuple[Any, ...], Model] = {}
        seen = observed.get(when, [])
        started = tuple(dict.fromkeys(name for kind, name, _ in seen if kind == "start"))
        for model in models:
            for outcome in model.at(when, started):
                if outcome.matches(seen):
                    survivors.setdefault(outcome.key(), outcome)
        if not survivors:
            raise Divergence(when, models[0], models[0].at(when)[0], seen)
        models = list(survivors.values())
        if alive is not None:
            alive()
        later = [t for t in observed if t > when]
        later += [t for m in models if (t := m.next_time()) is not None and t > when]
        if not later or min(later) > until:
            for model in models:
                model.now = max(model.now, until)  # nothing is due in between
            return models
        when = min(later)

"""An executable model of the queue contract (DESIGN section 2): pure, synchronous, exact.

Given what a harness does to a queue (submit, cancel, open a gate, stop) and when, the model
says what a correct queue does: which task starts at which instant, how each attempt ends,
when each retry becomes eligible (``min(base_delay * 2**k, max_delay)`` after failure k),
what ``cancel`` returns, and every stats counter. The state machines (``machines.py``) drive a
real target through the same operations and compare it with the model after every step.

Example:
    >>> m = Model(Params(workers=1))
    >>> for name, priority in [("a", 1), ("b", 5), ("c", 3), ("d", 5), ("e", 2)]:
    ...     m.submit(name, Probe(seconds=1.0), priority=priority)
    >>> m = m.run()
    >>> [name for _, kind, name, _ in m.history if kind == "start"]
    ['b', 'd', 'c', 'e', 'a']

IMPLEMENTATION DETAIL - instants and their interleavings
========================================================

Time is an integer count of nanoseconds, like the virtual clock's, so sums are exact. At one
instant several things may be due together: attempts ending, delays and backoffs running
out, a cancel racing them, free workers picking tasks. A real queue handles them over
several loop iterations in an order the contract leaves open (a worker freed at t may pick
before or after a backoff that also ends at t has put its task back). :meth:`Model.at`
explores every order with a depth-first search over the atomic moves, merging equal states,
and returns every distinct outcome; the caller keeps those that match what it observed
(:func:`follow`). Most instants have exactly one outcome.

IMPLEMENTATION DETAIL - open points
===================================

:class:`Params` holds the readings a shape leaves open (priority direction, where a retry
re-enters among equal priorities, when ``retried`` rises, what a draining stop does to
queued work). :func:`readings` makes one :class:`Params` per combination a target's
``Capabilities`` accept; the machines follow all of them and drop those the target refutes.
"""

from __future__ import annotations

import copy
import itertools
import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from .contract import FINISHED, NS_PER_S, in_seconds, ns

__all__ = ["Divergence", "Expect", "Finding", "Model", "Params", "Probe", "backoff", "follow",
           "readings"]

WAITING: Final = ("delayed", "queued", "backoff")  # all reported as "pending"
_PREFERRED: Final = {"original": 0, "back": 1, "scheduled": 0, "started": 1, "run": 0,
                     "cancel": 1}  # DESIGN's reading first: it is the canonical outcome


def backoff(failures: int, base_delay: float, max_delay: float) -> float:
    """The wait after failed attempt ``failures``: ``min(base * 2**k, max)``, k = failures - 1."""
    k = failures - 1
    return max_delay if k >= 1024 else min(base_delay * 2.0**k, max_delay)


@dataclass(frozen=True)
class Params:
    """The queue's settings and the readings of the points its shape leaves open.

    Attributes:
        workers: worker count.
        base_delay: backoff after the first failure, seconds.
        max_delay: cap on any backoff, seconds.
        high_first: higher ``priority`` runs first (False: lower numbers first).
        retry_place: "original" (a retry keeps its submission sequence number) or "back"
            (it re-enters behind the tasks waiting when its backoff ends).
        retried_when: "scheduled" (``retried`` rises when a retry is scheduled) or "started".
        stop_queued: on a draining stop, waiting tasks "run" or are "cancel"led at once
            (retries scheduled after the stop are then cancelled too).
    """

    workers: int
    base_delay: float = 0.1
    max_delay: float = 10.0
    high_first: bool = True
    retry_place: str = "original"
    retried_when: str = "scheduled"
    stop_queued: str = "run"

    def __post_init__(self) -> None:
        for name, allowed in (("retry_place", ("original", "back")),
                              ("retried_when", ("scheduled", "started")),
                              ("stop_queued", ("run", "cancel"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r} must be one of {allowed}")
        if self.workers < 1:
            raise ValueError(f"workers={self.workers!r} must be >= 1")


def readings(capabilities: Any, **settings: Any) -> list[Params]:
    """One :class:`Params` per combination of open-point readings ``capabilities`` accepts.

    Args:
        capabilities: an ``adapters.Capabilities`` (its ``retry_keeps_place``,
            ``retried_counted`` and ``stop_runs_queued`` sets).
        **settings: ``workers``, ``base_delay``, ``max_delay``, ``high_first``.

    Returns:
        The combinations, DESIGN's own reading first.
    """
    def ordered(values: Iterable[str]) -> list[str]:
        return sorted(values, key=_PREFERRED.__getitem__)

    return [Params(retry_place=place, retried_when=when, stop_queued=stop, **settings)
            for place, when, stop in itertools.product(
                ordered(capabilities.retry_keeps_place), ordered(capabilities.retried_counted),
                ordered(capabilities.stop_runs_queued))]


@dataclass(frozen=True)
class Probe:
    """What every attempt of a task's handler does: wait, then fail or return.

    Attributes:
        seconds: how long an attempt runs, in loop seconds (0: it ends at the instant it
            starts); None when it waits for ``gate`` instead.
        gate: the name of the gate an attempt waits for (ends at once once it is open).
        fails: the first ``fails`` attempts raise; later ones return.
    """

    seconds: float | None = 0.0
    gate: str | None = None
    fails: int = 0

    def __post_init__(self) -> None:
        if (self.seconds is None) == (self.gate is None):
            raise ValueError("a Probe runs for seconds or waits for a gate, exactly one of them")


@dataclass(frozen=True)
class Expect:
    """One event the model expects at the current instant.

    Attributes:
        slot: "start" or "finish" of an attempt.
        name: the task.
        attempt: 1 for the first attempt.
        kinds: the accepted kinds of a finish ("end", "fail", "cancelled").
        optional: a racing cancel may have stopped the attempt before its handler ran.
    """

    slot: str
    name: str
    attempt: int
    kinds: frozenset[str] = frozenset({"start"})
    optional: bool = False


@dataclass(slots=True)
class _Task:
    """One task as a correct queue sees it.

    ``state`` is "delayed" (start delay), "queued" (eligible), "backoff", "running",
    "completed", "failed" or "cancelled"; ``place`` is its rank among equal priorities.
    Times are nanoseconds.
    """

    name: str
    priority: int
    seq: int
    max_retries: int
    probe: Probe
    place: int
    state: str = "queued"
    attempts: int = 0
    timeout: float | None = None
    due: int | None = None  # when it arrives (delayed/backoff) or departs (running)
    ends: int | None = None  # when the running attempt ends by itself (None: on a gate)
    deadline: int | None = None  # when the running attempt times out
    started: int | None = None
    failed_at: int | None = None
    timed_out: bool = False  # the last failed attempt timed out
    cancelling: str | None = None  # "now", "race" or "timeout": the attempt is being cancelled
    finished_at: int | None = None

    def copy(self) -> _Task:
        """An independent copy (much faster than ``copy.copy`` on a slotted dataclass)."""
        return _Task(*_task_fields(self))

    def next_event(self) -> int | None:
        """When something next happens to this task by itself, or None."""
        if self.state == "running" and self.cancelling is None and self.deadline is not None:
            return self.deadline if self.due is None else min(self.due, self.deadline)
        return self.due


@dataclass
class Model:
    """The state of a correct queue, advanced by operations and by time.

    Operations (:meth:`submit`, :meth:`cancel`, :meth:`cancel_at`, :meth:`open_gate`,
    :meth:`stop`) happen at :attr:`now`; then :meth:`at` processes what follows at ``now``
    (picks, zero-length attempts) and later instants in turn. Times are nanoseconds.

    Args:
        params: settings and readings.

    Attributes:
        now: the current instant, in nanoseconds.
        answers: what each racing cancel (:meth:`cancel_at`) returned, by task name.
        log: the events expected at the last instant processed (:class:`Expect`).
        history: every event so far as ``(seconds, kind, name, attempt)``, kind "start",
            "end", "fail" or "cancelled" (the canonical one where several are allowed).
    """

    params: Params
    now: int = 0
    submitted: int = 0
    retried: int = 0
    closed: bool = False
    halted: bool = False
    tasks: dict[str, _Task] = field(default_factory=dict)
    gates: set[str] = field(default_factory=set)
    races: list[tuple[int, str]] = field(default_factory=list)
    answers: dict[str, bool] = field(default_factory=dict)
    log: list[Expect] = field(default_factory=list)
    history: list[tuple[float, str, str, int]] = field(default_factory=list)
    _seq: int = 0

    def clone(self) -> Model:
        """An independent copy."""
        other = copy.copy(self)
        other.tasks = {name: task.copy() for name, task in self.tasks.items()}
        other.gates, other.races = set(self.gates), list(self.races)
        other.answers, other.log, other.history = dict(self.answers), list(self.log), list(
            self.history)
        return other

    # Operations

    def submit(self, name: str, probe: Probe, *, priority: int = 0, max_retries: int = 0,
               delay: float = 0.0, timeout: float | None = None, atomic: bool = True) -> None:
        """Accept a task now; it becomes eligible after ``delay`` seconds.

        Each attempt that runs longer than ``timeout`` seconds is cancelled and counts as a
        failed attempt (S4). ``atomic=False`` says the target's ``submit`` let the loop run:
        workers may then have picked before the task was queued.

        Raises:
            RuntimeError: the queue is stopped. ValueError: ``name`` is taken.
        """
        if self.closed:
            raise RuntimeError("submit after stop")
        if name in self.tasks:
            raise ValueError(f"duplicate task {name!r}")
        self._seq += 1
        task = _Task(name, priority, self._seq, max_retries, probe, self._seq, timeout=timeout)
        if delay > 0 or not atomic:
            task.state, task.due = "delayed", self.now + ns(delay)
        self.tasks[name] = task
        self.submitted += 1

    def cancel(self, name: str) -> bool:
        """Cancel now (S4); return what ``cancel`` must return."""
        task = self.tasks.get(name)
        if task is None or task.state in FINISHED:
            return False
        if task.state == "running":
            if task.cancelling in (None, "timeout"):
                task.cancelling, task.due = "now", self.now
        else:
            self._finish(task, "cancelled")
        return True

    def cancel_at(self, name: str, seconds: float) -> None:
        """Schedule a cancel that races whatever else is due at ``seconds``; its return
        value lands in :attr:`answers`."""
        self.races.append((ns(seconds), name))

    def open_gate(self, gate: str) -> None:
        """Open a gate: attempts waiting on it end now, later ones at once."""
        self.gates.add(gate)
        for task in self.tasks.values():
            if task.state == "running" and task.probe.gate == gate and task.ends is None:
                task.ends = self.now
                if task.cancelling is None:
                    task.due = self.now

    def stop(self, drain: bool) -> None:
        """Stop accepting work; drain (by :attr:`Params.stop_queued`) or cancel everything."""
        self.closed = True
        if drain and self.params.stop_queued == "run":
            return
        self.halted = not drain
        for task in self.tasks.values():
            if task.state in WAITING:
                self._finish(task, "cancelled")
            elif task.state == "running" and not drain and task.cancelling in (None, "timeout"):
                task.cancelling, task.due = "now", self.now

    # Time

    def next_time(self) -> int | None:
        """The next instant at which something is due, or None."""
        times = [when for t in self.tasks.values() if (when := t.next_event()) is not None]
        times += [when for when, _ in self.races]
        return min(times) if times else None

    def at(self, when: int) -> list[Model]:
        """Every distinct outcome of processing instant ``when`` (>= :attr:`now`).

        Each outcome's :attr:`log` holds the events expected at that instant; the first
        outcome is the canonical one (timers first, then picks).
        """
        start = self.clone()
        start.now, start.log = when, []
        outcomes: dict[tuple[Any, ...], Model] = {}
        seen: set[tuple[Any, ...]] = set()
        stack = [start]
        while stack:
            model = stack.pop()
            moves = model._moves()
            while len(moves) == 1:  # no choice to make: no copy either
                model._do(moves[0])
                moves = model._moves()
            key = model.key()
            if key in seen:
                continue
            seen.add(key)
            if not moves:
                outcomes[key] = model
                continue
            for move in reversed(moves):
                branch = model.clone()
                branch._do(move)
                stack.append(branch)
        return list(outcomes.values())

    def run(self, until: float | None = None) -> Model:
        """The canonical course of events up to ``until`` seconds (or until nothing is due)."""
        model = self.at(self.now)[0]
        limit = None if until is None else ns(until)
        while (t := model.next_time()) is not None and (limit is None or t <= limit):
            model = model.at(t)[0]
        if limit is not None and limit > model.now:
            model = model.at(limit)[0]
        return model

    def matches(self, observed: Iterable[tuple[str, str, int]]) -> bool:
        """Whether events ``(kind, name, attempt)`` seen at this instant are the expected ones."""
        expected = {(e.slot, e.name, e.attempt): e for e in self.log}
        seen = set()
        for kind, name, attempt in observed:
            key = ("start" if kind == "start" else "finish", name, attempt)
            event = expected.get(key)
            if event is None or key in seen or kind not in event.kinds:
                return False
            seen.add(key)
        return all(e.optional or (e.slot, e.name, e.attempt) in seen for e in self.log)

    # Observations

    def status(self, name: str) -> str | None:
        """"pending", "running", "completed", "failed", "cancelled", or None if unknown."""
        task = self.tasks.get(name)
        if task is None:
            return None
        return "pending" if task.state in WAITING else task.state

    def task(self, name: str) -> _Task:
        """The record of one task (read it, do not change it)."""
        return self.tasks[name]

    def running(self) -> int:
        return sum(1 for task in self.tasks.values() if task.state == "running")

    def workers_alive(self) -> int:
        """Live workers: all of them until a stop has finished every task."""
        done = all(task.state in FINISHED for task in self.tasks.values())
        return 0 if self.closed and done else self.params.workers

    def stats(self) -> dict[str, int]:
        """Every counter of DESIGN S6, as a correct queue reports it now."""
        states = [task.state for task in self.tasks.values()]
        return {"submitted": self.submitted,
                "pending": sum(1 for s in states if s in WAITING),
                "running": states.count("running"), "completed": states.count("completed"),
                "failed": states.count("failed"), "cancelled": states.count("cancelled"),
                "retried": self.retried, "workers": self.workers_alive()}

    def key(self) -> tuple[Any, ...]:
        """Everything that tells two states apart (readings included)."""
        return (self.params, self.now, self.retried, self.closed, self.halted,
                tuple((t.state, t.attempts, t.due, t.ends, t.deadline, t.place, t.cancelling)
                      for t in self.tasks.values()),
                frozenset(self.gates), tuple(self.races), tuple(sorted(self.answers.items())),
                frozenset(self.log))

    # Moves within one instant

    def _moves(self) -> list[tuple[str, str | None]]:
        """The moves possible now, reduced to those whose order can matter.

        An attempt's end only frees a worker, so ends are taken first, one at a time (an
        attempt that ends and times out at once gives a choice), except for a task that a
        cancel races. Tasks whose delay or backoff ends now arrive together, before or
        after free workers pick.
        """
        now = self.now
        racing = {name for when, name in self.races if when == now}
        ends: list[tuple[str, str | None]] = []
        for task in self.tasks.values():
            if task.state != "running":
                continue
            options = [("depart", task.name)] if task.due == now else []
            if task.cancelling is None and task.deadline == now:
                options.append(("expire", task.name))
            if options and task.name not in racing:
                return options
            ends += options
        moves = ends + [("race", name) for name in racing]
        if any(t.due == now and t.state in ("delayed", "backoff") for t in self.tasks.values()):
            moves.append(("arrive", None))
        if (not self.halted and self.running() < self.params.workers
                and any(task.state == "queued" for task in self.tasks.values())):
            moves.append(("pick", None))
        return moves

    def _do(self, move: tuple[str, str | None]) -> None:
        kind, name = move
        if kind == "pick":
            self._start(self._best())
        elif kind == "arrive":
            for task in self.tasks.values():
                if task.due == self.now and task.state in ("delayed", "backoff"):
                    task.state, task.due = "queued", None
                    if task.attempts and self.params.retry_place == "back":
                        self._seq += 1
                        task.place = self._seq
        elif kind == "depart":
            self._depart(self.tasks[name])
        elif kind == "expire":
            task = self.tasks[name]
            task.cancelling, task.due = "timeout", self.now
        else:
            self.races.remove((self.now, name))
            self.answers[name] = self._race(name)

    def rank(self, task: _Task) -> tuple[int, int]:
        """The sort key of a waiting task: lower starts first (S1)."""
        return (-task.priority if self.params.high_first else task.priority, task.place)

    def _best(self) -> _Task:
        return min((t for t in self.tasks.values() if t.state == "queued"), key=self.rank)

    def _start(self, task: _Task) -> None:
        now = self.now
        task.state, task.started = "running", now
        task.attempts += 1
        if task.attempts > 1 and self.params.retried_when == "started":
            self.retried += 1
        probe = task.probe
        if probe.gate is None:
            task.ends = now + ns(probe.seconds)
        else:
            task.ends = now if probe.gate in self.gates else None
        task.due = task.ends
        task.deadline = None if task.timeout is None else now + ns(task.timeout)
        self._expect(Expect("start", task.name, task.attempts))

    def _depart(self, task: _Task) -> None:
        now, n = self.now, task.attempts
        natural = "fail" if n <= task.probe.fails else "end"
        cancelling = task.cancelling
        if cancelling is not None:
            kinds = {"cancelled"}
            if cancelling != "now" and task.ends == now:
                kinds.add(natural)  # the handler may have finished before the cancel landed
            optional = cancelling == "race" and task.started == now
            self._expect(Expect("finish", task.name, n, frozenset(kinds), optional))
            if cancelling != "timeout":
                self._finish(task, "cancelled")
                return
            natural = "fail"  # a timed-out attempt failed (TimeoutError)
        else:
            self._expect(Expect("finish", task.name, n, frozenset({natural})))
        task.timed_out, task.cancelling = cancelling == "timeout", None
        if natural == "end":
            self._finish(task, "completed")
        elif n > task.max_retries:
            self._finish(task, "failed")
        else:
            if self.params.retried_when == "scheduled":
                self.retried += 1
            if self.closed and self.params.stop_queued == "cancel":
                self._finish(task, "cancelled")
                return
            params = self.params
            task.state, task.failed_at = "backoff", now
            task.due = now + ns(backoff(n, params.base_delay, params.max_delay))
            task.ends = task.deadline = None

    def _race(self, name: str) -> bool:
        task = self.tasks.get(name)
        if task is None or task.state in FINISHED:
            return False
        if task.state != "running":
            self._finish(task, "cancelled")
        elif task.cancelling in (None, "timeout"):
            task.cancelling, task.due = "race", self.now
            if task.started == self.now:  # its handler may never have run
                self.log = [Expect(e.slot, e.name, e.attempt, e.kinds, True)
                            if (e.slot, e.name, e.attempt) == ("start", name, task.attempts)
                            else e for e in self.log]
        return True

    def _finish(self, task: _Task, state: str) -> None:
        task.state, task.finished_at = state, self.now
        task.due = task.ends = task.deadline = None

    def _expect(self, event: Expect) -> None:
        self.log.append(event)
        kind = "start" if event.slot == "start" else min(event.kinds)
        self.history.append((self.now / NS_PER_S, kind, event.name, event.attempt))


@dataclass(frozen=True)
class Finding:
    """A broken rule: the report category, the invariant's name, observed vs expected."""

    category: str
    check: str
    message: str


_TASK_FIELDS: Final = tuple(_Task.__slots__)
_task_fields: Final = operator.attrgetter(*_TASK_FIELDS)


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


def follow(models: list[Model], until: int,
           observed: dict[int, list[tuple[str, str, int]]]) -> list[Model]:
    """Advance every candidate model through ``[now, until]``, keeping those that agree.

    The instant ``now`` is processed first (an operation may just have happened there),
    then every instant at which a candidate has something due or the target did something.

    Args:
        models: candidate models, all at the same ``now``.
        until: the target's time after the step, in nanoseconds.
        observed: the target's events by instant.

    Returns:
        The distinct surviving candidates (never empty).

    Raises:
        Divergence: no candidate matches at some instant.
    """
    when = models[0].now
    while True:
        survivors: dict[tuple[Any, ...], Model] = {}
        seen = observed.get(when, [])
        for model in models:
            for outcome in model.at(when):
                if outcome.matches(seen):
                    survivors.setdefault(outcome.key(), outcome)
        if not survivors:
            raise Divergence(when, models[0], models[0].at(when)[0], seen)
        models = list(survivors.values())
        later = [t for t in observed if t > when]
        later += [t for m in models if (t := m.next_time()) is not None and t > when]
        if not later or min(later) > until:
            for model in models:
                model.now = max(model.now, until)  # nothing is due in between
            return models
        when = min(later)

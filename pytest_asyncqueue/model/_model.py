"""The model itself: the state of a correct queue, advanced by operations and by time."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..contract import FINISHED, NS_PER_S, ns
from ._params import Params, backoff
from ._task import WAITING, Expect, Work, _Task

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
    started: tuple[str, ...] = ()  # what the target started at the instant processed, in order
    _seq: int = 0

    def clone(self) -> Model:
        """An independent copy (a finished task never changes again: the two share it)."""
        other = copy.copy(self)
        other.tasks = {name: task if task.state in FINISHED else task.copy()
                       for name, task in self.tasks.items()}
        other.gates, other.races = set(self.gates), list(self.races)
        other.answers, other.log, other.history = dict(self.answers), list(self.log), list(
            self.history)
        return other

    # Operations

    def submit(self, name: str, work: Work, *, priority: int = 0, max_retries: int = 0,
               delay: float = 0.0, timeout: float | None = None, atomic: bool = True,
               at: int | None = None) -> None:
        """Accept a task now; it becomes eligible after ``delay`` seconds.

        Each attempt that runs longer than ``timeout`` seconds is cancelled and counts as a
        failed attempt (S4). ``atomic=False`` says the target's ``submit`` let the loop run:
        workers may then have picked before the task was queued. ``at``: the submit lands
        at that later instant instead, at any point of it (racing what falls due then); the
        task then ranks behind everything submitted or re-entered before it.

        Raises:
            RuntimeError: the queue is stopped. ValueError: ``name`` is taken.
        """
        if self.closed:
            raise RuntimeError("submit after stop")
        if name in self.tasks:
            raise ValueError(f"duplicate task {name!r}")
        self._seq += 1
        task = _Task(name, priority, self._seq, max_retries, work, self._seq, timeout=timeout)
        if at is not None:
            task.state, task.due, task.fresh = "delayed", at, True
        elif delay > 0 or not atomic:
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
            if task.state == "running" and task.work.gate == gate and task.ends is None:
                task.ends = self.now
                if task.cancelling is None:
                    task.due = self.now

    def stop(self, drain: bool) -> None:
        """Stop accepting work; drain (by :attr:`Params.stop_queued` and
        :attr:`Params.drain_running`) or cancel everything."""
        self.closed = True
        cancel_running = not drain or self.params.drain_running == "cancel"
        self.halted = not drain
        for task in self.tasks.values():
            if task.state in WAITING and not (drain and self.params.stop_queued == "run"):
                self._finish(task, "cancelled")
            elif task.state == "running" and cancel_running and task.cancelling in (
                    None, "timeout"):
                task.cancelling, task.due = "now", self.now

    # Time

    def next_time(self) -> int | None:
        """The next instant at which something is due, or None."""
        times = [when for t in self.tasks.values() if (when := t.next_event()) is not None]
        times += [when for when, _ in self.races]
        return min(times) if times else None

    def at(self, when: int, started: tuple[str, ...] = ()) -> list[Model]:
        """Every distinct outcome of processing instant ``when`` (>= :attr:`now`).

        Each outcome's :attr:`log` holds the events expected at that instant; the first
        outcome is the canonical one (timers first, then picks). ``started``: the tasks a
        target started at that instant, in its order: under :attr:`Params.any_order` the
        picks follow it.
        """
        start = self.clone()
        start.now, start.log, start.started = when, [], started
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
        """Everything that tells two states apart (readings included).

        Places count only by their order (a task that re-enters goes behind all of them
        whatever their numbers), and not at all when any order is accepted: states that
        differ only there have the same futures, so they are one state.
        """
        tasks = self.tasks.values()
        if self.params.any_order:
            rank = dict.fromkeys((t.place for t in tasks), 0)
        else:
            rank = {place: i for i, place in enumerate(sorted({t.place for t in tasks}))}
        return (self.params, self.now, self.retried, self.closed, self.halted,
                tuple((t.state, t.attempts, t.due, t.ends, t.deadline, rank[t.place],
                       t.cancelling) for t in tasks),
                frozenset(self.gates), tuple(self.races), tuple(sorted(self.answers.items())),
                frozenset(self.log))

    # Moves within one instant

    def _moves(self) -> list[tuple[str, Any]]:
        """The moves possible now, reduced to those whose order can matter.

        An attempt's end only frees a worker, so ends are taken first, one at a time (an
        attempt that ends and times out at once gives a choice), except for a task that a
        cancel races. Tasks whose delay or backoff ends now arrive together, before or
        after free workers pick; submits that land now (``submit(at=)``) too, apart from
        them. A free worker picks the best-ranked task; retries that
        re-entered at the back together share one place (their order among themselves is
        open), so a pick among them may take any of them: the ones the target started, if
        it started any.
        """
        now = self.now
        racing = {name for when, name in self.races if when == now}
        ends: list[tuple[str, Any]] = []
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
        due = {t.fresh for t in self.tasks.values()
               if t.due == now and t.state in ("delayed", "backoff")}
        moves += [("arrive", fresh) for fresh in sorted(due)]
        if (not self.halted and self.running() < self.params.workers
                and any(task.state == "queued" for task in self.tasks.values())):
            queued = [t for t in self.tasks.values() if t.state == "queued"]
            if not self.params.any_order:
                best = min(self.rank(t) for t in queued)
                queued = [t for t in queued if self.rank(t) == best]
            names = {t.name for t in queued}
            chosen = [name for name in self.started if name in names]
            if self.params.any_order and chosen:
                moves.append(("pick", chosen[0]))  # the target's order is one that any allows
            elif len(queued) > 1 and chosen:
                moves += [("pick", name) for name in chosen]
            else:
                moves.append(("pick", None))
        return moves

    def _do(self, move: tuple[str, Any]) -> None:
        kind, name = move
        if kind == "pick":
            self._start(self._best() if name is None else self.tasks[name])
        elif kind == "arrive":  # name: whether these are the submits that land now
            places: dict[int, int] = {}  # retries re-entering at the back: one per priority
            for task in self.tasks.values():
                if (task.due == self.now and task.state in ("delayed", "backoff")
                        and task.fresh == name):
                    task.state, task.due = "queued", None
                    if task.fresh:  # in the order they were submitted
                        self._seq += 1
                        task.place, task.fresh = self._seq, False
                    elif task.attempts and self.params.retry_place == "back":
                        if task.priority not in places:
                            self._seq += 1
                            places[task.priority] = self._seq
                        task.place = places[task.priority]
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
        work = task.work
        if work.gate is None:
            task.ends = now + ns(work.seconds)
        else:
            task.ends = now if work.gate in self.gates else None
        task.due = task.ends
        task.deadline = None if task.timeout is None else now + ns(task.timeout)
        self._expect(Expect("start", task.name, task.attempts))

    def _depart(self, task: _Task) -> None:
        now, n = self.now, task.attempts
        natural = "fail" if n <= task.work.fails else "end"
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
            if self.closed and self.params.stop_queued == "cancel":
                self._finish(task, "cancelled")  # no retry is scheduled: none is counted
                return
            if self.params.retried_when == "scheduled":
                self.retried += 1
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


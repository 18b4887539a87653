"""Shrinking a failure by replaying smaller versions of its steps.

Hypothesis's own shrinker is not used: it has no budget but its own (up to minutes on a
slow target), and it would judge an example's final ``stop`` on examples it cut short. So
:func:`run_machines` stops Hypothesis at the first failure, and :func:`shrink` makes the
failure small by replaying candidates with :func:`.replay`, keeping a candidate when it fails
the same check: first drop runs of steps (halves, quarters, ...), then each step but
``init`` and each task of a submitted list, from the last back; then set each task field to
its plain value and each other argument to its simplest (:data:`.SIMPLEST`), one at a time;
and again, while that makes progress. A candidate that leaves a later step without its
precondition is not kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..adapters import TargetFactory
from ._outcomes import MachineFailure, Tally, ThreadsLeaked
from ._replay import StepNotAllowed, replay
from ._steps import PLAIN_TASK, SIMPLEST

Calls = list[tuple[str, dict[str, Any]]]


def shrink(factory: TargetFactory, failure: MachineFailure, *, budget: int,
           heartbeat: Callable[[], None] | None = None) -> MachineFailure:
    """The smallest failure of the same check found in at most ``budget`` replays."""
    shrinker = _Shrinker(factory, failure, budget, heartbeat)
    while shrinker.replays < budget:
        before = shrinker.best.calls
        shrinker.drop()
        shrinker.simplify()
        if shrinker.best.calls == before:
            break
    return shrinker.best


class _Shrinker:
    def __init__(self, factory: TargetFactory, failure: MachineFailure, budget: int,
                 heartbeat: Callable[[], None] | None) -> None:
        self.factory, self.best, self.budget, self.heartbeat = factory, failure, budget, heartbeat
        self.replays = 0

    def drop(self) -> None:
        """Drop runs of steps that the failure does not need, halves first, then single
        steps and submitted tasks."""
        size = len(self.best.calls) // 2
        while size > 1:
            start = len(self.best.calls) - size
            while start > 0:
                calls = list(self.best.calls)
                chunk = calls[start:start + size]
                if chunk and all(rule != "stop" for rule, _ in chunk):
                    self._fails_alike(calls[:start] + calls[start + size:])
                start -= size
            size //= 2
        for index in reversed(range(len(self.best.calls))):
            if index >= len(self.best.calls):  # a drop made the run fail before this step
                continue
            calls = list(self.best.calls)
            if index and calls[index][0] != "stop" and self._fails_alike(
                    calls[:index] + calls[index + 1:]):
                continue
            for task in reversed(range(len(calls[index][1].get("tasks", ())))):
                calls = list(self.best.calls)
                if index >= len(calls):
                    break
                name, arguments = calls[index]
                tasks = arguments.get("tasks", [])
                if len(tasks) > 1 and task < len(tasks):
                    tasks = tasks[:task] + tasks[task + 1:]
                    self._fails_alike(calls[:index] + [(name, {**arguments, "tasks": tasks})]
                                      + calls[index + 1:])

    def simplify(self) -> None:
        """Set task fields and other arguments to their plain or simplest values."""
        for index, key, task, value in list(_simpler(list(self.best.calls))):
            calls = list(self.best.calls)
            if index >= len(calls):
                continue
            name, arguments = calls[index]
            if task is None:
                changed = {**arguments, key: value}
            elif task < len(arguments.get("tasks", ())):
                tasks = list(arguments["tasks"])
                tasks[task] = {**tasks[task], key: value}
                changed = {**arguments, "tasks": tasks}
            else:
                continue
            if changed != arguments:
                self._fails_alike(calls[:index] + [(name, changed)] + calls[index + 1:])

    def _fails_alike(self, calls: Calls) -> bool:
        if self.replays >= self.budget:
            return False
        self.replays += 1
        try:
            replay(self.factory, calls, Tally(heartbeat=self.heartbeat))
        except MachineFailure as found:
            wanted = (self.best.finding.category, self.best.finding.check)
            if (found.finding.category, found.finding.check) == wanted:
                self.best = found
                return True
        except StepNotAllowed:
            pass
        except ThreadsLeaked:  # every further replay would leave more threads running
            self.replays = self.budget
        return False


def _simpler(calls: Calls) -> Iterator[tuple[int, str, int | None, Any]]:
    """``(step, argument or task field, task index or None, simpler value)`` candidates."""
    for index, (rule_name, arguments) in enumerate(calls):
        if rule_name == "stop":  # the final stop's drain is init's
            continue
        for key, value in arguments.items():
            if key in SIMPLEST and value != SIMPLEST[key]:
                yield index, key, None, SIMPLEST[key]
        for task, spec in enumerate(arguments.get("tasks", ())):
            for key, plain in PLAIN_TASK.items():
                if spec.get(key, plain) != plain:
                    yield index, key, task, plain

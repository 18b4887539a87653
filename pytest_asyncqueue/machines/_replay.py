"""Replaying recorded steps against a target, without Hypothesis."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..adapters import TargetFactory
from ..errors import AsyncQueueError
from ._machine import QueueMachine
from ._outcomes import Tally, ThreadsLeaked


class StepNotAllowed(AsyncQueueError):
    """A replayed step whose precondition does not hold (pruning dropped what it needs)."""


def run_steps(factory: TargetFactory, calls: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """Replay recorded steps (``MachineResult.calls``) against a target, without Hypothesis.

    Raises:
        MachineFailure: the target breaks an invariant, as in the run that recorded them
            (threads left running after stop included, as a memory failure).
        StepNotAllowed: a step's precondition does not hold where it stands.
    """
    try:
        replay(factory, calls, Tally())
    except ThreadsLeaked as leak:
        raise leak.as_failure() from None


def replay(factory: TargetFactory, calls: Iterable[tuple[str, dict[str, Any]]],
           tally: Tally, muted: frozenset[str] = frozenset()) -> None:
    """Run ``calls`` on a fresh :class:`QueueMachine`, as Hypothesis would: each rule, then
    the invariant; the final ``stop`` is the teardown's, as in a generated example. A
    finding of a ``muted`` category is noted in the tally (and one after which the example
    cannot go on ends it with Hypothesis's ``UnsatisfiedAssumption``)."""
    machine = QueueMachine(factory, muted=muted, tally=tally)
    try:
        for rule_name, arguments in calls:
            if rule_name != "stop":
                if not machine.allows(rule_name):
                    raise StepNotAllowed(f"{rule_name}: its precondition does not hold")
                getattr(machine, rule_name)(**arguments)
                machine.agrees_with_model()
    finally:
        machine.teardown()

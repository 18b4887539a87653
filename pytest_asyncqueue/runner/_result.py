"""How a check ended (:class:`CheckResult`), for the conformance checks and the state machines.

Private: the public names are re-exported by :mod:`pytest_asyncqueue.runner`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Final

from .._children import BUSY_THREAD_HINT, ChildHung

__all__ = ["SPIN_HINT", "STATUSES", "CheckResult", "hang_hint", "new_seed"]

STATUSES: Final = ("passed", "failed", "skipped")
SPIN_HINT: Final = (
    "the target spins without awaiting (e.g. while True without await, or a worker loop that "
    "swallows every exception)"
)
"""What a check (or the state machines) given up on in a stuck callback ends its message with."""


def hang_hint(hung: ChildHung) -> str:
    """What a hang's message ends with: :data:`SPIN_HINT`, and what a thread the target
    started was doing meanwhile (the cause, when the event loop was not in target code)."""
    if not hung.thread:
        return SPIN_HINT
    thread = f"a thread the target started was running{hung.thread}: {BUSY_THREAD_HINT}"
    return f"{SPIN_HINT}; or {thread}" if hung.where else thread


@dataclass(frozen=True)
class CheckResult:
    """How one check ended.

    Attributes:
        name: the check's name.
        category: its category.
        rule: the contract clause it asserts.
        status: "passed", "failed" or "skipped".
        message: why it failed or was skipped; "" when it passed.
        seed: the seed it ran with (replay with the same seed).
        wall: wall seconds it took.
        hung: it failed because it ran out of wall time (a busy or stuck loop): the sign
            that lowers a run's wall limits to :data:`~pytest_asyncqueue.runner.AFTER_HANG`.
        replay: the command that replays it, when the default (``asyncqueue-check TARGET
            --suite conformance --only CATEGORY --seed SEED``) would not.
        follows_from: the failure (``category::check``) that may explain this one: it was
            found once that one had failed; "" for a failure of its own.
        used: what of the target the check leaned on (:data:`~pytest_asyncqueue.conformance.
            USES` names), by which a failure is found to follow from another.
    """

    name: str
    category: str
    rule: str
    status: str
    message: str = ""
    seed: int = 0
    wall: float = 0.0
    hung: bool = False
    replay: str = ""
    follows_from: str = ""
    used: frozenset[str] = frozenset()


def new_seed() -> int:
    """A fresh random seed for a run (print it: it is what replays the run)."""
    return random.SystemRandom().randrange(1_000_000)

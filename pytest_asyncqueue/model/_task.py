"""What a modelled task's handler does, the events the model expects, and one task's state."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Final

WAITING: Final = ("delayed", "queued", "backoff")  # all reported as "pending"


@dataclass(frozen=True)
class Work:
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
            raise ValueError("a Work runs for seconds or waits for a gate, exactly one of them")


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
    "completed", "failed" or "cancelled"; ``place`` is its rank among equal priorities (retries
    that re-entered at the back together share one: their order among themselves is open).
    Times are nanoseconds.
    """

    name: str
    priority: int
    seq: int
    max_retries: int
    work: Work
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
    fresh: bool = False  # submitted at its arrival instant: its place is taken as it arrives

    def copy(self) -> _Task:
        """An independent copy (much faster than ``copy.copy`` on a slotted dataclass)."""
        return _Task(*_task_fields(self))

    def next_event(self) -> int | None:
        """When something next happens to this task by itself, or None."""
        if self.state == "running" and self.cancelling is None and self.deadline is not None:
            return self.deadline if self.due is None else min(self.due, self.deadline)
        return self.due



_TASK_FIELDS: Final = tuple(_Task.__slots__)
_task_fields: Final = operator.attrgetter(*_TASK_FIELDS)

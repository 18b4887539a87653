"""The records ``TaskQueue`` hands out: stats snapshots (S6) and dead letters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, NamedTuple

__all__ = ["DeadLetter", "QueueStats"]


@dataclass(frozen=True, slots=True)
class QueueStats:
    """A snapshot of the counters, taken at one moment (S6).

    ``pending + running + completed + failed + cancelled == submitted`` always holds;
    ``submitted``, ``completed``, ``failed``, ``cancelled`` and ``retried`` never decrease.
    ``pending`` includes tasks waiting for a start delay or a retry backoff; ``retried``
    counts retries scheduled; ``workers`` is the number of live worker coroutines.
    """

    submitted: int
    pending: int
    running: int
    completed: int
    failed: int
    cancelled: int
    retried: int
    workers: int


class DeadLetter(NamedTuple):
    """A FAILED task whose result is still kept, so that it can be requeued."""

    task_id: Any
    handler: Callable[..., Awaitable[Any]]
    args: tuple
    priority: int
    max_retries: int
    timeout: float | None
    error: BaseException

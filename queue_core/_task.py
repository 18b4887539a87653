"""The task record, task states and the result a finished task leaves behind."""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

__all__ = ["TaskResult", "TaskState"]


class TaskState(enum.Enum):
    """Where a task is in its life. A task waiting for a delay or a backoff is PENDING."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


PENDING = TaskState.PENDING
RUNNING = TaskState.RUNNING
COMPLETED = TaskState.COMPLETED
FAILED = TaskState.FAILED
CANCELLED = TaskState.CANCELLED

# Why a running attempt is being cancelled (Task.cancel_reason).
CANCEL = "cancel"
SELF_CANCEL = "self-cancel"  # the handler cancelled its own task: maybe not delivered yet
TIMEOUT = "timeout"


class TaskResult(NamedTuple):
    """The outcome of a finished task.

    Attributes:
        task_id: the id ``submit()`` returned.
        state: COMPLETED, FAILED or CANCELLED.
        value: the handler's awaited return value (COMPLETED only, else None).
        error: the exception of the last failed attempt, traceback dropped (FAILED only).
        attempts: how many times the handler was started (0 if cancelled before it ran).
        finished_at: the loop time at which the task finished, in loop seconds.
    """

    task_id: Any
    state: TaskState
    value: Any
    error: BaseException | None
    attempts: int
    finished_at: float

    @property
    def retries(self) -> int:
        """How many retries were made: attempts after the first (S3)."""
        return max(self.attempts - 1, 0)

    @property
    def ok(self) -> bool:
        """True if the task COMPLETED."""
        return self.state is COMPLETED


_new_tuple = tuple.__new__


class Task:
    """The record of one submitted task.

    While unfinished it is in the queue's task table; ``handle`` is then the asyncio task of
    the worker running it (RUNNING), or the timer that will make it eligible (waiting for a
    delay or a backoff), else None. Once finished it is released and kept, for its result
    only, in the result cache: ``outcome`` holds the value (COMPLETED) or the exception
    (FAILED), and ``finished_at`` the loop time.

    It has no ``__init__``: ``TaskQueue.submit`` creates it with ``object.__new__`` and sets
    ``task_id``, ``handler``, ``args``, ``priority``, ``seq`` (the submission number),
    ``max_retries``, ``timeout``, then ``attempts = 0``, ``state = PENDING`` and ``handle``,
    ``cancel_reason``, ``waiters`` (the futures of ``result()`` callers) to None; ``outcome``
    and ``finished_at`` are set when it finishes. Building it through a type call and an
    ``__init__`` costs ~40% more, on the path every task takes.
    """

    __slots__ = (
        "task_id", "handler", "args", "priority", "outcome", "finished_at", "seq", "max_retries",
        "timeout", "attempts", "state", "handle", "cancel_reason", "waiters",
    )

    def release(self, keep_call: bool = False) -> None:
        """Drop the references to user objects but the outcome (and the handler and its
        arguments with ``keep_call``, for a dead letter), so a finished task keeps nothing
        else alive (S7)."""
        if not keep_call:
            self.handler = self.args = None
        self.handle = self.waiters = None

    def result(self) -> TaskResult:
        """The :class:`TaskResult` of this finished task."""
        state = self.state
        # tuple.__new__ directly: a NamedTuple's own __new__ is a Python frame more.
        return _new_tuple(TaskResult, (
            self.task_id, state, self.outcome if state is COMPLETED else None,
            self.outcome if state is FAILED else None, self.attempts, self.finished_at))

    def __repr__(self) -> str:
        return f"<Task {self.task_id!r} {self.state.value} priority={self.priority}>"

"""Exceptions raised by queue_core.

Every error subclasses :class:`QueueError` and, where callers expect a builtin, that builtin
too (``DuplicateTask`` is a ``ValueError``, ``UnknownTask`` a ``KeyError``), so existing
``except ValueError`` blocks keep working.
"""

from __future__ import annotations

import asyncio

__all__ = [
    "DuplicateTask",
    "QueueClosed",
    "QueueError",
    "QueueFull",
    "ResultGone",
    "ShutdownTimeout",
    "UnknownTask",
]


class QueueError(Exception):
    """Base class of every error that queue_core raises."""


class QueueClosed(QueueError, RuntimeError):
    """Raised when work is submitted after ``shutdown()`` was called."""


class QueueFull(QueueError, asyncio.QueueFull):
    """Raised by ``submit()`` when ``max_pending`` tasks are already waiting."""


class DuplicateTask(QueueError, ValueError):
    """Raised when ``submit()`` gets a ``task_id`` that the queue still knows."""


class UnknownTask(QueueError, KeyError):
    """Raised when a task id was never submitted to this queue."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class ResultGone(UnknownTask):
    """Raised when a task surely finished but its result is no longer kept (S7)."""


class ShutdownTimeout(QueueError, TimeoutError):
    """Raised by ``shutdown(timeout=)`` when handlers had still not unwound once their tasks
    were cancelled at the deadline: they ignore cancellation. Their tasks are CANCELLED;
    their handlers are abandoned, still running in their workers.

    Attributes:
        abandoned: the ids of those tasks.
    """

    def __init__(self, abandoned: list[object], timeout: float) -> None:
        super().__init__(f"shutdown(timeout={timeout:g}): {len(abandoned)} handler(s) ignored "
                         f"their cancellation and were abandoned, still running (tasks "
                         f"{', '.join(map(repr, abandoned[:5]))}); their tasks are CANCELLED")
        self.abandoned = abandoned

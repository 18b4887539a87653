"""Exceptions raised by pytest-asyncqueue; all share the base class AsyncQueueError."""

from __future__ import annotations

__all__ = [
    "AsyncQueueError",
    "BlockingCallError",
    "DeadlockError",
    "RealTimeLimitError",
]


class AsyncQueueError(Exception):
    """Base class of every error pytest-asyncqueue raises on purpose."""


class DeadlockError(AsyncQueueError):
    """Raised when tasks wait but nothing can run and no timer, thread or I/O can wake them."""


class BlockingCallError(AsyncQueueError):
    """Raised when a callback holds the event loop longer than the blocking threshold."""


class RealTimeLimitError(AsyncQueueError, TimeoutError):
    """Raised when one run of a virtual-clock loop takes more wall time than max_real_seconds."""

"""queue_core: a small, correct, fast asyncio task queue.

Priorities with FIFO ties, a worker pool, retries with exponential backoff, cancellation of
pending and running tasks, shutdown with or without draining, exact stats, start delays,
per-task timeouts, dead letters and a bounded result cache. The contract it implements is
DESIGN.md S1-S9 of pytest-asyncqueue. Only the standard library is used.

Example::

    async with TaskQueue(workers=4) as q:
        task_id = q.submit(fetch, url, priority=5, max_retries=3)
        result = await q.result(task_id)
"""

from ._errors import (
    DuplicateTask, QueueClosed, QueueError, QueueFull, ResultGone,
    ShutdownTimeout, UnknownTask,
)
from ._queue import TaskQueue
from ._records import DeadLetter, QueueStats
from ._retry import backoff_delay
from ._task import TaskResult, TaskState

__all__ = [
    "DeadLetter",
    "DuplicateTask",
    "QueueClosed",
    "QueueError",
    "QueueFull",
    "QueueStats",
    "ResultGone",
    "ShutdownTimeout",
    "TaskQueue",
    "TaskResult",
    "TaskState",
    "UnknownTask",
    "backoff_delay",
]

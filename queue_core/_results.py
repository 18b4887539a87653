"""The bounded result cache: LRU by ``max_results``, TTL on the loop clock (DESIGN S7)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

from ._task import Task

__all__ = ["ResultCache"]


class ResultCache:
    """Keeps the records of the latest ``max_results`` finished tasks, each for ``ttl``.

    A record enters with its user references already dropped but for its value or error
    (``Task.release``). Expired records are dropped by one timer on the loop, so an idle
    queue frees them too, and are never served.
    """

    def __init__(self, max_results: int, ttl: float | None) -> None:
        self.max_results = max_results
        self.ttl = ttl
        self._records: OrderedDict[Any, Task] = OrderedDict()
        self._timer: asyncio.TimerHandle | None = None

    def __contains__(self, task_id: Any) -> bool:
        return task_id in self._records

    def put(self, task: Task, loop: asyncio.AbstractEventLoop) -> None:
        """Store a finished task's record, evicting the least recently used past the bound."""
        records = self._records
        records[task.task_id] = task
        if len(records) > self.max_results:
            records.popitem(last=False)
        if self._timer is None and self.ttl is not None:
            self._timer = loop.call_at(task.finished_at + self.ttl, self._expire, loop)

    def get(self, task_id: Any, now: float) -> Task | None:
        """Return the record of ``task_id``, marking it recently used; None if not kept."""
        task = self._records.get(task_id)
        if task is None:
            return None
        if self.ttl is not None and now >= task.finished_at + self.ttl:
            del self._records[task_id]  # due, its timer just has not run yet
            return None
        self._records.move_to_end(task_id)
        return task

    def pop(self, task_id: Any) -> Task | None:
        """Remove and return the record of ``task_id``, if kept."""
        return self._records.pop(task_id, None)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        # Records enter in finishing order, so the front expires first; one that get() moved
        # to the back may outlive its TTL here a little, but get() never serves it.
        self._timer = None
        now = loop.time()
        records = self._records
        while records:
            task = next(iter(records.values()))
            due = task.finished_at + self.ttl
            if due > now:
                self._timer = loop.call_at(due, self._expire, loop)
                return
            del records[task.task_id]
        records.clear()  # give back the table grown at the peak (S7)

"""The bounded result cache: LRU by ``max_results``, TTL on the loop clock (DESIGN S7)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from typing import Any

from ._task import Task

__all__ = ["ResultCache"]


class ResultCache:
    """Keeps the records of the latest ``max_results`` finished tasks, each for ``ttl``.

    A record enters with its user references already dropped but for its value or error
    (``Task.release``). Expired records are dropped by one timer on the loop, so an idle
    queue frees them too, and are never served. Reading a result makes it recently used, so
    LRU order is not finishing order: expiry walks a second queue of the records in
    finishing order, trimmed of evicted ones whenever it grows past twice the bound.
    """

    def __init__(self, max_results: int, ttl: float | None) -> None:
        self.max_results = max_results
        self.ttl = ttl
        self._records: OrderedDict[Any, Task] = OrderedDict()  # least recently used first
        self._by_finish: deque[Task] = deque()  # for expiry; may still hold evicted records
        self._timer: asyncio.TimerHandle | None = None

    def __contains__(self, task_id: Any) -> bool:
        return task_id in self._records

    def put(self, task: Task, loop: asyncio.AbstractEventLoop) -> None:
        """Store a finished task's record, evicting the least recently used past the bound."""
        records = self._records
        records[task.task_id] = task
        if len(records) > self.max_results:
            records.popitem(last=False)
        if self.ttl is not None:
            by_finish = self._by_finish
            by_finish.append(task)
            if len(by_finish) > 2 * self.max_results:
                self._by_finish = deque(t for t in by_finish if records.get(t.task_id) is t)
            if self._timer is None:
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

    def records(self) -> list[Task]:
        """The records kept, least recently used first."""
        return list(self._records.values())

    def restore(self, task: Task) -> None:
        """Put back a record that ``pop`` took out; it still expires when it would have."""
        self._records[task.task_id] = task

    def pop(self, task_id: Any) -> Task | None:
        """Remove and return the record of ``task_id``, if kept."""
        return self._records.pop(task_id, None)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        records, by_finish = self._records, self._by_finish
        while by_finish:
            task = by_finish[0]
            due = task.finished_at + self.ttl
            if due > now:
                self._timer = loop.call_at(due, self._expire, loop)
                return
            by_finish.popleft()
            if records.get(task.task_id) is task:  # not evicted, nor replaced under its id
                del records[task.task_id]
        records.clear()  # every record has expired: give back the table grown at the peak (S7)

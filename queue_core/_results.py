"""The bounded result cache: LRU by ``max_results``, TTL on the loop clock (DESIGN S7)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from heapq import heapify, heappop, heappush
from typing import Any

from ._task import Task

__all__ = ["ResultCache"]


class ResultCache:
    """Keeps the records of the latest ``max_results`` finished tasks, each for ``ttl``.

    A record enters with its user references already dropped but for its value or error
    (``Task.release``). Expired records are dropped by one timer on the loop, so an idle
    queue frees them too, and are never served.

    Records that were never read sit in the LRU order in finishing order, so their expiry
    walks that order from the front. Reading a record moves it to the back (recently used,
    not younger): such records also go on a small heap by due time, so that they still
    expire on time. The put path, the hot one, does no more than the LRU needs.
    """

    def __init__(self, max_results: int, ttl: float | None) -> None:
        self.max_results = max_results
        self.ttl = ttl
        self._records: OrderedDict[Any, Task] = OrderedDict()  # least recently used first
        self._read: list[tuple[float, int, Task]] = []  # (due, seq, record) of read records
        self._timer: asyncio.TimerHandle | None = None

    def __contains__(self, task_id: Any) -> bool:
        return task_id in self._records

    def put(self, task: Task, loop: asyncio.AbstractEventLoop) -> None:
        """Store a finished task's record, evicting the least recently used past the bound."""
        records = self._records
        records[task.task_id] = task
        if len(records) > self.max_results:
            records.popitem(False)  # positional: no keyword parsing on the hot path
        if self._timer is None and self.ttl is not None:
            self._timer = loop.call_at(task.finished_at + self.ttl, self._expire, loop)

    def get(self, task_id: Any, now: float) -> Task | None:
        """Return the record of ``task_id``, marking it recently used; None if not kept."""
        task = self._records.get(task_id)
        if task is None:
            return None
        if self.ttl is not None:
            due = task.finished_at + self.ttl
            if now >= due:
                del self._records[task_id]  # due, its timer just has not run yet
                return None
            self._remember_read(task, due)
        self._records.move_to_end(task_id)
        return task

    def records(self) -> list[Task]:
        """The records kept, least recently used first."""
        return list(self._records.values())

    def restore(self, task: Task) -> None:
        """Put back a record that ``pop`` took out; it still expires when it would have."""
        self._records[task.task_id] = task
        if self.ttl is not None:  # back at the end of the LRU order, like a read record
            self._remember_read(task, task.finished_at + self.ttl)

    def _remember_read(self, task: Task, due: float) -> None:
        read = self._read
        heappush(read, (due, task.seq, task))
        if len(read) > 2 * self.max_results:  # rereads and dropped records: trim in bulk
            live = {entry[1]: entry for entry in read
                    if self._records.get(entry[2].task_id) is entry[2]}
            self._read = list(live.values())
            heapify(self._read)

    def pop(self, task_id: Any) -> Task | None:
        """Remove and return the record of ``task_id``, if kept."""
        return self._records.pop(task_id, None)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now, ttl = loop.time(), self.ttl
        records, read = self._records, self._read
        while records:  # never-read records, in finishing order
            task = next(iter(records.values()))
            if task.finished_at + ttl > now:
                break
            del records[task.task_id]
        while read and read[0][0] <= now:  # read records, by due time
            task = heappop(read)[2]
            if records.get(task.task_id) is task:
                del records[task.task_id]
        if not records:
            records.clear()  # give back the table grown at the peak (S7)
            read.clear()
            return
        due = next(iter(records.values())).finished_at + ttl
        if read:
            due = min(due, read[0][0])
        self._timer = loop.call_at(due, self._expire, loop)

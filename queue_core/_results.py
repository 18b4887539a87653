"""The bounded result cache: LRU by ``max_results``, TTL on the loop clock (DESIGN S7)."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from itertools import islice
from typing import Any

from ._errors import ResultEvicted, ResultExpired, ResultGone
from ._task import TaskResult

__all__ = ["ResultCache"]


class ResultCache:
    """Keeps the latest ``max_results`` results, each for ``ttl`` loop seconds.

    Expired results are dropped by one timer on the loop (so an idle queue frees them too)
    and are never served. The ids of dropped results are remembered, boundedly, so that
    asking for one raises ``ResultExpired`` or ``ResultEvicted`` rather than looking unknown.
    """

    def __init__(self, max_results: int, ttl: float | None) -> None:
        self.max_results = max_results
        self.ttl = ttl
        self._results: OrderedDict[Any, TaskResult] = OrderedDict()
        self._gone: dict[Any, type[ResultGone]] = {}
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._results)

    def __contains__(self, task_id: Any) -> bool:
        return task_id in self._results

    def put(self, result: TaskResult, loop: asyncio.AbstractEventLoop) -> None:
        """Store ``result``, evicting the least recently used one past ``max_results``."""
        results = self._results
        results[result[0]] = result
        if len(results) > self.max_results:
            self._forget(results.popitem(last=False)[0], ResultEvicted)
        if self._timer is None and self.ttl is not None:
            self._timer = loop.call_at(result[5] + self.ttl, self._expire, loop)

    def get(self, task_id: Any, now: float) -> TaskResult | None:
        """Return the result of ``task_id`` (marking it recently used), or None if never kept.

        Raises:
            ResultExpired: the result outlived ``ttl``.
            ResultEvicted: the result was evicted to keep ``max_results``.
        """
        result = self._results.get(task_id)
        if result is not None:
            if self.ttl is not None and now >= result.finished_at + self.ttl:
                del self._results[task_id]
                self._forget(task_id, ResultExpired)
            else:
                self._results.move_to_end(task_id)
                return result
        gone = self._gone.get(task_id)
        if gone is None:
            return None
        why = (f"expired: results are kept for result_ttl={self.ttl} loop seconds"
               if gone is ResultExpired else
               f"was evicted: at most max_results={self.max_results} results are kept")
        raise gone(f"the result of task {task_id!r} {why}; read it sooner "
                   f"or raise the limit when building the TaskQueue")

    def pop(self, task_id: Any) -> TaskResult | None:
        """Remove and return the result of ``task_id`` without marking it gone."""
        return self._results.pop(task_id, None)

    def _forget(self, task_id: Any, why: type[ResultGone]) -> None:
        gone = self._gone
        gone[task_id] = why
        if len(gone) > 2 * self.max_results:  # trim in bulk: amortised O(1) per result
            self._gone = dict(islice(gone.items(), len(gone) - self.max_results, None))

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        # Results enter in finishing order, so the front expires first; one read by get()
        # moved to the back may outlive its TTL here a little, but get() never serves it.
        self._timer = None
        now = loop.time()
        results = self._results
        while results:
            task_id, result = next(iter(results.items()))
            due = result.finished_at + self.ttl
            if due > now:
                self._timer = loop.call_at(due, self._expire, loop)
                return
            del results[task_id]
            self._forget(task_id, ResultExpired)

"""The target of one example as the machines act on it and watch it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from ..adapters import ResultMissing
from ..contract import FINISHED
from ..model import Work
from ._driver import LoopDriver
from ._handlers import Handlers
from ._judge import Observation, exc, s6_problem


class Target:
    """One built target, the handlers submitted to it and what S6 bounds its stats by.

    Counts the submits accepted and in flight, and the loop's iterations (a submit during
    which the loop ran is not atomic); between every two iterations, when the target answers
    stats without awaiting, checks S6 and keeps the first breach in :attr:`s6_problem`.

    Args:
        adapter: the target, through its adapter.
        handlers: makes the handlers it is given and records their attempts.

    Attributes:
        ids: the target's id of each task, by the machine's task name.
        race: the cancel issued by :meth:`cancel_later`, once it has been issued.
        incoming: the submits issued by :meth:`submit_later`, once they have been issued.
    """

    def __init__(self, adapter: Any, handlers: Handlers) -> None:
        self.adapter, self.handlers = adapter, handlers
        self.ids: dict[str, Any] = {}
        self.accepted = self.in_flight = self.iterations = 0
        self.last: dict[str, int] | None = None
        self.s6_problem: str | None = None
        self.race: asyncio.Task[bool] | None = None
        self.incoming: asyncio.Task[tuple[dict[str, Any], list[bool]]] | None = None

    def on_iteration(self, now: float) -> None:
        """Count a loop iteration and check S6 after it (at loop time ``now``)."""
        self.iterations += 1
        if self.s6_problem is not None:
            return
        try:
            snapshot = self.adapter.stats_now()
        except Exception as error:  # noqa: BLE001  # target's error
            self.s6_problem = f"S6: stats raised {exc(error)} at t={now:g}"
            return
        if snapshot is None:
            return
        self.s6_problem = s6_problem(snapshot, self.last, self.accepted, self.in_flight,
                                     f"between two loop iterations at t={now:g}")
        self.last = snapshot

    async def submit(self, handler: Callable[[], Any], options: dict[str, Any]) -> Any:
        """Submit one handler; return the target's id for it."""
        self.in_flight += 1
        try:
            task_id = await self.adapter.submit(handler, **options)
            self.accepted += 1
            return task_id
        finally:
            self.in_flight -= 1

    async def submit_all(self, batch: Iterable[tuple[str, Work, dict[str, Any]]]
                         ) -> tuple[dict[str, Any], list[bool]]:
        """Submit one task after the other; return every id so far and, for each of these,
        whether it was atomic (the loop did not run during its submit)."""
        ids, atomic = dict(self.ids), []
        for name, work, options in batch:
            before = self.iterations
            ids[name] = await self.submit(self.handlers.make(name, work), options)
            atomic.append(self.iterations == before)
        return ids, atomic

    def submit_later(self, loop: asyncio.AbstractEventLoop,
                     batch: list[tuple[str, Work, dict[str, Any]]], lag: int) -> None:
        """Issue :meth:`submit_all` of ``batch`` as a task, ``lag`` loop iterations from now."""
        if lag:
            loop.call_soon(self.submit_later, loop, batch, lag - 1)
        else:
            self.incoming = loop.create_task(self.submit_all(batch))

    def cancel_later(self, loop: asyncio.AbstractEventLoop, name: str, lag: int) -> None:
        """Issue ``cancel`` of task ``name`` as a task, ``lag`` loop iterations from now."""
        if lag:
            loop.call_soon(self.cancel_later, loop, name, lag - 1)
        else:
            self.race = loop.create_task(self.adapter.cancel(self.ids[name]))

    async def stop(self, drain: bool, driver: LoopDriver) -> tuple[int, list[str]]:
        """Stop the target; return what it left as it returns (:meth:`leftovers`)."""
        await self.adapter.stop(drain)
        return await self.leftovers(driver)

    async def leftovers(self, driver: LoopDriver) -> tuple[int, list[str]]:
        """The target's live workers and the names of the asyncio tasks still pending (but
        for the driver's), now."""
        snapshot = self.adapter.stats_now() or {}
        ours = {asyncio.current_task(), driver.task}
        return snapshot.get("workers", 0), sorted(
            t.get_name() for t in asyncio.all_tasks() if not t.done() and t not in ours)

    async def look(self, stats: dict[str, int] | None, names: Iterable[str],
                   answers: dict[str, bool], checked: set[str]) -> Observation:
        """The status of each of ``names``, and the result of those finished but not in
        ``checked`` (or why it is missing)."""
        seen = Observation(stats, answers=answers)
        for name in names:
            seen.statuses[name] = status = await self.adapter.status(self.ids[name])
            if status in FINISHED and name not in checked:
                try:
                    seen.results[name] = await self.adapter.result(self.ids[name])
                except ResultMissing as missing:
                    seen.results[name] = str(missing)
        return seen

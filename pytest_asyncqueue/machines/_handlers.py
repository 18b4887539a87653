"""The handlers the machines submit: each does what its task's :class:`~..model.Work` says
and writes every attempt on a timeline, so the machine sees what the target really ran."""

from __future__ import annotations

import asyncio
import gc
import itertools
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from ..model import Work
from ..probes import Gate, ProbeError, Timeline
from ._steps import GATES


class Handlers:
    """Makes the handlers of one example and keeps what they wrote.

    Attributes:
        timeline: every attempt's start and how it ended ("end", "fail", "cancelled").
        gates: the gates an attempt may wait on, by name (:data:`GATES`).
    """

    def __init__(self) -> None:
        self.timeline = Timeline()
        self.gates = {name: Gate() for name in GATES}
        self._alive: dict[str, weakref.ref[Any]] = {}

    def make(self, name: str, work: Work) -> Callable[[], Any]:
        """The handler of task ``name``: each attempt waits (or waits on its gate), then
        raises :class:`ProbeError` while attempts remain to fail, else returns ``name``."""
        timeline, gates, attempts = self.timeline, self.gates, itertools.count(1)

        async def handler() -> str:
            attempt = next(attempts)
            timeline.record("start", name, attempt)
            try:
                if work.gate is None:
                    await asyncio.sleep(work.seconds)
                else:
                    await gates[work.gate].wait()
            except asyncio.CancelledError:
                timeline.record("cancelled", name, attempt)
                raise
            if attempt <= work.fails:
                timeline.record("fail", name, attempt)
                raise ProbeError(f"{name} attempt {attempt} failed")
            timeline.record("end", name, attempt)
            return name

        handler.__name__ = handler.__qualname__ = name
        self._alive[name] = weakref.ref(handler)
        return handler

    async def open(self, gates: Iterable[str]) -> None:
        """Open ``gates``: the attempts waiting on them end."""
        for gate in gates:
            self.gates[gate].open()

    def still_held(self, names: Iterable[str]) -> list[str]:
        """Those of ``names`` whose handler something still references."""
        names = list(names)

        def held() -> list[str]:
            return [name for name in names if self._alive[name]()]

        if not held():
            return []
        gc.collect()  # only when something looks held: a reference cycle may hold it
        return held()

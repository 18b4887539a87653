"""Probe handlers the harness controls, and the timeline they write.

The harness never takes a target's word alone: it submits probes, async handlers whose every
attempt records what happened to it on a :class:`Timeline` (start, end, failure, the
cancellation it saw), stamped with the loop's (virtual) time and a global sequence number.
Checks judge that timeline.

Example::

    timeline = Timeline()
    probes = Probes(timeline)
    task_id = await queue.submit(probes.fail(times=2, name="flaky"), max_retries=3)
    ...
    assert [e.time for e in timeline.starts("flaky")] == [0.0, 0.1, 0.3]
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["Event", "Gate", "ProbeError", "Probes", "Timeline"]

START: Final = "start"
END: Final = "end"
FAIL: Final = "fail"
CANCELLED: Final = "cancelled"


class ProbeError(Exception):
    """The exception a failing probe raises: ``<probe name> attempt <n> failed``."""


@dataclass(frozen=True)
class Event:
    """One thing that happened to one attempt of a probe.

    Attributes:
        seq: global order of events in this run.
        time: the loop time (virtual seconds under the virtual clock).
        kind: "start", "end", "fail" or "cancelled".
        probe: the probe's name.
        attempt: 1 for the first attempt of that probe, 2 for the next, ...
        value: what the attempt returned ("end") or raised ("fail"), else None.
    """

    seq: int
    time: float
    kind: str
    probe: str
    attempt: int
    value: Any = None


@dataclass
class Timeline:
    """The events of one run, in order."""

    events: list[Event] = field(default_factory=list)
    _seq: itertools.count = field(default_factory=itertools.count, repr=False)

    def record(self, kind: str, probe: str, attempt: int, value: Any = None) -> Event:
        """Append an event stamped with the running loop's time."""
        event = Event(next(self._seq), asyncio.get_running_loop().time(), kind, probe,
                      attempt, value)
        self.events.append(event)
        return event

    def of(self, probe: str, kind: str | None = None) -> list[Event]:
        """The events of one probe, optionally of one kind."""
        return [e for e in self.events if e.probe == probe and (kind is None or e.kind == kind)]

    def kinds(self, probe: str) -> list[str]:
        """The kinds of one probe's events, in order, e.g. ``["start", "fail", "start", "end"]``."""
        return [e.kind for e in self.events if e.probe == probe]

    def starts(self, probe: str | None = None) -> list[Event]:
        """Attempt starts, of one probe or of all."""
        return [e for e in self.events
                if e.kind == START and (probe is None or e.probe == probe)]

    def start_order(self) -> list[str]:
        """Names of the probes in the order their attempts started."""
        return [e.probe for e in self.events if e.kind == START]

    def running_at_most(self) -> int:
        """The largest number of attempts that were in progress at one moment."""
        running = peak = 0
        for event in self.events:
            running += 1 if event.kind == START else -1
            peak = max(peak, running)
        return peak

    def describe(self, limit: int = 12) -> str:
        """A short text of the last events, for failure messages."""
        shown = self.events[-limit:]
        return "; ".join(f"t={e.time:g} {e.probe}#{e.attempt} {e.kind}" for e in shown)


class Gate:
    """An event the check opens to let waiting probes go on: orders work without delays."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def open(self) -> None:
        self._event.set()

    @property
    def is_open(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()


class Probes:
    """Makes probe handlers that record on one timeline.

    Every probe is an ``async def`` function taking no arguments; names must be unique
    within a run (one is made up when not given).
    """

    def __init__(self, timeline: Timeline) -> None:
        self.timeline = timeline
        self._names = itertools.count(1)
        self._attempts: dict[str, int] = {}

    def _make(self, name: str | None, body: Callable[[str, int], Awaitable[Any]]
              ) -> Callable[[], Awaitable[Any]]:
        name = name or f"probe-{next(self._names)}"
        if name in self._attempts:
            raise ValueError(f"probe name {name!r} is used twice; give each probe its own")
        self._attempts[name] = 0
        timeline = self.timeline

        async def probe() -> Any:
            attempt = self._attempts[name] = self._attempts[name] + 1
            timeline.record(START, name, attempt)
            try:
                value = await body(name, attempt)
            except asyncio.CancelledError:
                timeline.record(CANCELLED, name, attempt)
                raise
            except Exception as exc:
                timeline.record(FAIL, name, attempt, f"{type(exc).__name__}: {exc}")
                raise
            timeline.record(END, name, attempt, value)
            return value

        probe.__name__ = probe.__qualname__ = name
        return probe

    def succeed(self, value: Any = None, *, name: str | None = None) -> Callable[[], Awaitable[Any]]:
        """A probe that returns ``value`` at once (after one yield to the loop)."""

        async def body(_name: str, _attempt: int) -> Any:
            await asyncio.sleep(0)
            return value

        return self._make(name, body)

    def fail(self, times: float = math.inf, *, then: Any = None, name: str | None = None,
             after: float = 0.0) -> Callable[[], Awaitable[Any]]:
        """A probe whose first ``times`` attempts raise :class:`ProbeError` (each after
        ``after`` virtual seconds), then return ``then``."""

        async def body(name: str, attempt: int) -> Any:
            await asyncio.sleep(after)
            if attempt <= times:
                raise ProbeError(f"{name} attempt {attempt} failed")
            return then

        return self._make(name, body)

    def run_for(self, seconds: float, value: Any = None, *, name: str | None = None
                ) -> Callable[[], Awaitable[Any]]:
        """A probe that runs ``seconds`` loop seconds, then returns ``value``."""

        async def body(_name: str, _attempt: int) -> Any:
            await asyncio.sleep(seconds)
            return value

        return self._make(name, body)

    def wait_for(self, gate: Gate, value: Any = None, *, name: str | None = None
                 ) -> Callable[[], Awaitable[Any]]:
        """A probe that waits until ``gate`` is opened, then returns ``value``."""

        async def body(_name: str, _attempt: int) -> Any:
            await gate.wait()
            return value

        return self._make(name, body)

    def block(self, wall_seconds: float, *, name: str | None = None
              ) -> Callable[[], Awaitable[Any]]:
        """A probe that holds the loop with ``time.sleep`` (keep it to milliseconds)."""

        async def body(_name: str, _attempt: int) -> Any:
            time.sleep(wall_seconds)  # deliberately blocking: what the detector must see

        return self._make(name, body)

    def attempts(self, name: str) -> int:
        """How many attempts of the probe ``name`` have started."""
        return self._attempts[name]

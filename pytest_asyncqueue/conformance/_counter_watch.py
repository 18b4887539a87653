"""Reading a target's counters after every loop iteration, for the ``stats`` checks.

A :class:`CounterWatch` reads the counters after every loop iteration through the loop's
iteration observer and keeps the first break of each S6 rule. A target whose ``get_stats``
really suspends cannot be read there; it is sampled by a coroutine woken after each iteration
instead, at most :data:`SAMPLES_PER_INSTANT` times per virtual instant unless something
visible happened, so the sampling never keeps the loop busy.

One defect, one failure (DESIGN section 3): a counter missing from ``stats()`` is reported by
``stats_has_every_key`` alone. The watch judges the counters that are there (none negative,
none of the cumulative ones decreasing, ``running`` against the handlers in flight) and the
sum only when all five state counters are; a check that cannot do without a counter skips
(:func:`skip_without_counters`), naming the check that reports it. Counters the adapter
declares absent (``stats.<key>`` in ``Capabilities.absent``) are not the target's: they are
dropped from every reading (:func:`kept_counters`) and missing from no one's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any, Final, Self

from ..adapters import Adapter, Capabilities
from ..contract import REQUIRED_STATS, WATCHED_COUNTERS, s6_breaches
from ..probes import CANCELLED, END, FAIL, START
from ._base import CheckFailed, Harness, Skip
from ._loop_iterations import require_iteration_observer

__all__ = ["SAMPLES_PER_INSTANT", "CounterWatch", "absent_counters", "expected_counters",
           "kept_counters", "require_stats_keys", "skip_without_any_counter",
           "skip_without_counters"]

SAMPLES_PER_INSTANT: Final = 50
"""Readings per virtual instant for a target whose ``get_stats`` suspends, unless the timeline,
the clock or the submits moved."""

_HANDLERS_IN_FLIGHT_CHANGE: Final = {START: 1, END: -1, FAIL: -1, CANCELLED: -1}
"""How each timeline event changes the number of handlers in flight."""


def absent_counters(capabilities: Capabilities) -> frozenset[str]:
    """The counters the adapter declares absent (``stats.<key>`` in ``Capabilities.absent``)."""
    return frozenset(key for key in REQUIRED_STATS if not capabilities.has(f"stats.{key}"))


def expected_counters(capabilities: Capabilities) -> tuple[str, ...]:
    """The counters of :data:`REQUIRED_STATS` the target keeps: all but the absent ones."""
    absent = absent_counters(capabilities)
    return tuple(key for key in REQUIRED_STATS if key not in absent)


def kept_counters(stats: dict[str, Any], absent: frozenset[str]) -> dict[str, Any]:
    """``stats`` without the ``absent`` counters, whatever the adapter returned for them."""
    return {key: value for key, value in stats.items() if key not in absent} if absent else stats


def require_stats_keys(stats: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Fail naming the keys of ``keys`` that ``stats`` lacks (oas37a: a stats failure).

    Only ``stats_has_every_key`` calls it: a missing key is one defect, reported once.
    """
    __tracebackhide__ = True
    missing = [key for key in keys if key not in stats]
    if missing:
        raise CheckFailed(f"S6: stats() lacks the key(s) {', '.join(map(repr, missing))} (it "
                          f"has {', '.join(map(repr, sorted(stats))) or 'none'}); expected "
                          f"{', '.join(map(repr, keys))}")


def skip_without_counters(stats: dict[str, Any], keys: tuple[str, ...], judged: str) -> None:
    """Skip the check if ``stats`` lacks any of ``keys``, without which ``judged`` cannot be
    judged; the missing key itself is ``stats_has_every_key``'s failure, not this check's."""
    missing = [key for key in keys if key not in stats]
    if missing:
        raise Skip(f"stats() has no {', '.join(map(repr, missing))}, so {judged} cannot be "
                   f"judged (the missing key is reported by stats_has_every_key)")


def skip_without_any_counter(stats: dict[str, Any], keys: tuple[str, ...],
                             absent: frozenset[str], judged: str) -> None:
    """Skip the check if ``stats`` has none of ``keys``: the target has none (all ``absent``),
    or it lacks every one it keeps (``stats_has_every_key``'s failure, as above)."""
    if set(keys) & set(stats):
        return
    kept = tuple(key for key in keys if key not in absent)
    if not kept:
        raise Skip(f"target has no {', '.join(f'stats.{key}' for key in keys)}")
    skip_without_counters(stats, kept, judged)


class CounterWatch:
    """Reads a target's counters after every loop iteration and keeps the first break of S6.

    Use as ``async with CounterWatch(h, queue) as watch:`` and submit through
    ``watch.submit``, so that a submit still in progress may or may not have been counted by
    the target yet.

    Counters the adapter declares absent are dropped from every reading; of the rest, those
    that are there are judged (the sum only when all five state counters are), and a key
    missing throughout is left to ``stats_has_every_key``. A key that was there and later
    is not breaks "sum".

    Attributes:
        broken: the first message per broken rule, "sum" (the invariant), "negative",
            "decrease" and "running" (judged at the last iteration of each virtual instant,
            and only where the counters are read after every iteration).
        series: for each counter, its successive distinct values.
        samples: how many times the counters were read.
        first: the first reading, once entered.
        absent: the counters the adapter declares absent, dropped from every reading.
    """

    def __init__(self, h: Harness, queue: Adapter) -> None:
        self.h = h
        self.queue = queue
        self.broken: dict[str, str] = {}
        self.series: dict[str, list[int]] = {}
        self.samples = 0
        self.first: dict[str, Any] = {}
        self.absent = absent_counters(h.capabilities)
        self._submits_in_progress = 0
        self._previous: dict[str, Any] | None = None
        self._remove: Callable[[], None] | None = None
        self._sampler: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._mark: tuple[Any, ...] = ()
        self._at_mark = 0
        self._events_seen = 0
        self._handlers_in_flight = 0
        # (t, running, handlers in flight) at the last reading of running
        self._settling: tuple[float, int, int] | None = None

    async def __aenter__(self) -> Self:
        loop = self.h.loop
        require_iteration_observer(loop)
        self.first = kept_counters(await self.queue.stats(), self.absent)
        self._judge(self.first)
        if self.queue.stats_now() is None:  # get_stats really suspends: sample from a task
            self._sampler = loop.create_task(self._sample_forever())
            self._remove = loop.observe_iterations(self._wake_sampler)
        else:
            self._remove = loop.observe_iterations(self._read_after_iteration)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._remove is not None:
            self._remove()
        if self._sampler is not None:
            self._sampler.cancel()
            await asyncio.gather(self._sampler, return_exceptions=True)
        self._judge(kept_counters(await self.queue.stats(), self.absent))

    async def submit(self, handler: Callable[..., Any], **options: Any) -> Hashable:
        """Submit through the harness, marking the submit as in progress meanwhile."""
        self._submits_in_progress += 1
        try:
            return await self.h.submit(self.queue, handler, **options)
        finally:
            self._submits_in_progress -= 1

    def _read_after_iteration(self) -> None:
        try:
            stats = self.queue.stats_now()
        except Exception as exc:  # noqa: BLE001 - out of the loop's observer it ends the run
            self._note("sum", f"stats() raised {exc!r} at virtual t={self.h.now():g}; "
                              f"expected the counters")
            return
        stats = kept_counters(stats or {}, self.absent)
        self._judge(stats)
        self._judge_running(stats)

    def _wake_sampler(self) -> None:
        mark = (len(self.h.timeline.events), self.h.now(), self.h.submitted,
                self._submits_in_progress)
        if mark != self._mark:
            self._mark, self._at_mark = mark, 0
        if self._at_mark < SAMPLES_PER_INSTANT:
            self._at_mark += 1
            self._wake.set()

    async def _sample_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                stats = await self.queue.stats()
            except Exception as exc:  # noqa: BLE001 - any error of the target is its failure
                self._note("sum", f"stats() raised {exc!r} at virtual t={self.h.now():g}; "
                                  f"expected the counters")
                return
            self._judge(kept_counters(stats, self.absent))

    def _judge(self, stats: dict[str, Any]) -> None:
        self.samples += 1
        for key in WATCHED_COUNTERS:
            if key in stats:
                values = self.series.setdefault(key, [])
                if not values or values[-1] != stats[key]:
                    values.append(stats[key])
        vanished = [key for key in WATCHED_COUNTERS if key in self.first and key not in stats]
        where = f"at virtual t={self.h.now():g}"
        if vanished:
            self._note("sum", f"stats() lacked {', '.join(vanished)} {where}, which it had "
                              f"reported before; expected every counter at every observation")
        breaches = s6_breaches(stats, self._previous, self.h.submitted,
                               self._submits_in_progress, where)
        for rule, message in breaches.items():
            self.broken.setdefault(rule, message)
        self._previous = stats

    def _judge_running(self, stats: dict[str, Any]) -> None:
        """Compare ``running`` with the handlers in flight as each virtual instant settles.

        Within an instant a target may count an attempt an iteration before its handler
        starts, or after it ended; once the loop moves on to a later time, nothing is left to
        do at the earlier one, so the last reading there must agree.
        """
        events = self.h.timeline.events
        for event in events[self._events_seen:]:
            self._handlers_in_flight += _HANDLERS_IN_FLIGHT_CHANGE.get(event.kind, 0)
        self._events_seen = len(events)
        now, settled = self.h.now(), self._settling
        if settled is not None and now > settled[0] and settled[1] != settled[2]:
            self._note("running", f"running was {settled[1]} once all was done at virtual "
                                  f"t={settled[0]:g}, with {settled[2]} handler(s) in flight; "
                                  f"expected the number of attempts started and not ended")
        if "running" in stats:
            self._settling = (now, stats["running"], self._handlers_in_flight)

    def _note(self, rule: str, message: str) -> None:
        self.broken.setdefault(rule, f"S6: {message}")

    def verdict(self, *rules: str) -> None:
        """Raise :class:`CheckFailed` with the first recorded break of any of ``rules``."""
        for rule in rules:
            if rule in self.broken:
                raise CheckFailed(self.broken[rule])

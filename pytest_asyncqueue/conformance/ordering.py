"""Ordering (DESIGN S1, oas37a point 1): higher priority first, submission order among equals.

Every check reads the order from the probes' attempt starts while the queue runs: it lets the
loop run (virtual time included) until every expected attempt has started and judges then.
It never stops the queue to make the work run, so what ``stop()`` does to queued tasks (run
them or cancel them, an open point of oas37a) cannot change the verdict.
"""

from __future__ import annotations

from ..probes import Gate
from ._base import CheckFailed, Harness, check, expect_equal
from ._waits import skip_if_nothing_ran, starts_within

PRIORITIES = [1, 5, 3, 5, 2]
EXPECTED = ["p5a", "p5b", "p3", "p2", "p1"]


def _names(priorities: list[int]) -> list[str]:
    """p1, p5a, p3, p5b, p2: the name says the priority, a letter tells equal ones apart."""
    seen: dict[int, int] = {}
    names = []
    for p in priorities:
        seen[p] = seen.get(p, 0) + 1
        names.append(f"p{p}" + ("ab"[seen[p] - 1] if priorities.count(p) > 1 else ""))
    return names


@check("ordering", "S1", needs=("priority",))
async def priority_order_before_start(h: Harness) -> None:
    """With one worker, priorities [1, 5, 3, 5, 2] submitted before start run as [5, 5, 3, 2, 1].

    Open points: what stop does to queued tasks: it reads the starts while the queue runs and
    never stops it, so any stop passes.
    """
    # S1: the eligible task of best rank starts first; FIFO among equal priorities.
    queue = await h.make(start=False, workers=1)
    for name, priority in zip(_names(PRIORITIES), PRIORITIES):
        await h.submit(queue, h.probes.succeed(name=name), priority=priority)
    await queue.start()
    await starts_within(h, len(PRIORITIES))
    skip_if_nothing_ran(h, "S1")
    expect_equal(h.timeline.start_order(), EXPECTED,
                 "start order of priorities [1, 5, 3, 5, 2] submitted before start", "S1")


@check("ordering", "S1", needs=("priority",))
async def priority_order_while_busy(h: Harness) -> None:
    """Tasks submitted while the only worker is busy start by priority, FIFO among equals.

    Open points: what stop does to queued tasks: it reads the starts while the queue runs and
    never stops it, so any stop passes.
    """
    # S1: ordering holds for tasks that queue up behind a running one, not only at start.
    queue = await h.make(workers=1)
    gate = Gate()
    await h.submit(queue, h.probes.wait_for(gate, name="busy"))
    await h.settle()
    if h.timeline.start_order() != ["busy"]:
        raise CheckFailed(f"S1: the first task did not start on the idle worker; "
                          f"timeline: {h.timeline.describe()}")
    for name, priority in zip(_names(PRIORITIES), PRIORITIES):
        await h.submit(queue, h.probes.succeed(name=name), priority=priority)
    gate.open()
    await starts_within(h, 1 + len(PRIORITIES))
    skip_if_nothing_ran(h, "S1")
    expect_equal(h.timeline.start_order()[1:], EXPECTED,
                 "start order of priorities [1, 5, 3, 5, 2] queued behind a busy worker", "S1")


@check("ordering", "S1")
async def fifo_among_equal_priorities(h: Harness) -> None:
    """Twenty tasks of one priority start in submission order (no LIFO, no shuffling).

    Open points: what stop does to queued tasks: it reads the starts while the queue runs and
    never stops it, so any stop passes.
    """
    # S1: within equal priority, lower submission sequence number first.
    queue = await h.make(start=False, workers=1)
    names = [f"t{i:02d}" for i in range(20)]
    for name in names:
        await h.submit(queue, h.probes.succeed(name=name))
    await queue.start()
    await starts_within(h, len(names))
    skip_if_nothing_ran(h, "S1")
    expect_equal(h.timeline.start_order(), names, "start order of equal-priority tasks", "S1")


@check("ordering", "S1", needs=("priority", "max_retries", "base_delay"))
async def retry_keeps_its_priority(h: Harness) -> None:
    """A retried task keeps its priority: its retry runs before lower-priority work.

    Open points: where a retry re-enters among equals does not matter (only lower priorities
    wait); what stop does to queued tasks does not either: it reads the starts while the
    queue runs and never stops it.
    """
    # S1: a retried task keeps its priority (and, in queue_core, its sequence number).
    queue = await h.make(workers=1, base_delay=1.0)
    await h.submit(queue, h.probes.fail(times=1, name="high"), priority=9, max_retries=1)
    await h.submit(queue, h.probes.run_for(2.0, name="low-busy"), priority=1)
    for i in range(3):
        await h.submit(queue, h.probes.succeed(name=f"low{i}"), priority=1)
    await starts_within(h, 6)
    skip_if_nothing_ran(h, "S1")
    order = h.timeline.start_order()
    # high fails at t=0, low-busy runs 0..2, the retry (due at 1) must come before low0..2.
    expect_equal(order, ["high", "low-busy", "high", "low0", "low1", "low2"],
                 "start order around a retried high-priority task", "S1")


@check("ordering", "S1", needs=("max_retries", "base_delay"))
async def retry_place_among_equals(h: Harness) -> None:
    """A retry re-enters among equal priorities where the shape allows (original place or back).

    Open points: where a retry re-enters among equals, as Capabilities.retry_keeps_place allows
    (queue_core: original; oas37a: either); what stop does to queued tasks does not matter: it
    reads the starts while the queue runs and never stops it.
    """
    # S1 / oas37a open point: original sequence number, or behind the ones waiting.
    queue = await h.make(workers=1, base_delay=0.5)
    await h.submit(queue, h.probes.fail(times=1, name="A"), max_retries=1)
    await h.submit(queue, h.probes.run_for(1.0, name="B"))
    await h.submit(queue, h.probes.succeed(name="C"))
    await starts_within(h, 4)
    skip_if_nothing_ran(h, "S1")
    readings = {"original": ["A", "B", "A", "C"], "back": ["A", "B", "C", "A"]}
    accepted = {k: v for k, v in readings.items() if k in h.capabilities.retry_keeps_place}
    order = h.timeline.start_order()
    if order not in accepted.values():
        raise CheckFailed(f"S1: start order was {order}; expected "
                          + " or ".join(f"{v} ({k} place)" for k, v in accepted.items())
                          if accepted else f"S1: the target accepts no reading of where a "
                          f"retry re-enters ({sorted(h.capabilities.retry_keeps_place)})")


CHECKS = [priority_order_before_start, priority_order_while_busy, fifo_among_equal_priorities,
          retry_keeps_its_priority, retry_place_among_equals]

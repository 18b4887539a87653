"""Concurrency (DESIGN S2, oas37a point 2): real overlap, awaited results, nothing blocking.

Exactly ``workers`` handlers run at once, a handler that awaits never holds up the others,
a handler's result is its awaited value, the queue never blocks the event loop (during
backoff included) and idle workers wait without polling.

How many workers exist is judged by the timeline (how many probes were in progress at once),
never by the target's ``workers`` counter: whether that counter tells the truth is a stats
rule (S6), checked in ``stats``.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from ..clock import BlockingCall
from ..probes import Gate
from .._children import threads_note
from ._base import CheckFailed, Harness, Skip, check, expect_equal
from ._loop_iterations import (IDLE_ITERATIONS, IDLE_SECONDS, count_idle_iterations,
                               require_iteration_observer)
from ._waits import outcomes_within

__all__ = ["CHECKS"]


@check("concurrency", "S2")
async def workers_run_exactly_that_many_at_once(h: Harness) -> None:
    """Ten 1 s probes on 4 workers run 4 at a time: starts at 0, 0, 0, 0, 1, 1, 1, 1, 2, 2.

    Open points: none (times come from the probes' timeline, so a get_result that polls changes
    nothing).
    """
    # S2: exactly `workers` workers exist and up to `workers` handlers run at once, so ten
    # one-second handlers take exactly three virtual seconds in rounds of four.
    queue = await h.make(workers=4)
    t0 = h.now()
    ids = [await h.submit(queue, h.probes.run_for(1.0, name=f"r{i}")) for i in range(10)]
    await outcomes_within(h, queue, ids, "S2", skip_if_none_ran=False)
    expect_equal(h.timeline.running_at_most(), 4,
                 "the most handlers in progress at once with workers=4", "S2")
    starts = sorted(round(e.time - t0, 9) for e in h.timeline.starts())
    expect_equal(starts, [0.0] * 4 + [1.0] * 4 + [2.0] * 2,
                 "start times (virtual s) of ten 1 s handlers on 4 workers", "S2")
    ends = [round(e.time - t0, 9) for e in h.timeline.events if e.kind == "end"]
    expect_equal(max(ends, default=None), 3.0, "virtual seconds until the last of them ended",
                 "S2")


@check("concurrency", "S2")
async def result_is_the_awaited_value(h: Harness) -> None:
    """A handler's result is the value it returned when awaited, never a coroutine object.

    Open points: none.
    """
    # S2: the queue awaits the handler; its result is the awaited value.
    queue = await h.make(workers=1)
    value = ("awaited", 42)
    task_id = await h.submit(queue, h.probes.succeed(value, name="answer"))
    [outcome] = await outcomes_within(h, queue, [task_id], "S2", skip_if_none_ran=False)
    observed: Any = outcome.value
    if inspect.iscoroutine(observed):
        observed.close()  # never awaited by the target: spare the RuntimeWarning
    if outcome.state != "completed" or observed != value:
        raise CheckFailed(f"S2: the result of a handler returning {value!r} was {observed!r} "
                          f"(state {outcome.state}, handler started "
                          f"{len(h.timeline.starts('answer'))} time(s)); expected the awaited "
                          f"value {value!r}")


@check("concurrency", "S2")
async def awaiting_handler_does_not_block_others(h: Harness) -> None:
    """With 2 workers, a task finishes while the other worker's handler awaits a closed gate.

    Open points: none (a get_result that polls is still well within its 60 virtual s).
    """
    # S2: a handler that awaits never blocks the others (no lock held across handlers).
    queue = await h.make(workers=2)
    gate = Gate()
    waiting = await h.submit(queue, h.probes.wait_for(gate, name="waiting"))
    quick = await h.submit(queue, h.probes.run_for(1.0, "quick", name="quick"))
    try:
        async with asyncio.timeout(60.0):
            await queue.result(quick)
    except TimeoutError:
        raise CheckFailed(f"S2: with one handler awaiting a gate, a 1 s task on the other "
                          f"worker had not finished after 60 virtual seconds; expected it to "
                          f"run meanwhile (workers=2); timeline: {h.timeline.describe()}") from None
    finally:
        gate.open()
    await outcomes_within(h, queue, [waiting], "S2", skip_if_none_ran=False)


async def _blocking_calls_of_a_workload(h: Harness, calls: list[BlockingCall], run: int
                                        ) -> list[BlockingCall]:
    """Run a small workload with a failure, a backoff and a retry; return the loop's
    blocking-call records made meanwhile."""
    settings: dict[str, Any] = {}
    if "base_delay" in h.capabilities.settings:
        settings["base_delay"] = 0.1
    retry = {"max_retries": 1} if "max_retries" in h.capabilities.submit_options else {}
    queue = await h.make(workers=2, **settings)
    before = len(calls)
    await h.submit(queue, h.probes.fail(times=1, then="retried", name=f"flaky{run}"), **retry)
    await h.submit(queue, h.probes.succeed(name=f"quick{run}"))
    await h.submit(queue, h.probes.run_for(0.5, name=f"slow{run}"))
    # A fixed virtual span, not the tasks' outcomes: a target that loses a task still shows
    # whether it blocked the loop. All is done by t=0.5 with the shapes' default backoffs.
    await asyncio.sleep(5.0)
    return calls[before:]


@check("concurrency", "S2")
async def no_blocking_call_on_the_loop(h: Harness) -> None:
    """Running, failing, backing off and retrying tasks never blocks the event loop.

    Open points: none.
    """
    # S2 / oas37a 2: the queue never calls a blocking function (time.sleep, blocking I/O) on
    # the event loop, during backoff included. The virtual clock's loop times every callback
    # in wall time, so a block is only reported if a second run blocks too: a process that
    # the machine merely paused for a moment is not a blocking queue.
    loop = h.loop
    calls = getattr(loop, "blocking_calls", None)
    if calls is None or getattr(loop, "blocking_threshold", None) is None:
        raise Skip("the event loop does not time its callbacks (it needs a VirtualClockLoop "
                   "with blocking_threshold set)")
    blocked = await _blocking_calls_of_a_workload(h, calls, 1)
    if blocked and await _blocking_calls_of_a_workload(h, calls, 2):
        shown = ", ".join(f"{c.duration:.3f} wall s in {c.name} at {c.location} "
                          f"(virtual t={c.virtual_time:g})" for c in blocked[:3])
        raise CheckFailed(f"S2: the event loop was blocked {len(blocked)} time(s): {shown}; "
                          f"expected no blocking call (time.sleep, blocking I/O) on the loop, "
                          f"during backoff included{threads_note()}")


@check("concurrency", "S2")
async def idle_workers_do_not_poll(h: Harness) -> None:
    """Four idle workers let a virtual hour pass in a handful of loop iterations, not thousands.

    Open points: none (no result is awaited while it counts, so a get_result that polls is not
    held against it).
    """
    # S2: idle workers wait on an event or condition, not by polling.
    require_iteration_observer(h.loop)
    await h.make(workers=4)  # started and left idle; the harness stops it at the end
    await h.settle()
    idle = await count_idle_iterations(h.loop)
    if idle.polled:
        raise CheckFailed(f"S2: an idle queue with 4 workers ran more than {IDLE_ITERATIONS} "
                          f"loop iterations in {idle.seconds:g} virtual seconds; expected "
                          f"idle workers to wait on an event or condition (at most "
                          f"{IDLE_ITERATIONS} iterations in {IDLE_SECONDS:g} s), not to poll")


CHECKS = [workers_run_exactly_that_many_at_once, result_is_the_awaited_value,
          awaiting_handler_does_not_block_others, no_blocking_call_on_the_loop,
          idle_workers_do_not_poll]

"""The edge_cases checks of what ``stop`` does (DESIGN S5, oas37a points 4 and 7), apart
from :mod:`.edge_cases` so that each module stays readable; that module lists them in its
``CHECKS``.

A draining ``stop`` lets running work finish or cancels it (``Capabilities.drain_running``)
and runs or cancels queued work (``Capabilities.stop_runs_queued``), a task waiting for its
retry included, all ended by the time it returns; a cancelling one cancels everything, its
handlers judged once the loop has run its ready callbacks (it may return before they have
unwound).
"""

from __future__ import annotations

import asyncio

from ..probes import Gate
from ._base import CheckFailed, Harness, Skip, check, expect_equal
from ._waits import TASK_WAIT, outcome_within, skip_if_nothing_ran, stop_within

__all__ = ["cancelling_stop_cancels_everything", "draining_stop_ends_task_in_backoff",
           "draining_stop_finishes_work"]


@check("edge_cases", "S5")
async def draining_stop_finishes_work(h: Harness) -> None:
    """stop(drain=True) lets the running task finish or cancels it; queued ones run or cancel.

    Open points: what stop(wait=True) does to queued tasks, as Capabilities.stop_runs_queued
    allows, and to the running handler, as Capabilities.drain_running allows (oas37a: let it
    finish or cancel it; a stop without a drain choice may always cancel it); either way the
    handler has ended by the time stop returns.
    """
    # S5: shutdown(drain=True) waits for pending and running tasks. oas37a open points: a
    # stop may run queued tasks or finish them CANCELLED (Capabilities.stop_runs_queued),
    # and let the running handler finish or cancel it (Capabilities.drain_running; a stop
    # without a drain choice may also cancel it). Nothing may still run once it returns.
    queue = await h.make(workers=1)
    await h.submit(queue, h.probes.run_for(1.0, "running", name="running"))
    await h.settle()
    queued = [await h.submit(queue, h.probes.succeed(name=f"q{n}")) for n in range(3)]
    await stop_within(queue, True, "S5")
    fates = {"finish": ["start", "end"], "cancel": ["start", "cancelled"]}
    accepted = set(h.capabilities.drain_running) | (
        set() if h.capabilities.drain_choice else {"cancel"})
    allowed = {k: v for k, v in fates.items() if k in accepted}
    if h.timeline.kinds("running") not in allowed.values():
        raise CheckFailed(f"S5: right after stop(drain=True) returned, the task running at the "
                          f"stop had events {h.timeline.kinds('running')}; expected "
                          + " or ".join(f"{v} ({k})" for k, v in allowed.items()))
    states = [(await outcome_within(queue, t, "a queued task", "S5")).state for t in queued]
    started = [bool(h.timeline.starts(f"q{n}")) for n in range(3)]
    readings = {"run": (["completed"] * 3, [True] * 3), "cancel": (["cancelled"] * 3, [False] * 3)}
    accepted = {k: v for k, v in readings.items() if k in h.capabilities.stop_runs_queued}
    if (states, started) not in accepted.values():
        raise CheckFailed(f"S5: after stop(drain=True) the 3 queued tasks ended {states}, "
                          f"started {started}; expected " + " or ".join(
                              f"{v[0]} ({k})" for k, v in accepted.items()))


@check("edge_cases", "S5", needs=("max_retries",))
async def draining_stop_ends_task_in_backoff(h: Harness) -> None:
    """stop(drain=True) while a task waits for its retry returns, and the task has a final
    status by then: it ran its retry (COMPLETED) or was CANCELLED, never stranded.

    Open points: what stop(wait=True) does to a task waiting for its backoff, as
    Capabilities.stop_runs_queued allows (run its retry, or finish it CANCELLED); either way
    it has a final status when stop returns.
    """
    # S5: shutdown(drain=True) waits for pending tasks, backing-off ones included (DESIGN S4
    # counts a task waiting for a backoff as pending). oas37a open point: after stop(wait=True)
    # returns every task it accepted has a final status; a stop may run a queued task or
    # finish it CANCELLED. A retry timer dropped at the stop strands the task (and a stop
    # that waits for it hangs).
    settings = {"base_delay": 1.0} if "base_delay" in h.capabilities.settings else {}
    if "max_delay" in h.capabilities.settings:
        settings["max_delay"] = 10.0
    queue = await h.make(workers=1, **settings)
    # A control: without a stop, a retry comes back. If it does not, the fault is the
    # backoff's (S3, judged in retries), and a stop during one cannot be judged.
    control = await h.submit(queue, h.probes.fail(times=1, then="retried", name="control"),
                             max_retries=1)
    try:
        await outcome_within(queue, control, "a task failing once, max_retries=1", "S3")
    except CheckFailed:
        skip_if_nothing_ran(h, "S5")
        raise Skip(f"a task failing once with max_retries=1 had not finished {TASK_WAIT:g} "
                   f"virtual s after its submit, with no stop: a retries failure (S3, judged "
                   f"in retries), so a stop during a backoff cannot be judged") from None
    task_id = await h.submit(queue, h.probes.fail(times=1, then="retried", name="backing-off"),
                             max_retries=1)
    deadline = h.now() + TASK_WAIT
    while not h.timeline.of("backing-off", "fail") and h.now() < deadline:
        await asyncio.sleep(0.001)
    skip_if_nothing_ran(h, "S5")
    if h.timeline.kinds("backing-off") != ["start", "fail"]:
        raise Skip(f"the first attempt's failure was not seen waiting for its retry (events "
                   f"{h.timeline.kinds('backing-off')}): the target's backoff is too short to "
                   f"stop the queue inside it")
    await stop_within(queue, True, "S5")
    state = await queue.status(task_id)
    kinds = h.timeline.kinds("backing-off")
    readings = {"run": ("completed", ["start", "fail", "start", "end"]),
                "cancel": ("cancelled", ["start", "fail"])}
    accepted = {k: v for k, v in readings.items() if k in h.capabilities.stop_runs_queued}
    if (state, kinds) not in accepted.values():
        raise CheckFailed(f"S5: right after stop(drain=True), called while a task waited for "
                          f"its retry, the task's status was {state!r} with events {kinds}; "
                          f"expected " + " or ".join(f"{s!r} with events {k} ({r})"
                                                     for r, (s, k) in accepted.items()))
    outcome = await outcome_within(queue, task_id, "the task that waited for its retry at the "
                                   "stop", "S5")
    expect_equal(outcome.state, state, "the result state of the task that waited for its "
                 "retry at the stop (its status right after the stop)", "S5")


@check("edge_cases", "S5")
async def cancelling_stop_cancels_everything(h: Harness) -> None:
    """stop(drain=False) cancels the running handler and finishes queued tasks CANCELLED.

    Open points: whether stop(wait=False) returns before the handlers it cancelled have
    unwound: it lets the loop run (without moving the clock) before it looks.
    """
    # S5: shutdown(drain=False) cancels running handlers and marks pending tasks CANCELLED.
    # oas37a open point: stop(wait=False) may return before the cancelled handler has
    # unwound, as cancel_task may; it must have seen CancelledError once the ready callbacks
    # have run.
    if not h.capabilities.drain_choice:
        raise Skip("target's stop has no drain/wait choice")
    queue = await h.make(workers=1)
    running = await h.submit(queue, h.probes.wait_for(Gate(), name="running"))  # never opened
    await h.settle()
    queued = [await h.submit(queue, h.probes.succeed(name=f"q{n}")) for n in range(3)]
    await stop_within(queue, False, "S5")
    await h.settle()
    kinds = {name: h.timeline.kinds(name) for name in ("running", "q0", "q1", "q2")}
    expect_equal(kinds, {"running": ["start", "cancelled"], "q0": [], "q1": [], "q2": []},
                 "the timelines after stop(drain=False) (after letting the loop run)", "S5")
    states = [(await outcome_within(queue, t, "a task", "S5")).state for t in [running, *queued]]
    expect_equal(states, ["cancelled"] * 4, "the result states after stop(drain=False)", "S5")

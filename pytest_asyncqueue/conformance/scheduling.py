"""Scheduling (DESIGN S1 terms, S4, S9): start delays, per-attempt timeouts, result timeouts.

The delay and timeout checks are only for targets whose ``submit`` takes ``delay`` and
``timeout`` (the oas37a shape has neither, so there they are skipped). A delayed task is
pending but not eligible until its delay has passed on the loop clock; it holds no worker
meanwhile and then takes its place by rank (priority, then submission order). A per-task
timeout cancels the running attempt at its deadline; that attempt counts as failed with
``TimeoutError`` for the retry policy, and a task that finishes in time is untouched. A
result wait with a timeout (the ``result_timeout`` feature) ends when it is up, on the loop
clock, 0 included.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Final

from ..adapters import ResultMissing
from ._base import CheckFailed, Harness, Skip, check, expect_equal
from ._waits import outcomes_within

__all__ = ["CHECKS"]


def _starts(h: Harness, t0: float) -> dict[str, list[float]]:
    """Each probe's attempt start times, in virtual seconds after ``t0``."""
    starts: dict[str, list[float]] = {}
    for event in h.timeline.starts():
        starts.setdefault(event.probe, []).append(round(event.time - t0, 9))
    return starts


def _attempts(h: Harness, name: str) -> list[tuple[str, float]]:
    """How each attempt of probe ``name`` ended, and after how many virtual seconds."""
    starts = [e.time for e in h.timeline.starts(name)]
    ends = [e for e in h.timeline.of(name) if e.kind != "start"]
    return [(end.kind, round(end.time - start, 9)) for start, end in zip(starts, ends)]


@check("scheduling", "S9", needs=("delay",))
async def delayed_task_starts_when_due(h: Harness) -> None:
    """Two tasks delayed 5 s start exactly 5 s later; a task submitted after them runs first.

    Open points: none.
    """
    # S9 and S1 terms: a delayed task becomes eligible when its delay has passed on the loop
    # clock, and until then it holds no worker (two delayed tasks, two workers).
    queue = await h.make(workers=2)
    t0 = h.now()
    ids = [await h.submit(queue, h.probes.succeed(name=f"delayed{i}"), delay=5.0)
           for i in range(2)]
    ids.append(await h.submit(queue, h.probes.run_for(2.0, name="now")))
    await outcomes_within(h, queue, ids, "S9")
    expect_equal(_starts(h, t0), {"now": [0.0], "delayed0": [5.0], "delayed1": [5.0]},
                 "start times (virtual s) of two tasks delayed 5 s and an undelayed 2 s task "
                 "submitted after them, on two workers", "S9")


@check("scheduling", "S1", needs=("delay", "priority"))
async def delayed_task_takes_its_place_by_rank(h: Harness) -> None:
    """Tasks whose delays ended while the worker was busy start where they would undelayed.

    Open points: none (it compares with the order the same tasks get undelayed, whatever that
    order is).
    """
    # S1: once eligible, a delayed task is ranked like any other pending task, by priority
    # and its own (earlier) submission sequence number: the start order is the one the same
    # tasks get without delays (whatever that order is: ordering judges it, not this check).
    orders = []
    for run, delays in enumerate(((0.0,) * 5, (2.0, 0.0, 4.0, 0.0, 6.0))):
        queue = await h.make(workers=1)
        ids = [await h.submit(queue, h.probes.run_for(10.0, name=f"busy/{run}"))]
        await h.settle()
        for name, priority, delay in zip("abcde", (0, 0, 3, 3, 0), delays):
            options = {"delay": delay} if delay else {}
            ids.append(await h.submit(queue, h.probes.succeed(name=f"{name}/{run}"),
                                      priority=priority, **options))
        await outcomes_within(h, queue, ids, "S1")
        orders.append([e.probe.split("/")[0] for e in h.timeline.starts()
                       if e.probe.endswith(f"/{run}")])
    undelayed, delayed = orders
    expect_equal(delayed, undelayed, "start order, behind a 10 s task on one worker, of tasks "
                 "with priorities 0, 0, 3, 3, 0 and delays 2, 0, 4, 0, 6 s (the order they "
                 "get undelayed)", "S1")


@check("scheduling", "S4", needs=("timeout", "max_retries"))
async def timed_out_attempt_fails_and_is_retried(h: Harness) -> None:
    """Each attempt of a 5 s handler with timeout 1 is cancelled at 1 s, retried like a failure.

    Open points: none.
    """
    # S4: a per-task timeout cancels the attempt (the handler sees CancelledError) and counts
    # as a failed attempt (TimeoutError) for the retry policy (S3): the timed-out task gets
    # as many attempts as an always-failing task with the same max_retries.
    # Each on its own queue, so that they cannot interfere; two workers each, so that a
    # worker lost to a cancelled attempt (a cancellation bug) does not stall the retry.
    reference = await h.make(workers=2)
    ids = [await h.submit(reference, h.probes.fail(after=1.0, name="failing"), max_retries=1)]
    queue = await h.make(workers=2)
    ids.append(await h.submit(queue, h.probes.run_for(5.0, name="slow"), timeout=1.0,
                              max_retries=1))
    await outcomes_within(h, reference, ids[:1], "S4")
    [outcome] = await outcomes_within(h, queue, ids[1:], "S4")
    expect_equal(_attempts(h, "slow"), [("cancelled", 1.0)] * h.probes.attempts("failing"),
                 "how, and after how many virtual s, each attempt of a 5 s handler with "
                 "timeout=1, max_retries=1 ended", "S4")
    if outcome.state != "failed" or "TimeoutError" not in (outcome.error or ""):
        raise CheckFailed(f"S4: a task whose every attempt timed out ended {outcome.state} with "
                          f"error {outcome.error!r}; expected failed with a TimeoutError")


@check("scheduling", "S4", needs=("timeout",))
async def task_within_timeout_is_untouched(h: Harness) -> None:
    """Attempts ending before their timeout complete; stale deadlines spare later attempts.

    Open points: none.
    """
    # S4: the timeout bounds each attempt on its own: an attempt that ends in time completes,
    # and its deadline cancels neither the task that worker runs next nor the task's own
    # retry (which gets a fresh deadline, not what is left of the first).
    caps = h.capabilities
    retry = "max_retries" in caps.submit_options and "base_delay" in caps.settings
    settings: dict[str, Any] = {"base_delay": 0.05} if retry else {}
    queue = await h.make(workers=3, **settings)
    ids = [await h.submit(queue, h.probes.run_for(1.0, f"in time{i}", name=f"timed{i}"),
                          timeout=5.0) for i in range(2)]
    ids += [await h.submit(queue, h.probes.run_for(10.0, f"next{i}", name=f"next{i}"))
            for i in range(2)]
    expected = {"timed0": [("end", 1.0)], "timed1": [("end", 1.0)],
                "next0": [("end", 10.0)], "next1": [("end", 10.0)]}
    if retry:  # its attempt 2 runs 0.95..1.85 s after attempt 1 started: past 1 s
        ids.append(await h.submit(queue, h.probes.fail(1, then="second", after=0.9,
                                                       name="retried"),
                                  timeout=1.0, max_retries=1))
        expected["retried"] = [("fail", 0.9), ("end", 0.9)]
    await outcomes_within(h, queue, ids, "S4")
    expect_equal({name: _attempts(h, name) for name in expected}, expected,
                 "how, and after how many virtual s, each attempt ended (timeouts 5 s for the "
                 "1 s tasks, none for the 10 s tasks, 1 s for the retried 0.9 s one)", "S4")


RESULT_SLACK: Final = 0.1
"""Virtual seconds a result wait may end after its timeout: a get_result that polls every
few milliseconds (an oas37a open point) notices its deadline a poll late."""


@check("scheduling", "S9", needs=("result_timeout",))
async def result_wait_ends_at_its_timeout(h: Harness) -> None:
    """Result waits with timeout 0 and 2 s, on a 10 s task, end at once and after 2 s.

    Open points: whether get_result polls (a wait may end up to RESULT_SLACK late); how an
    ended wait says so (TimeoutError, or a None or some result: the shape does not say, so
    only when it ends is judged); what becomes of the task (not judged).
    """
    # S9: the target's own result timeout is measured on the loop clock, and a timeout of 0
    # is a timeout (a wait that takes 0 for "no timeout" waits the whole 10 s).
    queue = await h.make(workers=1)
    if "timeout" not in inspect.signature(queue.result).parameters:
        raise Skip("the adapter's result() takes no timeout")
    task_id = await h.submit(queue, h.probes.run_for(10.0, "done", name="slow"))
    await h.settle()
    for timeout in (0.0, 2.0):
        t0 = h.now()
        bound = asyncio.timeout(8.0)  # ends before the task does
        try:
            async with bound:
                await queue.result(task_id, timeout=timeout)
        except ResultMissing:
            pass  # a get_result that returns None when its wait is up
        except TimeoutError:
            if bound.expired():
                raise CheckFailed(f"S9: a result wait with timeout={timeout:g} on a running "
                                  f"10 s task was still waiting after 8 virtual s; expected "
                                  f"it to end after {timeout:g} s") from None
        waited = round(h.now() - t0, 9)
        if not timeout <= waited <= timeout + RESULT_SLACK:
            raise CheckFailed(f"S9: a result wait with timeout={timeout:g} on a running 10 s "
                              f"task ended after {waited:g} virtual s; expected {timeout:g} s "
                              f"(up to {RESULT_SLACK:g} s late)")


CHECKS = [delayed_task_starts_when_due, delayed_task_takes_its_place_by_rank,
          timed_out_attempt_fails_and_is_retried, task_within_timeout_is_untouched,
          result_wait_ends_at_its_timeout]

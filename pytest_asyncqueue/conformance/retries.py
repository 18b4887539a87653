"""Retries (DESIGN S3, oas37a point 3): attempt counts, the failed result, backoff and its cap.

A task with ``max_retries = r`` gets at most ``r + 1`` attempts; after the failure of attempt
k it waits ``min(base_delay * 2**k, max_delay)`` loop seconds, holding no worker; after the
last failure it is FAILED, carrying the last error and ``retries == r``. Attempts and gaps are
read from the timeline: a gap runs from the failure of one attempt to the start of the next.

A target's jitter cannot be set through the factory, so the gap checks expect the delays of
DESIGN S3 with jitter 0 (the default of both built-in shapes). A gap may never be shorter
than its delay, but it may be up to half a ``base_delay`` longer: a worker that polls picks a
retry up late, and that breaks S2 (checked in ``concurrency``), not S3.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from ._base import CheckFailed, Harness, check, expect_equal
from ._waits import outcomes_within, skip_if_nothing_ran

__all__ = ["CHECKS"]

BASE: Final = 0.2  # base_delay of the backoff checks, virtual s (time.sleep(delay) costs that)
LATE: Final = 0.5  # how late a retry may start, as a fraction of base_delay: pickup latency


def _gaps(h: Harness, name: str) -> list[float]:
    """Virtual seconds from each failure of probe ``name`` to its next start (rounded to 1 ns)."""
    fails = h.timeline.of(name, "fail")
    starts = h.timeline.starts(name)
    return [round(nxt.time - fail.time, 9) for fail, nxt in zip(fails, starts[1:])]


def _fast_backoff(h: Harness) -> dict[str, Any]:
    """A short backoff where the target lets us set it: keeps the timeline compact."""
    return {"base_delay": 0.01} if "base_delay" in h.capabilities.settings else {}


@check("retries", "S3", needs=("max_retries",))
async def attempts_are_max_retries_plus_one(h: Harness) -> None:
    """Always-failing tasks with max_retries 0, 1, 2, 3, 4 get exactly 1, 2, 3, 4, 5 attempts.

    Open points: none (attempts are counted on the timeline).
    """
    # S3: max_retries = r gives at most r + 1 attempts, and a failing task uses them all.
    queue = await h.make(workers=5, **_fast_backoff(h))
    ids = [await h.submit(queue, h.probes.fail(name=f"r{r}"), max_retries=r) for r in range(5)]
    await outcomes_within(h, queue, ids, "S3")
    attempts = [h.probes.attempts(f"r{r}") for r in range(5)]
    expect_equal(attempts, [1, 2, 3, 4, 5],
                 "attempts of always-failing tasks with max_retries 0, 1, 2, 3, 4", "S3")


@check("retries", "S3", needs=("max_retries",))
async def failed_task_carries_last_error(h: Harness) -> None:
    """After its last attempt fails the task is FAILED with the last error and retries == r.

    Open points: when retry_count rises (scheduled or started): both readings give max_retries
    once every retry has run.
    """
    # S3: after attempt r fails the task is FAILED; its result carries the last error and
    # retries == r. (The oas37a shape records the error as text, maybe without its type, so
    # the last attempt's message is what is required.)
    queue = await h.make(workers=2, **_fast_backoff(h))
    task_id = await h.submit(queue, h.probes.fail(name="doomed"), max_retries=2)
    [outcome] = await outcomes_within(h, queue, [task_id], "S3")
    expect_equal(outcome.state, "failed", "the state of a task whose 3 attempts all failed",
                 "S3")
    last = "doomed attempt 3 failed"
    if outcome.error is None or last not in outcome.error:
        raise CheckFailed(f"S3: the error of the failed task was {outcome.error!r}; expected "
                          f"the last attempt's error, 'ProbeError: {last}'")
    if outcome.retries is not None:
        expect_equal(outcome.retries, 2, "retries reported for a task failed with max_retries=2",
                     "S3")


@check("retries", "S3", needs=("max_retries",))
async def succeeds_on_its_last_allowed_attempt(h: Harness) -> None:
    """A task failing twice with max_retries=2 completes on attempt 3 with its value.

    Open points: when retry_count rises (scheduled or started): both readings give 2 once both
    retries have run.
    """
    # S3: a failed attempt is retried while attempts remain; success ends the task COMPLETED.
    queue = await h.make(workers=2, **_fast_backoff(h))
    task_id = await h.submit(queue, h.probes.fail(times=2, then="third time", name="flaky"),
                             max_retries=2)
    [outcome] = await outcomes_within(h, queue, [task_id], "S3")
    expect_equal(h.probes.attempts("flaky"), 3,
                 "attempts of a task failing twice with max_retries=2", "S3")
    expect_equal((outcome.state, outcome.value), ("completed", "third time"),
                 "(state, value) of a task that succeeded on its third attempt", "S3")
    if outcome.retries is not None:
        expect_equal(outcome.retries, 2, "retries reported for a task that succeeded on its "
                     "third attempt", "S3")


def _expect_gaps(h: Harness, name: str, delays: list[float], settings: str) -> None:
    """Fail unless each gap of probe ``name`` is its delay, never less, at most LATE later."""
    gaps = _gaps(h, name)
    late = LATE * delays[0]
    if len(gaps) != len(delays) or any(not d <= g < d + late for g, d in zip(gaps, delays)):
        raise CheckFailed(f"S3: the waits from each failure to the next attempt ({settings}) "
                          f"were {gaps} virtual seconds; expected {delays} (a retry may start "
                          f"up to {late:g} s late, never early)")


@check("retries", "S3", needs=("max_retries", "base_delay"))
async def backoff_doubles(h: Harness) -> None:
    """With base_delay 0.2 the waits before retries 1..4 are 0.2, 0.4, 0.8, 1.6 virtual seconds.

    Open points: none (one task, its gaps read on the timeline).
    """
    # S3: after the failure of attempt k the task waits base_delay * 2**k on the loop clock.
    settings: dict[str, Any] = {"base_delay": BASE}
    if "max_delay" in h.capabilities.settings:
        settings["max_delay"] = 100.0
    queue = await h.make(workers=2, **settings)
    task_id = await h.submit(queue, h.probes.fail(name="backoff"), max_retries=4)
    await outcomes_within(h, queue, [task_id], "S3")
    _expect_gaps(h, "backoff", [0.2, 0.4, 0.8, 1.6], "base_delay=0.2")


@check("retries", "S3", needs=("max_retries", "base_delay", "max_delay"))
async def backoff_is_capped(h: Harness) -> None:
    """With base_delay 0.2, max_delay 0.6 the waits before retries 1..4 are 0.2, 0.4, 0.6, 0.6.

    Open points: none (one task, its gaps read on the timeline).
    """
    # S3: delay_k = min(base_delay * 2**k, max_delay): the cap bounds every wait.
    queue = await h.make(workers=2, base_delay=BASE, max_delay=0.6)
    task_id = await h.submit(queue, h.probes.fail(name="capped"), max_retries=4)
    await outcomes_within(h, queue, [task_id], "S3")
    _expect_gaps(h, "capped", [0.2, 0.4, 0.6, 0.6], "base_delay=0.2, max_delay=0.6")


@check("retries", "S3", needs=("max_retries", "base_delay"))
async def backoff_holds_no_worker(h: Harness) -> None:
    """While both tasks of a 2-worker queue back off for 0.2 s, a new task starts at once.

    Open points: the order in which the two retries due at one instant re-enter is not judged,
    only when the new task starts.
    """
    # S3: a task waiting for backoff holds no worker, so a task submitted during the backoff
    # of both workers' tasks starts before that backoff ends.
    queue = await h.make(workers=2, base_delay=BASE)
    t0 = h.now()
    ids = [await h.submit(queue, h.probes.fail(times=1, name=f"backing-off{i}"), max_retries=1)
           for i in range(2)]
    await asyncio.sleep(BASE / 2)
    skip_if_nothing_ran(h, "S3")
    failures = [e.time for e in h.timeline.events if e.kind == "fail"]
    if len(failures) != 2:
        raise CheckFailed(f"S3: the first attempts of two failing tasks had not both failed "
                          f"{BASE / 2:g} virtual s after their submission to two idle workers; "
                          f"timeline: {h.timeline.describe()}")
    ids.append(await h.submit(queue, h.probes.succeed(name="meanwhile")))
    await outcomes_within(h, queue, ids, "S3")
    started = [round(e.time - t0, 9) for e in h.timeline.starts("meanwhile")]
    due = round(max(failures) + BASE - t0, 9)
    if len(started) != 1 or not started[0] < due:
        when = f"at t={started[0]:g}" if started else "never"
        raise CheckFailed(f"S3: a task submitted at t={BASE / 2:g} while both workers' tasks "
                          f"backed off until t={due:g} started {when} (virtual s); expected "
                          f"it to start before their backoff ended, the backoff holding no "
                          f"worker")


CHECKS = [attempts_are_max_retries_plus_one, failed_task_carries_last_error,
          succeeds_on_its_last_allowed_attempt, backoff_doubles, backoff_is_capped,
          backoff_holds_no_worker]

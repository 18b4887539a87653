"""Retries (DESIGN S3, oas37a point 3): attempt counts, the failed result, backoff and its cap.

A task with ``max_retries = r`` gets at most ``r + 1`` attempts; after the failure of attempt
k it waits ``min(base_delay * 2**k, max_delay)`` loop seconds, holding no worker; after the
last failure it is FAILED, carrying the last error and ``retries == r``. Attempts and gaps are
read from the timeline: a gap runs from the failure of one attempt to the start of the next.

A target's jitter cannot be set through the factory, so the gap checks expect the delays of
DESIGN S3 with jitter 0 (the default of both built-in shapes). A gap may never be shorter
than its delay, but it may be up to half a ``base_delay`` longer: a worker that polls picks a
retry up late, and that breaks S2 (checked in ``concurrency``), not S3. A target without a
``base_delay`` setting is not skipped: its default backoff is timed and judged by ratios (the
waits double, then cap; DESIGN section 3: a rule that can be measured without a knob is
measured).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Final

from ._base import CheckFailed, Harness, check, expect_equal
from ._waits import outcomes_within, skip_if_nothing_ran

__all__ = ["CHECKS"]

BASE: Final = 0.2  # base_delay of the backoff checks, virtual s (time.sleep(delay) costs that)
LATE: Final = 0.5  # how late a retry may start, as a fraction of base_delay: pickup latency
CAP: Final = 1000.0  # max_delay of the default-backoff check, virtual s: above every wait
DEFAULT_RETRIES: Final = 5  # retries timed on a target's default backoff


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


@check("retries", "S3", needs=("max_retries",))
async def backoff_doubles(h: Harness) -> None:
    """With base_delay 0.2 the waits before retries 1..4 are 0.2, 0.4, 0.8, 1.6 virtual seconds;
    without a base_delay setting the default waits double from the first, then cap.

    Open points: none (one task, its gaps read on the timeline; a target without a base_delay
    setting is timed on its defaults, by ratios, not skipped).
    """
    # S3: after the failure of attempt k the task waits base_delay * 2**k on the loop clock.
    if "base_delay" not in h.capabilities.settings:
        await _default_backoff_doubles(h)
        return
    settings: dict[str, Any] = {"base_delay": BASE}
    if "max_delay" in h.capabilities.settings:
        settings["max_delay"] = 100.0
    queue = await h.make(workers=2, **settings)
    task_id = await h.submit(queue, h.probes.fail(name="backoff"), max_retries=4)
    await outcomes_within(h, queue, [task_id], "S3")
    _expect_gaps(h, "backoff", [0.2, 0.4, 0.8, 1.6], "base_delay=0.2")


async def _default_backoff_doubles(h: Harness) -> None:
    """backoff_doubles for a target without a base_delay setting (DESIGN section 3: a rule
    that can be measured without a knob is measured).

    The waits are judged by their ratios: there must be a base b and a cap C such that wait k
    is min(b * 2**k, C), never earlier and less than LATE * b later (b stands for the unknown
    default base_delay). When the target takes max_delay it is set to CAP, above every wait
    measured, so the waits must double throughout; otherwise the default cap may come at any
    wait, the first included (a fixed backoff is a doubling capped at once).
    """
    settings: dict[str, Any] = {}
    if "max_delay" in h.capabilities.settings:
        settings["max_delay"] = CAP
    queue = await h.make(workers=2, **settings)
    task_id = await h.submit(queue, h.probes.fail(name="default-backoff"),
                             max_retries=DEFAULT_RETRIES)
    await outcomes_within(h, queue, [task_id], "S3")
    gaps = _gaps(h, "default-backoff")
    if len(gaps) != DEFAULT_RETRIES:
        raise CheckFailed(f"S3: an always-failing task with max_retries={DEFAULT_RETRIES} had "
                          f"{len(gaps)} waits before a retry ({gaps}); expected "
                          f"{DEFAULT_RETRIES}")
    if not _doubles_then_caps(gaps, capped=not settings):
        setting = (f"max_delay={CAP:g}, so no cap within these waits" if settings
                   else "no max_delay setting: the default cap may come at any wait")
        raise CheckFailed(f"S3: the waits from each failure to the next attempt (no base_delay "
                          f"setting, {setting}) were {gaps} virtual seconds; expected "
                          f"min(b * 2**k, cap) for some base b (each at most {LATE:g} b late), "
                          f"e.g. {[round(gaps[0] * 2**k, 9) for k in range(len(gaps))]}")


def _doubles_then_caps(gaps: list[float], *, capped: bool) -> bool:
    """Whether some b > 0 (or b = 0: no backoff) and cap C give gap k in
    [min(b * 2**k, C), that + LATE * b), the cap reached at some wait j (if ``capped``)."""
    if all(g == 0 for g in gaps):
        return True  # base_delay 0: min(0 * 2**k, cap) is 0
    splits = range(len(gaps) + 1) if capped else (len(gaps),)
    for j in splits:  # waits 0 .. j-1 double, j .. on are capped
        head, tail = gaps[:j], gaps[j:]
        # b <= g_k / 2**k (never early), b > g_k / (2**k + LATE) (less than LATE * b late)
        hi = min((g / 2**k for k, g in enumerate(head)), default=math.inf)
        lo = max((g / (2**k + LATE) for k, g in enumerate(head)), default=0.0)
        if head and not lo < hi:
            continue
        if not tail:
            return True
        cap_hi = min(tail)  # never early
        b = hi if head else cap_hi  # a fixed backoff: b is the cap itself
        cap_lo = max(tail) - LATE * b
        if j:  # the cap comes at wait j: b * 2**(j-1) <= C <= b * 2**j for some b in (lo, hi]
            cap_lo, cap_hi = max(cap_lo, lo * 2 ** (j - 1)), min(cap_hi, hi * 2**j)
        if cap_lo < cap_hi or (cap_lo == cap_hi and cap_hi > 0):
            return True
    return False


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

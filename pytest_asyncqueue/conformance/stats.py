"""Stats (DESIGN S6, oas37a point 5): counters that add up at every moment and tell the truth.

``stats()`` reports pending, running, completed, failed, cancelled, retried and workers
(under the target's own key names). After every loop iteration ``pending + running +
completed + failed + cancelled`` equals the submits the queue accepted, as the harness counts
them; no counter is negative; submitted, completed, failed, cancelled and retried never
decrease, not even when cached results are evicted; each task is counted once, in the state
its outcome and the timeline say; once the loop has done all it had to do at a virtual
instant, ``running`` is the number of handlers in flight (their attempts started and not
ended); ``workers`` is the number of live worker coroutines.

A missing counter is one defect, reported once: ``stats_has_every_key`` fails naming it (for
the oas37a shape too: its file makes a missing key a stats failure). The other checks judge
the counters that are there (the sum only when all five state counters are) and skip what
cannot be judged without the missing one. A counter the adapter declares absent
(``stats.<key>`` in ``Capabilities.absent``) is not missing at all: no check expects it, and
one that cannot do without it is skipped by its ``needs``.

The counters are read after every loop iteration by a
:class:`~pytest_asyncqueue.conformance._counter_watch.CounterWatch`; the checks here build the
workloads it watches and judge what it saw.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from ..adapters import Adapter
from ..contract import REQUIRED_STATS, STATE_COUNTERS
from ..probes import Gate
from ._base import CheckFailed, Harness, Skip, check, expect_equal
from ._counter_watch import (CounterWatch, expected_counters, kept_counters, require_stats_keys,
                             skip_without_any_counter, skip_without_counters)
from ._waits import outcomes_within

__all__ = ["CHECKS"]


@dataclass(frozen=True)
class _MixedRun:
    """What the mixed workload left behind.

    Attributes:
        watch: the :class:`CounterWatch` that read the counters throughout.
        final: the counters once every task had finished (without those declared absent).
        expected: how many tasks are in each state (None: status() did not know it), by
            their status, but by the timeline for finished tasks never cancelled.
        retries_started: retries that started, by the timeline.
        retries_scheduled: those plus retries cancelled during their backoff.
    """

    watch: CounterWatch
    final: dict[str, Any]
    expected: dict[str | None, int]
    retries_started: int
    retries_scheduled: int


async def _statuses_once_settled(h: Harness, queue: Adapter, ids: dict[str, Hashable],
                   seconds: int = 600) -> dict[str, str | None]:
    """Each task's status once none is pending or running (looking every virtual second),
    or as it is after ``seconds`` virtual seconds."""
    for _ in range(seconds):
        states = {name: await queue.status(task_id) for name, task_id in ids.items()}
        if not {"pending", "running"} & set(states.values()):
            break
        await asyncio.sleep(1.0)
    await h.settle()
    return {name: await queue.status(task_id) for name, task_id in ids.items()}


async def _cancel_noting_acceptance(h: Harness, queue: Adapter, ids: dict[str, Hashable], name: str,
                  accepted: dict[str, int]) -> None:
    """Cancel probe ``name``'s task; if accepted, note the timeline's length at that moment."""
    mark = len(h.timeline.events)
    if await queue.cancel(ids[name]):
        accepted[name] = mark


async def _mixed_run(h: Harness) -> _MixedRun:
    """Run the mixed workload on 4 workers; see :class:`_MixedRun`.

    The workload runs on a fixed virtual schedule (the times below are those of a correct
    queue) and never waits for a handler to get somewhere or for a result, so a target with
    other bugs (lost tasks, dead workers) still runs it to the end and is judged on its
    counters alone. A target without ``cancel`` runs it without the cancels.
    """
    caps = h.capabilities
    can_cancel = caps.has("cancel")
    settings: dict[str, Any] = {"base_delay": 0.01} if "base_delay" in caps.settings else {}
    queue = await h.make(workers=4, **settings)

    def retries(r: int) -> dict[str, int]:
        return {"max_retries": r} if "max_retries" in caps.submit_options else {}

    ids: dict[str, Hashable] = {}
    accepted: dict[str, int] = {}  # probes whose cancel() returned True: timeline length then
    gate = Gate()
    t0 = h.now()
    async with CounterWatch(h, queue) as watch:
        submit = watch.submit
        # t=0..1: four tasks end together on four workers: concurrent completions.
        for i in range(4):
            ids[f"done{i}"] = await submit(h.probes.run_for(1.0, i, name=f"done{i}"))
        # t=1..2: four tasks fail together, are retried once, and fail for good.
        for i in range(4):
            ids[f"bad{i}"] = await submit(h.probes.fail(after=1.0, name=f"bad{i}"), **retries(1))
        # t=2: two tasks that fail once then complete, one held by a gate, and one failing
        # at t=2.5 that is cancelled during its backoff.
        for i in range(2):
            ids[f"flaky{i}"] = await submit(h.probes.fail(1, then=i, after=1.0, name=f"flaky{i}"),
                                            **retries(2))
        ids["held"] = await submit(h.probes.wait_for(gate, name="held"))
        ids["backing"] = await submit(h.probes.fail(after=0.5, name="backing"), **retries(3))
        # t=0: three pending tasks cancelled at one instant.
        for i in range(3):
            ids[f"dropped{i}"] = await submit(h.probes.succeed(name=f"dropped{i}"))
        for i in range(3 if can_cancel else 0):
            await _cancel_noting_acceptance(h, queue, ids, f"dropped{i}", accepted)
        # t=2.505: "backing" waits for its retry (2.5..2.51), "held" runs: cancel both.
        await asyncio.sleep(t0 + 2.505 - h.now())
        for name in ("backing", "held") if can_cancel else ():
            await _cancel_noting_acceptance(h, queue, ids, name, accepted)
        gate.open()
        states = await _statuses_once_settled(h, queue, ids)
        final = kept_counters(await queue.stats(), watch.absent)
    expected: Counter[str | None] = Counter({state: 0 for state in STATE_COUNTERS})
    started = scheduled = 0
    for name, state in states.items():
        events = h.timeline.of(name)
        last = events[-1].kind if events else None
        if name not in accepted and state in ("completed", "failed") and last in ("end", "fail"):
            state = "completed" if last == "end" else "failed"  # the timeline, not its word
        expected[state] += 1
        retried = max(len(h.timeline.starts(name)) - 1, 0)
        started += retried
        # A retry scheduled and then cancelled: the last event is a failure before the cancel.
        scheduled += retried + (last == "fail" and events[-1].seq < accepted.get(name, -1))
    return _MixedRun(watch, final, dict(expected), started, scheduled)


@check("stats", "S6")
async def stats_has_every_key(h: Harness) -> None:
    """stats() has pending, running, completed, failed, cancelled, retried and workers.

    Open points: none.
    """
    # S6 / oas37a 5: every counter is reported; a missing one is a failure naming it, the
    # only one (the other checks judge the counters that are there). A counter the adapter
    # declares absent is not expected.
    expected = expected_counters(h.capabilities)
    if not expected:
        raise Skip(f"target has no {', '.join(f'stats.{key}' for key in REQUIRED_STATS)}")
    queue = await h.make(workers=2)
    require_stats_keys(await queue.stats(), expected)


@check("stats", "S6")
async def counters_consistent_at_every_iteration(h: Harness) -> None:
    """After every loop iteration the counters add up, none is negative, none decreased;
    running counts the handlers in flight.

    Open points: whether cancel returns before or after a running handler has unwound, and when
    retried rises: the sum and the monotony hold in every reading, and running is compared only
    once an instant has settled.
    """
    # S6 / oas37a 5: at every observation pending + running + completed + failed + cancelled
    # equals the accepted submits, no counter is negative, and submitted, completed, failed,
    # cancelled and retried never decrease; under concurrent completions, failures, retries
    # and cancellations (an unlocked read-modify-write of a counter loses counts here). Once
    # an instant settles, running equals the attempts started and not ended (a lost update
    # of running leaves the sum intact but not this).
    run = await _mixed_run(h)
    skip_without_any_counter(run.watch.first, REQUIRED_STATS, run.watch.absent, "S6")
    run.watch.verdict("sum", "negative", "decrease", "running")


@check("stats", "S6")
async def each_task_counted_once(h: Harness) -> None:
    """Once all is done, each task is counted once, under the state it is in.

    Open points: whether cancel returns before or after a running handler has unwound: the
    states are read once every task has settled.
    """
    # S6 / oas37a 5: a task is counted in exactly one of completed / failed / cancelled,
    # exactly once (or in pending / running while unfinished). Its state is what status()
    # says, except that a finished task we never cancelled is judged by its timeline.
    run = await _mixed_run(h)
    if None in run.expected:
        raise Skip("status() no longer knew some of the tasks, so their states are unknown")
    skip_without_any_counter(run.final, STATE_COUNTERS, run.watch.absent,
                             "the count of each state")
    kept = [key for key in STATE_COUNTERS if key in run.final]
    observed = {key: run.final[key] for key in kept}
    expected = {state: n for state, n in run.expected.items()
                if state in kept or state not in STATE_COUNTERS}  # an unknown state: wrong
    expect_equal(observed, expected, "the counters after the mixed workload", "S6")


@check("stats", "S6", needs=("max_retries", "stats.retried"))
async def retried_counts_the_retries(h: Harness) -> None:
    """retried equals the retries the timeline shows (scheduled or started, as the shape allows).

    Open points: when retried rises, as Capabilities.retried_counted allows (queue_core:
    scheduled; oas37a: scheduled or started).
    """
    # S6: retried counts retries; oas37a leaves open whether it rises when a retry is
    # scheduled or when it starts (they differ for a task cancelled during its backoff).
    run = await _mixed_run(h)
    skip_without_counters(run.final, ("retried",), "the count of retries")
    readings = {"scheduled": run.retries_scheduled, "started": run.retries_started}
    allowed = {k: v for k, v in readings.items() if k in h.capabilities.retried_counted}
    if run.final["retried"] not in allowed.values():
        raise CheckFailed(f"S6: retried was {run.final['retried']} after the mixed workload; "
                          f"expected " + " or ".join(f"{v} (retries {k})"
                                                     for k, v in allowed.items()))


@check("stats", "S6", needs=("cancel", "cancel_running", "stats.running", "stats.cancelled"))
async def cancelled_running_task_moves_once(h: Harness) -> None:
    """Cancelling the running task moves it running -> cancelled, exactly once.

    Open points: whether cancel returns before or after the handler has unwound: the successive
    values are read once the outcome is in, and are the same in both readings.
    """
    # S6: a cancelled running task moves running -> cancelled, exactly once, and the
    # invariant holds while its handler unwinds.
    queue = await h.make(workers=2)
    gate = Gate()
    async with CounterWatch(h, queue) as watch:
        skip_without_counters(watch.first, ("running", "cancelled"),
                              "the move running -> cancelled")
        task_id = await watch.submit(h.probes.wait_for(gate, name="victim"))
        await h.settle()
        if not h.timeline.starts("victim"):
            raise Skip("a task submitted to an idle queue never started, so no running task "
                       "could be cancelled (a concurrency failure)")
        watch.series.clear()
        await h.settle()
        cancelled = await queue.cancel(task_id)
        gate.open()  # a handler the cancel missed ends now, instead of holding the check
        if not cancelled:
            raise Skip("cancel() refused the running task (a cancellation failure)")
        await outcomes_within(h, queue, [task_id], "S6")
        await h.settle()
    watch.verdict("sum", "decrease")
    expect_equal({key: watch.series[key] for key in ("running", "cancelled")},
                 {"running": [1, 0], "cancelled": [0, 1]},
                 "successive values of running and cancelled while the running task was "
                 "cancelled", "S6")


def _signalling(handler: Callable[[], Awaitable[Any]], ended: asyncio.Event
                ) -> Callable[[], Awaitable[Any]]:
    """``handler``, setting ``ended`` as its attempt returns or raises (before the queue sees)."""

    async def signalling() -> Any:
        try:
            return await handler()
        finally:
            ended.set()

    return signalling


def _lingering(handler: Callable[[], Awaitable[Any]], seconds: float
               ) -> Callable[[], Awaitable[Any]]:
    """``handler``, cleaning up for ``seconds`` virtual s when cancelled before it re-raises."""

    async def lingering() -> Any:
        try:
            return await handler()
        except asyncio.CancelledError:
            await asyncio.sleep(seconds)
            raise

    return lingering


@check("stats", "S6", needs=("cancel", "cancel_running"))
async def cancel_at_attempt_boundaries_counted_once(h: Harness) -> None:
    """Cancels landing just as an attempt returns, fails or times out count the task once.

    Open points: whether cancel returns before or after the handler has unwound: the counters
    must add up at every iteration in both readings, and the end is judged once every task has
    settled.
    """
    # S6: however a cancel lands (one to three loop iterations after the handler returned
    # or raised: before its worker resumed, or after it scheduled the retry; or while a
    # timed-out handler unwinds) the task is counted once, the counters adding up throughout.
    caps = h.capabilities
    settings: dict[str, Any] = {"base_delay": 1.0} if "base_delay" in caps.settings else {}
    queue = await h.make(workers=1, **settings)
    retry = {"max_retries": 1} if "max_retries" in caps.submit_options else {}
    ids: dict[str, Hashable] = {}
    async with CounterWatch(h, queue) as watch:
        for lag in (1, 2, 3):
            for kind in ("ends", "fails"):
                name, ended = f"{kind}-then-cancel+{lag}", asyncio.Event()
                probe = (h.probes.succeed(name=name) if kind == "ends"
                         else h.probes.fail(times=1, name=name))
                ids[name] = await watch.submit(_signalling(probe, ended), **retry)
                try:
                    async with asyncio.timeout(60.0):
                        await ended.wait()
                except TimeoutError:
                    continue  # never ran: nothing to race (a concurrency failure)
                for _ in range(lag - 1):
                    await asyncio.sleep(0)
                await queue.cancel(ids[name])
                await _statuses_once_settled(h, queue, {name: ids[name]}, seconds=10)
        if "timeout" in caps.submit_options:  # cancelled at 1.25 s, unwinding 1..1.5 s
            name = "timed-out-then-cancel"
            ids[name] = await watch.submit(_lingering(h.probes.run_for(10.0, name=name), 0.5),
                                           timeout=1.0)
            await asyncio.sleep(1.25)
            await queue.cancel(ids[name])
        states = await _statuses_once_settled(h, queue, ids)
        final = kept_counters(await queue.stats(), watch.absent)
    watch.verdict("sum", "negative", "decrease")
    if not {"pending", "running"} & set(states.values()):
        left = {key: final[key] for key in ("pending", "running") if key in final}
        expect_equal(left, dict.fromkeys(left, 0),
                     "pending and running once every task of the workload had finished", "S6")


@check("stats", "S6", needs=("worker_tasks", "stats.workers"))
async def workers_counts_live_workers(h: Harness) -> None:
    """stats()['workers'] counts the live workers: 3 while busy, none left after stop().

    Open points: what stop(wait=True) does to running handlers: none is left (their gate is
    open), and the count after stop is read after letting the loop run.
    """
    # S6, not S2: the rule asserted is that the `workers` counter tells the truth. How many
    # workers must exist is S2 and is judged on the timeline in `concurrency`; here the
    # counter is held to what can be seen: at least the handlers running at once, at most the
    # queue's live asyncio tasks (so 0 once stop() has ended them all).
    others = asyncio.all_tasks()
    queue = await h.make(workers=3)
    skip_without_counters(await queue.stats(), ("workers",), "the workers counter")
    gate = Gate()
    for i in range(3):
        await h.submit(queue, h.probes.wait_for(gate, name=f"busy{i}"))
    await h.settle()

    def live() -> int:
        return sum(1 for t in asyncio.all_tasks() if t not in others and not t.done())

    running = len(h.timeline.starts()) - sum(e.kind != "start" for e in h.timeline.events)
    workers, tasks = (await queue.stats())["workers"], live()
    if not running <= workers <= tasks:
        raise CheckFailed(f"S6: stats()['workers'] was {workers} while {running} handlers ran "
                          f"at once on {tasks} live asyncio tasks of the queue (workers=3); "
                          f"expected the number of live worker coroutines")
    gate.open()
    try:
        async with asyncio.timeout(60.0):
            await queue.stop(drain=True)
    except TimeoutError:
        raise Skip("stop() did not return within 60 virtual seconds (a lifecycle "
                   "failure), so the count after stop cannot be judged") from None
    await h.settle()
    workers, tasks = (await queue.stats())["workers"], live()
    if workers > tasks:
        raise CheckFailed(f"S6: after stop() stats()['workers'] was {workers} while {tasks} "
                          f"asyncio tasks of the queue were alive; expected the number of "
                          f"live worker coroutines")


@check("stats", "S6")
async def counters_survive_result_eviction(h: Harness) -> None:
    """Evicted and expired results lower no counter: the counters still add up afterwards.

    Open points: whether expired results are dropped at once or lazily: the counters must not
    fall in either reading.
    """
    # oas37a 5: counters are cumulative; evicting a cached result does not lower them.
    # Tasks finish one by one (successes, then failures) on one worker, so a counter
    # computed from the result cache is seen going down, and is short at the end.
    caps = h.capabilities
    settings: dict[str, Any] = {k: v for k, v in (("max_results", 1), ("result_ttl", 1.0))
                                if k in caps.settings}
    if not settings:
        raise Skip("target has no max_results or result_ttl setting")
    queue = await h.make(workers=1, **settings)
    retry = {"max_retries": 0} if "max_retries" in caps.submit_options else {}
    async with CounterWatch(h, queue) as watch:
        for i in range(3):
            await watch.submit(h.probes.run_for(1.0, i, name=f"kept{i}"))
        for i in range(2):
            await watch.submit(h.probes.fail(after=1.0, name=f"lost{i}"), **retry)
        dropped = await watch.submit(h.probes.succeed(name="dropped"))
        if h.capabilities.has("cancel"):
            await queue.cancel(dropped)
        await asyncio.sleep(10.0)  # all finish by t=5; results are evicted and expire by t=6
        await h.settle()
    watch.verdict("sum", "decrease")


CHECKS = [stats_has_every_key, counters_consistent_at_every_iteration, each_task_counted_once,
          retried_counts_the_retries, cancelled_running_task_moves_once,
          cancel_at_attempt_boundaries_counted_once,
          workers_counts_live_workers, counters_survive_result_eviction]

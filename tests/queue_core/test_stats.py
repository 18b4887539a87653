"""S6 stats: the invariant at every loop iteration, monotonic counters, each task counted once."""

from __future__ import annotations

import asyncio
import random

import pytest

from queue_core import QueueStats, TaskQueue, TaskState

from .conftest import each_iteration

MONOTONIC = ("submitted", "completed", "failed", "cancelled", "retried")


def check_stats_invariant(queue: TaskQueue, history: list[QueueStats]) -> None:
    """Assert S6 on a fresh snapshot, against the previous one."""
    __tracebackhide__ = True
    s = queue.stats()
    total = s.pending + s.running + s.completed + s.failed + s.cancelled
    assert total == s.submitted, f"S6: counters add up to {total}, submitted={s.submitted}: {s}"
    assert min(s.submitted, s.pending, s.running, s.completed, s.failed, s.cancelled,
               s.retried, s.workers) >= 0, f"S6: a counter is negative: {s}"
    live = sum(1 for t in asyncio.all_tasks()
               if t.get_name().startswith("queue_core-worker") and not t.done())
    assert s.workers == live, f"S6: workers={s.workers} but {live} worker coroutines live"
    if history:
        before = history[-1]
        for name in MONOTONIC:
            assert getattr(s, name) >= getattr(before, name), (
                f"S6: {name} went down from {getattr(before, name)} to {getattr(s, name)}")
    history.append(s)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_stats_invariant_holds_after_every_loop_iteration_of_a_mixed_run(run, seed):
    async def main():
        rng = random.Random(seed)
        history: list[QueueStats] = []
        counts: dict[int, int] = {}

        async def probe(n, fail_times, duration):
            counts[n] = counts.get(n, 0) + 1
            await asyncio.sleep(duration)
            if counts[n] <= fail_times:
                raise RuntimeError(f"{n} fails")
            return n

        queue = TaskQueue(workers=4, base_delay=0.5, max_delay=2.0, max_results=1000)
        each_iteration(lambda: check_stats_invariant(queue, history))
        ids = []
        async with queue:
            for n in range(200):
                ids.append(queue.submit(
                    probe, n, rng.choice([0, 0, 1, 3]), rng.choice([0.0, 0.1, 1.0]),
                    priority=rng.randint(0, 3), max_retries=rng.randint(0, 2),
                    delay=rng.choice([0.0, 0.0, 0.7]), timeout=rng.choice([None, 0.5])))
                if n % 10 == 9:
                    await asyncio.sleep(rng.choice([0.0, 0.3, 0.6]))
                    for victim in rng.sample(ids, 3):
                        queue.cancel(victim)
        results = [await queue.result(i) for i in ids]
        return queue.stats(), results, len(history), counts

    stats, results, observations, counts_seen = run(main())
    assert observations > 200
    for state, counted in [(TaskState.COMPLETED, stats.completed),
                           (TaskState.FAILED, stats.failed),
                           (TaskState.CANCELLED, stats.cancelled)]:
        assert sum(r.state is state for r in results) == counted > 0
    assert stats.submitted == 200 and stats.pending == stats.running == 0
    attempts = sum(r.attempts for r in results)
    assert attempts == sum(counts_seen.values())  # the results agree with the probes' own count
    # Every attempt ends completed, failed, cancelled or retried; a cancel may end a backoff.
    finished_attempts = stats.completed + stats.failed
    assert attempts - finished_attempts - stats.cancelled <= stats.retried
    assert stats.retried <= attempts - finished_attempts


def test_a_cancelled_running_task_moves_from_running_to_cancelled_exactly_once(run):
    async def main():
        snapshots = []

        async def long_job():
            await asyncio.sleep(100.0)

        async with TaskQueue(workers=2) as queue:
            task_id = queue.submit(long_job)
            await asyncio.sleep(1.0)
            snapshots.append(queue.stats())
            queue.cancel(task_id)
            queue.cancel(task_id)
            await asyncio.sleep(0)
            snapshots.append(queue.stats())
            queue.cancel(task_id)
            await asyncio.sleep(1.0)
            snapshots.append(queue.stats())
        return snapshots

    during, just_after, later = run(main())
    assert (during.running, during.cancelled) == (1, 0)
    assert (just_after.running, just_after.cancelled) == (0, 1)
    assert (later.running, later.cancelled, later.submitted) == (0, 1, 1)


def test_stats_is_a_frozen_snapshot_not_a_live_view(run):
    async def main():
        async def probe():
            pass

        async with TaskQueue(workers=1) as queue:
            before = queue.stats()
            await queue.result(queue.submit(probe))
            return before, queue.stats()

    before, after = run(main())
    assert (before.submitted, after.submitted, after.completed) == (0, 1, 1)
    with pytest.raises(AttributeError):
        before.submitted = 5

"""S3 retries: exact attempt counts, exponential backoff on the loop clock, capped, no worker held."""

from __future__ import annotations

import asyncio
import random

import pytest

from queue_core import TaskQueue, TaskState, backoff_delay


def failing_probe(starts: list[float], fail_times: int = 10**9):
    """A handler that records each attempt's start time and fails the first `fail_times`."""

    async def probe():
        starts.append(asyncio.get_running_loop().time())
        if len(starts) <= fail_times:
            raise ConnectionError(f"attempt {len(starts)} failed")
        return "ok"

    return probe


@pytest.mark.parametrize("max_retries", [0, 1, 2, 3, 4])
def test_a_task_that_always_fails_gets_exactly_max_retries_plus_one_attempts(run, max_retries):
    async def main():
        starts = []
        async with TaskQueue(workers=2, base_delay=0.1) as queue:
            result = await queue.result(queue.submit(failing_probe(starts), max_retries=max_retries))
        return starts, result, queue.stats()

    starts, result, stats = run(main())
    assert len(starts) == max_retries + 1
    assert result.state is TaskState.FAILED
    assert result.retries == max_retries and result.attempts == max_retries + 1
    assert isinstance(result.error, ConnectionError)
    assert str(result.error) == f"attempt {max_retries + 1} failed"
    assert (stats.failed, stats.retried, stats.completed) == (1, max_retries, 0)


def test_a_task_that_succeeds_after_two_failures_completes_on_the_third_attempt(run):
    async def main():
        starts = []
        async with TaskQueue(workers=1) as queue:
            result = await queue.result(queue.submit(failing_probe(starts, 2), max_retries=5))
        return starts, result, queue.stats()

    starts, result, stats = run(main())
    assert len(starts) == 3
    assert (result.state, result.value, result.attempts) == (TaskState.COMPLETED, "ok", 3)
    assert (stats.completed, stats.failed, stats.retried) == (1, 0, 2)


def test_backoff_gaps_double_from_base_delay(run):
    async def main():
        starts = []
        async with TaskQueue(workers=1, base_delay=0.1, max_delay=60.0) as queue:
            await queue.result(queue.submit(failing_probe(starts), max_retries=4))
        return starts

    starts = run(main())
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert gaps == pytest.approx([0.1, 0.2, 0.4, 0.8], abs=1e-9)


def test_backoff_is_capped_at_max_delay(run):
    async def main():
        starts = []
        async with TaskQueue(workers=1, base_delay=1.0, max_delay=3.0) as queue:
            await queue.result(queue.submit(failing_probe(starts), max_retries=5))
        return starts

    starts = run(main())
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert gaps == pytest.approx([1.0, 2.0, 3.0, 3.0, 3.0], abs=1e-9)


def test_a_task_waiting_for_its_backoff_holds_no_worker(run):
    async def main():
        starts, other = [], []

        async def quick():
            other.append(asyncio.get_running_loop().time())

        async with TaskQueue(workers=1, base_delay=10.0, max_delay=10.0) as queue:
            queue.submit(failing_probe(starts, 1), max_retries=1)
            queue.submit(quick)
        return starts, other

    starts, other = run(main())
    assert other == [0.0]  # ran while the failed task waited its 10 s backoff
    assert starts == [0.0, 10.0]


def test_a_non_retryable_exception_fails_the_task_at_once(run):
    async def main():
        calls = []

        async def probe():
            calls.append(1)
            raise KeyError("permanent")

        async with TaskQueue(workers=1, non_retryable=(LookupError,)) as queue:
            result = await queue.result(queue.submit(probe, max_retries=3))
        return calls, result, queue.stats()

    calls, result, stats = run(main())
    assert calls == [1]
    assert result.state is TaskState.FAILED and isinstance(result.error, KeyError)
    assert stats.retried == 0


def test_a_handler_exception_never_kills_a_worker(run):
    async def main():
        async def boom():
            raise ValueError("boom")

        async def fine():
            return "fine"

        async with TaskQueue(workers=1) as queue:
            for _ in range(5):
                queue.submit(boom)
            last = queue.submit(fine)
            result = await queue.result(last)
            return result.value, queue.stats()

    value, stats = run(main())
    assert value == "fine"
    assert (stats.failed, stats.completed, stats.workers) == (5, 1, 1)


def test_the_failure_keeps_no_traceback_that_would_hold_arguments_alive(run):
    async def main():
        async def boom(payload):
            raise ValueError("boom")

        async with TaskQueue(workers=1) as queue:
            return await queue.result(queue.submit(boom, object()))

    assert run(main()).error.__traceback__ is None


@pytest.mark.parametrize("failures, expected", [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 5.0),
                                                (2000, 5.0)])
def test_backoff_delay_is_min_of_base_times_two_to_the_k_and_the_cap(failures, expected):
    assert backoff_delay(failures, 0.5, 5.0) == expected


def test_jittered_backoff_stays_between_the_delay_and_the_cap_and_is_seeded():
    draws = [backoff_delay(k, 1.0, 6.0, jitter=0.5, rng=random.Random(7)) for k in (1, 2, 3, 4)]
    again = [backoff_delay(k, 1.0, 6.0, jitter=0.5, rng=random.Random(7)) for k in (1, 2, 3, 4)]
    assert draws == again
    for k, delay in zip((1, 2, 3, 4), draws):
        plain = min(2.0 ** (k - 1), 6.0)
        assert plain <= delay <= min(plain * 1.5, 6.0)
    for seed in range(200):
        assert 0.0 <= backoff_delay(1, 0.0, 0.0, jitter=1.0, rng=random.Random(seed)) == 0.0


def test_retrying_never_blocks_the_event_loop(run):
    async def main():
        async with TaskQueue(workers=2, base_delay=0.1) as queue:
            for _ in range(2):
                queue.submit(failing_probe([]), max_retries=2)
        return asyncio.get_running_loop().blocking_calls

    assert run(main()) == []

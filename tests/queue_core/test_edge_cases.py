"""S8 edge cases and bad input: each raises the named error at once, saying what to do."""

from __future__ import annotations

import asyncio
import functools
import math

import pytest

import queue_core
from queue_core import DuplicateTask, QueueError, QueueFull, TaskQueue, TaskState

from .conftest import IterationCounter, Overlap


async def probe(*args):
    return args


def plain_function():
    return 1


@pytest.mark.parametrize("workers, error, message", [
    (0, ValueError, r"workers=0 must be >= 1; pass the number of concurrent handlers"),
    (-3, ValueError, r"workers=-3 must be >= 1"),
    (True, TypeError, r"workers=True must be an int"),
    (2.0, TypeError, r"workers=2.0 must be an int"),
])
def test_a_bad_worker_count_is_refused_when_the_queue_is_built(workers, error, message):
    with pytest.raises(error, match=message):
        TaskQueue(workers=workers)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"base_delay": -1.0}, ValueError, r"base_delay=-1.0 must be finite and >= 0"),
    ({"max_delay": math.nan}, ValueError, r"max_delay=nan must be finite"),
    ({"base_delay": 5.0, "max_delay": 1.0}, ValueError, r"max_delay=1.0 < base_delay=5.0"),
    ({"max_pending": 0}, ValueError, r"max_pending=0 must be >= 1"),
    ({"max_results": 0}, ValueError, r"max_results=0 must be >= 1"),
    ({"result_ttl": 0}, ValueError, r"result_ttl=0 must be finite and > 0"),
    ({"jitter": "lots"}, TypeError, r"jitter='lots' must be a number of loop seconds, not str"),
    ({"non_retryable": ValueError}, TypeError, r"must be a tuple of exception types"),
])
def test_bad_queue_settings_are_refused_naming_the_argument(kwargs, error, message):
    with pytest.raises(error, match=message):
        TaskQueue(**kwargs)


def test_a_plain_function_handler_is_refused_at_submit_naming_it(run):
    async def main():
        queue = TaskQueue()
        with pytest.raises(TypeError, match=r"handler plain_function is a plain function, not "
                                            r"a coroutine function; define it with 'async def'"):
            queue.submit(plain_function)
        with pytest.raises(TypeError, match=r"is not callable"):
            queue.submit(42)
        # async callables that are not functions are fine
        queue.submit(functools.partial(probe, 1))
        return queue.stats().submitted

    assert run(main()) == 1


@pytest.mark.parametrize("kwargs, error, message", [
    ({"priority": True}, TypeError, r"priority=True must be an int"),
    ({"priority": 1.5}, TypeError, r"priority=1.5 must be an int"),
    ({"priority": math.nan}, TypeError, r"priority=nan must be an int"),
    ({"max_retries": -1}, ValueError, r"max_retries=-1 must be >= 0"),
    ({"max_retries": False}, TypeError, r"max_retries=False must be an int"),
    ({"delay": -0.5}, ValueError, r"delay=-0.5 must be finite and >= 0"),
    ({"delay": math.nan}, ValueError, r"delay=nan must be finite"),
    ({"delay": math.inf}, ValueError, r"delay=inf must be finite"),
    ({"delay": True}, TypeError, r"delay=True must be a number"),
    ({"timeout": 0}, ValueError, r"timeout=0 must be finite and > 0"),
    ({"task_id": ["unhashable"]}, TypeError, r"task_id=\['unhashable'\] is not hashable"),
])
def test_bad_submit_arguments_are_refused_naming_the_argument(run, kwargs, error, message):
    async def main():
        queue = TaskQueue()
        with pytest.raises(error, match=message):
            queue.submit(probe, **kwargs)
        return queue.stats().submitted

    assert run(main()) == 0


def test_a_duplicate_task_id_is_refused_while_the_queue_knows_the_task(run):
    async def main():
        async with TaskQueue(workers=1) as queue:
            queue.submit(probe, "first", task_id="job-1")
            with pytest.raises(DuplicateTask, match=r"task_id='job-1' is already used"):
                queue.submit(probe, "second", task_id="job-1")
            first = await queue.result("job-1")
            with pytest.raises(ValueError, match="pass a new id or omit task_id"):
                queue.submit(probe, "third", task_id="job-1")
            # fresh ids step over the ids that callers chose
            chosen = queue.submit(probe, task_id=3)
            fresh = [queue.submit(probe) for _ in range(3)]
        return first.value, chosen, fresh

    value, chosen, fresh = run(main())
    assert value == ("first",)
    assert chosen == 3 and chosen not in fresh and len(set(fresh)) == 3


def test_a_full_queue_raises_queue_full_and_accepts_again_when_drained(run):
    async def main():
        queue = TaskQueue(workers=1, max_pending=2)
        queue.submit(probe)
        queue.submit(probe, delay=5.0)  # a delayed task is pending too
        with pytest.raises(QueueFull, match=r"max_pending=2 pending tasks; retry after"):
            queue.submit(probe)
        with pytest.raises(asyncio.QueueFull):
            queue.submit(probe)
        async with queue:
            await asyncio.sleep(10.0)
            queue.submit(probe)
        return queue.stats()

    stats = run(main())
    assert (stats.submitted, stats.completed) == (3, 3)


def test_every_error_is_a_queue_error():
    for name in ("DuplicateTask", "QueueClosed", "QueueFull", "ResultGone",
                 "UnknownTask"):
        assert issubclass(getattr(queue_core, name), QueueError)


def test_an_empty_queue_raises_nothing_and_sleeps(run):
    async def main():
        async with TaskQueue(workers=4) as queue:
            iterations = IterationCounter()
            await asyncio.sleep(86_400.0)
            return iterations.count, queue.stats()

    iterations, stats = run(main())
    assert iterations <= 3
    assert stats.submitted == 0 and stats.workers == 4


def test_a_thousand_workers_work(run):
    async def main():
        probe = Overlap(duration=1.0)
        async with TaskQueue(workers=1000) as queue:
            for _ in range(3000):
                queue.submit(probe)
            await asyncio.sleep(0)
            live = queue.stats().workers
        return probe.peak, live, queue.stats(), asyncio.get_running_loop().time()

    peak, live, stats, now = run(main())
    assert (peak, live, stats.completed, now) == (1000, 1000, 3000, 3.0)


def test_rapid_submit_cancel_cycles_keep_the_stats_exact_and_the_queue_small(run):
    async def main():
        async with TaskQueue(workers=2, max_results=10_000) as queue:
            kept = []
            for n in range(10_000):
                task_id = queue.submit(probe, n)
                if n % 10:
                    assert queue.cancel(task_id)
                else:
                    kept.append(task_id)
                if n % 1000 == 0:
                    await asyncio.sleep(0)
            held = len(queue._ready)
            results = [await queue.result(i) for i in kept]
        return queue.stats(), held, results

    stats, held, results = run(main())
    assert (stats.submitted, stats.cancelled, stats.completed) == (10_000, 9_000, 1_000)
    assert all(r.state is TaskState.COMPLETED for r in results)
    assert held < 2_000  # cancelled entries were compacted away, not kept by the thousand



def test_cancelling_most_tasks_of_many_priorities_compacts_and_drops_emptied_levels(run):
    # Each cancel must stay O(1) amortized however many levels there are: a count of the
    # entries on every cancel made 10,000 cancels over 20,000 levels take seconds.
    async def main():
        async with TaskQueue(workers=1, max_results=20_000) as queue:
            ids = [queue.submit(probe, n, priority=n) for n in range(20_000)]
            kept = ids[::4]
            for task_id in ids:
                if task_id not in kept[-10:]:
                    queue.cancel(task_id)
            ready = queue._ready
            held, levels = len(ready), len(ready._levels)
            results = [await queue.result(i) for i in kept[-10:]]
        return held, levels, [r.value for r in results], queue.stats()

    held, levels, values, stats = run(main())
    assert held < 1_000 and levels < 1_000  # compacted, and the emptied levels are gone
    assert values == [(n,) for n in range(19_960, 20_000, 4)]
    assert (stats.cancelled, stats.completed) == (19_990, 10)

@pytest.mark.parametrize("delay", [None, False, "", []])
def test_a_falsy_delay_of_the_wrong_type_is_refused_too(run, delay):
    async def main():
        with pytest.raises(TypeError, match=r"delay=.* must be a number of loop seconds"):
            TaskQueue().submit(probe, delay=delay)

    run(main())


def test_a_failure_keeps_no_chained_traceback_alive(run):
    async def main():
        async def boom(payload):
            try:
                raise KeyError("inner")
            except KeyError as inner:
                raise RuntimeError("outer") from inner

        async with TaskQueue(workers=1) as queue:
            return (await queue.result(queue.submit(boom, object()))).error

    error = run(main())
    assert error.__traceback__ is None and error.__cause__.__traceback__ is None


def test_levels_emptied_by_workers_are_dropped_but_the_last_is_kept_for_the_next_task(run):
    # An idle queue fed one task at a time reuses its one level instead of building and
    # dropping one per task; a thousand priorities run to the end leave that one level only.
    async def main():
        async with TaskQueue(workers=2) as queue:
            for n in range(1_000):
                queue.submit(probe, n, priority=n)
            while queue.stats().completed < 1_000:
                await asyncio.sleep(0)
            after_many = dict(queue._ready._levels)
            for priority in (0, 7, 0):
                await queue.result(queue.submit(probe, priority=priority))
            return after_many, dict(queue._ready._levels), len(queue._ready)

    after_many, after_more, held = run(main())
    assert list(after_many) == [0]  # the lowest priority ran last; the other 999 levels went
    assert after_more == after_many and after_more[0] is after_many[0] and held == 0

"""S9 time: every duration is on the loop clock, so the virtual clock controls all of it."""

from __future__ import annotations

import asyncio
import time

import pytest

from queue_core import TaskQueue, TaskState


def test_a_day_of_delays_backoffs_timeouts_and_ttls_costs_no_wall_time(run):
    async def main():
        loop = asyncio.get_running_loop()
        starts = []

        async def probe():
            starts.append(loop.time())
            await asyncio.sleep(3600.0)
            raise RuntimeError("still broken")

        async with TaskQueue(workers=1, base_delay=600.0, max_delay=3600.0,
                             result_ttl=86_400.0) as queue:
            task_id = queue.submit(probe, delay=1800.0, max_retries=3, timeout=7200.0)
            result = await queue.result(task_id)
            await asyncio.sleep(86_400.0)
            finished_at = result.finished_at
        return starts, finished_at, result.state

    wall = time.perf_counter()
    starts, finished_at, state = run(main())
    wall = time.perf_counter() - wall
    # delay 1800; each attempt runs 3600; backoffs 600, 1200, 2400
    assert starts == [1800.0, 6000.0, 10_800.0, 16_800.0]
    assert finished_at == 20_400.0 and state is TaskState.FAILED
    assert wall < 1.0


def test_a_delayed_task_starts_exactly_when_due(run):
    async def main():
        loop = asyncio.get_running_loop()
        starts = {}

        async def probe(name):
            starts[name] = loop.time()

        async with TaskQueue(workers=2) as queue:
            queue.submit(probe, "later", delay=30.0)
            queue.submit(probe, "now")
            queue.submit(probe, "soon", delay=0.25)
        return starts

    assert run(main()) == {"now": 0.0, "soon": 0.25, "later": 30.0}


def test_a_result_wait_times_out_on_the_loop_clock_and_the_task_goes_on(run):
    async def main():
        loop = asyncio.get_running_loop()

        async def probe():
            await asyncio.sleep(10.0)
            return "done"

        async with TaskQueue(workers=1) as queue:
            task_id = queue.submit(probe)
            ended = []
            for timeout in (0, 2.5):
                try:
                    await queue.result(task_id, timeout=timeout)
                except TimeoutError as exc:
                    ended.append((timeout, loop.time(), str(exc)))
            await queue.result(task_id)
            finished = loop.time()
            result = await queue.result(task_id, timeout=0)  # finished: no wait at all
            return ended, result.value, finished

    ended, value, finished = run(main())
    assert [(timeout, at) for timeout, at, _ in ended] == [(0, 0.0), (2.5, 2.5)]
    assert "had not finished after 2.5 loop seconds; it goes on" in ended[1][2]
    assert (value, finished) == ("done", 10.0)


def test_a_result_timeout_must_be_a_finite_number_of_seconds(run):
    async def main():
        async with TaskQueue(workers=1) as queue:
            task_id = queue.submit(asyncio.sleep, 1.0)
            for bad, error in ((-1, ValueError), (float("nan"), ValueError), ("1", TypeError)):
                with pytest.raises(error, match=r"timeout=.* must be"):
                    await queue.result(task_id, timeout=bad)

    run(main())

"""S1 ordering: higher priority first, FIFO among equals, retries and delays keep their place."""

from __future__ import annotations

import asyncio

from queue_core import TaskQueue

from .conftest import Gate


def test_priorities_submitted_before_start_run_highest_first_with_fifo_ties(run):
    async def main():
        order = []

        async def probe(name):
            order.append(name)

        queue = TaskQueue(workers=1)
        for name, priority in [("p1", 1), ("p5a", 5), ("p3", 3), ("p5b", 5), ("p2", 2)]:
            queue.submit(probe, name, priority=priority)
        async with queue:
            pass
        return order

    assert run(main()) == ["p5a", "p5b", "p3", "p2", "p1"]


def test_tasks_submitted_while_the_worker_is_busy_run_in_rank_order(run):
    async def main():
        order, gate = [], Gate()

        async def probe(name):
            order.append(name)

        async def blocker():
            await gate.wait()

        async with TaskQueue(workers=1) as queue:
            queue.submit(blocker)
            await asyncio.sleep(0)
            for name, priority in [("a0", 0), ("b9", 9), ("c-2", -2), ("d9", 9), ("e0", 0)]:
                queue.submit(probe, name, priority=priority)
            gate.open()
        return order

    assert run(main()) == ["b9", "d9", "a0", "e0", "c-2"]


def test_a_retried_task_keeps_its_original_place_among_equal_priorities(run):
    async def main():
        order = []

        async def flaky(name):
            order.append(name)
            if order.count(name) == 1:
                raise RuntimeError("first attempt fails")

        async def slow(name):
            order.append(name)
            await asyncio.sleep(1.0)  # the retry of A becomes eligible meanwhile

        async with TaskQueue(workers=1, base_delay=0.1) as queue:
            queue.submit(flaky, "A", max_retries=1)
            queue.submit(slow, "B")
            queue.submit(slow, "C")
        return order

    # A's retry (sequence 1) is eligible when B ends and goes before C (sequence 3).
    assert run(main()) == ["A", "B", "A", "C"]


def test_a_delayed_task_takes_its_place_by_submission_order_once_eligible(run):
    async def main():
        order = []

        async def probe(name):
            order.append(name)
            await asyncio.sleep(1.0)

        async with TaskQueue(workers=1) as queue:
            queue.submit(probe, "first")
            queue.submit(probe, "delayed", delay=0.5)
            queue.submit(probe, "third")
            queue.submit(probe, "high", priority=1, delay=0.5)
        return order

    assert run(main()) == ["first", "high", "delayed", "third"]

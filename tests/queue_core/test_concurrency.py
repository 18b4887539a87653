"""S2 concurrency: exactly `workers` workers, real overlap, awaited results, no polling."""

from __future__ import annotations

import asyncio

from queue_core import TaskQueue, TaskState

from .conftest import Gate, IterationCounter, Overlap


def test_eight_workers_run_eight_handlers_at_once_and_no_more(run):
    async def main():
        probe = Overlap(duration=1.0)
        async with TaskQueue(workers=8) as queue:
            for _ in range(20):
                queue.submit(probe)
        return probe.peak, asyncio.get_running_loop().time()

    peak, elapsed = run(main())
    assert peak == 8
    assert elapsed == 3.0  # 20 one-second tasks on 8 workers take three rounds


def test_exactly_the_configured_number_of_worker_coroutines_exist(run):
    async def main():
        async with TaskQueue(workers=5) as queue:
            await asyncio.sleep(0)
            names = sorted(t.get_name() for t in asyncio.all_tasks()
                           if t.get_name().startswith("queue_core-worker"))
            return names, queue.stats().workers

    names, live = run(main())
    assert names == [f"queue_core-worker-{i}" for i in range(5)]
    assert live == 5


def test_a_result_is_the_awaited_value_never_a_coroutine(run):
    async def main():
        async def probe(x):
            await asyncio.sleep(0)
            return x * 2

        async with TaskQueue(workers=2) as queue:
            result = await queue.result(queue.submit(probe, 21))
        return result

    result = run(main())
    assert result.state is TaskState.COMPLETED
    assert result.value == 42


def test_a_handler_waiting_on_a_gate_does_not_block_the_other_workers(run):
    async def main():
        gate, done = Gate(), []

        async def waiter():
            await gate.wait()
            done.append("waiter")

        async def quick():
            done.append("quick")

        async with TaskQueue(workers=2) as queue:
            queue.submit(waiter)
            await queue.result(queue.submit(quick))
            seen_before_open = list(done)
            gate.open()
        return seen_before_open, done

    before, after = run(main())
    assert before == ["quick"]
    assert after == ["quick", "waiter"]


def test_idle_workers_wait_without_polling(run):
    async def main():
        async with TaskQueue(workers=8):
            await asyncio.sleep(0)
            iterations = IterationCounter()
            await asyncio.sleep(3600.0)
            return iterations.count

    # One virtual hour idle: a polling worker (sleep(0.01) in a loop) would need ~360,000.
    assert run(main()) <= 3

"""S7 memory: finished tasks dropped everywhere, bounded LRU + TTL results, memory comes back."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
import weakref

import pytest

from queue_core import ResultGone, TaskQueue, TaskState, UnknownTask


class Payload:
    """An argument or a result that a weak reference can watch."""


class Handler:
    """An async callable object, so each task can have a handler of its own to watch."""

    async def __call__(self, payload: Payload) -> Payload:
        await asyncio.sleep(0)
        return Payload()


@pytest.mark.parametrize("max_results", [1000, 10_000])
def test_ten_thousand_finished_tasks_leave_nothing_alive_and_memory_comes_back(run, max_results):
    async def main():
        watched: list[weakref.ref] = []
        queue = TaskQueue(workers=8, result_ttl=60.0, max_results=max_results)
        queue.start()
        await asyncio.sleep(0)
        gc.collect()
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            ids = []
            for n in range(10_000):
                handler, payload = Handler(), Payload()
                ids.append(queue.submit(handler, payload))
                if n % 100 == 0:
                    watched += [weakref.ref(handler), weakref.ref(payload)]
            del handler, payload
            results = [await queue.result(i) for i in ids[-10:]]
            watched += [weakref.ref(r.value) for r in results]
            del results
            peak_stats = queue.stats()
            await asyncio.sleep(61.0)  # every result expires; the queue stays open and idle
            ids.clear()
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - baseline
        finally:
            tracemalloc.stop()
        alive = sum(ref() is not None for ref in watched)
        await queue.shutdown()
        return peak_stats, grown, alive, len(watched)

    stats, grown, alive, watched = run(main())
    assert stats.completed == 10_000
    assert alive == 0, f"S7: {alive} of {watched} handlers, arguments or results still alive"
    assert grown < 1_000_000, f"S7: traced memory grew by {grown} bytes, expected < 1 MB"
    print(f"max_results={max_results}: traced memory after expiry {grown:+,} bytes")


def test_a_task_cancelled_while_pending_releases_its_handler_and_arguments_at_once(run):
    async def main():
        queue = TaskQueue(workers=1)
        handler, payload = Handler(), Payload()
        refs = [weakref.ref(handler), weakref.ref(payload)]
        task_id = queue.submit(handler, payload)
        del handler, payload
        queue.cancel(task_id)
        gc.collect()
        return [ref() is None for ref in refs]

    assert run(main()) == [True, True]


def test_results_beyond_max_results_are_evicted_least_recently_used_first(run):
    async def main():
        async def probe(n):
            return n

        async with TaskQueue(workers=1, max_results=3) as queue:
            ids = [queue.submit(probe, n) for n in range(3)]
            for task_id in ids:
                await queue.result(task_id)
            await queue.result(ids[0])  # now most recently used
            newest = queue.submit(probe, 3)
            await queue.result(newest)
            with pytest.raises(ResultGone, match=r"expired or was evicted .*max_results=3"):
                await queue.result(ids[1])
            with pytest.raises(ResultGone):
                queue.status(ids[1])
            kept = [(await queue.result(i)).value for i in (ids[0], ids[2], newest)]
        return kept

    assert run(main()) == [0, 2, 3]


def test_results_expire_after_result_ttl_even_on_an_idle_queue(run):
    async def main():
        async with TaskQueue(workers=1, result_ttl=10.0) as queue:
            task_id = queue.submit(Handler(), Payload())
            result = await queue.result(task_id)
            value = weakref.ref(result.value)
            del result
            await asyncio.sleep(9.0)
            still_there = (await queue.result(task_id)).state
            await asyncio.sleep(1.5)
            gc.collect()
            dropped_while_idle = value() is None
            with pytest.raises(ResultGone, match=r"expired or was evicted \(results are kept "
                                                 r"for result_ttl=10.0 loop seconds"):
                await queue.result(task_id)
            with pytest.raises(KeyError):  # ResultGone is an UnknownTask, a KeyError
                queue.status(task_id)
        chosen = TaskQueue(workers=1, result_ttl=10.0)
        async with chosen:
            await chosen.result(chosen.submit(Handler(), Payload(), task_id="mine"))
            await asyncio.sleep(11.0)
            with pytest.raises(UnknownTask, match=r"never submitted to this queue, or it "
                                                  r"finished and its result was dropped"):
                await chosen.result("mine")
        return still_there, dropped_while_idle

    assert run(main()) == (TaskState.COMPLETED, True)


def test_a_task_id_can_be_reused_once_its_result_is_gone(run):
    async def main():
        async def probe(n):
            return n

        async with TaskQueue(workers=1, result_ttl=5.0) as queue:
            await queue.result(queue.submit(probe, 1, task_id="job"))
            await asyncio.sleep(6.0)
            return (await queue.result(queue.submit(probe, 2, task_id="job"))).value

    assert run(main()) == 2


def test_a_result_read_late_still_expires_on_time(run):
    async def main():
        async def probe(name):
            return Payload()

        async with TaskQueue(workers=1, result_ttl=10.0) as queue:
            first = queue.submit(probe, "a")
            value = weakref.ref((await queue.result(first)).value)
            await asyncio.sleep(5.0)
            await queue.result(queue.submit(probe, "b"))
            await asyncio.sleep(1.0)
            await queue.result(first)  # reading makes it recently used, not younger
            await asyncio.sleep(4.5)  # t=10.5: past the first result's TTL only
            gc.collect()
            return value() is None

    assert run(main()) is True

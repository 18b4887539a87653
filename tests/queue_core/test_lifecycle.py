"""S5 lifecycle: start, drain, cancel-all shutdown, closed queues, nothing left running."""

from __future__ import annotations

import asyncio

import pytest

from queue_core import QueueClosed, TaskQueue, TaskState


def queue_tasks() -> set[asyncio.Task]:
    return {t for t in asyncio.all_tasks() if t.get_name().startswith("queue_core-")}


def test_async_with_starts_the_workers_and_leaves_no_task_behind(run):
    async def main():
        async def probe():
            await asyncio.sleep(1.0)

        async with TaskQueue(workers=3) as queue:
            queue.submit(probe)
            await asyncio.sleep(0)
            during = len(queue_tasks())
        return during, queue_tasks(), queue.stats()

    during, after, stats = run(main())
    assert during == 3
    assert after == set()
    assert (stats.workers, stats.completed) == (0, 1)


def test_draining_shutdown_waits_for_pending_delayed_and_backing_off_tasks(run):
    async def main():
        attempts = []

        async def flaky(name):
            attempts.append(name)
            if name == "flaky" and attempts.count(name) < 3:
                raise RuntimeError("not yet")

        queue = TaskQueue(workers=2, base_delay=5.0)
        queue.start()
        ids = [queue.submit(flaky, "flaky", max_retries=3),
               queue.submit(flaky, "delayed", delay=100.0),
               queue.submit(flaky, "plain")]
        await queue.shutdown(drain=True)
        loop = asyncio.get_running_loop()
        return [queue.status(i) for i in ids], attempts, loop.time(), queue_tasks()

    states, attempts, now, left = run(main())
    assert states == [TaskState.COMPLETED] * 3
    assert attempts.count("flaky") == 3
    assert now == 100.0
    assert left == set()


def test_shutdown_without_draining_cancels_running_and_pending_tasks(run):
    async def main():
        unwound = []

        async def long_job(name):
            try:
                await asyncio.sleep(3600.0)
            except asyncio.CancelledError:
                unwound.append(name)
                raise

        queue = TaskQueue(workers=2)
        queue.start()
        ids = [queue.submit(long_job, n) for n in "abcd"]
        backing_off = queue.submit(long_job, "e", delay=10.0)
        await asyncio.sleep(1.0)
        await queue.shutdown(drain=False)
        return ([queue.status(i) for i in ids + [backing_off]], sorted(unwound),
                queue.stats(), queue_tasks())

    states, unwound, stats, left = run(main())
    assert states == [TaskState.CANCELLED] * 5
    assert unwound == ["a", "b"]
    assert (stats.cancelled, stats.running, stats.pending, stats.workers) == (5, 0, 0, 0)
    assert left == set()


def test_submit_after_shutdown_raises_queue_closed_saying_what_to_do(run):
    async def main():
        async def probe():
            pass

        async with TaskQueue(workers=1) as queue:
            pass
        with pytest.raises(QueueClosed, match=r"shutdown\(\) was called; submit before shutdown"):
            queue.submit(probe)
        with pytest.raises(RuntimeError):  # QueueClosed is a RuntimeError too
            queue.submit(probe)
        with pytest.raises(QueueClosed, match="create a new TaskQueue"):
            queue.start()

    run(main())


def test_shutdown_is_idempotent_and_drains_a_never_started_queue(run):
    async def main():
        done = []

        async def probe():
            done.append(1)

        queue = TaskQueue(workers=2)
        queue.submit(probe)
        queue.submit(probe)
        await queue.shutdown()
        await queue.shutdown()
        await queue.shutdown(drain=False)
        return done, queue.stats()

    done, stats = run(main())
    assert done == [1, 1]
    assert (stats.completed, stats.workers) == (2, 0)


def test_an_error_in_the_async_with_body_cancels_instead_of_draining(run):
    async def main():
        async def long_job():
            await asyncio.sleep(3600.0)

        queue = TaskQueue(workers=1)
        with pytest.raises(LookupError):
            async with queue:
                queue.submit(long_job)
                queue.submit(long_job)
                await asyncio.sleep(1.0)
                raise LookupError("body failed")
        return queue.stats(), asyncio.get_running_loop().time()

    stats, now = run(main())
    assert (stats.cancelled, stats.workers) == (2, 0)
    assert now == 1.0


def test_repr_shows_the_state_and_the_counts(run):
    async def main():
        async def probe():
            await asyncio.sleep(1.0)

        queue = TaskQueue(workers=2)
        new = repr(queue)
        async with queue:
            for _ in range(3):
                queue.submit(probe)
            await asyncio.sleep(0)
            started = repr(queue)
        return new, started, repr(queue)

    new, started, closed = run(main())
    assert new == "<TaskQueue new workers=0 pending=0 running=0>"
    assert started == "<TaskQueue started workers=2 pending=1 running=2>"
    assert closed == "<TaskQueue closed workers=0 pending=0 running=0>"

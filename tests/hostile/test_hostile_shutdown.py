"""Shutdown always ends (issue 14, point 2): a bounded ``shutdown(timeout=)`` abandons
handlers that ignore cancellation and says so, and a handler that awaits its own queue's
shutdown through ``gather`` or a task is refused, as a direct await is."""

from __future__ import annotations

import asyncio

import pytest

from queue_core import ShutdownTimeout, TaskQueue, TaskState


def test_a_handler_that_ignores_cancellation_is_abandoned_at_the_deadline(run) -> None:
    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():
            try:
                await asyncio.sleep(10.0)
            except asyncio.CancelledError:
                pass  # ignores every cancellation until released

    async def quick() -> str:
        return "done"

    async def main():  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        queue = TaskQueue(workers=2)
        queue.start()
        stuck, fine = queue.submit(stubborn), queue.submit(quick)
        await asyncio.sleep(1.0)
        started = loop.time()
        with pytest.raises(ShutdownTimeout) as timed_out:
            await queue.shutdown(drain=False, timeout=2.0)
        took = loop.time() - started
        states = queue.status(stuck), queue.status(fine)
        stats = queue.stats()
        released.set()  # let the abandoned handler end, or the loop's teardown waits for it
        return timed_out.value, took, states, stats

    error, took, states, stats = run(main())
    assert error.abandoned == [1] and "ignored their cancellation" in str(error)
    assert took == 3.0  # the deadline, then min(timeout, 1) loop seconds to unwind
    assert states == (TaskState.CANCELLED, TaskState.COMPLETED)
    assert (stats.cancelled, stats.completed, stats.running, stats.pending) == (1, 1, 0, 0)


def test_a_draining_shutdown_cancels_what_is_left_at_its_deadline(run) -> None:
    async def long() -> None:
        await asyncio.sleep(100.0)

    async def main():  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        queue = TaskQueue(workers=1)
        queue.start()
        running, queued = queue.submit(long), queue.submit(long)
        await queue.shutdown(timeout=5.0)  # every handler unwinds when cancelled: no error
        return loop.time(), queue.status(running), queue.status(queued), queue.stats().workers

    assert run(main()) == (5.0, TaskState.CANCELLED, TaskState.CANCELLED, 0)


@pytest.mark.parametrize("how", ["gather", "create_task"])
def test_a_handler_awaiting_its_own_queues_shutdown_indirectly_is_refused(run, how) -> None:
    async def main():  # type: ignore[no-untyped-def]
        queue = TaskQueue(workers=1)

        async def stop_my_queue() -> None:
            if how == "gather":
                await asyncio.gather(queue.shutdown())
            else:
                await asyncio.create_task(queue.shutdown())

        async with queue:
            result = await queue.result(queue.submit(stop_my_queue), timeout=60)
        return result

    result = run(main())
    assert result.state is TaskState.FAILED
    assert isinstance(result.error, RuntimeError)
    assert "would wait for its own worker" in str(result.error)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "5"])
def test_a_shutdown_timeout_must_be_a_number_of_seconds(run, bad) -> None:
    async def main() -> None:
        async with TaskQueue(workers=1) as queue:
            with pytest.raises((TypeError, ValueError), match="timeout="):
                await queue.shutdown(timeout=bad)

    run(main())


def test_handlers_that_unwind_slowly_but_surely_are_not_called_stubborn(run) -> None:
    async def tidy() -> None:
        try:
            await asyncio.sleep(100.0)
        finally:
            async with asyncio.TaskGroup() as group:  # nested unwinding, and a timer
                group.create_task(asyncio.sleep(0.25))  # (closing a connection, say)

    async def main():  # type: ignore[no-untyped-def]
        queue = TaskQueue(workers=2)
        queue.start()
        ids = [queue.submit(tidy) for _ in range(2)]
        await queue.shutdown(drain=False, timeout=2.0)  # no ShutdownTimeout
        return [queue.status(i) for i in ids], queue.stats().workers

    assert run(main()) == ([TaskState.CANCELLED] * 2, 0)

"""S4 cancellation: pending, delayed, backing-off and running tasks; workers survive; timeouts."""

from __future__ import annotations

import asyncio

import pytest

from queue_core import TaskQueue, TaskState, UnknownTask



def test_cancelling_a_pending_task_means_it_never_starts(run):
    async def main():
        started = []

        async def probe(name):
            started.append(name)

        queue = TaskQueue(workers=1)
        queue.submit(probe, "a")
        doomed = queue.submit(probe, "b")
        queue.submit(probe, "c")
        first = queue.cancel(doomed)
        again = queue.cancel(doomed)
        state = queue.status(doomed)
        async with queue:
            pass
        return started, first, again, state, await queue.result(doomed), queue.stats()

    started, first, again, state, result, stats = run(main())
    assert started == ["a", "c"]
    assert (first, again) == (True, False)
    assert state is TaskState.CANCELLED
    assert (result.state, result.attempts) == (TaskState.CANCELLED, 0)
    assert (stats.cancelled, stats.completed, stats.pending) == (1, 2, 0)


@pytest.mark.parametrize("delay", [5.0, 0.0])
def test_cancelling_a_task_waiting_for_its_backoff_stops_it_for_good(run, delay):
    async def main():
        attempts = []

        async def fails():
            attempts.append(asyncio.get_running_loop().time())
            raise RuntimeError("again")

        async with TaskQueue(workers=1, base_delay=1.0) as queue:
            task_id = queue.submit(fails, max_retries=5, delay=delay)
            await asyncio.sleep(delay + 0.5)  # first attempt failed, backing off
            state = queue.status(task_id)
            cancelled = queue.cancel(task_id)
            await asyncio.sleep(100.0)
        return attempts, state, cancelled, queue.status(task_id), queue.stats()

    attempts, state_before, cancelled, state_after, stats = run(main())
    assert attempts == [delay]
    assert state_before is TaskState.PENDING
    assert cancelled is True
    assert state_after is TaskState.CANCELLED
    assert (stats.cancelled, stats.failed, stats.retried, stats.pending) == (1, 0, 1, 0)


def test_cancelling_a_delayed_task_before_it_is_due_means_it_never_starts(run):
    async def main():
        started = []

        async def probe():
            started.append(1)

        async with TaskQueue(workers=1) as queue:
            task_id = queue.submit(probe, delay=30.0)
            await asyncio.sleep(10.0)
            assert queue.cancel(task_id)
            await asyncio.sleep(60.0)
        return started, queue.stats()

    started, stats = run(main())
    assert started == []
    assert (stats.cancelled, stats.pending) == (1, 0)


def test_cancelling_a_running_task_cancels_the_handler_and_the_worker_carries_on(run):
    async def main():
        seen, later = [], []

        async def long_job():
            try:
                await asyncio.sleep(3600.0)
            except asyncio.CancelledError:
                seen.append(("cancelled at", asyncio.get_running_loop().time()))
                raise

        async def next_job():
            later.append(asyncio.get_running_loop().time())
            return "next"

        async with TaskQueue(workers=1) as queue:
            running = queue.submit(long_job)
            await asyncio.sleep(2.0)
            status_running = queue.status(running)
            stats_running = queue.stats()
            cancelled = queue.cancel(running)
            follow = queue.submit(next_job)
            result = await queue.result(running)
            follow_result = await queue.result(follow)
            return (seen, later, status_running, stats_running, cancelled, result,
                    follow_result, queue.stats())

    seen, later, status, stats_running, cancelled, result, follow, stats = run(main())
    assert status is TaskState.RUNNING and stats_running.running == 1
    assert cancelled is True
    assert seen == [("cancelled at", 2.0)]
    assert result.state is TaskState.CANCELLED and result.attempts == 1
    assert later == [2.0] and follow.value == "next"
    assert (stats.running, stats.cancelled, stats.completed, stats.workers) == (0, 1, 1, 1)


def test_a_handler_that_swallows_the_cancellation_still_ends_cancelled_and_the_worker_is_sound(run):
    async def main():
        async def stubborn():
            try:
                await asyncio.sleep(3600.0)
            except asyncio.CancelledError:
                pass
            return "ignored"

        async def sleeper():
            await asyncio.sleep(10.0)

        async with TaskQueue(workers=1) as queue:
            task_id = queue.submit(stubborn)
            await asyncio.sleep(1.0)
            assert queue.cancel(task_id) is True
            assert queue.cancel(task_id) is True  # still unwinding: idempotent
            first = await queue.result(task_id)
            # The worker's own cancellation was undone: a later timeout still works on it.
            timed = await queue.result(queue.submit(sleeper, timeout=2.0))
        return first, timed, queue.stats()

    first, timed, stats = run(main())
    assert first.state is TaskState.CANCELLED and first.value is None
    assert timed.state is TaskState.FAILED and isinstance(timed.error, TimeoutError)
    assert (stats.cancelled, stats.failed, stats.workers) == (1, 1, 0)


def test_cancel_returns_false_for_finished_and_unknown_tasks(run):
    async def main():
        async def probe():
            return 1

        async with TaskQueue(workers=1) as queue:
            task_id = queue.submit(probe)
            await queue.result(task_id)
            return queue.cancel(task_id), queue.cancel("no-such-task")

    assert run(main()) == (False, False)


def test_a_timed_out_attempt_is_a_failed_attempt_and_is_retried(run):
    async def main():
        starts, seen = [], []

        async def slow():
            starts.append(asyncio.get_running_loop().time())
            try:
                await asyncio.sleep(60.0)
            except asyncio.CancelledError:
                seen.append(asyncio.get_running_loop().time())
                raise

        async with TaskQueue(workers=1, base_delay=1.0) as queue:
            result = await queue.result(queue.submit(slow, timeout=5.0, max_retries=1))
        return starts, seen, result, queue.stats()

    starts, seen, result, stats = run(main())
    assert starts == [0.0, 6.0]  # 5 s timeout, 1 s backoff
    assert seen == [5.0, 11.0]
    assert result.state is TaskState.FAILED and isinstance(result.error, TimeoutError)
    assert "timeout=5.0" in str(result.error)
    assert (stats.failed, stats.retried, stats.cancelled) == (1, 1, 0)


def test_a_task_that_finishes_before_its_timeout_is_not_touched_by_it(run):
    async def main():
        async def quick():
            await asyncio.sleep(1.0)
            return "done"

        async def slow():
            await asyncio.sleep(10.0)
            return "slow"

        async with TaskQueue(workers=1) as queue:
            first = queue.submit(quick, timeout=2.0)
            second = queue.submit(slow)  # runs on the same worker past the first's deadline
            return (await queue.result(first)).value, (await queue.result(second)).value

    assert run(main()) == ("done", "slow")


def test_result_of_an_unknown_task_raises_unknown_task(run):
    async def main():
        async with TaskQueue(workers=1) as queue:
            with pytest.raises(UnknownTask, match="no task 'nope' is known: it was never submitted"):
                await queue.result("nope")
            with pytest.raises(KeyError):
                queue.status("nope")

    run(main())


@pytest.mark.parametrize("wait", ["delay", "backoff"])
def test_cancelling_a_waiting_task_also_cancels_the_timer_that_would_wake_it(run, wait):
    async def main():
        async def fails():
            raise RuntimeError("again")

        loop = asyncio.get_running_loop()
        async with TaskQueue(workers=1, base_delay=500.0, max_delay=500.0,
                             result_ttl=None) as queue:
            if wait == "delay":
                task_id = queue.submit(fails, delay=500.0)
            else:
                task_id = queue.submit(fails, max_retries=1)
                await asyncio.sleep(1.0)
            armed = [h for h in loop._scheduled if not h.cancelled()]
            queue.cancel(task_id)
            left = [h for h in loop._scheduled if not h.cancelled()]
        return len(armed), left

    armed, left = run(main())
    assert armed == 1
    assert left == [], f"S4: a cancelled task's timer is still armed: {left}"


def test_a_cancel_landing_while_a_timed_out_attempt_unwinds_wins_and_counts_once(run):
    async def main():
        async def slow_to_unwind():
            try:
                await asyncio.sleep(60.0)
            except asyncio.CancelledError:
                await asyncio.sleep(1.0)  # cleanup that takes a while
                raise

        async with TaskQueue(workers=1, base_delay=0.5) as queue:
            task_id = queue.submit(slow_to_unwind, timeout=5.0, max_retries=2)
            await asyncio.sleep(5.5)  # the timeout fired at 5; the handler unwinds until 6
            cancelled = queue.cancel(task_id)
            result = await queue.result(task_id)
            await asyncio.sleep(10.0)
            return cancelled, result, queue.stats()

    cancelled, result, stats = run(main())
    assert cancelled is True
    assert (result.state, result.attempts) == (TaskState.CANCELLED, 1)
    assert (stats.cancelled, stats.failed, stats.retried, stats.pending) == (1, 0, 0, 0)


@pytest.mark.parametrize("then", ["return", "raise", "await"])
def test_a_handler_that_cancels_its_own_task_ends_cancelled_and_its_worker_lives(run, then):
    async def main():
        queue = TaskQueue(workers=1)
        seen = []

        async def self_cancelling():
            seen.append(queue.cancel(own_id))
            if then == "raise":
                raise ValueError("after cancelling myself")
            if then == "await":
                try:
                    await asyncio.sleep(3600.0)
                except asyncio.CancelledError:
                    seen.append("CancelledError")
                    raise
            return "ignored"

        async def later():
            await asyncio.sleep(1.0)
            return "later"

        async with queue:
            own_id = queue.submit(self_cancelling)
            result = await queue.result(own_id)
            follow = await queue.result(queue.submit(later))
            stats = queue.stats()
        return seen, result.state, follow.value, stats

    seen, state, follow, stats = run(main())
    assert seen == ([True, "CancelledError"] if then == "await" else [True])
    assert (state, follow) == (TaskState.CANCELLED, "later")
    assert (stats.cancelled, stats.completed, stats.workers) == (1, 1, 1)


def test_awaiting_shutdown_inside_a_handler_is_refused_with_what_to_do(run):
    async def main():
        queue = TaskQueue(workers=2)

        async def stopper():
            with pytest.raises(RuntimeError, match=r"would wait for its own worker; call "
                                                   r"asyncio.create_task\(queue.shutdown\(\)\)"):
                await queue.shutdown()
            stopping.append(asyncio.get_running_loop().create_task(queue.shutdown(drain=False)))
            return "asked"

        stopping = []
        async with queue:
            task_id = queue.submit(stopper)
            value = (await queue.result(task_id)).value
            await stopping[0]
            return value, queue.stats().workers

    assert run(main()) == ("asked", 0)


def test_a_cancellederror_from_something_the_handler_awaited_fails_the_attempt_only(run):
    # Someone else cancels a future the handler awaits: the handler sees CancelledError, but
    # neither the task nor its worker was cancelled. The attempt fails like any exception
    # (and is retried), the worker lives, and a non-draining shutdown raises nothing.
    async def main():
        queue = TaskQueue(workers=1, base_delay=0.5)
        loop = asyncio.get_running_loop()
        attempts = []

        async def awaits_a_cancelled_future():
            attempts.append(loop.time())
            future = loop.create_future()
            loop.call_later(1.0, future.cancel)
            await future

        async def later():
            return "later"

        async with queue:
            failing = queue.submit(awaits_a_cancelled_future, max_retries=1)
            result = await queue.result(failing)
            follow = await queue.result(queue.submit(later))
            stats = queue.stats()
        await queue.shutdown(drain=False)
        return attempts, result, follow.value, stats

    attempts, result, follow, stats = run(main())
    assert attempts == [0.0, 1.5]
    assert (result.state, result.attempts, type(result.error)) == (
        TaskState.FAILED, 2, asyncio.CancelledError)
    assert follow == "later"
    assert (stats.failed, stats.retried, stats.cancelled, stats.workers) == (1, 1, 0, 1)

"""How a task leaves the queue: the worker's inlined completion matches ``_finish``, and the
last task to leave a closed queue lets every idle worker go (S5)."""

from __future__ import annotations

import asyncio

import pytest

from queue_core import TaskQueue, TaskState
from queue_core._task import Task

from .conftest import Gate

OPTIONS = {"priority": 3, "max_retries": 2, "timeout": 5.0}


async def probe(x):
    await asyncio.sleep(1.0)
    return {"x": x}


async def end_state(queue: TaskQueue, task_id, result) -> tuple:
    """Everything the queue shows of a finished task, and its kept record slot by slot."""
    (record,) = queue._results.records()
    slots = {slot: getattr(record, slot) for slot in Task.__slots__}
    status, letters = queue.status(task_id), queue.dead_letters()
    again = await queue.result(task_id)
    await queue.shutdown()
    return status, result, again, letters, slots, queue.stats(), queue._tasks


async def completed_by_a_worker(caller_waits: bool) -> tuple:
    queue = TaskQueue(workers=1)
    queue.start()
    task_id = queue.submit(probe, 7, **OPTIONS)
    waiting = asyncio.ensure_future(queue.result(task_id)) if caller_waits else None
    await asyncio.sleep(2.0)
    result = await waiting if caller_waits else await queue.result(task_id)
    return await end_state(queue, task_id, result)


async def completed_through_finish(caller_waits: bool) -> tuple:
    queue = TaskQueue(workers=1)  # never started: this coroutine plays its only worker
    task_id = queue.submit(probe, 7, **OPTIONS)
    waiting = asyncio.ensure_future(queue.result(task_id)) if caller_waits else None
    await asyncio.sleep(0)  # the result() caller, if any, is waiting now
    task = queue._ready.pop()
    # What WorkerPool._work does to a task it takes, before awaiting its handler.
    task.state = TaskState.RUNNING
    task.handle = asyncio.current_task()
    task.attempts += 1
    queue._running += 1
    queue._finish(task, TaskState.COMPLETED, await task.handler(*task.args))
    await asyncio.sleep(1.0)
    result = await waiting if caller_waits else await queue.result(task_id)
    return await end_state(queue, task_id, result)


@pytest.mark.parametrize("caller_waits", [False, True], ids=["no-caller", "caller-waiting"])
def test_the_inlined_completion_leaves_the_same_end_state_as_finish(run, caller_waits):
    by_worker = run(completed_by_a_worker(caller_waits))
    through_finish = run(completed_through_finish(caller_waits))
    assert by_worker == through_finish
    status, result, _, letters, slots, stats, _ = by_worker
    assert status is TaskState.COMPLETED and result.value == {"x": 7}
    assert (result.attempts, result.finished_at, letters) == (1, 1.0, [])
    assert slots["handler"] is slots["args"] is slots["handle"] is slots["waiters"] is None
    assert (stats.submitted, stats.completed, stats.running, stats.workers) == (1, 1, 0, 0)


@pytest.mark.parametrize("how", ["completed", "failed", "cancelled-running",
                                 "cancelled-pending"])
def test_the_last_task_to_leave_a_closed_queue_lets_every_idle_worker_go(run, how):
    async def main():
        gate = Gate()

        async def last():
            await gate.wait()
            if how == "failed":
                raise RuntimeError("broken")

        queue = TaskQueue(workers=3)
        queue.start()
        await asyncio.sleep(0)  # every worker is idle
        delay = 10.0 if how == "cancelled-pending" else 0.0
        task_id = queue.submit(last, delay=delay)
        await asyncio.sleep(1.0)  # one worker runs it (or it waits); two are idle
        stopping = asyncio.ensure_future(queue.shutdown())
        await asyncio.sleep(0)
        assert not stopping.done() and queue.stats().workers == 3
        if how.startswith("cancelled"):
            assert queue.cancel(task_id)
        gate.open()
        await stopping
        return queue.status(task_id), queue.stats(), asyncio.get_running_loop().time()

    state, stats, now = run(main())
    expected = {"completed": TaskState.COMPLETED, "failed": TaskState.FAILED}
    assert state is expected.get(how, TaskState.CANCELLED)
    assert stats.workers == 0 and stats.pending == stats.running == 0
    assert now == 1.0

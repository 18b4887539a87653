"""Dead letters: FAILED tasks are kept (boundedly) and can be requeued under their id."""

from __future__ import annotations

import pytest

from queue_core import QueueClosed, TaskQueue, TaskState, UnknownTask


def test_a_failed_task_becomes_a_dead_letter_and_can_be_requeued(run):
    async def main():
        broken = {"x": True}

        async def probe(key):
            if broken[key]:
                raise ConnectionError("down")
            return "up"

        async with TaskQueue(workers=1, base_delay=0.1) as queue:
            task_id = queue.submit(probe, "x", max_retries=1, priority=3)
            failed = await queue.result(task_id)
            letters = queue.dead_letters()
            broken["x"] = False
            assert queue.requeue(task_id) == task_id
            again = await queue.result(task_id)
            return failed, letters, again, queue.dead_letters(), queue.stats()

    failed, letters, again, after, stats = run(main())
    assert failed.state is TaskState.FAILED
    assert [(d.task_id, d.priority, d.max_retries, type(d.error)) for d in letters] == [
        (1, 3, 1, ConnectionError)]
    assert (again.state, again.value, again.attempts) == (TaskState.COMPLETED, "up", 1)
    assert after == []
    assert (stats.submitted, stats.failed, stats.completed) == (2, 1, 1)


def test_dead_letters_live_as_long_as_their_results_and_requeue_refuses_other_ids(run):
    async def main():
        async def boom():
            raise RuntimeError("boom")

        async def fine():
            return "fine"

        async with TaskQueue(workers=1, max_results=2) as queue:
            ids = [queue.submit(boom) for _ in range(3)] + [queue.submit(fine)]
            await queue.result(ids[-1])  # one worker: all four are done, two results kept
            kept = [d.task_id for d in queue.dead_letters()]
            with pytest.raises(UnknownTask, match=r"is not a dead letter; see dead_letters\(\)"):
                queue.requeue(ids[1])  # its result was evicted: its handler is gone too
            with pytest.raises(UnknownTask, match="is not a dead letter"):
                queue.requeue(ids[3])  # completed, not failed
        with pytest.raises(QueueClosed):
            queue.requeue(ids[2])
        return ids, kept, [d.task_id for d in queue.dead_letters()]

    ids, kept, still = run(main())
    assert kept == [ids[2]]
    assert still == [ids[2]]  # a refused requeue loses nothing

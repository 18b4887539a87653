"""A demo run: ``python -m queue_core.demo [--tasks N] [--workers W]``.

Submits N tasks with mixed priorities to a TaskQueue; some fail and are retried with
backoff, some fail for good, a few are cancelled. Prints the stats, checks that they add up
(DESIGN S6) and the wall time taken. Exits 1 if anything does not add up.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time

from ._queue import TaskQueue
from ._task import TaskState


async def run_demo(tasks: int, workers: int, seed: int) -> int:
    rng = random.Random(seed)
    attempts: dict[int, int] = {}

    async def job(n: int, fail_times: int) -> int:
        attempts[n] = attempts.get(n, 0) + 1
        await asyncio.sleep(0)
        if attempts[n] <= fail_times:
            raise ConnectionError(f"job {n}: transient failure {attempts[n]}")
        return n * n

    started = time.perf_counter()
    async with TaskQueue(workers=workers, base_delay=0.001, max_delay=0.01,
                         max_results=tasks, seed=seed) as queue:
        ids = []
        for n in range(tasks):
            roll = rng.random()
            fail_times = 1 if roll < 0.10 else 5 if roll < 0.12 else 0  # 2% exhaust retries
            ids.append(queue.submit(job, n, fail_times, priority=rng.randint(0, 9),
                                    max_retries=2))
        doomed = rng.sample(ids, max(tasks // 1000, 1))
        cancelled = sum(queue.cancel(task_id) for task_id in doomed)
        results = [await queue.result(task_id) for task_id in ids]
    elapsed = time.perf_counter() - started
    stats = queue.stats()
    by_state = {state: sum(r.state is state for r in results) for state in TaskState}
    print(f"tasks      {tasks} on {workers} workers, seed {seed}")
    print(f"stats      {stats}")
    print("results    " + ", ".join(f"{s.value}={n}" for s, n in by_state.items() if n))
    print(f"cancelled  {cancelled} of {len(doomed)} asked while pending")
    print(f"wall time  {elapsed:.3f} s ({tasks / elapsed:,.0f} tasks/s)")
    adds_up = (stats.pending + stats.running + stats.completed + stats.failed
               + stats.cancelled == stats.submitted == tasks
               and stats.completed == by_state[TaskState.COMPLETED]
               and stats.failed == by_state[TaskState.FAILED]
               and stats.cancelled == by_state[TaskState.CANCELLED] == cancelled)
    print("check      " + ("stats add up" if adds_up else "STATS DO NOT ADD UP"))
    return 0 if adds_up else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m queue_core.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000, metavar="N")
    parser.add_argument("--workers", type=int, default=8, metavar="W")
    parser.add_argument("--seed", type=int, default=1, metavar="S")
    args = parser.parse_args(argv)
    return asyncio.run(run_demo(args.tasks, args.workers, args.seed))


if __name__ == "__main__":
    sys.exit(main())

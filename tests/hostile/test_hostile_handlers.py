"""Every exception a handler can raise ends its attempt, never its worker (issue 14, point 1).

KeyboardInterrupt and SystemExit keep asyncio's meaning: they stop the loop (the task is
FAILED with them first, so a program that goes on does not find it RUNNING).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from queue_core import TaskQueue, TaskState


class Custom(BaseException):
    """A BaseException that is not an Exception."""


@dataclasses.dataclass(frozen=True)
class Frozen(Exception):
    """An exception whose __setattr__ refuses, ``__traceback__`` included."""

    code: int


def deep_chain(depth: int) -> ValueError:
    error = ValueError("bottom")
    for level in range(depth):
        try:
            raise ValueError(level) from error
        except ValueError as raised:
            error = raised
    return error


def cyclic_chain() -> ValueError:
    first, second = ValueError("first"), ValueError("second")
    first.__cause__, second.__cause__ = second, first
    return first


ERRORS = {"GeneratorExit": GeneratorExit, "custom BaseException": Custom,
          "frozen dataclass": lambda: Frozen(3), "2,000-deep chain": lambda: deep_chain(2000),
          "cyclic chain": cyclic_chain}


async def raise_(make):  # type: ignore[no-untyped-def]
    raise make()


async def answer() -> str:
    return "ok"


@pytest.mark.parametrize("name", ERRORS)
def test_a_handler_raising_it_on_every_worker_leaves_the_pool_working(run, name: str) -> None:
    async def main():  # type: ignore[no-untyped-def]
        async with TaskQueue(workers=2) as queue:
            failing = [queue.submit(raise_, ERRORS[name]) for _ in range(2)]  # one per worker
            later = [queue.submit(answer) for _ in range(3)]
            results = [await queue.result(task_id, timeout=60) for task_id in failing + later]
            return [r.state for r in results], queue.stats()

    states, stats = run(main())
    assert states == [TaskState.FAILED] * 2 + [TaskState.COMPLETED] * 3
    assert (stats.failed, stats.completed, stats.workers, stats.running) == (2, 3, 2, 0)


STOPS_THE_LOOP = """
import asyncio
from pytest_asyncqueue.clock import run
from queue_core import TaskQueue

async def stop():
    raise {name}

queue = TaskQueue(workers=1)

async def main():
    queue.start()
    queue.submit(stop)
    await asyncio.sleep(1.0)

try:
    run(main())
except {name}:
    stats = queue.stats()
    print("stopped", stats.failed, stats.running)
"""


@pytest.mark.parametrize("name", ["KeyboardInterrupt", "SystemExit"])
def test_keyboard_interrupt_and_system_exit_stop_the_loop_with_the_task_failed(name: str) -> None:
    # In a process of its own: what these two do to an interpreter is the point.
    done = subprocess.run([sys.executable, "-c", STOPS_THE_LOOP.format(name=name)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout.splitlines()[-1:] == ["stopped 1 0"], done.stderr

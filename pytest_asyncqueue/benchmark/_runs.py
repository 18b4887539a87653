"""The workloads and what a round measures: time, idle latency, bytes per pending task.

Private: the public names are re-exported by :mod:`pytest_asyncqueue.benchmark`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import itertools
import time
import tracemalloc
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Final

from ..errors import AsyncQueueError
from ._contenders import Contender, Handler, Pool, loop_factory

WORKLOADS: Final = ("noop", "yield", "retry", "cancel")
"""noop: the handler does nothing. yield: one ``await asyncio.sleep(0)``. retry: every tenth
task fails once (``max_retries=1``, ``base_delay=0``). cancel: a handler of one loop turn;
every other task is cancelled while pending, and every tenth while running (its handler
waits three turns)."""

_RETRY_EVERY: Final = 10  # every tenth task fails once
_CANCEL_RUNNING_EVERY: Final = 10  # every tenth task is cancelled while it runs
_RUNNING_TURNS: Final = 3  # loop turns a task to be cancelled while running waits
_LATENCY_WARMUP: Final = 5
_LATENCY_MIN_SAMPLES: Final = 20
_LATENCY_BUDGET: Final = 0.25  # wall seconds of latency samples, once the minimum is taken


class BenchError(AsyncQueueError):
    """Raised when a round cannot be measured: a task never ended, or the figures lie."""


# The workloads: each runs on a started pool and returns the wall seconds it took.


async def _submit_all(pool: Pool, handler: Handler, tasks: int, indexed: bool) -> list[Any]:
    """Submit ``tasks`` calls, ``handler(i)`` when indexed; return the handles when indexed."""
    submit = pool.submit
    if pool.async_calls:
        if indexed:
            return [await submit(handler, i) for i in range(tasks)]
        for _ in range(tasks):
            await submit(handler)
    elif indexed:
        return [submit(handler, i) for i in range(tasks)]
    else:
        for _ in range(tasks):
            submit(handler)
    return []


async def _flat(pool: Pool, tasks: int, yields: bool) -> float:
    """noop and yield: the last handler to end says so."""
    done = asyncio.get_running_loop().create_future()
    ticks = itertools.count(1)

    async def noop() -> None:
        if next(ticks) == tasks:
            done.set_result(None)

    async def yield_once() -> None:
        await asyncio.sleep(0)
        if next(ticks) == tasks:
            done.set_result(None)

    started = time.perf_counter()
    await _submit_all(pool, yield_once if yields else noop, tasks, indexed=False)
    await done
    return time.perf_counter() - started


class _Flaky(Exception):
    """The failure of a retry workload's first attempt."""


async def _retry(pool: Pool, tasks: int) -> float:
    """Every tenth task fails its first attempt; the last success says when all succeeded."""
    done = asyncio.get_running_loop().create_future()
    ticks = itertools.count(1)
    failed = bytearray(tasks)

    async def flaky(i: int) -> None:
        if not i % _RETRY_EVERY and not failed[i]:
            failed[i] = 1
            raise _Flaky(i)
        if next(ticks) == tasks:
            done.set_result(None)

    started = time.perf_counter()
    await _submit_all(pool, flaky, tasks, indexed=True)
    await done
    return time.perf_counter() - started


async def _cancel(pool: Pool, tasks: int) -> float:
    """Odd tasks are cancelled while pending; every tenth while it runs; the rest end."""
    ended = 0
    running: deque[int] = deque()

    async def handler(i: int) -> None:
        nonlocal ended
        try:
            if i % _CANCEL_RUNNING_EVERY:
                await asyncio.sleep(0)
            else:
                running.append(i)
                for _ in range(_RUNNING_TURNS):
                    await asyncio.sleep(0)
        finally:
            ended += 1

    cancel = pool.cancel
    started = time.perf_counter()
    handles = await _submit_all(pool, handler, tasks, indexed=True)
    pending = handles[1::2]
    if pool.async_calls:
        cancelled = sum([bool(await cancel(h)) for h in pending])
    else:
        cancelled = sum(map(bool, map(cancel, pending)))
    expected = tasks - cancelled
    while ended < expected:
        await asyncio.sleep(0)
        while running:
            answer = cancel(handles[running.popleft()])
            if pool.async_calls:
                await answer
    return time.perf_counter() - started


RUNS: Final[dict[str, Callable[[Pool, int], Coroutine[Any, Any, float]]]] = {
    "noop": functools.partial(_flat, yields=False),
    "yield": functools.partial(_flat, yields=True),
    "retry": _retry,
    "cancel": _cancel,
}


async def _timed(pool: Pool, workload: str, tasks: int, limit: float | None) -> float:
    try:
        async with asyncio.timeout(limit):
            return await RUNS[workload](pool, tasks)
    except TimeoutError:
        raise BenchError(f"{pool.name}: the {workload} workload of {tasks:,} tasks did not "
                         f"end within {limit:g} s") from None


async def latencies(pool: Pool, samples: int) -> tuple[list[float], list[float]]:
    """Idle round trips: (submit-to-start, submit-to-result) seconds of each sample.

    One task at a time on the idle pool; submit-to-result waits through the pool's own
    result call, and for a pool without results until the probe has run.
    """
    loop = asyncio.get_running_loop()
    to_start: list[float] = []
    to_result: list[float] = []
    deadline = time.perf_counter() + _LATENCY_BUDGET
    for sample in range(_LATENCY_WARMUP + samples):
        ran = loop.create_future()

        async def probe(ran: asyncio.Future[float] = ran) -> None:
            ran.set_result(time.perf_counter())

        submitted = time.perf_counter()
        handle = pool.submit(probe)
        if pool.async_calls:
            handle = await handle
        await pool.wait(handle)
        await ran
        answered = time.perf_counter()
        if sample < _LATENCY_WARMUP:
            continue
        to_start.append(await ran - submitted)
        to_result.append(answered - submitted)
        if len(to_start) >= _LATENCY_MIN_SAMPLES and answered > deadline:
            break
    return to_start, to_result


@contextlib.contextmanager
def traced() -> Iterator[None]:
    """Trace allocations inside the block, unless tracing was on already (``-X tracemalloc``)."""
    if tracemalloc.is_tracing():
        yield
        return
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


async def pending_bytes(pool: Pool, tasks: int) -> float | str:
    """Traced bytes per task held by ``tasks`` submitted tasks that have not started.

    The handles are dropped, so an id counts once: as the pool holds it.

    Returns:
        The bytes, or why there is no such figure: tasks started while they were submitted
        (the pool's submit waits for a free worker).
    """
    ran = 0

    async def probe() -> None:
        nonlocal ran
        ran += 1

    submit = pool.submit
    gc.collect()
    with traced():
        before = tracemalloc.get_traced_memory()[0]
        if pool.async_calls:
            for _ in range(tasks):
                await submit(probe)
        else:
            for _ in range(tasks):
                submit(probe)
        held = tracemalloc.get_traced_memory()[0] - before
    if ran:
        return (f"no bytes/pending: {ran:,} of {tasks:,} tasks started while they were being "
                f"submitted (submit waits for a free worker)")
    return held / tasks


class Round:
    """A pool started on a fresh loop of its own, its workers idle, ready to run."""

    def __init__(self, side: Contender, workers: int, workload: str, limit: float | None) -> None:
        self._runner = asyncio.Runner(loop_factory=loop_factory(side.loop))
        self._limit = limit
        workers = side.workers or workers

        async def open_pool() -> Pool:
            pool = side.make(workers, workload)
            await pool.start()
            return pool

        try:
            self.pool = self._runner.run(open_pool())
        except BaseException:
            self._runner.close()
            raise
        gc.collect()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` on the round's loop and return what it returns."""
        return self._runner.run(coro)

    def close(self) -> None:
        """Shut the pool down and close the loop."""
        try:
            self._runner.run(asyncio.wait_for(self.pool.close(), self._limit))
        finally:
            self._runner.close()


class Pairs:
    """Interleaved rounds: each subject round is preceded by a baseline round."""

    def __init__(self, subject: Contender, baseline: Contender, workload: str, tasks: int,
                 workers: int, limit: float | None) -> None:
        self.subject, self.baseline = subject, baseline
        self.workload, self.tasks, self.workers, self.limit = workload, tasks, workers, limit
        self.baseline_s: list[float] = []
        self.subject_s: list[float] = []
        self.names = ("", "")
        self._open: Round | None = None

    def timed(self, side: Contender) -> tuple[float, str]:
        prepared = Round(side, self.workers, self.workload, self.limit)
        try:
            return prepared.run(self._run(prepared.pool)), prepared.pool.name
        finally:
            prepared.close()

    def _run(self, pool: Pool) -> Coroutine[Any, Any, float]:
        return _timed(pool, self.workload, self.tasks, self.limit)

    def prepare(self) -> tuple[tuple[Round], dict[str, Any]]:
        """pytest-benchmark's setup: a baseline round, then the subject's round opened."""
        seconds, baseline_name = self.timed(self.baseline)
        self.baseline_s.append(seconds)
        self._open = Round(self.subject, self.workers, self.workload, self.limit)
        self.names = (self._open.pool.name, baseline_name)
        return (self._open,), {}

    def run_subject(self, prepared: Round) -> None:
        """pytest-benchmark's target: the subject's timed run."""
        self.subject_s.append(prepared.run(self._run(prepared.pool)))

    def finish(self, prepared: Round | None = None) -> None:
        """pytest-benchmark's teardown; also closes a round left open. Idempotent."""
        if self._open is not None:
            opened, self._open = self._open, None
            opened.close()



"""Memory (DESIGN S7, oas37a point 6): finished tasks dropped, results bounded, nothing left.

A finished task is dropped from every internal structure except the result cache; the cache
keeps at most ``max_results`` results (least recently used evicted first), each for
``result_ttl`` seconds of the loop clock, and an evicted or expired result is reported missing
(oas37a: ``get_result`` raises KeyError or returns None; both are accepted). An expired result
may be dropped at once or lazily, at the next insert into the cache or read (oas37a), so the
checks judge what is retained after one more task has finished and been read. ``stop`` cancels
and awaits every asyncio task the target created (a ``stop(wait=False)`` may return before
the handlers it cancelled have unwound: judged once the ready callbacks have run). After
10,000 tasks finish and their results expire, traced memory is back within 1 MB of where it
started (measured over the last 2,500 of them, bound prorated, to keep the check fast; the
baseline is taken with tracing already on and the result cache already full).

The checks watch the objects themselves: handlers (async callable objects and closures),
arguments and result values are fresh objects per task, watched through weak references after
``gc.collect()`` while the target is still alive and idle. Failed tasks are left out: keeping
them for requeueing (``queue_core``'s dead letters) is a feature, not a leak.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
import types
import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Final

from .._children import THREAD_GRACE, target_threads, threads_left
from ..adapters import Adapter, Outcome, ResultMissing
from ..probes import Gate
from ._base import CheckFailed, Harness, check, expect_equal
from ._waits import TASK_WAIT, outcome_within, stop_within

MANY: Final = 10_000
"""Tasks in the traced-memory check (DESIGN S7)."""

TRACED: Final = 2_500
"""Over how many of the last of them growth is measured, the bound prorated (tracing all
10,000 makes the check about 3 times slower)."""

CACHE: Final = 1_000
"""``max_results`` of the traced-memory check, where the target takes it (the shapes'
default): the result cache it may keep full at the end."""

WARMUP: Final = 1_500
"""Tasks traced before the baseline is taken: more than :data:`CACHE`, so the cache at the
baseline holds only results allocated under tracing, as it does at the end."""

MEMORY_BOUND: Final = 1_000_000 * TRACED // MANY
"""Bytes of traced memory the target may keep: DESIGN S7's 1 MB per 10,000 tasks, prorated."""


class _Payload:
    """An argument or a result value that a weak reference can watch."""

    __slots__ = ("__weakref__",)


class _Handler:
    """An async callable object, one per task: waits for ``hold`` if given, returns a fresh
    :class:`_Payload` and appends a weak reference to it to ``values`` if given."""

    def __init__(self, values: list[weakref.ref[_Payload]] | None = None,
                 hold: Gate | None = None) -> None:
        self.values = values
        self.hold = hold

    async def __call__(self, _arg: _Payload) -> _Payload:
        await asyncio.sleep(0)
        if self.hold is not None:
            await self.hold.wait()
        value = _Payload()
        if self.values is not None:
            self.values.append(weakref.ref(value))
        return value


def _closure_handler(values: list[weakref.ref[_Payload]], hold: Gate | None = None
             ) -> Callable[[_Payload], Awaitable[_Payload]]:
    """The same handler as :class:`_Handler`, as a closure."""

    async def handler(_arg: _Payload) -> _Payload:
        await asyncio.sleep(0)
        if hold is not None:
            await hold.wait()
        value = _Payload()
        values.append(weakref.ref(value))
        return value

    return handler


async def _submit_watched(h: Harness, queue: Adapter, watched: dict[str, weakref.ref[Any]],
                          label: str, values: list[weakref.ref[_Payload]],
                          hold: Gate | None = None) -> Hashable:
    """Submit a fresh handler with a fresh argument, watching both; keep no strong reference."""
    make = _closure_handler if len(watched) % 4 else _Handler  # every other task gets a closure
    handler = make(values, hold)
    arg = _Payload()
    watched[f"{label} handler"] = weakref.ref(handler)
    watched[f"{label} argument"] = weakref.ref(arg)
    return await h.submit(queue, handler, arg)


def _expect_released(watched: dict[str, weakref.ref[Any]], what: str, when: str,
                     allowed: str = "") -> None:
    """After ``gc.collect()``, fail unless every watched object is gone.

    The failure reads "S7: <what> still alive <when>: <how many>: <a few, each with the
    types that refer to it>; expected none<allowed>".
    """
    __tracebackhide__ = True
    gc.collect()
    alive = [label for label, ref in watched.items() if ref() is not None]
    if not alive:
        return
    shown = []
    for label in alive[:4]:  # gc.get_referrers scans the whole heap: name a few only
        holders = sorted({type(r).__name__ for r in gc.get_referrers(watched[label]())
                          if not isinstance(r, types.FrameType)})
        shown.append(f"{label} (referred to by {', '.join(holders) or 'nothing traced'})")
    raise CheckFailed(f"S7: {what} still alive {when}: {len(alive)} of {len(watched)}: "
                      f"{'; '.join(shown)}; expected none{allowed}")


async def _outcome_or_missing(queue: Adapter, task_id: Hashable, what: str, rule: str
                              ) -> Outcome | None:
    """The outcome of a finished task, or None if the target reports its result missing."""
    try:
        async with asyncio.timeout(TASK_WAIT):
            return await queue.result(task_id)
    except ResultMissing:
        return None
    except TimeoutError:
        raise CheckFailed(f"{rule}: reading the result of {what} waited {TASK_WAIT:g} virtual s; "
                          f"expected its outcome or a report that it is missing") from None


@check("memory", "S7")
async def finished_tasks_release_handlers_and_args(h: Harness) -> None:
    """Completed and cancelled tasks leave no reference to their handlers or arguments.

    Open points: whether cancel returns before or after a running handler has unwound: it waits
    for every outcome first.
    """
    # S7: a finished task is dropped from every internal structure except the result cache,
    # which holds its result only; checked on the idle target, before stop. Queued tasks are
    # cancelled where the target has cancel, running ones where it reaches running handlers;
    # the others are let complete, and are watched all the same.
    caps = h.capabilities
    cancel_queued = caps.has("cancel")
    cancel_running = cancel_queued and caps.has("cancel_running")
    queue = await h.make(workers=2)
    watched: dict[str, weakref.ref[Any]] = {}
    values: list[weakref.ref[_Payload]] = []  # result values: the cache may keep these
    hold = Gate()  # opened only for handlers that are not cancelled
    running = [await _submit_watched(h, queue, watched, f"{_fate(cancel_running)}-running "
                                     f"#{i}", values, hold) for i in range(2)]
    queued = [await _submit_watched(h, queue, watched, f"{_fate(cancel_queued)}-queued #{i}",
                                    values, hold) for i in range(2)]
    await h.settle()
    for task_id in (queued if cancel_queued else []) + (running if cancel_running else []):
        await queue.cancel(task_id)
    if not cancel_running:
        hold.open()
    done = [await _submit_watched(h, queue, watched, f"completed #{i}", values)
            for i in range(6)]
    for task_id in running + queued + done:
        await outcome_within(queue, task_id, "a watched task", "S7")
    # A task id may be the target's own handle on the task (a future holding its outcome and
    # the traceback of its error): what the caller holds is not the queue's to drop.
    del running, queued, done, task_id
    await h.settle()
    _expect_released(watched, "handlers or arguments of finished tasks",
                     "on the idle target after gc.collect()",
                     " (the result cache may keep results, nothing else)")


def _fate(cancelled: bool) -> str:
    return "cancelled" if cancelled else "completed"


@check("memory", "S7", needs=("result_ttl",))
async def expired_results_are_released(h: Harness) -> None:
    """Result values are released once their TTL passes and the cache is next used.

    Open points: whether an expired result is dropped at once or lazily: it looks after one
    more task has finished (an insert into the cache and a read) and after a read of each
    expired result, so either reading passes.
    """
    # S7: expired results are dropped on the loop clock, at once or at the next insert or
    # read (oas37a open point). A value whose result is served after its TTL breaks the TTL
    # rule, which results_expire_after_result_ttl reports: it is not judged here again.
    queue = await h.make(workers=1, result_ttl=10.0)
    values: list[weakref.ref[_Payload]] = []
    ids = [await _submit_watched(h, queue, {}, "task", values) for _ in range(5)]
    for task_id in ids:
        await outcome_within(queue, task_id, "a task returning a watched value", "S7")
    await asyncio.sleep(11.0)
    await outcome_within(queue, await h.submit(queue, _Handler(), _Payload()),
                         "a task submitted after the others' results expired", "S7")
    served = set()
    for n, task_id in enumerate(ids):
        outcome = await _outcome_or_missing(queue, task_id, f"an expired result #{n}", "S7")
        if outcome is not None:
            served.update(i for i, ref in enumerate(values) if ref() is outcome.value)
        del outcome
    await h.settle()
    _expect_released({f"result value #{i}": ref for i, ref in enumerate(values)
                      if i not in served},
                     "result values",
                     "11 virtual s after they finished with result_ttl=10, once another task "
                     "had finished and each expired result had been read")


@check("memory", "S7", needs=("max_results",))
async def results_beyond_max_results_are_evicted_lru(h: Harness) -> None:
    """With max_results=3 the least recently used result goes first and only 3 stay readable.

    Open points: whether an evicted result raises KeyError or returns None: both read as
    missing.
    """
    # S7: the cache is bounded and LRU; an evicted result is reported missing (oas37a:
    # KeyError or None), not served.
    queue = await h.make(workers=1, max_results=3)
    ids = {}
    for name in "abc":
        ids[name] = await h.submit(queue, h.probes.succeed(name, name=name))
        await outcome_within(queue, ids[name], f"task {name}", "S7")
    await _outcome_or_missing(queue, ids["a"], "task a", "S7")  # a is now the most recently used
    ids["d"] = await h.submit(queue, h.probes.succeed("d", name="d"))
    await outcome_within(queue, ids["d"], "task d", "S7")
    kept = {}
    for name in "bacd":
        outcome = await _outcome_or_missing(queue, ids[name], f"task {name}", "S7")
        kept[name] = None if outcome is None else outcome.value
    expect_equal(kept, {"b": None, "a": "a", "c": "c", "d": "d"},
                 "results kept (None: reported missing) after a, b, c finished, a was read and "
                 "d finished, max_results=3", "S7")
    for name in "efghij":
        ids[name] = await h.submit(queue, h.probes.succeed(name, name=name))
        await outcome_within(queue, ids[name], f"task {name}", "S7")
    readable = [name for name in ids
                if await _outcome_or_missing(queue, ids[name], f"task {name}", "S7")]
    expect_equal(readable, ["h", "i", "j"], "the tasks whose results were readable after 10 "
                 "tasks finished one by one, max_results=3", "S7")


@check("memory", "S7", needs=("result_ttl",))
async def results_expire_after_result_ttl(h: Harness) -> None:
    """With result_ttl=10 a result is readable 9 virtual s after it finished and missing after.

    Open points: whether an expired result is dropped at once or lazily (each look is a read),
    and whether it raises KeyError or returns None (both read as missing).
    """
    # S7: the TTL runs on the loop clock; an expired result is reported missing (oas37a:
    # KeyError or None). Whether a read refreshes the TTL is not said: b is never read early,
    # and a is read again only after 20 virtual s, past either reading.
    queue = await h.make(workers=1, result_ttl=10.0)
    a = await h.submit(queue, h.probes.succeed("a", name="a"))
    b = await h.submit(queue, h.probes.succeed("b", name="b"))
    await outcome_within(queue, a, "task a", "S7")
    await outcome_within(queue, b, "task b", "S7")
    await asyncio.sleep(9.0)
    early = await _outcome_or_missing(queue, a, "task a", "S7")
    expect_equal(None if early is None else early.value, "a",
                 "the result of a 9 virtual s after it finished (result_ttl=10; None: missing)",
                 "S7")
    await asyncio.sleep(1.5)
    expect_equal(await _outcome_or_missing(queue, b, "task b", "S7"), None,
                 "the result of b 10.5 virtual s after it finished (result_ttl=10)", "S7")
    await asyncio.sleep(10.0)
    expect_equal(await _outcome_or_missing(queue, a, "task a", "S7"), None,
                 "the result of a 20.5 virtual s after it finished (result_ttl=10)", "S7")


@check("memory", "oas37a-6")
async def stop_leaves_no_task_alive(h: Harness) -> None:
    """After stop (draining, and cancelling if it can) no asyncio task or thread the target
    made is alive.

    Open points: what stop(wait=True) does to queued and running tasks (any fate passes; it
    looks right after stop returns, where nothing may be left running), and whether
    stop(wait=False) returns before its cancelled handlers have unwound: it lets the loop run
    (without moving the clock) before it looks. A thread the target started may take up to
    THREAD_GRACE wall s to end after stop returns; the loop's default executor's threads are
    the loop's, not the queue's.
    """
    # oas37a point 6 / S5: stop() cancels and awaits every asyncio task the target created,
    # and no worker of the queue, a thread included, is left running after it returns.
    # A cancelling stop may return before the handlers it cancelled have unwound (oas37a open
    # point), as cancel_task may: they must be gone once the ready callbacks have run.
    me = asyncio.current_task()
    for drain in (True, False) if h.capabilities.drain_choice else (True,):
        before, threads = asyncio.all_tasks(), target_threads()
        queue = await h.make(workers=3)
        for i in range(2):
            await h.submit(queue, h.probes.run_for(1.0, name=f"running-{drain}-{i}"))
        for i in range(3):
            await h.submit(queue, h.probes.succeed(name=f"queued-{drain}-{i}"))
        await h.settle()
        await stop_within(queue, drain, "oas37a-6")
        when = "right after stop(drain=True) returned"
        if not drain:
            await h.settle()
            when = ("after stop(drain=False) returned and the loop ran its ready callbacks "
                    "(virtual time not moved)")
        left = asyncio.all_tasks() - before - {me}
        if left:
            names = sorted(f"{t.get_name()} ({getattr(t.get_coro(), '__qualname__', '?')})"
                           for t in left)
            raise CheckFailed(f"oas37a-6 (S5): {when}, {len(left)} asyncio tasks created "
                              f"since the target was built were still alive: "
                              f"{', '.join(names[:5])}; expected none")
        running = threads_left(threads)
        if running:
            raise CheckFailed(f"oas37a-6 (S5): {THREAD_GRACE:g} wall s after stop(drain="
                              f"{drain}) returned, {len(running)} threads started since the "
                              f"target was built were still running: {', '.join(running[:5])};"
                              f" expected none (stop ends what the queue started)")


@check("memory", "S7", needs=("result_ttl",))
async def memory_returns_after_many_tasks(h: Harness) -> None:
    """After 10,000 tasks finish and their results expire, traced memory is back (1 MB/10,000).

    Open points: whether expired results are dropped at once or lazily: it measures after one
    more task (an insert into the cache and a read), against a baseline taken with the cache
    already full of traced results, so a lazy drop, or a cache that stays full within its
    bound, is not growth.
    """
    # S7: the queue retains nothing of finished, expired tasks. Tracing is on from before the
    # target is built, so the baseline (taken before the last 2,500 tasks) counts everything
    # the target then holds, its full result cache included: what it frees afterwards is
    # subtracted, and a cache that is as full at the end as at the baseline adds nothing.
    # The bound is prorated to those 2,500 tasks. Waves of 100, so a max_queue_size of 100
    # or more suffices.
    settings = {"max_results": CACHE} if "max_results" in h.capabilities.settings else {}
    queue = await h.make(workers=8, result_ttl=60.0, **settings)
    tracing = tracemalloc.is_tracing()
    baseline = 0
    try:
        for wave in range(MANY // 100):
            if wave == (MANY - TRACED - WARMUP) // 100 and not tracing:
                tracemalloc.start()
            if wave == (MANY - TRACED) // 100:
                gc.collect()
                baseline = tracemalloc.get_traced_memory()[0]
            ids = [await h.submit(queue, _Handler(), _Payload()) for _ in range(100)]
            try:
                async with asyncio.timeout(TASK_WAIT):
                    for task_id in ids:  # all of them: the order they run in is not ours
                        await queue.result(task_id)
            except (TimeoutError, ResultMissing) as exc:
                raise CheckFailed(f"S7: a wave of 100 tasks had not finished with a result "
                                  f"after {TASK_WAIT:g} virtual s ({type(exc).__name__}: {exc})"
                                  ) from None
        del ids
        await asyncio.sleep(61.0)
        # One more task: an insert into the result cache and a read, where a lazy cache
        # drops what has expired (oas37a open point).
        await outcome_within(queue, await h.submit(queue, _Handler(), _Payload()),
                             "a task submitted after the others' results expired", "S7")
        await h.settle()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        if not tracing and tracemalloc.is_tracing():
            tracemalloc.stop()
    if grown > MEMORY_BOUND:
        raise CheckFailed(f"S7: traced memory grew by {grown:,} bytes over the last {TRACED:,} "
                          f"of {MANY:,} tasks, measured after all finished, their results "
                          f"expired and one more task ran (result_ttl=60, target idle); "
                          f"expected at most {MEMORY_BOUND:,} (1 MB per 10,000 tasks)")


CHECKS = [finished_tasks_release_handlers_and_args, expired_results_are_released,
          results_beyond_max_results_are_evicted_lru, results_expire_after_result_ttl,
          stop_leaves_no_task_alive, memory_returns_after_many_tasks]

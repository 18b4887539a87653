"""The pools a benchmark round runs on: the bare asyncio pool, any adapter target, and loops.

Private: the public names are re-exported by :mod:`pytest_asyncqueue.benchmark`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from ..adapters import QueueCoreAdapter, TargetFactory, Unsupported

LOOPS: Final = ("asyncio", "uvloop", "virtual")
"""Event loops a round can run on: the stock selector loop, uvloop (when installed), and
:class:`~pytest_asyncqueue.clock.VirtualClockLoop`."""

_NO_BOUND: Final = 2**31 - 1  # max_pending for a target bounded by default

Handler = Callable[..., Awaitable[object]]


class Pool(Protocol):
    """What a round needs from a pool. Built and started inside the round's running loop.

    ``submit(handler, *args)`` queues one call and returns a handle for ``cancel`` and
    ``wait``; with ``async_calls`` both are coroutine functions, else they never wait. Each
    pool binds its own method here, so that the timed loop holds nothing but its calls.
    ``cancel(handle)`` (True if it was pending or running) is needed by the cancel workload
    only. A pool raises :class:`~pytest_asyncqueue.adapters.Unsupported` for a workload it
    cannot run.
    """

    name: str
    async_calls: bool

    def submit(self, handler: Handler, /, *args: Any) -> Any:
        """Queue ``handler(*args)``; return a handle (awaitable first with ``async_calls``)."""

    def cancel(self, handle: Any) -> Any:
        """Cancel the task (awaitable with ``async_calls``); True if it was pending or running."""

    async def start(self) -> None:
        """Start the workers and return once every one of them is idle."""

    async def wait(self, handle: Any) -> None:
        """Wait for the task's result through the pool's own call; a pool without results
        returns at once (the latency probe then says when it has run)."""

    async def close(self) -> None:
        """Stop the workers and wait until they have exited; the round is over."""


PoolMaker = Callable[[int, str], Pool]
"""Makes a pool for (workers, workload)."""


class _Item:
    """A task in the bare pool's cancel workload: pending (None), running (its worker), ended."""

    __slots__ = ("handler", "args", "state", "cancelling")

    def __init__(self, handler: Handler, args: tuple[Any, ...]) -> None:
        self.handler = handler
        self.args = args
        self.state: Any = None
        self.cancelling = False


_ENDED: Final = "ended"


class BarePool:
    """An ``asyncio.Queue`` and W worker coroutines: the practical speed limit of an asyncio pool.

    For noop and yield each worker runs ``await queue.get(); await handler(); task_done()``
    and nothing else: no priorities, ids, results, retries, stats or error handling. The retry
    workload's workers put a failed call back once; the cancel workload's skip calls
    cancelled while queued and cancel their own task for one cancelled while running.

    Args:
        workers: how many worker coroutines to run.
        workload: a name of :data:`WORKLOADS`.
    """

    name = "bare asyncio.Queue pool"
    async_calls = False

    def __init__(self, workers: int, workload: str = "noop") -> None:
        self._workers = workers
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._worker_tasks: list[asyncio.Task[None]] = []
        self._body = self._work
        self.submit: Callable[..., Any] = self._queue.put_nowait
        if workload == "retry":
            self._body, self.submit = self._work_retrying, self._submit_retrying
        elif workload == "cancel":
            self._body, self.submit = self._work_cancellable, self._submit_item

    async def start(self) -> None:
        self._worker_tasks = [asyncio.create_task(self._body()) for _ in range(self._workers)]
        await asyncio.sleep(0)  # one loop turn takes every new worker to its queue.get()

    async def _work(self) -> None:
        queue = self._queue
        while True:
            handler = await queue.get()
            await handler()
            queue.task_done()

    def _submit_retrying(self, handler: Handler, *args: Any) -> None:
        self._queue.put_nowait((handler, args, False))

    async def _work_retrying(self) -> None:
        queue = self._queue
        while True:
            handler, args, retried = await queue.get()
            try:
                await handler(*args)
            except Exception:
                if not retried:
                    queue.put_nowait((handler, args, True))
            queue.task_done()

    def _submit_item(self, handler: Handler, *args: Any) -> _Item:
        item = _Item(handler, args)
        self._queue.put_nowait(item)
        return item

    def cancel(self, item: _Item) -> bool:
        """Cancel a task queued or running in the cancel workload; False once it has ended."""
        state = item.state
        if state is None:
            item.state = _ENDED
            return True
        if state is _ENDED or item.cancelling:
            return False
        item.cancelling = True
        state.cancel()  # the worker runs it: the handler sees CancelledError where it waits
        return True

    async def _work_cancellable(self) -> None:
        queue = self._queue
        me = asyncio.current_task()
        assert me is not None
        while True:
            item = await queue.get()
            if item.state is None:
                item.state = me
                try:
                    await item.handler(*item.args)
                except asyncio.CancelledError:
                    if not item.cancelling:
                        raise
                    me.uncancel()
                item.state = _ENDED
            queue.task_done()

    async def wait(self, handle: Any) -> None:
        """No results to wait for: the latency probe says when it has run."""

    async def close(self) -> None:
        for worker in self._worker_tasks:
            worker.cancel()
        await asyncio.gather(*self._worker_tasks, return_exceptions=True)


class TargetPool:
    """An adapter target (:class:`~pytest_asyncqueue.adapters.TargetFactory`) as a pool.

    Built with ``workers`` (and ``base_delay=0`` for the retry workload, whose tasks are
    submitted with ``max_retries=1``); a bound on pending tasks that the target has by
    default is lifted, so that a whole round fits. A queue_core-shaped target is called
    through its own synchronous ``submit`` and ``cancel``; any other through the adapter's
    async methods.

    Args:
        factory: the target.
        workers: its ``workers`` setting.
        workload: a name of :data:`WORKLOADS`.

    Raises:
        Unsupported: the target lacks a setting or option the workload needs.
    """

    def __init__(self, factory: TargetFactory, workers: int, workload: str = "noop") -> None:
        settings: dict[str, Any] = {"workers": workers}
        if _bounded_by_default(factory):
            settings["max_pending"] = _NO_BOUND
        options: dict[str, Any] = {}
        if workload == "retry":
            if "max_retries" not in factory.capabilities.submit_options:
                raise Unsupported(f"target {factory.cls.__qualname__}.submit takes no "
                                  f"max_retries option: the retry workload needs it")
            settings["base_delay"] = 0.0
            options["max_retries"] = 1
        self.adapter = adapter = factory(**settings)
        self.name = factory.cls.__qualname__
        queue = getattr(adapter, "queue", None)
        if type(adapter) is QueueCoreAdapter and not any(
                inspect.iscoroutinefunction(getattr(queue, m)) for m in ("submit", "cancel")):
            calls: Any = queue
            self.async_calls = False
        else:
            calls = adapter
            self.async_calls = True
        self.submit = functools.partial(calls.submit, **options) if options else calls.submit
        self.cancel = calls.cancel
        self.wait = calls.result  # the target's own call: no coroutine of ours in between

    async def start(self) -> None:
        await self.adapter.start()
        await asyncio.sleep(0)  # one loop turn takes every new worker to its idle wait

    async def close(self) -> None:
        # Draining: cancelling each of the memory round's pending tasks costs some targets
        # far more (a heap rebuilt per cancel) than running them does.
        await self.adapter.stop(drain=True)


def _bounded_by_default(factory: TargetFactory) -> bool:
    """Whether the target bounds pending tasks unless told otherwise (oas37a: 1,000)."""
    if "max_pending" not in factory.capabilities.settings:
        return False
    name = getattr(factory.adapter, "setting_names", {}).get("max_pending", "max_pending")
    try:
        default = inspect.signature(factory.cls).parameters[name].default
    except (KeyError, TypeError, ValueError):
        return True
    return default is not None


@dataclass(frozen=True)
class Contender:
    """One side of a comparison: what pool, on which loop, with how many workers.

    Attributes:
        make: builds the pool for (workers, workload), e.g. ``BarePool``.
        loop: a name of :data:`LOOPS`.
        workers: its workers; None takes the row's.
    """

    make: PoolMaker
    loop: str = "asyncio"
    workers: int | None = None


BARE: Final = Contender(BarePool)
"""The bare pool on the stock loop: the default baseline."""


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """The factory of a fresh event loop of this kind (a name of :data:`LOOPS`).

    Raises:
        Unsupported: uvloop is asked for but not installed.
        ValueError: an unknown name.
    """
    if name == "asyncio":
        return asyncio.SelectorEventLoop  # explicit: no installed policy may replace it
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            raise Unsupported("uvloop is not installed (pip install uvloop)") from None
        return uvloop.new_event_loop
    if name == "virtual":
        from ..clock import VirtualClockLoop

        return VirtualClockLoop
    raise ValueError(f"loop={name!r} is not a known loop; valid: {', '.join(LOOPS)}")



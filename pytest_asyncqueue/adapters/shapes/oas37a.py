"""The classic ``AsyncTaskQueue`` shape (``../shared/targets/oas37a.md``): async ``submit``,
``get_result``, ``cancel_task``, ``stop(wait=)``; ``get_stats`` and ``get_task_status``
sync or async."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from .._capabilities import SUBMIT_OPTIONS, Capabilities
from .._common import (
    BuiltinAdapter,
    counters,
    keywords,
    maybe_await,
    result_or_missing,
    state_or_none,
)
from .._probe import options_taken, takes_any_keyword
from .._protocol import Outcome, ResultMissing
from .._shape import Shape

__all__ = ["SHAPE", "Oas37aAdapter"]


class Oas37aAdapter(BuiltinAdapter):
    """Drives an ``AsyncTaskQueue``: settings under the shape's own names, every open point
    of the shape accepted either way."""

    shape = "oas37a"
    setting_names = {"workers": "num_workers", "max_pending": "max_queue_size",
                     "base_delay": "base_delay", "max_delay": "max_delay",
                     "max_results": "result_cache_size", "result_ttl": "result_ttl"}
    option_names = {name: name for name in SUBMIT_OPTIONS}

    @classmethod
    def capabilities_of(cls, target: type) -> Capabilities:
        settings = {ours for ours, theirs in cls.setting_names.items()
                    if theirs in keywords(target)}
        options = keywords(target.submit) & set(SUBMIT_OPTIONS)
        if takes_any_keyword(target.submit):  # they may be the queue's, or the handler's
            options |= options_taken(target, set(SUBMIT_OPTIONS) - options,
                                     stop=lambda queue: queue.stop(**(
                                         {"wait": False} if "wait" in keywords(target.stop)
                                         else {})))
        return Capabilities(
            settings=frozenset(settings),
            submit_options=frozenset(options),
            drain_choice="wait" in keywords(target.stop),
            retry_keeps_place=frozenset({"original", "back"}),
            retried_counted=frozenset({"scheduled", "started"}),
            stop_runs_queued=frozenset({"run", "cancel"}),
            drain_running=frozenset({"finish", "cancel"}),
            full_errors=(asyncio.QueueFull, RuntimeError),
            closed_errors=(RuntimeError,),
            extras=frozenset({"cancel_running"}),
            absent=frozenset() if "timeout" in keywords(target.get_result)
            else frozenset({"result_timeout"}),
        )

    async def submit(self, handler: Callable[..., Awaitable[Any]], *args: Any,
                     **options: Any) -> Hashable:
        options.setdefault("max_retries", 0)  # the shape's own default is 3
        if "max_retries" not in self.capabilities.submit_options:
            del options["max_retries"]
        return await self.queue.submit(handler, *args, **self._options(options))

    async def cancel(self, task_id: Hashable) -> bool:
        return bool(await maybe_await(self.queue.cancel_task(task_id)))

    async def result(self, task_id: Hashable, timeout: float | None = None) -> Outcome:
        wait = {} if timeout is None else {"timeout": timeout}
        result = await result_or_missing(self.queue.get_result, task_id, "get_result", **wait)
        if result is None:
            raise ResultMissing(f"get_result({task_id!r}) returned None")
        retries = getattr(result, "retry_count", None)
        if getattr(result, "success", False):
            return Outcome("completed", getattr(result, "result", None), None, retries)
        state = await self.status(task_id)
        error = getattr(result, "error", None)
        return Outcome("cancelled" if state == "cancelled" else "failed", None,
                       None if error is None else str(error), retries)

    async def status(self, task_id: Hashable) -> str | None:
        return await state_or_none(self.queue.get_task_status, task_id)

    async def stats(self) -> dict[str, int]:
        return counters(await maybe_await(self.queue.get_stats()))

    def stats_now(self) -> dict[str, int] | None:
        value = self.queue.get_stats()
        if not inspect.isawaitable(value):
            return counters(value)
        # An ``async def get_stats`` that never awaits finishes on its first step.
        coro = value.__await__()
        try:
            coro.send(None)
        except StopIteration as done:
            return counters(done.value)
        coro.close()
        return None

    async def stop(self, drain: bool = True) -> None:
        if self.capabilities.drain_choice:
            await self.queue.stop(wait=drain)
        else:
            await self.queue.stop()


SHAPE = Shape(name="oas37a", family="handler queue", adapter=Oas37aAdapter,
              methods=("start", "stop", "submit", "get_result", "cancel_task", "get_stats"),
              class_names=("AsyncTaskQueue",))

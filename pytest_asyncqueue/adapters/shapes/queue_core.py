"""The shape of ``queue_core.TaskQueue``: sync ``submit``, ``cancel``, ``status`` and
``stats``; async ``result`` and ``shutdown(drain=)``."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from .._capabilities import SETTINGS, SUBMIT_OPTIONS, Capabilities
from .._common import (
    BuiltinAdapter,
    counters,
    keywords,
    maybe_await,
    result_or_missing,
    state_name,
    state_or_none,
)
from .._protocol import Outcome
from .._shape import Shape

__all__ = ["SHAPE", "QueueCoreAdapter"]


class QueueCoreAdapter(BuiltinAdapter):
    """Drives a queue of the ``queue_core.TaskQueue`` shape; settings and options keep
    their harness names."""

    shape = "queue_core"
    setting_names = {name: name for name in SETTINGS}
    option_names = {name: name for name in SUBMIT_OPTIONS}

    @classmethod
    def capabilities_of(cls, target: type) -> Capabilities:
        return Capabilities(
            settings=frozenset(keywords(target) & set(SETTINGS)),
            submit_options=frozenset(keywords(target.submit) & set(SUBMIT_OPTIONS)),
            drain_choice="drain" in keywords(target.shutdown),
            full_errors=(_imported(target, "QueueFull"),),
            closed_errors=(_imported(target, "QueueClosed"),),
            extras=frozenset({"cancel_running"}),
        )

    async def submit(self, handler: Callable[..., Awaitable[Any]], *args: Any,
                     **options: Any) -> Hashable:
        return await maybe_await(self.queue.submit(handler, *args, **self._options(options)))

    async def cancel(self, task_id: Hashable) -> bool:
        return bool(await maybe_await(self.queue.cancel(task_id)))

    async def result(self, task_id: Hashable, timeout: float | None = None) -> Outcome:
        result = await result_or_missing(self.queue.result, task_id, timeout=timeout)
        error = result.error
        return Outcome(state_name(result.state) or "", result.value,
                       None if error is None else f"{type(error).__name__}: {error}",
                       result.retries)

    async def status(self, task_id: Hashable) -> str | None:
        return await state_or_none(self.queue.status, task_id)

    async def stats(self) -> dict[str, int]:
        return self.stats_now()

    def stats_now(self) -> dict[str, int]:
        return counters(self.queue.stats())

    async def stop(self, drain: bool = True) -> None:
        await self.queue.shutdown(drain=drain)


def _imported(cls: type, name: str) -> type[BaseException]:
    """An exception class from the target's own package: ``QueueFull`` or ``QueueClosed``
    (``asyncio.QueueFull`` or ``RuntimeError`` if the package has none)."""
    package = sys.modules[cls.__module__].__package__ or cls.__module__
    found = getattr(sys.modules.get(package), name, None)
    if isinstance(found, type) and issubclass(found, BaseException):
        return found
    return RuntimeError if name == "QueueClosed" else asyncio.QueueFull


SHAPE = Shape(name="queue_core", family="handler queue", adapter=QueueCoreAdapter,
              methods=("submit", "result", "cancel", "status", "stats", "shutdown"),
              class_names=("TaskQueue",))

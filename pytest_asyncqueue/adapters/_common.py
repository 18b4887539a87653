"""What the built-in adapters share: the settings and options mapping, and small normalisers.

A built-in shape's adapter subclasses :class:`BuiltinAdapter` and maps the rest of the
:class:`~._protocol.Adapter` protocol onto its queue with the helpers here. User adapters
need none of this: they implement the protocol directly.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
import functools
import inspect
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, ClassVar

from ..contract import STATES
from ._capabilities import Capabilities
from ._protocol import ResultMissing, Unsupported

__all__ = ["BuiltinAdapter", "counters", "keywords", "maybe_await", "result_or_missing",
           "state_name", "state_or_none"]


class BuiltinAdapter(abc.ABC):
    """Base of the built-in adapters: builds the queue, maps settings and submit options.

    Attributes:
        shape: the shape's name.
        setting_names: harness setting name -> the queue constructor's keyword.
        option_names: harness submit option -> the queue's ``submit`` keyword.
        capabilities: ``capabilities_of`` the queue class.
        queue: the queue object.
    """

    shape: ClassVar[str]
    setting_names: ClassVar[dict[str, str]]
    option_names: ClassVar[dict[str, str]]

    def __init__(self, cls: type, settings: dict[str, Any]) -> None:
        self.capabilities = self.capabilities_of(cls)
        self.queue = cls(**{self.setting_names[k]: v for k, v in settings.items()})

    @classmethod
    @abc.abstractmethod
    def capabilities_of(cls, target: type) -> Capabilities:
        """What ``target`` accepts, read from its public signatures."""

    async def start(self) -> None:
        await maybe_await(self.queue.start())

    def _options(self, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` under the queue's keywords.

        Raises:
            Unsupported: an option the queue's ``submit`` does not take.
        """
        lacking = [name for name in options if name not in self.capabilities.submit_options]
        if lacking:
            raise Unsupported(f"target {type(self.queue).__qualname__}.submit takes no "
                              f"{' or '.join(lacking)} option")
        return {self.option_names[k]: v for k, v in options.items()}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.queue!r}>"


def keywords(func: Callable[..., Any]) -> set[str]:
    """The names a callable takes as keywords.

    ``**kwargs`` names none by itself; but a class whose ``__init__`` takes ``**kwargs``
    takes those of the nearest base class that defines its own ``__init__`` too (a subclass
    that hands them on to ``super().__init__``, the common way to extend a queue).
    """
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return set()
    names = {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if isinstance(func, type) and any(p.kind is p.VAR_KEYWORD for p in parameters):
        base = next((b for b in func.__mro__[1:] if "__init__" in vars(b)), object)
        if base is not object:
            names |= keywords(base)
    return names


async def maybe_await(value: Any) -> Any:
    """``value``, awaited if it is awaitable: for methods that may be sync or async."""
    return await value if inspect.isawaitable(value) else value


def counters(stats: Any) -> dict[str, int]:
    """A target's stats (a dataclass or a mapping) as a plain dict."""
    if dataclasses.is_dataclass(stats):
        return {name: getattr(stats, name) for name in _field_names(type(stats))}
    return dict(stats)


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    """The field names of a dataclass (``dataclasses.asdict`` is slow, and recursive)."""
    return tuple(f.name for f in dataclasses.fields(cls))


def state_name(state: Any) -> str | None:
    """A target's task state (an enum member or a string) as one of :data:`STATES`.

    None stays None; a state that names none of :data:`STATES` comes back as ``str(state)``,
    so that a check reports what the target said.
    """
    if state is None:
        return None
    name = state.value if isinstance(state, enum.Enum) else state
    name = str(name).lower()
    return name if name in STATES else str(state)


async def state_or_none(status: Callable[[Hashable], Any], task_id: Hashable) -> str | None:
    """``status(task_id)`` (awaited if need be) as :func:`state_name` gives it; None when
    ``status`` raises KeyError (the target does not know the task)."""
    try:
        return state_name(await maybe_await(status(task_id)))
    except KeyError:
        return None


async def result_or_missing(get: Callable[..., Awaitable[Any]], task_id: Hashable,
                            call: str | None = None, **wait: Any) -> Any:
    """``await get(task_id, **wait)``; a KeyError (no such result) as ResultMissing.

    Args:
        get: the queue's result method.
        task_id: the task.
        call: the method's name, to name the call in the message; None when the queue's
            own KeyError says what is missing.
        wait: keywords of the wait itself (``timeout``), passed on as they are.

    Raises:
        ResultMissing: ``get`` raised KeyError.
    """
    try:
        return await get(task_id, **wait)
    except KeyError as exc:
        raise ResultMissing(str(exc) if call is None else
                            f"{call}({task_id!r}) raised KeyError: {exc}") from exc

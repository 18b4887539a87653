"""Adapters: one small async protocol through which the harness drives any queue.

IMPLEMENTATION DETAIL - what an adapter promises
================================================

The checks never touch a target directly. They build it through a :class:`TargetFactory`
(``factory(workers=2, base_delay=0.1)``), which passes each setting on under the target's own
name, and talk to the result through the :class:`Adapter` protocol: every method is async,
whatever the target's own methods are, and every answer is normalised (states are the
lower-case strings of :data:`STATES`, results are :class:`Outcome`, stats are a plain dict).

A target that lacks a setting or a submit option is not wrong: it answers ``Unsupported``,
and a check that needs it is skipped with that reason, never passed and never failed. The
factory's :class:`Capabilities` say beforehand what the target accepts, read from the
signatures of its public methods only, and which readings of the shape's open points the
checks must accept.

A queue of another shape needs one adapter class: the methods of :class:`Adapter`, a
``capabilities_of(queue_class)`` classmethod, ``__init__(queue_class, settings)`` and an
``adapts`` attribute naming the queue class. ``asyncqueue-check file.py:MyAdapter`` (or a file
holding such a class) then drives that queue; see the README, "Check your own queue", and
``examples/tiny_pool.py``.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol, runtime_checkable

from .contract import STATES
from .errors import AsyncQueueError

__all__ = [
    "Adapter",
    "Capabilities",
    "LoadError",
    "Outcome",
    "ResultMissing",
    "SHAPES",
    "TargetFactory",
    "Unsupported",
    "detect_shape",
    "load_target",
    "make_factory",
]

SETTINGS: Final = ("workers", "base_delay", "max_delay", "max_results", "result_ttl",
                   "max_pending")
"""Queue settings a check may ask a factory for, under the harness's names."""

SUBMIT_OPTIONS: Final = ("priority", "max_retries", "task_id", "delay", "timeout")
"""Per-task options a check may pass to ``submit``."""


class LoadError(AsyncQueueError):
    """Raised when a target cannot be loaded or adapted (``asyncqueue-check`` exits 2)."""


class Unsupported(AsyncQueueError):
    """Raised when a check needs a setting or option the target does not have: a skip."""


class ResultMissing(AsyncQueueError, KeyError):
    """Raised by ``Adapter.result`` when the target no longer has (or never had) a result."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Outcome:
    """A finished task's result, normalised.

    Attributes:
        state: "completed", "failed" or "cancelled".
        value: the handler's return value when completed, else None.
        error: "Type: message" of the last failure when failed (as the target reports it).
        retries: how many retries the target says it made, or None if it does not say.
    """

    state: str
    value: Any = None
    error: str | None = None
    retries: int | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a target accepts, and how the checks must read the points its shape leaves open.

    Attributes:
        settings: the :data:`SETTINGS` its constructor takes.
        submit_options: the :data:`SUBMIT_OPTIONS` its ``submit`` takes.
        drain_choice: ``stop`` can either drain or cancel (``shutdown(drain=)``,
            ``stop(wait=)``).
        retry_keeps_place: accepted places of a retried task among equal priorities:
            "original" (its first sequence number) and/or "back" (behind those waiting).
        retried_counted: when ``retried`` may rise: "scheduled" and/or "started".
        stop_runs_queued: accepted fates of queued tasks on a draining stop: "run" and/or
            "cancel".
        full_errors: the exception types a full queue may raise.
        closed_errors: the exception types ``submit`` after stop may raise.
        cancel_all_at_stop: whether a non-draining stop must end every task CANCELLED.
    """

    settings: frozenset[str]
    submit_options: frozenset[str]
    drain_choice: bool
    retry_keeps_place: frozenset[str] = frozenset({"original"})
    retried_counted: frozenset[str] = frozenset({"scheduled"})
    stop_runs_queued: frozenset[str] = frozenset({"run"})
    full_errors: tuple[type[BaseException], ...] = ()
    closed_errors: tuple[type[BaseException], ...] = (RuntimeError,)
    extras: frozenset[str] = field(default_factory=frozenset)

    def missing(self, needs: tuple[str, ...]) -> list[str]:
        """Return the needs (setting, submit option or extra names) the target lacks."""
        have = self.settings | self.submit_options | self.extras
        return [need for need in needs if need not in have]


@runtime_checkable
class Adapter(Protocol):
    """The surface every check drives. Every method is a coroutine function."""

    shape: str
    capabilities: Capabilities
    queue: Any  # the target object itself, for weak references and reprs only

    async def start(self) -> None:
        """Start the workers."""

    async def submit(self, handler: Callable[..., Awaitable[Any]], *args: Any,
                     **options: Any) -> Hashable:
        """Submit ``handler(*args)`` with :data:`SUBMIT_OPTIONS` and return its id.

        Raises:
            Unsupported: an option the target does not take.
            whatever the target raises (full, closed, duplicate, bad input).
        """

    async def cancel(self, task_id: Hashable) -> bool:
        """Cancel the task; return the target's answer."""

    async def result(self, task_id: Hashable) -> Outcome:
        """Wait for the task to finish and return its outcome.

        Raises:
            ResultMissing: the target has no result for it (evicted, expired, unknown).
        """

    async def status(self, task_id: Hashable) -> str | None:
        """Return one of :data:`STATES`, or None if the target does not know the task."""

    async def stats(self) -> dict[str, int]:
        """Return the target's counters under its own key names."""

    def stats_now(self) -> dict[str, int] | None:
        """Return the counters without yielding to the loop, or None if the target can't."""

    async def stop(self, drain: bool = True) -> None:
        """Stop the target: let it finish its work (drain) or cancel it."""


class TargetFactory:
    """Builds fresh adapters around one target class.

    Args:
        cls: the target's queue class.
        adapter: the adapter class of its shape.
    """

    def __init__(self, cls: type, adapter: type[_BaseAdapter]) -> None:
        self.cls = cls
        self.adapter = adapter
        self.shape = adapter.shape
        self.capabilities = adapter.capabilities_of(cls)

    def __call__(self, **settings: Any) -> Adapter:
        """Build a new target with these :data:`SETTINGS` (harness names), not started.

        Raises:
            Unsupported: a setting the target's constructor does not take.
        """
        unknown = set(settings) - set(SETTINGS)
        if unknown:
            raise TypeError(f"unknown settings {sorted(unknown)}; valid: {', '.join(SETTINGS)}")
        lacking = [name for name in settings if name not in self.capabilities.settings]
        if lacking:
            raise Unsupported(f"target {self.cls.__qualname__} has no "
                              f"{' or '.join(lacking)} setting")
        return self.adapter(self.cls, settings)

    def __repr__(self) -> str:
        return f"<TargetFactory {self.cls.__module__}.{self.cls.__qualname__} shape={self.shape}>"


class _BaseAdapter:
    """What the built-in adapters share: settings mapping and option checks."""

    shape: str = ""
    setting_names: dict[str, str] = {}  # harness name -> the target's keyword
    option_names: dict[str, str] = {}  # harness submit option -> the target's keyword

    def __init__(self, cls: type, settings: dict[str, Any]) -> None:
        self.capabilities = self.capabilities_of(cls)
        self.queue = cls(**{self.setting_names[k]: v for k, v in settings.items()})

    @classmethod
    def capabilities_of(cls, target: type) -> Capabilities:
        raise NotImplementedError

    def _options(self, options: dict[str, Any]) -> dict[str, Any]:
        lacking = [name for name in options if name not in self.capabilities.submit_options]
        if lacking:
            raise Unsupported(f"target {type(self.queue).__qualname__}.submit takes no "
                              f"{' or '.join(lacking)} option")
        return {self.option_names[k]: v for k, v in options.items()}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.queue!r}>"


def _keywords(func: Callable[..., Any]) -> set[str]:
    """The names a callable takes as keywords (``**kwargs`` does not count)."""
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return set()
    return {p.name for p in parameters
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    """The field names of a dataclass (``dataclasses.asdict`` is slow, and recursive)."""
    return tuple(f.name for f in dataclasses.fields(cls))


def _state_name(state: Any) -> str | None:
    if state is None:
        return None
    name = state.value if isinstance(state, enum.Enum) else state
    name = str(name).lower()
    return name if name in STATES else str(state)


class QueueCoreAdapter(_BaseAdapter):
    """The shape of ``queue_core.TaskQueue``: sync ``submit``, ``result``, ``shutdown``."""

    shape = "queue_core"
    setting_names = {name: name for name in SETTINGS}
    option_names = {name: name for name in SUBMIT_OPTIONS}

    @classmethod
    def capabilities_of(cls, target: type) -> Capabilities:
        return Capabilities(
            settings=frozenset(_keywords(target) & set(SETTINGS)),
            submit_options=frozenset(_keywords(target.submit) & set(SUBMIT_OPTIONS)),
            drain_choice="drain" in _keywords(target.shutdown),
            full_errors=(_imported(target, "QueueFull"),),
            closed_errors=(_imported(target, "QueueClosed"),),
            extras=frozenset({"cancel_running"}),
        )

    async def start(self) -> None:
        await _maybe_await(self.queue.start())

    async def submit(self, handler: Callable[..., Awaitable[Any]], *args: Any,
                     **options: Any) -> Hashable:
        return await _maybe_await(self.queue.submit(handler, *args, **self._options(options)))

    async def cancel(self, task_id: Hashable) -> bool:
        return bool(await _maybe_await(self.queue.cancel(task_id)))

    async def result(self, task_id: Hashable) -> Outcome:
        try:
            result = await self.queue.result(task_id)
        except KeyError as exc:
            raise ResultMissing(str(exc)) from exc
        error = result.error
        return Outcome(_state_name(result.state) or "", result.value,
                       None if error is None else f"{type(error).__name__}: {error}",
                       result.retries)

    async def status(self, task_id: Hashable) -> str | None:
        try:
            return _state_name(self.queue.status(task_id))
        except KeyError:
            return None

    async def stats(self) -> dict[str, int]:
        return self.stats_now()

    def stats_now(self) -> dict[str, int]:
        stats = self.queue.stats()
        if dataclasses.is_dataclass(stats):
            return {name: getattr(stats, name) for name in _field_names(type(stats))}
        return dict(stats)

    async def stop(self, drain: bool = True) -> None:
        await self.queue.shutdown(drain=drain)


class Oas37aAdapter(_BaseAdapter):
    """The classic ``AsyncTaskQueue`` shape (``../shared/targets/oas37a.md``)."""

    shape = "oas37a"
    setting_names = {"workers": "num_workers", "max_pending": "max_queue_size",
                     "base_delay": "base_delay", "max_delay": "max_delay",
                     "max_results": "result_cache_size", "result_ttl": "result_ttl"}
    option_names = {name: name for name in SUBMIT_OPTIONS}

    @classmethod
    def capabilities_of(cls, target: type) -> Capabilities:
        import asyncio

        settings = {ours for ours, theirs in cls.setting_names.items()
                    if theirs in _keywords(target)}
        return Capabilities(
            settings=frozenset(settings),
            submit_options=frozenset(_keywords(target.submit) & set(SUBMIT_OPTIONS)),
            drain_choice="wait" in _keywords(target.stop),
            retry_keeps_place=frozenset({"original", "back"}),
            retried_counted=frozenset({"scheduled", "started"}),
            stop_runs_queued=frozenset({"run", "cancel"}),
            full_errors=(asyncio.QueueFull, RuntimeError),
            closed_errors=(RuntimeError,),
            extras=frozenset({"cancel_running"}),
        )

    async def start(self) -> None:
        await _maybe_await(self.queue.start())

    async def submit(self, handler: Callable[..., Awaitable[Any]], *args: Any,
                     **options: Any) -> Hashable:
        options.setdefault("max_retries", 0)  # the shape's own default is 3
        if "max_retries" not in self.capabilities.submit_options:
            del options["max_retries"]
        return await self.queue.submit(handler, *args, **self._options(options))

    async def cancel(self, task_id: Hashable) -> bool:
        return bool(await _maybe_await(self.queue.cancel_task(task_id)))

    async def result(self, task_id: Hashable) -> Outcome:
        try:
            result = await self.queue.get_result(task_id)
        except KeyError as exc:
            raise ResultMissing(f"get_result({task_id!r}) raised KeyError: {exc}") from exc
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
        try:
            return _state_name(await _maybe_await(self.queue.get_task_status(task_id)))
        except KeyError:
            return None

    async def stats(self) -> dict[str, int]:
        return dict(await _maybe_await(self.queue.get_stats()))

    def stats_now(self) -> dict[str, int] | None:
        value = self.queue.get_stats()
        if not inspect.isawaitable(value):
            return dict(value)
        # An ``async def get_stats`` that never awaits finishes on its first step.
        coro = value.__await__()
        try:
            coro.send(None)
        except StopIteration as done:
            return dict(done.value)
        coro.close()
        return None

    async def stop(self, drain: bool = True) -> None:
        if self.capabilities.drain_choice:
            await self.queue.stop(wait=drain)
        else:
            await self.queue.stop()


SHAPES: Final[dict[str, type[_BaseAdapter]]] = {
    "queue_core": QueueCoreAdapter,
    "oas37a": Oas37aAdapter,
}
"""The built-in adapters by shape name (``--shape``)."""

_SHAPE_METHODS: Final = {
    "queue_core": ("submit", "result", "cancel", "status", "stats", "shutdown"),
    "oas37a": ("start", "stop", "submit", "get_result", "cancel_task", "get_stats"),
}
_CLASS_NAMES: Final = ("TaskQueue", "AsyncTaskQueue")


def _imported(cls: type, name: str) -> type[BaseException]:
    """An exception class from the target's own package (for queue_core-shaped targets)."""
    package = sys.modules[cls.__module__].__package__ or cls.__module__
    found = getattr(sys.modules.get(package), name, None)
    if isinstance(found, type) and issubclass(found, BaseException):
        return found
    import asyncio

    return RuntimeError if name == "QueueClosed" else asyncio.QueueFull


def detect_shape(cls: type) -> str:
    """Return the name of the built-in shape whose methods ``cls`` has.

    Raises:
        LoadError: it has the methods of no shape; the message lists what is missing.
    """
    for shape, methods in _SHAPE_METHODS.items():
        if all(callable(getattr(cls, m, None)) for m in methods):
            return shape
    gaps = "; ".join(f"{shape} needs {', '.join(m for m in methods if not hasattr(cls, m))}"
                     for shape, methods in _SHAPE_METHODS.items())
    raise LoadError(f"{cls.__module__}.{cls.__qualname__} matches no known shape ({gaps}); "
                    f"pass --shape, or write an adapter (README: 'Check your own queue')")


def load_target(spec: str) -> type:
    """Import the queue class named by ``spec``.

    ``spec`` is ``package.module[:Class]``, ``path/to/file.py[:Class]`` or a package directory
    ``path/to/package[:Class]`` (a path has a slash or ends in ``.py``; ``./pkg`` for one in
    the current folder). Files and directories are loaded under a private module name
    with their folder importable at the end of ``sys.path``, so a file called ``queue.py``
    neither shadows nor is shadowed by the standard library. Without ``:Class`` the class is
    found by shape, preferring the names TaskQueue and AsyncTaskQueue.

    Raises:
        LoadError: the module or class cannot be found, or the import failed.
    """
    where, _, class_name = spec.partition(":")
    path = Path(where)
    try:
        if where.endswith(".py") or "/" in where or "\\" in where:
            module = _load_path(path)
        else:
            module = importlib.import_module(where)
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError(f"cannot import {where!r}: {type(exc).__name__}: {exc}") from exc
    if class_name:
        cls = getattr(module, class_name, None)
        if not isinstance(cls, type):
            raise LoadError(f"{where!r} has no class {class_name!r}; classes there: "
                            f"{', '.join(_classes(module)) or 'none'}")
        return cls
    return _find_queue_class(module, where)


def _load_path(path: Path) -> Any:
    init = path / "__init__.py" if path.is_dir() else path
    if not init.is_file():
        raise LoadError(f"no file {str(init)!r}; pass an existing .py file, a package folder "
                        f"or an importable module name")
    digest = hashlib.sha1(str(init.resolve()).encode()).hexdigest()[:16]
    name = f"_asyncqueue_target_{digest}"  # the same in every process, for forked runners
    if name in sys.modules:
        return sys.modules[name]
    folder = str(path.parent.resolve())
    if folder not in sys.path:
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(path)] if path.is_dir() else None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _classes(module: Any) -> list[str]:
    return sorted(n for n, v in vars(module).items()
                  if isinstance(v, type) and v.__module__.startswith(module.__name__))


def _find_queue_class(module: Any, where: str) -> type:
    adapters = [getattr(module, n) for n in _classes(module)
                if isinstance(getattr(getattr(module, n), "adapts", None), type)]
    if adapters:
        return adapters[0]
    candidates = []
    for name in _classes(module):
        cls = getattr(module, name)
        try:
            detect_shape(cls)
        except LoadError:
            continue
        candidates.append(cls)
    if not candidates:
        raise LoadError(f"{where!r} has no queue class of a known shape (classes: "
                        f"{', '.join(_classes(module)) or 'none'}); name it as "
                        f"{where}:ClassName or write an adapter")
    candidates.sort(key=lambda c: (c.__name__ not in _CLASS_NAMES, c.__name__))
    return candidates[0]


def make_factory(spec: str, shape: str | None = None) -> TargetFactory:
    """Load the target named by ``spec`` and wrap it in the adapter of ``shape`` (or detect it).

    If ``spec`` names an adapter class (one with an ``adapts`` attribute), that adapter
    drives the queue class it names.

    Raises:
        LoadError: as :func:`load_target`, or an unknown ``shape``.
    """
    cls = load_target(spec)
    adapted = getattr(cls, "adapts", None)
    if isinstance(adapted, type):  # a user's adapter class, naming the queue class it drives
        if shape is not None:
            raise LoadError(f"{spec!r} is an adapter (it adapts {adapted.__qualname__}); "
                            f"drop --shape={shape!r}")
        return TargetFactory(adapted, cls)
    if shape is None:
        shape = detect_shape(cls)
    elif shape not in SHAPES:
        raise LoadError(f"--shape={shape!r} is not a built-in shape; valid: "
                        f"{', '.join(SHAPES)}")
    return TargetFactory(cls, SHAPES[shape])

"""Argument checks of ``TaskQueue(...)`` and ``submit(...)``, with their messages (S8).

Bad input fails at the call, with a ``TypeError`` (wrong type; bool is not accepted as a
number) or a ``ValueError`` (out of range) naming the argument, the value and what to pass.
``submit`` screens its arguments inline with cheap type tests and calls a check here only
for a value they do not vouch for, so a plain call costs no call into this module.
"""

from __future__ import annotations

import inspect
import math
from typing import Final

__all__ = ["MAX_WORKERS", "check_handler", "check_int", "check_number", "check_settings"]

_INT_HINTS: Final = {
    "workers": "the number of concurrent handlers, e.g. TaskQueue(workers=4)",
    "max_pending": "None for no limit",
    "max_results": "how many finished results to keep",
    "priority": "an int; higher runs first",
    "max_retries": "0 for a single attempt",
}
"""What to pass instead, by the name of each int argument."""


MAX_WORKERS: Final = 100_000
"""The most workers a queue takes: each is an asyncio task (a few kB), all made at start."""


def check_settings(
    *,
    workers: object,
    max_pending: object,
    base_delay: object,
    max_delay: object,
    jitter: object,
    non_retryable: object,
    max_results: object,
    result_ttl: object,
    seed: object,
) -> None:
    """Check the arguments of ``TaskQueue(...)``; see its docstring for their meaning.

    Raises:
        TypeError: an argument has the wrong type.
        ValueError: an argument is out of range, or ``max_delay < base_delay``.
    """
    check_int("workers", workers, 1)
    if workers > MAX_WORKERS:  # type: ignore[operator]
        raise ValueError(f"workers={workers!r} is more than {MAX_WORKERS:,} workers, each an "
                         f"asyncio task made at start(); pass the number of handlers that "
                         f"may run at once, e.g. TaskQueue(workers=100)")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise TypeError(f"seed={seed!r} must be an int or None (it seeds the jitter's random "
                        f"source)")
    if max_pending is not None:
        check_int("max_pending", max_pending, 1)
    check_number("base_delay", base_delay)
    check_number("max_delay", max_delay)
    if max_delay < base_delay:
        raise ValueError(f"max_delay={max_delay!r} < base_delay={base_delay!r}; "
                         f"the cap must be at least the first backoff")
    check_number("jitter", jitter)
    if not (isinstance(non_retryable, tuple) and all(
            isinstance(t, type) and issubclass(t, BaseException) for t in non_retryable)):
        raise TypeError(f"non_retryable={non_retryable!r} must be a tuple of exception "
                        f"types, e.g. (ValueError,)")
    check_int("max_results", max_results, 1)
    if result_ttl is not None:
        check_number("result_ttl", result_ttl, positive=True)


def check_handler(handler: object) -> None:
    """Check that ``handler`` is a coroutine function (or an object whose ``__call__`` is).

    Raises:
        TypeError: it is not callable, or calling it does not return a coroutine; the
            message says what it is instead (a class, an async generator function, a
            generator-based coroutine, a plain function that may wrap one).
    """
    name = getattr(handler, "__qualname__", None) or repr(handler)
    if isinstance(handler, type):
        raise TypeError(f"handler {name} is a class: calling it makes an instance, not a "
                        f"coroutine; pass an instance ({name}()) whose __call__ is "
                        f"'async def', or an 'async def' function")
    if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
            getattr(handler, "__call__", None)):
        return
    if not callable(handler):
        raise TypeError(f"handler {name} is not callable; pass an 'async def' function")
    if inspect.isasyncgenfunction(handler):
        raise TypeError(f"handler {name} is an async generator function ('async def' with "
                        f"'yield'), which a worker cannot await; collect what it yields and "
                        f"return it from a plain 'async def'")
    flags = getattr(getattr(handler, "__code__", None), "co_flags", 0)
    if flags & inspect.CO_ITERABLE_COROUTINE:
        raise TypeError(f"handler {name} is a generator-based coroutine (@types.coroutine); "
                        f"wrap it: 'async def handler(*args): return await {name}(*args)'")
    raise TypeError(f"handler {name} is a plain function, not a coroutine function; define "
                    f"it with 'async def' (a plain function that returns a coroutine, such "
                    f"as a wrapper of one, can be marked with inspect.markcoroutinefunction)")


def check_int(name: str, value: object, minimum: int | None) -> None:
    """Check that the argument ``name`` is an int (not a bool) of at least ``minimum``.

    Raises:
        TypeError: it is not an int.
        ValueError: it is below ``minimum``.
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name}={value!r} must be an int; pass {_INT_HINTS[name]}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}={value!r} must be >= {minimum}; pass {_INT_HINTS[name]}")


def check_number(name: str, value: object, positive: bool = False) -> None:
    """Check that the argument ``name`` is a finite number of loop seconds, >= 0 (> 0 if
    ``positive``).

    Raises:
        TypeError: it is not an int or a float (or it is a bool).
        ValueError: it is NaN, infinite, negative, or 0 when it must be positive.
    """
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name}={value!r} must be a number of loop seconds, "
                        f"not {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name}={value!r} must be finite and {bound}")

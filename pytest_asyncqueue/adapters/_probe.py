"""What a ``submit(func, *args, **kwargs)`` takes: probed, not read from its signature.

A submit whose signature names an option takes it. One that does not name it but takes
``**kwargs`` may take it there, or may hand it on to the handler as one of the handler's own
keyword arguments (the oas37a shape's ``**kwargs`` are the handler's). The signature cannot
tell the two apart; submitting a probe can: an option the handler does not receive was
taken by the queue. Whether the queue then honours it (a priority that orders, a
``max_retries`` that retries) is for the checks to judge: a queue that takes an option and
drops it fails them, instead of having them skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import threading
import warnings
from collections.abc import Callable
from typing import Any, Final

from ._common import maybe_await

__all__ = ["PROBE_VALUES", "options_taken", "takes_any_keyword"]

PROBE_VALUES: Final = {"priority": 1, "max_retries": 1, "task_id": "asyncqueue-probe",
                       "delay": 0.001, "timeout": 60.0}
"""The value each option is probed with: one a correct queue accepts."""

_PROBE_WAIT: Final = 10.0  # virtual seconds the probe's task may take
_PROBE_WALL: Final = 2.0  # wall seconds the whole probe may take


def takes_any_keyword(func: Callable[..., Any]) -> bool:
    """Whether ``func`` has a ``**kwargs`` parameter."""
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is p.VAR_KEYWORD for p in parameters)


def options_taken(build: type, names: set[str], *, start: str = "start",
                  submit: str = "submit", stop: Callable[[Any], Any] | None = None
                  ) -> set[str]:
    """The options among ``names`` that a queue's ``submit(**kwargs)`` takes for itself.

    Builds a queue with ``build()`` on a fresh virtual-time loop (in a thread of its own, so
    that a running loop is no obstacle), submits one probe handler with every option of
    ``names`` (at :data:`PROBE_VALUES`), lets it run, and returns the options the handler did
    not receive as keyword arguments. Anything that goes wrong (the submit refuses them, the
    queue never runs the probe) leaves the options not taken, as a signature without them
    would: the checks that need them are then skipped. Probed once per class and set of
    names (forked check processes inherit the answer).
    """
    key = (build, frozenset(names))
    if key not in _TAKEN:
        answer: list[set[str]] = [set()]
        thread = threading.Thread(target=lambda: answer.__setitem__(
            0, _probe(build, names, start, submit, stop)), name="asyncqueue-probe", daemon=True)
        thread.start()
        thread.join(_PROBE_WALL + 5.0)  # a start() that blocks in sync code: not taken
        _TAKEN[key] = answer[0]
    return set(_TAKEN[key])


_TAKEN: dict[tuple[type, frozenset[str]], set[str]] = {}


def _probe(build: type, names: set[str], start: str, submit: str,
           stop: Callable[[Any], Any] | None) -> set[str]:
    """:func:`options_taken`'s probe, on a loop of its own in the calling thread."""
    from ..clock import VirtualClockLoop  # the clock imports the adapters' package

    received: dict[str, Any] = {}
    ran = asyncio.Event()

    async def probe(*_: Any, **kwargs: Any) -> None:
        received.update(kwargs)
        ran.set()

    async def main() -> set[str]:
        queue = build()
        try:
            await maybe_await(getattr(queue, start)())
            await maybe_await(getattr(queue, submit)(probe, **{
                name: PROBE_VALUES[name] for name in names}))
            async with asyncio.timeout(_PROBE_WAIT):
                await ran.wait()
        finally:
            if stop is not None:
                with contextlib.suppress(Exception):
                    await maybe_await(stop(queue))
        return {name for name in names if name not in received}

    loop = VirtualClockLoop(max_real_seconds=_PROBE_WALL)
    loop.set_exception_handler(lambda _loop, _context: None)
    with warnings.catch_warnings():
        # A queue that never ran the probe leaves its coroutine unawaited: that is the
        # answer (nothing taken), not a warning for the caller.
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            with contextlib.suppress(Exception):
                return loop.run_until_complete(main())
            return set()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(_cancel_all(loop))
            loop.close()
            gc.collect()  # now, inside the filter: the unawaited probe is reported here


async def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what the probed queue left running on ``loop``, and let it unwind."""
    me = asyncio.current_task()
    left = [task for task in asyncio.all_tasks(loop) if task is not me]
    for task in left:
        task.cancel()
    if left:
        await asyncio.wait(left, timeout=1.0)

"""The adapter protocols a user implements, and the values and errors they exchange.

The harness drives every queue through an :class:`Adapter`, built by an
:class:`AdapterClass` with the settings a check asks for. The built-in shapes implement both
(see :mod:`.shapes`); a queue of another shape needs one class of its own, found by its
``adapts`` attribute (README, "Check your own queue"; ``examples/tiny_pool.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..errors import AsyncQueueError
from ._capabilities import Capabilities

__all__ = ["Adapter", "AdapterClass", "LoadError", "Outcome", "ResultMissing", "Unsupported"]


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


@runtime_checkable
class Adapter(Protocol):
    """One target queue, as every conformance check and state machine drives it.

    Every method but :meth:`stats_now` is a coroutine function, whatever the target's own
    methods are, and every answer is normalised: states are the lower-case strings of
    :data:`~pytest_asyncqueue.contract.STATES`, results are :class:`Outcome`, counters are a
    plain dict. The checks run on a virtual clock: "at once" below means before the loop
    runs anything else, "after letting the loop run" means after the ready callbacks have
    run, without moving the clock.

    Every method is required: the harness calls each of them. What a target lacks is said
    beforehand, in its :class:`Capabilities`: a conformance check that needs an absent
    setting, submit option or extra is skipped with that reason, never passed or failed.
    So is one that needs a feature the capabilities declare ``absent`` (no cancel, no
    closed state, no worker tasks, no result timeout, a stats counter the target does not
    keep); the method that would serve it is then never called for that purpose (a
    :meth:`cancel` may raise :class:`Unsupported`, :meth:`stats` may leave the key out).
    At run time :class:`Unsupported` says the same in two places only: raised while the
    adapter is built (a setting) or by :meth:`submit` (an option), it makes the check skip;
    from any other method it is the target's error, like any other exception.

    Built-in adapters keep the target object as ``queue`` (for their repr; the benchmark
    calls a queue_core target's own ``submit`` and ``cancel`` through it); no check reads it.
    """

    async def start(self) -> None:
        """Start the target's workers.

        A check may submit before starting (the ordering checks do): those tasks wait for
        ``start``.
        """

    async def submit(self, handler: Callable[..., Awaitable[Any]], *args: Any,
                     **options: Any) -> Hashable:
        """Submit ``handler(*args)`` and return the task's id.

        ``options`` are :data:`SUBMIT_OPTIONS` under the harness's names: ``priority`` (a
        higher number runs first; equal priorities in submission order), ``max_retries``
        (how many times a failed attempt is retried), ``task_id`` (the id to use and
        return), ``delay`` (seconds before the task may start), ``timeout`` (seconds an
        attempt may run before it is cancelled and counts as failed with ``TimeoutError``).

        Raises:
            Unsupported: an option the target does not take (the check is skipped).
            whatever the target raises: after ``stop`` one of ``closed_errors``, when full
                one of ``full_errors`` (see :class:`Capabilities`), for the ``task_id`` of
                a task it still knows ``ValueError``.
        """

    async def cancel(self, task_id: Hashable) -> bool:
        """Cancel the task; return True if it was pending or running, else False.

        A pending task (queued, or waiting for its delay or a retry backoff) is CANCELLED at
        once: :meth:`status` reads "cancelled" as soon as ``cancel`` has returned, and the
        task never starts (again). A running task's handler sees ``CancelledError`` at the
        await it is in; :meth:`status` reads "cancelled" once the handler has unwound, which
        may be after ``cancel`` returns: the checks look after letting the loop run. The
        worker then takes the next task. A finished or unknown task answers False; a
        second cancel changes nothing and raises nothing. Cancelling a running task is the
        ``cancel_running`` extra of :class:`Capabilities`.
        """

    async def result(self, task_id: Hashable, timeout: float | None = None) -> Outcome:
        """Wait for the task to finish and return its outcome.

        ``value`` is the awaited return value, never a coroutine; ``error`` names the last
        failure's type and message (``TimeoutError`` for a timed-out attempt); ``retries``
        is None when the target does not say. Results stay readable after ``stop``. The
        checks bound the wait themselves; ``timeout`` is passed only to judge the target's
        own result timeout (the ``result_timeout`` feature), which the adapter hands on.
        An adapter whose ``result`` takes no ``timeout`` has that check skipped.

        Raises:
            ResultMissing: the target has no result for it (evicted, expired, unknown).
            TimeoutError: the target's own wait of ``timeout`` seconds ended first.
        """

    async def status(self, task_id: Hashable) -> str | None:
        """Return one of :data:`~pytest_asyncqueue.contract.STATES`, or None if unknown.

        "pending" covers queued, delayed and backing-off tasks; for "cancelled" see
        :meth:`cancel`. None means the target does not know the task (never submitted, or
        finished and dropped with its result).
        """

    async def stats(self) -> dict[str, int]:
        """Return the counters under the keys of DESIGN S6.

        The keys are pending, running, completed, failed, cancelled, retried and workers
        (:data:`~pytest_asyncqueue.contract.REQUIRED_STATS`; a missing one is a ``stats``
        failure that names it); submitted and queue_size are followed where present. At
        every observation pending + running + completed + failed + cancelled equals the
        submits the target accepted (a submit still under way may be counted or not yet),
        no counter is negative, and submitted, completed, failed, cancelled and retried
        never decrease, not even when cached results are evicted. Each task is counted once,
        under the state :meth:`status` gives it. ``running`` counts the attempts started and
        not ended once the loop has done all it had to at an instant; a cancelled running
        task moves running -> cancelled once, when its handler has unwound. ``retried``
        rises once per retry, when it is scheduled or when it starts (as
        ``Capabilities.retried_counted`` allows). ``workers`` is the number of live
        workers, 0 once ``stop`` has returned.
        """

    def stats_now(self) -> dict[str, int] | None:
        """Return the counters of :meth:`stats` without yielding to the loop, or None.

        The harness calls it between two loop iterations, where nothing may be awaited.
        None means the target cannot answer without suspending: the harness then reads
        :meth:`stats` from a task woken after loop iterations instead, so S6 is judged less
        often, ``running`` is not compared with the handlers in flight, and the workers
        left when ``stop`` returns are not judged from ``workers``.
        """

    async def stop(self, drain: bool = True) -> None:
        """Stop the target; return once every worker and task it made has ended.

        Afterwards ``submit`` raises one of ``closed_errors`` and ``workers`` reads 0.
        ``drain=True`` lets running handlers finish and runs queued tasks or ends them
        CANCELLED (``Capabilities.stop_runs_queued``); ``drain=False`` cancels running
        handlers and ends pending tasks CANCELLED. A target without the choice
        (``Capabilities.drain_choice`` false) does what its stop does. The harness stops
        every target it built once more when a check ends (``drain=False``), ignoring
        errors.
        """


class AdapterClass(Protocol):
    """An adapter class: builds an :class:`Adapter` around a queue class, and says what the
    queue accepts.

    A user's adapter class also has an ``adapts`` attribute naming the queue class it
    drives: that is how a target file or module that holds it is recognised as an adapter.

    Attributes:
        shape: the shape's name, used in reports and replay commands.
    """

    shape: str

    def __call__(self, queue_class: type, settings: dict[str, Any], /) -> Adapter:
        """Build the queue (not started) with ``settings``.

        ``settings`` holds only :data:`SETTINGS` that :meth:`capabilities_of` lists, under
        the harness's names; the adapter passes each on under the queue's own name, and the
        queue's defaults stand for the rest. A queue that refuses a value (``workers=0``)
        raises its own error here.
        """

    def capabilities_of(self, queue_class: type, /) -> Capabilities:
        """Return what ``queue_class`` accepts, read from its public signatures only."""

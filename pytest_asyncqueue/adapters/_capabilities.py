"""What a target accepts, and which readings of its shape's open points the checks accept."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = ["FEATURES", "SETTINGS", "SUBMIT_OPTIONS", "Capabilities"]

SETTINGS: Final = ("workers", "base_delay", "max_delay", "max_results", "result_ttl",
                   "max_pending")
"""Queue settings a check may ask a factory for, under the harness's names."""

SUBMIT_OPTIONS: Final = ("priority", "max_retries", "task_id", "delay", "timeout")
"""Per-task options a check may pass to ``submit``."""

FEATURES: Final = ("cancel", "closed_state", "worker_tasks", "result_timeout") + tuple(
    f"stats.{key}" for key in ("pending", "running", "completed", "failed", "cancelled",
                               "retried", "workers"))
"""What a target has unless its adapter declares it absent (:attr:`Capabilities.absent`):
``cancel`` (a cancel of a pending task), ``closed_state`` (``submit`` after ``stop`` is
refused), ``worker_tasks`` (a fixed set of worker coroutines that ``stop`` ends: without
them ``workers`` is a bound on concurrency, not a count of live tasks), ``result_timeout``
(a result wait that can time out) and each stats counter ``stats.<key>``."""


@dataclass(frozen=True)
class Capabilities:
    """What a target accepts, and how the checks must read the points its shape leaves open.

    An adapter class says this once per queue class (``capabilities_of``), from the public
    signatures of the queue's methods. A conformance check names what it needs (settings,
    submit options, extras) and is skipped with the reason "target has no ..." when
    :meth:`missing` lists any of them; the state machines leave out the options and settings
    a target lacks, and skip the categories that cannot be judged without them.

    Attributes:
        settings: the :data:`SETTINGS` its constructor takes.
        submit_options: the :data:`SUBMIT_OPTIONS` its ``submit`` takes.
        drain_choice: whether ``stop`` can either drain or cancel (``shutdown(drain=)``,
            ``stop(wait=)``). Without it, ``stop`` does what it does: the conformance checks
            accept a draining stop that also cancels the running handler and skip the check
            of a cancelling stop; the state machines accept either kind of stop.
        retry_keeps_place: accepted places of a retried task among equal priorities:
            "original" (its first sequence number) and/or "back" (behind those waiting).
        retried_counted: when ``retried`` may rise: "scheduled" and/or "started".
        stop_runs_queued: accepted fates of queued tasks on a draining stop: "run" and/or
            "cancel".
        drain_running: accepted fates of handlers still running at a draining stop:
            "finish" (it waits for them) and/or "cancel".
        full_errors: the exception types a full queue (``max_pending``) may raise.
        closed_errors: the exception types ``submit`` after stop may raise.
        extras: abilities beyond settings and options, by name, that checks may need.
            Today one: "cancel_running", ``cancel`` reaches a running task's handler (the
            conformance checks that cancel a running task are skipped without it).
        absent: the :data:`FEATURES` the target lacks (all present by default). A check
            or a state-machine rule that needs one is skipped with "target has no ...", as
            for a missing setting: absent is not wrong (DESIGN section 3).
    """

    settings: frozenset[str]
    submit_options: frozenset[str]
    drain_choice: bool
    retry_keeps_place: frozenset[str] = frozenset({"original"})
    retried_counted: frozenset[str] = frozenset({"scheduled"})
    stop_runs_queued: frozenset[str] = frozenset({"run"})
    drain_running: frozenset[str] = frozenset({"finish"})
    full_errors: tuple[type[BaseException], ...] = ()
    closed_errors: tuple[type[BaseException], ...] = (RuntimeError,)
    extras: frozenset[str] = field(default_factory=frozenset)
    absent: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.absent) - set(FEATURES))
        if unknown:
            raise ValueError(f"Capabilities(absent=...) names {', '.join(unknown)}, which "
                             f"are not features; the features are {', '.join(FEATURES)}")

    def missing(self, needs: tuple[str, ...]) -> list[str]:
        """Return the needs (settings, submit options, extras or :data:`FEATURES`) the
        target lacks."""
        have = self.settings | self.submit_options | self.extras
        return [need for need in needs
                if need in self.absent or (need not in FEATURES and need not in have)]

    def has(self, feature: str) -> bool:
        """Whether the target has one of the :data:`FEATURES`."""
        return not self.missing((feature,))

"""What the machines report: a failure as it is raised, a verdict per category, and what one
Hypothesis run saw across its examples (:class:`Tally`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from .._children import threads_note
from ..conformance._base import CheckFailed
from ..contract import MODEL_CATEGORIES
from ..model import Finding

BLOCKING_REPEATS: Final = 3


class MachineFailure(CheckFailed):
    """Raised when the target breaks an invariant.

    Attributes:
        finding: what broke. steps: the step lines so far. calls: the same steps as
        ``(rule, arguments)`` pairs, for :func:`run_steps`.
    """

    def __init__(self, finding: Finding, calls: Iterable[tuple[str, dict[str, Any]]],
                 steps: Iterable[str]) -> None:
        steps = tuple(steps)
        super().__init__(f"[{finding.category}] {finding.message}\n" + "\n".join(steps))
        self.finding, self.calls, self.steps = finding, tuple(calls), steps


class ThreadsLeaked(BaseException):
    """Raised when an example's target left threads running after its stop: every later
    example would add more (and busy ones slow the rest), so the run ends at once. A
    ``BaseException``, so that Hypothesis lets it through instead of shrinking it (each
    replay would leak more).

    Attributes:
        finding: the memory finding. calls, steps: the example's steps, as for
        :class:`MachineFailure`.
    """

    def __init__(self, finding: Finding, calls: Iterable[tuple[str, dict[str, Any]]],
                 steps: Iterable[str]) -> None:
        super().__init__(finding.message)
        self.finding, self.calls, self.steps = finding, tuple(calls), tuple(steps)

    def as_failure(self) -> MachineFailure:
        """The same finding as the memory failure a test can report."""
        return FAILURES["memory"](self.finding, self.calls, self.steps)


FAILURES: Final = {c: type(f"{c.title().replace('_', '')}Failure", (MachineFailure,), {})
                   for c in MODEL_CATEGORIES}
"""One subclass per category: Hypothesis tells failures apart by type, so a failure it
replays stays in the category in which it was found."""


@dataclass(frozen=True)
class MachineResult:
    """The machines' verdict in one category.

    Attributes:
        category: one of :data:`MODEL_CATEGORIES`.
        status: "passed", "failed" or "skipped".
        check: the invariant that broke ("model" when none did).
        message: for a failure, what was observed vs expected, then the shrunk steps; for a
            skip, the reason.
        finding: for a failure, the first line of ``message`` alone.
        steps: the shrunk step list, one line per step.
        calls: the same steps as ``(rule, arguments)``, for :func:`run_steps`.
        seed: the seed that replays the run.
        examples: examples run until the failure was first seen (else in the last run).
        follows_from: for a failure found once another category had failed (and was
            muted), that failure, as ``category::model.check``: it may explain this one.
    """

    category: str
    status: str
    check: str = "model"
    message: str = ""
    finding: str = ""
    steps: tuple[str, ...] = ()
    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    seed: int = 0
    examples: int = 0
    follows_from: str = ""


@dataclass
class Tally:
    """What one Hypothesis run saw across its examples."""

    examples: int = 0
    first_failure: int | None = None  # the example in which the first failure showed
    discarded: int = 0  # examples that broke a muted category
    muted_findings: list[Finding] = field(default_factory=list)  # in the order seen
    blocking: dict[str, list[Any]] = field(default_factory=dict)  # call site -> records
    blocking_seen: dict[str, tuple[int, list[str]]] = field(default_factory=dict)
    heartbeat: Callable[[], None] | None = None  # called after every loop iteration


def failed_result(finding: Finding, steps: Iterable[str],
                  calls: Iterable[tuple[str, dict[str, Any]]], seed: int, examples: int
                  ) -> MachineResult:
    """The verdict for a failure whose smallest run is ``steps``."""
    steps = tuple(steps)
    return MachineResult(finding.category, "failed", finding.check,
                         f"[{finding.category}] {finding.message}\n(first seen in example "
                         f"{examples}; the smallest failing run found, {len(steps) - 1} "
                         f"step{'' if len(steps) == 2 else 's'}:)\n" + "\n".join(steps),
                         finding.message, steps, tuple(calls), seed, examples)


def blocking_result(tally: Tally, seed: int) -> MachineResult | None:
    """A concurrency failure if one call site of the target blocked the loop repeatedly.

    Blocking is measured in wall time, which no seed replays, so it is judged over a whole
    run and only a call site seen :data:`BLOCKING_REPEATS` times counts (a stall of the
    machine that runs the check is seldom in the same place thrice).
    """
    sites = {site: calls for site, calls in tally.blocking.items()
             if len(calls) >= BLOCKING_REPEATS}
    if not sites:
        return None
    site, calls = max(sites.items(), key=lambda item: len(item[1]))
    worst = max(calls, key=lambda call: call.duration)
    example, steps = tally.blocking_seen[site]
    return failed_result(Finding("concurrency", "loop_never_blocked", f"S2: {worst.name} held "
                                 f"the event loop {len(calls)} times, up to "
                                 f"{worst.duration:.3f} wall s, at {site}; the queue must "
                                 f"await, never block (time.sleep, blocking I/O)"
                                 + threads_note()),
                         steps, (), seed, example)

"""Judging: what the target showed after a step, compared with one reading of the model.

Each function returns :class:`~..model.Finding` records (never raises): the machine keeps the
readings with no finding and fails with the first finding of the canonical one when none is
left.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from ..adapters import Outcome
from ..contract import FINISHED, REQUIRED_STATS, in_seconds, s6_breaches
from ..model import Finding, Model


@dataclass
class Observation:
    """What the target showed after a step: stats, task statuses, results newly seen, and
    the answers of cancels that raced an event."""

    stats: dict[str, int] | None
    statuses: dict[str, str | None] = field(default_factory=dict)
    results: dict[str, Outcome | str] = field(default_factory=dict)
    answers: dict[str, bool] = field(default_factory=dict)


def findings(model: Model, seen: Observation, *, exact: bool, accepted: int, now: float,
             absent: frozenset[str] = frozenset()) -> list[Finding]:
    """Every way ``seen`` differs from ``model``.

    Args:
        exact: every finished task's status stays known (else a finished task may read None).
        accepted: submits the target accepted so far (S6's bound on ``submitted``).
        now: the loop's time, for messages.
        absent: the stats counters the target does not keep (their keys).
    """
    found = [Finding("cancellation", "cancel_answers", f"S4: cancel({name}) returned "
                     f"{answer!r}; expected {model.answers[name]!r}")
             for name, answer in seen.answers.items() if model.answers[name] != answer]
    for name, got in seen.statuses.items():
        want = model.status(name)
        if got != want and not (got is None and want in FINISHED and not exact):
            found.append(Finding(status_category(want, got), "status_matches",
                                 f"status of {name} was {got!r}; expected {want!r}"))
    for name, outcome in seen.results.items():
        found += result_findings(model, name, outcome)
    if seen.stats is not None:
        found += stats_findings(model.stats(), seen.stats, accepted, now, absent)
    return found


def stats_findings(want: dict[str, int], got: dict[str, int], accepted: int, now: float,
                   absent: frozenset[str] = frozenset()) -> list[Finding]:
    """Missing stats keys, counters that differ from the model's, and S6 breaches; the
    ``absent`` keys (counters the target does not keep) are neither missing nor compared."""
    missing = [k for k in REQUIRED_STATS if k not in got and k not in absent]
    if missing:
        return [Finding("stats", "stats_keys", f"S6/oas37a-5: stats has no "
                        f"{', '.join(map(repr, missing))} key; keys were {sorted(got)}")]
    found = [Finding("stats", "stats_match_model", f"S6: stats[{key!r}] was {got[key]}; "
                     f"expected {want[key]} (stats {got})")
             for key in want if key != "workers" and key not in absent and key in got
             and got[key] != want[key]]
    problem = s6_problem(got, None, accepted, 0, f"at t={now:g}")
    return found + [Finding("stats", "stats_invariant", problem)] if problem else found


def result_findings(model: Model, name: str, outcome: Outcome | str) -> list[Finding]:
    """How the result of finished task ``name`` (or why it is missing) breaks the contract."""
    task = model.task(name)
    if isinstance(outcome, str):
        return [Finding("memory", "result_kept", f"S7: the result of {name}, finished at "
                        f"t={in_seconds(task.finished_at)}, is missing: {outcome}")]
    found = []
    if inspect.isawaitable(outcome.value) or (task.state == "completed" and outcome.value != name):
        found.append(Finding("concurrency", "result_is_awaited", f"S2: the result of {name} is "
                             f"{outcome.value!r}; expected the awaited value {name!r}"))
    if task.state in ("completed", "failed") and outcome.retries not in (None, task.attempts - 1):
        found.append(Finding("retries", "retries_reported", f"S3: {name} made {task.attempts} "
                             f"attempts but its result says retries={outcome.retries}; "
                             f"expected {task.attempts - 1}"))
    wanted = "TimeoutError" if task.timed_out else f"{name} attempt {task.attempts} failed"
    if task.state == "failed" and wanted not in str(outcome.error):
        found.append(Finding("retries", "last_error_kept", f"S3: the error of failed {name} is "
                             f"{outcome.error!r}; expected it to name {wanted!r}"))
    return found


def worker_loss(alive: int, want: int, *, cancelled_running: bool, failed_attempt: bool
                ) -> Finding | None:
    """S2 broken if ``alive`` workers is not ``want``; a loss right after the cancel of a
    running task breaks S4 instead, and one right after a failed attempt S8."""
    if alive == want:
        return None
    if alive > want:
        return Finding("concurrency", "exact_worker_count", f"S2: stats['workers'] was "
                       f"{alive}; expected exactly workers={want}")
    text = f"stats['workers'] fell to {alive}; expected {want}"
    if cancelled_running:
        return Finding("cancellation", "worker_survives_cancel", f"S4: a worker must "
                       f"survive the cancel of its running task, but {text}")
    if failed_attempt:
        return Finding("edge_cases", "worker_survives_exception", f"S8: a handler "
                       f"exception never kills a worker, but after a failed attempt {text}")
    return Finding("concurrency", "exact_worker_count", f"S2: {text}")


def s6_problem(got: dict[str, int], last: dict[str, int] | None, accepted: int,
               in_flight: int, where: str) -> str | None:
    """The first breach of DESIGN S6 in one stats snapshot, or None."""
    return next(iter(s6_breaches(got, last, accepted, in_flight, where).values()), None)


def status_category(want: str | None, got: str | None) -> str:
    """The category a wrong status belongs to: cancellation, retries, else concurrency."""
    pair = {want, got}
    if "cancelled" in pair:
        return "cancellation"
    return "retries" if "failed" in pair else "concurrency"


def exc(error: BaseException) -> str:
    """An exception as findings name it: ``Type: message``."""
    return f"{type(error).__name__}: {error}"


def names(types: tuple[type[BaseException], ...]) -> str:
    """Exception types as findings list them: ``A or B``."""
    return " or ".join(t.__name__ for t in types)

"""One defect, one failure (DESIGN section 3): which failures follow from a more basic one.

A few checks judge what nearly every other check leans on: that a handler's result is awaited,
that the pool runs as many workers as it was given, that a raising handler leaves its worker
alive, that a cancel takes effect, that equal priorities keep FIFO order and higher ones go
first, that a task gets ``max_retries + 1`` attempts and its backoff doubles. When one of
these *foundations* fails, every other failure of a check (conformance or model) that leaned
on the same thing (a check's ``used``: it submitted handlers, one raised, one was retried, it
cancelled, it set priorities, it queued equal priorities on one worker) may be that defect
seen again: it is still reported, marked ``follows_from`` the foundation, and is not counted
as a defect of its own. A foundation can follow only from one listed before it. A failure no
foundation explains keeps its own verdict (the state machines' own ``follows_from``
included). Fix the foundation and run again: what was marked is then judged on its own.

Private: :func:`attribute` is re-exported by :mod:`pytest_asyncqueue.runner`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, Final

from ._result import CheckResult

__all__ = ["FOUNDATIONS", "attribute", "model_uses"]

FOUNDATIONS: Final = (
    ("concurrency::result_is_the_awaited_value", "handlers"),
    ("concurrency::workers_run_exactly_that_many_at_once", "handlers"),
    ("edge_cases::handler_exception_never_kills_worker", "failures"),
    ("cancellation::cancel_queued_task_never_starts", "cancel"),
    ("cancellation::cancel_running_task_unwinds_handler", "cancel"),
    ("ordering::fifo_among_equal_priorities", "order"),
    ("ordering::priority_order_before_start", "priorities"),
    ("retries::attempts_are_max_retries_plus_one", "retries"),
    ("retries::backoff_doubles", "retries"),
)
"""The foundation checks, most basic first, each with what a check must have used for its
failure to follow from theirs."""


def attribute(results: Sequence[CheckResult]) -> list[CheckResult]:
    """Return the results with ``follows_from`` set on each failure a foundation explains."""
    failed = {f"{r.category}::{r.name}" for r in results if r.status == "failed"}
    roots = [(rank, name, basis) for rank, (name, basis) in enumerate(FOUNDATIONS)
             if name in failed]
    ranks = {name: rank for rank, (name, _) in enumerate(FOUNDATIONS)}
    attributed = []
    for result in results:
        name = f"{result.category}::{result.name}"
        if result.status == "failed":
            below = ranks.get(name, len(FOUNDATIONS))
            cause = next((root for rank, root, basis in roots
                          if rank < below and basis in result.used), None)
            if cause is not None:
                result = replace(result, follows_from=cause)
        attributed.append(result)
    return attributed


def model_uses(calls: Iterable[tuple[str, dict[str, Any]]]) -> frozenset[str]:
    """What a state-machine example leaned on, from its steps (the names of ``attribute``)."""
    used: set[str] = set()
    for rule, arguments in calls:
        if rule.startswith("cancel"):
            used.add("cancel")
        for task in arguments.get("tasks", ()):
            used.add("handlers")
            outcome, retries = task.get("outcome", "ok"), task.get("retries", 0)
            raises = (outcome == "doomed" or (outcome == "flaky" and retries)
                      or task.get("timeout") is not None)
            if raises:
                used.add("failures")
                if retries:
                    used.add("retries")
            if task.get("priority"):
                used.add("priorities")
    return frozenset(used)

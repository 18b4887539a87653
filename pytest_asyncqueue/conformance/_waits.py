"""Bounded waits shared by the checks: a broken target must end a check, never hang it.

Every wait is in virtual seconds, so a generous bound costs nothing on a correct target.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Final

from ..adapters import Adapter, Outcome, ResultMissing
from ._base import CheckFailed, Harness, Skip, expect_equal

__all__ = ["TASK_WAIT", "WORKLOAD_WAIT", "expect_final_state", "expect_later_task_completes",
           "outcome_within", "outcomes_within", "skip_if_nothing_ran", "starts_within",
           "stop_within"]

TASK_WAIT: Final = 60.0
"""Virtual seconds a check waits for one task (or a stop) that a correct target ends sooner."""

WORKLOAD_WAIT: Final = 3600.0
"""Virtual seconds a whole workload may take before it counts as hung."""

START_POLL: Final = 0.01
"""Virtual seconds between two looks at the timeline while :func:`starts_within` waits."""


async def outcome_within(queue: Adapter, task_id: Hashable, what: str, rule: str,
                         seconds: float = TASK_WAIT) -> Outcome:
    """Wait for a task's outcome for at most ``seconds`` virtual seconds.

    Args:
        queue: the target.
        task_id: the task's id.
        what: how a failure message names the task, e.g. "the task queued behind it".
        rule: the clause the calling check asserts, e.g. "S4".

    Returns:
        The task's :class:`Outcome`.

    Raises:
        CheckFailed: it did not finish in time, or the target has no result for it.
    """
    __tracebackhide__ = True
    try:
        async with asyncio.timeout(seconds):
            return await queue.result(task_id)
    except TimeoutError:
        raise CheckFailed(f"{rule}: {what} had not finished after {seconds:g} virtual s; "
                          f"expected it to finish") from None
    except ResultMissing as exc:
        raise CheckFailed(f"{rule}: {what} has no result ({exc}); expected its outcome") from None


async def expect_final_state(queue: Adapter, task_id: Hashable, state: str, what: str,
                             rule: str) -> None:
    """Wait for a task's outcome (as :func:`outcome_within`) and fail unless it is ``state``.

    Raises:
        CheckFailed: as :func:`outcome_within`, or "<rule>: the result state of <what> was
            <observed>; expected <state>".
    """
    __tracebackhide__ = True
    outcome = await outcome_within(queue, task_id, what, rule)
    expect_equal(outcome.state, state, f"the result state of {what}", rule)


async def expect_later_task_completes(h: Harness, queue: Adapter,
                                      probe: Callable[[], Awaitable[Any]], after: str,
                                      rule: str) -> None:
    """Submit ``probe`` (one that succeeds) and fail unless it completes: the queue still works.

    Args:
        h: the check's harness.
        queue: the target, after what the check did to it.
        probe: a probe that succeeds at once.
        after: what the check did, as in "a task submitted after <after>".
        rule: the clause the calling check asserts.

    Raises:
        CheckFailed: as :func:`outcome_within`, or "<rule>: the state of a task submitted
            after <after> was <observed>; expected 'completed'".
    """
    __tracebackhide__ = True
    what = f"a task submitted after {after}"
    outcome = await outcome_within(queue, await h.submit(queue, probe), what, rule)
    expect_equal(outcome.state, "completed", f"the state of {what}", rule)


async def stop_within(queue: Adapter, drain: bool, rule: str, seconds: float = TASK_WAIT
                      ) -> None:
    """Stop the target, waiting at most ``seconds`` virtual seconds.

    Raises:
        CheckFailed: ``stop`` did not return in time, or raised ``CancelledError`` although
            nothing cancelled the caller (e.g. it gathered a worker that died cancelled).
    """
    __tracebackhide__ = True
    try:
        async with asyncio.timeout(seconds):
            await queue.stop(drain=drain)
    except TimeoutError:
        raise CheckFailed(f"{rule}: stop(drain={drain}) had not returned after {seconds:g} "
                          f"virtual s; expected it to finish") from None
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():
            raise
        raise CheckFailed(f"{rule}: stop(drain={drain}) raised CancelledError though nothing "
                          f"cancelled its caller; expected it to return") from None


async def starts_within(h: Harness, count: int, seconds: float = TASK_WAIT) -> None:
    """Let the loop run, virtual time included, until ``count`` attempts have started.

    The ordering checks read the start order from the timeline this way, while the queue
    runs, never through what ``stop()`` does to the work still queued (an open point of
    oas37a). It returns after ``seconds`` virtual seconds even if fewer have started: the
    caller judges what it sees (and skips if nothing ran, :func:`skip_if_nothing_ran`).

    Args:
        h: the check's harness, whose timeline is watched.
        count: attempt starts (of all probes, retries included) to wait for.
        seconds: the bound, in virtual seconds.
    """
    deadline = h.now() + seconds
    while len(h.timeline.starts()) < count and h.now() < deadline:
        await asyncio.sleep(START_POLL)


async def outcomes_within(h: Harness, queue: Adapter, task_ids: Sequence[Hashable], rule: str,
                          seconds: float = WORKLOAD_WAIT, *, skip_if_none_ran: bool = True
                          ) -> list[Outcome]:
    """Wait for the outcome of every task, at most ``seconds`` virtual seconds in all.

    A queue that never starts a handler (it runs nothing, or returns results without
    awaiting the handlers) breaks S2, which ``concurrency`` reports; any other category then
    cannot judge its own rule, so by default the check is skipped, saying why.

    Args:
        h: the check's harness (its timeline shows whether any handler started).
        queue: the adapter the tasks were submitted to.
        task_ids: the ids ``submit`` returned.
        rule: the clause a failure is reported under, e.g. "S3".
        seconds: the bound, in virtual seconds.
        skip_if_none_ran: skip as said above (False for the concurrency checks).

    Returns:
        The outcomes, in the order of ``task_ids``.

    Raises:
        CheckFailed: a task had not finished in time, its result was missing, or the target
            cancelled the wait.
        Skip: no handler ever started and ``skip_if_none_ran`` is true.
    """
    outcomes: dict[Hashable, Outcome] = {}
    problem = None
    try:
        async with asyncio.timeout(seconds):
            for task_id in task_ids:
                outcomes[task_id] = await queue.result(task_id)
    except TimeoutError:
        late = [t for t in task_ids if t not in outcomes]
        problem = (f"task(s) {late} had not finished after {seconds:g} virtual seconds; "
                   f"expected every task of the workload to finish; timeline: "
                   f"{h.timeline.describe()}")
    except ResultMissing as exc:
        problem = f"the result of a task just finished was missing ({exc}); expected it"
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():  # type: ignore[union-attr]
            raise  # the check itself is being cancelled
        problem = "waiting for a result raised CancelledError; expected the outcome"
    if skip_if_none_ran:
        skip_if_nothing_ran(h, rule)
    if problem is not None:
        raise CheckFailed(f"{rule}: {problem}")
    return [outcomes[t] for t in task_ids]


def skip_if_nothing_ran(h: Harness, rule: str) -> None:
    """Skip the check if no handler has started: the queue runs nothing (an S2 failure)."""
    if not h.timeline.events:
        raise Skip(f"no handler was ever started, so {rule} cannot be judged: the queue runs "
                   f"nothing or does not await its handlers (a concurrency failure, S2)")

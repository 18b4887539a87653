"""Cancellation (DESIGN S4, oas37a point 4): cancelled work never runs (again); workers survive.

``cancel`` on a pending task (queued, or waiting for a retry backoff) finishes it CANCELLED at
once, and it never starts (again). On a running task it cancels the attempt: the handler sees
``CancelledError`` at the await it is in, the task is CANCELLED once the handler has unwound,
and the worker takes the next task. oas37a leaves open whether ``cancel`` returns before or
after the handler has unwound, so the checks let the loop run (without moving the clock)
before they look. ``cancel`` answers True for a pending or running task, False for a finished
or unknown one, and calling it again changes nothing.

How cancelled tasks are counted is the ``stats`` category's business; these checks judge
behaviour, by the probes' timeline: which attempts started, ended, or saw the cancellation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from ..adapters import ResultMissing
from ..contract import FINISHED
from ..probes import Gate
from ._base import CheckFailed, Harness, check, expect_equal
from ._waits import (TASK_WAIT, expect_final_state, expect_later_task_completes, outcome_within,
                     stop_within)


@check("cancellation", "S4", needs=("cancel",))
async def cancel_queued_task_never_starts(h: Harness) -> None:
    """A queued task cancelled behind a busy worker answers True, never starts, ends CANCELLED.

    Open points: none (the queue is idle when it stops).
    """
    # S4: cancel() on a pending task makes it CANCELLED at once: it never starts.
    queue = await h.make(workers=1)
    gate = Gate()
    await h.submit(queue, h.probes.wait_for(gate, name="busy"))
    await h.settle()
    victim = await h.submit(queue, h.probes.succeed("victim", name="victim"))
    after = await h.submit(queue, h.probes.succeed(name="after"))
    expect_equal(await queue.cancel(victim), True, "cancel() of a queued task answered", "S4")
    expect_equal(await queue.status(victim), "cancelled",
                 "the status of a queued task right after cancel()", "S4")
    gate.open()
    await outcome_within(queue, after, "the task queued behind the cancelled one", "S4")
    await stop_within(queue, True, "S4")
    expect_equal(h.timeline.kinds("victim"), [], "the timeline of the cancelled queued task", "S4")
    await expect_final_state(queue, victim, "cancelled", "the cancelled queued task", "S4")


@check("cancellation", "S4", needs=("cancel", "max_retries", "base_delay"))
async def cancel_during_backoff_never_runs_again(h: Harness) -> None:
    """A task cancelled while it waits for its retry backoff never runs again, even later.

    Open points: none.
    """
    # S4: a pending task waiting for a backoff is CANCELLED at once and never starts again.
    queue = await h.make(workers=1, base_delay=1.0)
    # max_retries=3 keeps a retry due even on a target that makes one retry too few.
    flaky = await h.submit(queue, h.probes.fail(times=1, then="retried", name="flaky"),
                           max_retries=3)
    await h.settle()
    if h.timeline.kinds("flaky") != ["start", "fail"]:
        raise CheckFailed(f"S4: set-up: the first attempt should have failed and its retry "
                          f"wait for a 1 virtual s backoff; timeline: {h.timeline.describe()}")
    expect_equal(await queue.cancel(flaky), True,
                 "cancel() of a task waiting for its backoff answered", "S4")
    expect_equal(await queue.status(flaky), "cancelled",
                 "the status of a backing-off task right after cancel()", "S4")
    await asyncio.sleep(10.0)  # ten times the backoff: the retry would have started by now
    expect_equal(len(h.timeline.starts("flaky")), 1,
                 "attempts of a task cancelled during its backoff, 10 virtual s later", "S4")
    await expect_final_state(queue, flaky, "cancelled", "the task cancelled during its backoff",
                             "S4")
    await expect_later_task_completes(h, queue, h.probes.succeed(name="after"), "the cancel",
                                      "S4")


@check("cancellation", "S4", needs=("cancel", "cancel_running"))
async def cancel_running_task_unwinds_handler(h: Harness) -> None:
    """A running task's cancel answers True; its handler sees CancelledError; the worker goes on.

    Open points: whether cancel returns before or after the handler has unwound: it lets the
    loop run before it looks.
    """
    # S4: cancel() on a running task cancels the attempt at its await; the task is CANCELLED
    # once the handler has unwound; the worker survives and takes the next task.
    queue = await h.make(workers=1)
    runner = await h.submit(queue, h.probes.wait_for(Gate(), name="runner"))  # never opened
    await h.settle()
    after = await h.submit(queue, h.probes.run_for(1.0, "after", name="after"))
    await h.settle()
    if h.timeline.start_order() != ["runner"]:
        raise CheckFailed(f"S4: set-up: the first task should be running on the only worker; "
                          f"timeline: {h.timeline.describe()}")
    expect_equal(await queue.cancel(runner), True, "cancel() of a running task answered", "S4")
    await h.settle()  # cancel may return before or after the handler unwinds (oas37a)
    expect_equal(h.timeline.kinds("runner"), ["start", "cancelled"],
                 "the timeline of the cancelled running handler (after letting the loop run)",
                 "S4")
    expect_equal(await queue.status(runner), "cancelled",
                 "the status of the cancelled running task (after letting the loop run)", "S4")
    outcome = await outcome_within(queue, after, "the task queued behind the cancelled one "
                                   "(1 worker: did the worker survive?)", "S4")
    expect_equal((outcome.state, outcome.value), ("completed", "after"),
                 "the outcome of the task queued behind the cancelled running one", "S4")
    expect_equal(h.timeline.kinds("after"), ["start", "end"],
                 "the timeline of the task queued behind the cancelled running one", "S4")
    await expect_final_state(queue, runner, "cancelled", "the cancelled running task", "S4")


@check("cancellation", "S4", needs=("cancel", "cancel_running"))
async def cancel_twice_changes_nothing(h: Harness) -> None:
    """Cancelling a queued and a running task twice each cancels each once and nothing else.

    Open points: whether cancel returns before or after the handler has unwound: it judges the
    timelines once the tasks queued behind have finished.
    """
    # S4: cancel() is idempotent: a second call must not cancel the worker's next task,
    # kill the worker, or revive or re-finish the task.
    queue = await h.make(workers=1)
    runner = await h.submit(queue, h.probes.wait_for(Gate(), name="runner"))
    await h.settle()
    queued = await h.submit(queue, h.probes.succeed(name="queued"))
    following = await h.submit(queue, h.probes.run_for(1.0, "following", name="following"))
    last = await h.submit(queue, h.probes.succeed("last", name="last"))
    await h.settle()
    for task_id, what in ((queued, "a queued task"), (runner, "a running task")):
        for attempt in ("first", "second"):
            try:
                await queue.cancel(task_id)
            except Exception as exc:
                raise CheckFailed(f"S4: the {attempt} cancel() of {what} raised "
                                  f"{type(exc).__name__}: {exc}; expected True or False") from None
    for task_id in (following, last):
        await outcome_within(queue, task_id, "a task queued behind the cancelled ones (1 "
                             "worker: did the worker survive?)", "S4")
    expect_equal({name: h.timeline.kinds(name)
                  for name in ("runner", "queued", "following", "last")},
                 {"runner": ["start", "cancelled"], "queued": [], "following": ["start", "end"],
                  "last": ["start", "end"]},
                 "the timelines after cancelling a running and a queued task twice each", "S4")
    states = {name: (await outcome_within(queue, task_id, f"task {name}", "S4")).state
              for name, task_id in (("runner", runner), ("queued", queued),
                                    ("following", following), ("last", last))}
    expect_equal(states, {"runner": "cancelled", "queued": "cancelled",
                          "following": "completed", "last": "completed"},
                 "the result states after cancelling twice", "S4")


@check("cancellation", "S4", needs=("cancel",))
async def cancel_finished_or_unknown_answers_false(h: Harness) -> None:
    """cancel() of a completed, a failed and an unknown task answers False and changes nothing.

    Open points: none.
    """
    # S4: cancel() returns False for a finished or unknown task.
    queue = await h.make(workers=1)
    done = await h.submit(queue, h.probes.succeed("done", name="done"))
    failed = await h.submit(queue, h.probes.fail(name="failed"))
    await outcome_within(queue, done, "a succeeding task", "S4")
    await outcome_within(queue, failed, "an always failing task", "S4")
    answers = {}
    for name, task_id in (("completed", done), ("failed", failed), ("unknown", "no-such-task")):
        try:
            answers[name] = await queue.cancel(task_id)
        except Exception as exc:
            raise CheckFailed(f"S4: cancel() of the {name} task raised {type(exc).__name__}: "
                              f"{exc}; expected False") from None
    expect_equal(answers, {"completed": False, "failed": False, "unknown": False},
                 "cancel() answers for finished and unknown tasks", "S4")
    expect_equal((await queue.status(done), await queue.status(failed)), ("completed", "failed"),
                 "the statuses of the completed and the failed task after cancel()", "S4")
    outcome = await outcome_within(queue, done, "the completed task", "S4")
    expect_equal((outcome.state, outcome.value), ("completed", "done"),
                 "the outcome of the completed task after cancel()", "S4")


@check("cancellation", "S4", needs=("cancel", "max_retries"))
async def cancel_racing_the_end_of_an_attempt_is_honoured(h: Harness) -> None:
    """A cancel landing as an attempt ends is honoured: True means CANCELLED and no retry.

    Open points: none (the handler has already ended when the cancel lands, and the outcomes
    are awaited).
    """
    # S4: True only for a pending or running task, which then never starts again and ends
    # CANCELLED. The cancel is issued from the handler as it returns or raises, so it runs
    # before a worker that awaits the attempt apart (oas37a: an asyncio task per attempt)
    # has seen the outcome: a retry armed after it must not survive it.
    queue = await h.make(workers=1)
    loop = asyncio.get_running_loop()
    ids: dict[str, Hashable] = {}
    answers: dict[str, bool] = {}
    cancellers: dict[str, asyncio.Task[None]] = {}  # one per task, from its first attempt

    async def cancel(name: str) -> None:
        answers[name] = await queue.cancel(ids[name])

    def racing(name: str, probe: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        async def handler() -> Any:
            try:
                return await probe()
            finally:
                if name not in cancellers:
                    cancellers[name] = loop.create_task(cancel(name))

        return handler

    for name, probe in (("fails", h.probes.fail(name="fails")),
                        ("succeeds", h.probes.succeed("succeeds", name="succeeds"))):
        ids[name] = await h.submit(queue, racing(name, probe), max_retries=2)
        await outcome_within(queue, ids[name], f"the task {name!r} cancelled as its first "
                             f"attempt ended", "S4")
    await asyncio.gather(*cancellers.values())
    fails = await outcome_within(queue, ids["fails"], "the task 'fails'", "S4")
    observed = (answers.get("fails"), fails.state, len(h.timeline.starts("fails")))
    allowed = [(True, "cancelled", 1)]
    if not h.capabilities.has("cancel_running"):  # it may still count as running: refused
        allowed.append((False, "failed", 3))
    if observed not in allowed:
        raise CheckFailed(f"S4: (cancel() answer, state, attempts) of a task cancelled as its "
                          f"first attempt failed, max_retries=2 (None: its handler never ran) "
                          f"was {observed!r}; expected " + " or ".join(map(repr, allowed)))
    succeeds = await outcome_within(queue, ids["succeeds"], "the task 'succeeds'", "S4")
    observed = (answers.get("succeeds"), succeeds.state)  # None: its handler never ran
    if observed not in ((True, "cancelled"), (False, "completed")):
        raise CheckFailed(f"S4: a task cancelled as its only attempt returned answered "
                          f"{observed[0]} and ended {observed[1]!r}; expected True and "
                          f"'cancelled', or False and 'completed'")


@check("cancellation", "S4", needs=("cancel", "cancel_running"))
async def rapid_submit_cancel_cycles_finish_every_task(h: Harness) -> None:
    """200 tasks submitted and cancelled at random moments end as the cancel answers imply.

    Open points: whether cancel returns before or after a running handler has unwound: its
    'cancelled' event may come after the cancel, and the outcomes are judged once all are in.
    """
    # S4 / oas37a point 7: True means the task was pending or running and ends CANCELLED,
    # starting no attempt afterwards; False means it had finished; the rest run to their end.
    queue = await h.make(workers=3)
    ids: dict[str, Hashable] = {}
    kinds: dict[str, str] = {}
    cancels: dict[str, list[tuple[bool, int, str | None]]] = {}
    for cycle in range(40):
        for n in range(5):
            name = f"r{cycle:02d}.{n}"
            kinds[name] = kind = h.rng.choice(("succeed", "run_for", "fail"))
            probe = (h.probes.succeed(name=name) if kind == "succeed" else
                     h.probes.run_for(h.rng.choice((0.1, 0.5)), name=name)
                     if kind == "run_for" else h.probes.fail(name=name))
            ids[name] = await h.submit(queue, probe)
        recent = list(ids)[-12:]  # mostly pending or running ones, some finished
        for name in h.rng.sample(recent, k=4):
            answer = await queue.cancel(ids[name])
            mark = len(h.timeline.events)
            cancels.setdefault(name, []).append((answer, mark, await queue.status(ids[name])))
        await asyncio.sleep(h.rng.choice((0.0, 0.05, 0.3)))
    try:
        async with asyncio.timeout(TASK_WAIT):
            outcomes = {name: await queue.result(task_id) for name, task_id in ids.items()}
    except (TimeoutError, ResultMissing) as exc:
        raise CheckFailed(f"S4: after rapid submit/cancel cycles not every task reached a "
                          f"final state within {TASK_WAIT:g} virtual s "
                          f"({type(exc).__name__}: {exc}); "
                          f"timeline: {h.timeline.describe()}") from None
    expected_end = {"succeed": ("completed", "end"), "run_for": ("completed", "end"),
                    "fail": ("failed", "fail")}
    for name, outcome in outcomes.items():
        answers = cancels.get(name, [])
        for answer, _mark, status in answers:
            if not answer and status not in FINISHED:
                raise CheckFailed(f"S4: cancel() of task {name} answered False while its status "
                                  f"was {status!r}; expected False only for finished tasks")
        first_true = next((mark for answer, mark, _ in answers if answer), None)
        if first_true is None:
            state, event = expected_end[kinds[name]]
            last_kind = (h.timeline.kinds(name) or [None])[-1]
            expect_equal((outcome.state, last_kind), (state, event),
                         f"the state and last timeline event of task {name} ({kinds[name]}, "
                         f"not cancelled)", "S4")
            continue
        after = [e.kind for e in h.timeline.events[first_true:] if e.probe == name]
        if outcome.state != "cancelled" or after not in ([], ["cancelled"]):
            raise CheckFailed(f"S4: task {name} ({kinds[name]}) ended {outcome.state!r} with "
                              f"events {after} after cancel() answered True; expected "
                              f"'cancelled' with no events, or only its handler's "
                              f"'cancelled'")
    await expect_later_task_completes(h, queue, h.probes.succeed(name="last"), "the cycles",
                                      "S4")


CHECKS = [cancel_queued_task_never_starts, cancel_during_backoff_never_runs_again,
          cancel_running_task_unwinds_handler, cancel_twice_changes_nothing,
          cancel_finished_or_unknown_answers_false,
          cancel_racing_the_end_of_an_attempt_is_honoured,
          rapid_submit_cancel_cycles_finish_every_task]

"""Edge cases and lifecycle (DESIGN S5, S8; oas37a point 7): bad input refused, odd loads survived.

``workers < 1`` is refused when the queue is built (ValueError); ``submit`` after ``stop``
raises (``QueueClosed`` for queue_core, RuntimeError for oas37a: ``Capabilities.closed_errors``);
a duplicate ``task_id`` of a task the queue still knows raises ValueError; a full queue raises
one of ``Capabilities.full_errors``, and cancelling its queued tasks frees their places; an
empty started queue raises nothing and does not spin; a handler exception never kills a
worker, a ``CancelledError`` raised by the handler's own await (nobody cancelled the task or
the worker) included; 150 workers all work at once. What ``stop`` does to the work it finds
is checked in :mod:`._stopping` (listed here in ``CHECKS``).

Where the shape leaves a point open (what ``max_queue_size`` counts, what a draining stop does
to queued and running tasks, when a cancelling stop returns, whether ``get_result`` polls,
whether a handler's own ``CancelledError`` fails the attempt or cancels the task) every
reading it allows passes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..probes import Gate
from ._base import CheckFailed, Harness, Skip, check, expect_equal
from ._loop_iterations import (IDLE_ITERATIONS, IDLE_SECONDS, count_idle_iterations,
                               require_iteration_observer)
from ._stopping import (cancelling_stop_cancels_everything, draining_stop_ends_task_in_backoff,
                        draining_stop_finishes_work)
from ._waits import (TASK_WAIT, expect_final_state, expect_later_task_completes,
                     outcome_within, stop_within)


@check("edge_cases", "S8", needs=("workers",))
async def zero_workers_refused_at_construction(h: Harness) -> None:
    """Building the target with workers=0 or workers=-1 raises ValueError.

    Open points: none.
    """
    # S8 / oas37a point 7: workers < 1 -> ValueError when the queue is built, not later.
    for workers in (0, -1):
        try:
            await h.make(start=False, workers=workers)
        except ValueError:
            continue
        except Exception as exc:
            raise CheckFailed(f"S8: building the target with workers={workers} raised "
                              f"{type(exc).__name__}: {exc}; expected ValueError") from None
        raise CheckFailed(f"S8: the target was built with workers={workers}; expected "
                          f"ValueError at construction")


@check("edge_cases", "S5", needs=("closed_state",))
async def submit_after_stop_raises(h: Harness) -> None:
    """submit() after stop() raises the shape's closed error and the handler never runs.

    Open points: none (it does not start the queue again; the closed error is the shape's,
    Capabilities.closed_errors).
    """
    # S5 / oas37a point 7: submit after shutdown raises QueueClosed (oas37a: RuntimeError).
    queue = await h.make(workers=1)
    first = await h.submit(queue, h.probes.succeed(name="before-stop"))
    await outcome_within(queue, first, "the task submitted before stop", "S5")
    await stop_within(queue, True, "S5")
    expected = " or ".join(e.__name__ for e in h.capabilities.closed_errors)
    try:
        await h.submit(queue, h.probes.succeed(name="late"))
    except h.capabilities.closed_errors:
        pass
    except Exception as exc:
        raise CheckFailed(f"S5: submit() after stop() raised {type(exc).__name__}: {exc}; "
                          f"expected {expected}") from None
    else:
        await asyncio.sleep(1.0)
        ran = "ran" if h.timeline.starts("late") else "did not run"
        raise CheckFailed(f"S5: submit() after stop() was accepted (the handler {ran}); "
                          f"expected {expected}")


@check("edge_cases", "S8", needs=("task_id",))
async def duplicate_task_id_refused(h: Harness) -> None:
    """Reusing the id of a running or a queued task raises ValueError and replaces nothing.

    Open points: none.
    """
    # S8 / oas37a point 7: a duplicate task_id of a task the queue still knows -> ValueError
    # (DuplicateTask); the first task keeps its handler and result.
    queue = await h.make(workers=1)
    gate = Gate()
    await h.submit(queue, h.probes.wait_for(gate, "running", name="running"), task_id="dup-a")
    await h.settle()
    await h.submit(queue, h.probes.succeed("queued", name="queued"), task_id="dup-b")
    for task_id, state in (("dup-a", "running"), ("dup-b", "queued")):
        try:
            await h.submit(queue, h.probes.succeed("copy", name=f"copy-of-{state}"),
                           task_id=task_id)
        except ValueError:
            continue
        except Exception as exc:
            raise CheckFailed(f"S8: submitting task_id={task_id!r} again while the first is "
                              f"{state} raised {type(exc).__name__}: {exc}; expected ValueError"
                              ) from None
        raise CheckFailed(f"S8: submitting task_id={task_id!r} again while the first is {state} "
                          f"was accepted; expected ValueError")
    gate.open()
    values = {task_id: (await outcome_within(queue, task_id, f"task {task_id}", "S8")).value
              for task_id in ("dup-a", "dup-b")}
    expect_equal(values, {"dup-a": "running", "dup-b": "queued"},
                 "the results of the tasks whose ids were submitted twice", "S8")
    expect_equal(h.timeline.starts("copy-of-running") + h.timeline.starts("copy-of-queued"), [],
                 "starts of the refused duplicates", "S8")


@check("edge_cases", "S8", needs=("max_pending",))
async def full_queue_refused(h: Harness) -> None:
    """With max_pending=2 and the worker busy, a further submit raises the shape's full error.

    Open points: what max_queue_size counts and what a full queue raises: 1 or 2 accepted
    submits and any of Capabilities.full_errors pass.
    """
    # S8 / oas37a point 7: a full queue -> QueueFull (oas37a: asyncio.QueueFull or
    # RuntimeError). Open point: the bound counts queued tasks, or queued plus running, so
    # 1 or 2 queued tasks are accepted behind the running one.
    queue = await h.make(workers=1, max_pending=2)
    gate = Gate()
    await h.submit(queue, h.probes.wait_for(gate, name="busy"))
    await h.settle()
    expected = " or ".join(e.__name__ for e in h.capabilities.full_errors)
    accepted = await _fill(h, queue, "q")
    if len(accepted) not in (1, 2):
        raise CheckFailed(f"S8: with max_pending=2 and one task running, {len(accepted)} more "
                          f"submits were accepted before {expected}; expected 1 (running "
                          f"counted) or 2")
    gate.open()
    for task_id in accepted:
        await outcome_within(queue, task_id, "an accepted task", "S8")
    expected_runs = ["busy", *(f"q{n}" for n in range(len(accepted)))]
    expect_equal(sorted(h.timeline.start_order()), expected_runs,
                 "the tasks that ran after the queue was full", "S8")


@check("edge_cases", "S8", needs=("max_pending", "cancel"))
async def cancelled_tasks_free_their_place(h: Harness) -> None:
    """With max_pending=2, the worker busy and the queue full, cancelling the queued tasks
    lets as many new submits in again; the new ones run, the cancelled ones never start.

    Open points: what max_queue_size counts (queued only, or queued plus running) and what a
    full queue raises: as many submits as were first accepted (1 or 2) must be accepted after
    the cancels, and any of Capabilities.full_errors passes; only queued tasks are cancelled,
    which frees their place in every reading.
    """
    # S8 / oas37a point 7: a full queue (max_pending) -> QueueFull, and only then: a cancelled
    # task is finished (S4: CANCELLED at once), so it no longer counts against the bound. A
    # queue that keeps counting cancelled entries (lazy deletion, or a pending count that
    # forgets cancelled) refuses work with nothing waiting.
    queue = await h.make(workers=1, max_pending=2)
    gate = Gate()
    await h.submit(queue, h.probes.wait_for(gate, name="busy"))
    await h.settle()

    first = await _fill(h, queue, "first")
    if len(first) not in (1, 2):
        raise Skip(f"with max_pending=2 and one task running, {len(first)} submits were "
                   f"accepted before the queue was full (full_queue_refused judges that)")
    cancelled = [await queue.cancel(task_id) for task_id in first]
    await h.settle()
    states = [await queue.status(task_id) for task_id in first]
    if cancelled != [True] * len(first) or states != ["cancelled"] * len(first):
        raise Skip(f"cancel() of the queued tasks returned {cancelled}, their states "
                   f"{states}: a cancellation failure (S4, judged in cancellation), so whether "
                   f"they free their place cannot be judged")
    again = await _fill(h, queue, "again")
    if len(again) != len(first):
        raise CheckFailed(f"S8: with max_pending=2, one task running and the {len(first)} "
                          f"queued task(s) that filled the queue cancelled, {len(again)} new "
                          f"submit(s) were accepted; expected {len(first)} (a cancelled task "
                          f"no longer waits, so it frees its place)")
    gate.open()
    for n, task_id in enumerate(again):
        await expect_final_state(queue, task_id, "completed", f"task again{n}, accepted after "
                                 f"the cancels", "S8")


@check("edge_cases", "S8")
async def empty_queue_idles_quietly(h: Harness) -> None:
    """An empty started queue, left alone a virtual hour, raises nothing and does not spin.

    Open points: none.
    """
    # S8 / oas37a point 7: an empty queue raises nothing and uses no CPU: no task of the
    # target ends with an exception, the loop barely turns (a wake-up a minute at most),
    # and a task submitted afterwards still runs.
    loop = asyncio.get_running_loop()
    require_iteration_observer(loop)
    before = asyncio.all_tasks()
    queue = await h.make(workers=4)
    await h.settle()
    own = asyncio.all_tasks() - before - {asyncio.current_task()}
    errors: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(str(context.get(
        "exception") or context.get("message"))))
    try:
        idle = await count_idle_iterations(loop)
    finally:
        loop.set_exception_handler(previous)
    if idle.polled:
        raise CheckFailed(f"S8: an empty started queue made the loop iterate {idle.iterations} "
                          f"times in {idle.seconds:g} virtual s; expected at "
                          f"most {IDLE_ITERATIONS} in {IDLE_SECONDS:g} virtual s (no polling)")
    raised = [f"its task {t.get_name()} raised {type(t.exception()).__name__}: "
              f"{t.exception()}" for t in own if t.done() and not t.cancelled()
              and t.exception() is not None]
    if raised or errors:
        raise CheckFailed(f"S8: while the queue sat empty for {IDLE_SECONDS:g} virtual s, "
                          f"{'; '.join(raised + errors)}; expected nothing raised")
    await expect_later_task_completes(h, queue, h.probes.succeed("late", name="late"),
                                      "the idle hour", "S8")


@check("edge_cases", "S8")
async def handler_exception_never_kills_worker(h: Harness) -> None:
    """With one worker, five failing tasks in a row leave it able to run a sixth that succeeds.

    Open points: none.
    """
    # S8 / oas37a point 7: a handler exception never kills a worker.
    queue = await h.make(workers=1)
    failing = [await h.submit(queue, h.probes.fail(name=f"bad{n}")) for n in range(5)]
    good = await h.submit(queue, h.probes.succeed("good", name="good"))
    for task_id in failing:
        await outcome_within(queue, task_id, "a failing task (1 worker: did it survive?)", "S8")
    outcome = await outcome_within(queue, good, "the task after five failing ones (1 worker: "
                                   "did it survive?)", "S8")
    expect_equal((outcome.state, outcome.value, h.timeline.kinds("good")),
                 ("completed", "good", ["start", "end"]),
                 "the state, value and timeline of the task after five failing ones", "S8")


def _outside_cancel(h: Harness, name: str, times: int) -> Any:
    """A handler whose first ``times`` attempts await a future that the loop cancels (someone
    else's cancel: neither the task nor its worker is cancelled), then return ``name``.

    It records on the timeline like a probe: "start", then "fail" (the CancelledError its own
    await raised, re-raised to the queue) or "end".
    """
    attempts = 0

    async def handler() -> Any:
        nonlocal attempts
        attempts += 1
        h.timeline.record("start", name, attempts)
        if attempts <= times:
            future = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(future.cancel)
            try:
                await future
            except asyncio.CancelledError:
                h.timeline.record("fail", name, attempts, "CancelledError (not ours)")
                raise
        await asyncio.sleep(0)
        h.timeline.record("end", name, attempts, name)
        return name

    handler.__name__ = handler.__qualname__ = name
    return handler


@check("edge_cases", "S8")
async def handler_own_cancelled_error_never_kills_worker(h: Harness) -> None:
    """With one worker, a handler whose own await raises CancelledError (nobody cancelled the
    task or the worker) leaves the worker alive: the next task runs and completes.

    Open points: what such an attempt counts as: a failed attempt (retried while retries
    remain, so it completes on its retry) or the end of the task as CANCELLED (a queue that
    runs each attempt in an asyncio task of its own sees that task end cancelled); either
    reading passes, a task left unfinished or a dead worker does not.
    """
    # S8 / oas37a point 7: a handler exception never kills a worker. A CancelledError the
    # handler's own await raised (something it awaited was cancelled by someone else) is a
    # handler exception too: queue_core fails the attempt like any other (S3); a queue that
    # reads it as a cancellation of the task may end the task CANCELLED. The worker lives.
    queue = await h.make(workers=1)
    options = {"max_retries": 1} if "max_retries" in h.capabilities.submit_options else {}
    first = await h.submit(queue, _outside_cancel(h, "outside", times=1), **options)
    good = await h.submit(queue, h.probes.succeed("good", name="good"))
    after = await outcome_within(queue, good, "the task after one whose own await raised "
                                 "CancelledError (1 worker: did it survive?)", "S8")
    expect_equal((after.state, after.value, h.timeline.kinds("good")),
                 ("completed", "good", ["start", "end"]),
                 "the state, value and timeline of the task after one whose own await raised "
                 "CancelledError", "S8")
    try:
        outcome = await outcome_within(queue, first, "a task whose own await raised "
                                       "CancelledError", "S8")
    except CheckFailed:
        if (h.timeline.kinds("outside") == ["start", "fail"]
                and await queue.status(first) == "pending"):
            raise Skip(f"the task whose own await raised CancelledError waits for a retry "
                       f"that had not come after {TASK_WAIT:g} virtual s: a retries failure "
                       f"(S3, judged in retries), so its end cannot be judged") from None
        raise
    readings = {("completed", "start fail start end")} if options else set()
    readings |= {("failed", "start fail"), ("cancelled", "start fail")}
    seen = (outcome.state, " ".join(h.timeline.kinds("outside")))
    if seen not in readings:
        raise CheckFailed(f"S8: a task whose own await raised CancelledError (max_retries="
                          f"{options.get('max_retries', 'absent')}) ended {seen[0]} with "
                          f"events [{seen[1]}]; expected "
                          + " or ".join(f"{s} [{k}]" for s, k in sorted(readings)))


@check("edge_cases", "S8", needs=("workers",))
async def hundred_fifty_workers_all_run(h: Harness) -> None:
    """With 150 workers, 300 one-second tasks run 150 at a time, the first 150 all at once.

    Open points: whether get_result polls: it judges the probes' timeline (starts, ends,
    overlap), not when the results were returned, so a get_result that polls passes.
    """
    # S8 / oas37a point 7: 100+ workers work (DESIGN asks 1,000; 150 keeps the check fast).
    # Not a rule about time: how late get_result returns (oas37a open point) is not judged,
    # only what the handlers did, read from their start and end events.
    queue = await h.make(workers=150)
    started = h.now()
    ids = [await h.submit(queue, h.probes.run_for(1.0, name=f"t{n:03d}")) for n in range(300)]
    for task_id in ids:
        await outcome_within(queue, task_id, "one of 300 one-second tasks", "S8")
    ends = sum(1 for e in h.timeline.events if e.kind == "end")
    at_once = sum(1 for e in h.timeline.starts() if e.time == started)
    expect_equal((h.timeline.running_at_most(), ends, at_once), (150, 300, 150),
                 "(peak overlap, tasks ended, tasks started at once) for 300 one-second "
                 "tasks on 150 workers", "S8")


CHECKS = [zero_workers_refused_at_construction, submit_after_stop_raises,
          duplicate_task_id_refused, full_queue_refused, cancelled_tasks_free_their_place,
          empty_queue_idles_quietly,
          handler_exception_never_kills_worker, handler_own_cancelled_error_never_kills_worker,
          hundred_fifty_workers_all_run,
          draining_stop_finishes_work, draining_stop_ends_task_in_backoff,
          cancelling_stop_cancels_everything]


async def _fill(h: Harness, queue: Any, prefix: str) -> list[Any]:
    """Submit up to four quick tasks behind a busy worker until the queue says it is full;
    return the ids accepted. Any other error than a full one fails the check (S8)."""
    accepted = []
    for n in range(4):
        try:
            accepted.append(await h.submit(queue, h.probes.succeed(name=f"{prefix}{n}")))
        except h.capabilities.full_errors:
            break
        except Exception as exc:
            raise CheckFailed(f"S8: submit #{n + 1} behind a busy worker with max_pending=2 "
                              f"raised {type(exc).__name__}: {exc}; expected it accepted or "
                              f"{' or '.join(e.__name__ for e in h.capabilities.full_errors)}"
                              ) from None
    return accepted

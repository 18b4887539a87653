"""The bug zoo as data: single-bug mutants of ``queue_core`` and of the ``oas37a`` example.

Each :class:`Mutant` names one file of the repository, an exact snippet of it (``before``,
which must occur exactly once) and its replacement (``after``): one bug, the kind that real
asyncio worker pools ship with. ``category`` is the one harness category whose rule the bug
breaks (DESIGN S2-S8, ``targets/oas37a.md`` points 1-7); a checker must report a failure in
that category, and may report others too. :func:`materialize` writes a mutant out to a
directory where a checker (``asyncqueue-check``, the harness's own tests, the state machines)
can load it without touching the real packages.

Mutants flagged ``interleaving=True`` only misbehave when two things happen in a particular
order within a loop iteration or at one iteration boundary (a cancel landing in the single
iteration between a handler's end and its worker resuming, say); the fixed scenarios of the
conformance checks are not expected to hit them, the state machines, which explore schedules,
are.

Every mutant changes behaviour: none is equivalent to the original (the notes in ``bug`` say
what observably goes wrong). :data:`TWO_BUGS` pairs mutants of one target in different
categories; :func:`materialize` applies such a pair together, and the checker must then
report both bugs, each once.

IMPLEMENTATION DETAIL - the families
====================================

The zoo covers a fixed list of bug families (those real asyncio worker pools ship with, and
the interleaving ones); :data:`FAMILIES` maps each to the mutants of both targets, and
``tests/zoo/test_mutants_apply.py`` checks that every family has at least one mutant. Mutants
that need a name the file does not import use ``__import__("time")``, an attribute created on
first use (``self.__dict__.setdefault``) or names the file has, so that each stays a single
replacement; ``test_mutants_apply.py`` checks that none reads a name its file lacks.

A stop that leaves workers alive is filed under ``memory`` for both targets: the oas37a
contract (``targets/oas37a.md``) lists "stop() cancels and awaits every asyncio task it
created" under its rule 6, Memory; DESIGN S5 asks the same of ``queue_core``; and the harness
files its "stop leaves no task alive" check there (a check belongs to exactly one category,
whatever the target).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pytest_asyncqueue.contract import MODEL_CATEGORIES

__all__ = [
    "CATEGORIES",
    "FAMILIES",
    "MUTANTS",
    "Mutant",
    "MutantError",
    "REPO_ROOT",
    "TARGETS",
    "TWO_BUGS",
    "apply",
    "by_name",
    "materialize",
]

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
"""The repository the snippets come from."""

CATEGORIES: Final = MODEL_CATEGORIES
"""The harness categories a mutant may name (DESIGN S3); ``durability`` has no mutants yet."""

TARGETS: Final = {"queue_core": "queue_core", "oas37a": "examples/oas37a_queue.py"}
"""What :func:`materialize` copies for each target, relative to the repository root."""


class MutantError(ValueError):
    """Raised when a mutant does not apply: its ``before`` snippet is not in the file once."""


@dataclass(frozen=True)
class Mutant:
    """One bug, as a replacement of one snippet of one file.

    Attributes:
        name: unique, ``qc_...`` for queue_core, ``oas_...`` for the oas37a example.
        category: the one category of :data:`CATEGORIES` whose rule the bug breaks.
        target: "queue_core" or "oas37a" (a key of :data:`TARGETS`).
        path: the file to patch, relative to the repository root.
        before: an exact snippet of that file, occurring exactly once.
        after: what replaces it.
        bug: one line: what is wrong and what a checker observes.
        interleaving: True if only a particular interleaving reveals the bug.
    """

    name: str
    category: str
    target: str
    path: str
    before: str
    after: str
    bug: str
    interleaving: bool = False


def _lines(*lines: str) -> str:
    return "\n".join(lines)


_QC = "queue_core/_queue.py"
_QC_WORKERS = "queue_core/_workers.py"
_QC_VALIDATE = "queue_core/_validate.py"
_OAS = "examples/oas37a_queue.py"

# Snippets of queue_core's _queue.py (cancel) and _workers.py used by more than one mutant.
_QC_CANCEL_RUNNING = _lines(
    "            if task.cancel_reason is not SELF_CANCEL:",
    "                task.cancel_reason = CANCEL",
)
_QC_AWAIT_HANDLER = "                    value = await task.handler(*task.args)"
_QC_GIVE_UP = "        if task.attempts > task.max_retries or isinstance(exc, self._non_retryable):"
_QC_BACKOFF = "    delay = max_delay if k >= 1024 else min(base_delay * 2.0**k, max_delay)"

# Snippets of examples/oas37a_queue.py used by more than one mutant.
_OAS_ENTRY = "        self.entry = (-priority, seq, self)"
_OAS_CANCEL_RUNNING = _lines(
    "            job.cancelling = True",
    "            job.runner.cancel()",
)
_OAS_GIVE_UP = "            elif job.retry_count >= job.max_retries:"
_OAS_BACKOFF = "        delay = min(self.base_delay * 2 ** job.retry_count, self.max_delay)"


QUEUE_CORE_MUTANTS: Final = [
    Mutant(
        "qc_inverted_priority", "ordering", "queue_core", _QC,
        "        task.priority = priority\n",
        "        task.priority = -priority\n",
        "priority is negated when the task is built, so the lowest priority runs first"),
    Mutant(
        "qc_lifo_ties", "ordering", "queue_core", "queue_core/_ready.py",
        "                task = fresh.popleft()",
        "                task = fresh.pop()",
        "each priority level pops its newest task: equal priorities run last-in, first-out"),
    Mutant(
        "qc_unawaited_handler", "concurrency", "queue_core", _QC_WORKERS,
        _QC_AWAIT_HANDLER,
        "                    value = task.handler(*task.args)",
        "the handler is called but not awaited: the result is a coroutine object that never ran"),
    Mutant(
        "qc_time_sleep_in_backoff", "concurrency", "queue_core", _QC_WORKERS,
        _lines(
            "        delay = backoff_delay(task.attempts, self._base_delay, self._max_delay,",
            "                              self._jitter, self._rng)"),
        _lines(
            "        delay = backoff_delay(task.attempts, self._base_delay, self._max_delay,",
            "                              self._jitter, self._rng)",
            '        __import__("time").sleep(0.06)  # "let the failure settle": blocks the loop'),
        "every retry blocks the event loop with time.sleep(0.06) (wall seconds) on scheduling "
        "its backoff; timings on the loop clock stay right"),
    Mutant(
        "qc_lock_across_handler", "concurrency", "queue_core", _QC_WORKERS,
        _QC_AWAIT_HANDLER,
        _lines(
            '                    async with self.__dict__.setdefault("_lock", asyncio.Lock()):',
            "                        value = await task.handler(*task.args)"),
        "one queue-wide lock is held across the handler: workers run one handler at a time"),
    Mutant(
        "qc_one_worker_fewer", "concurrency", "queue_core", _QC,
        "                              for i in range(self._workers_wanted)]",
        "                              for i in range(self._workers_wanted - 1)]",
        "start() creates workers - 1 worker tasks (none at all for workers=1)"),
    Mutant(
        "qc_retries_one_extra", "retries", "queue_core", _QC_WORKERS,
        _QC_GIVE_UP,
        "        if task.attempts > task.max_retries + 1 or isinstance(exc, self._non_retryable):",
        "off by one: a failing task gets max_retries + 2 attempts"),
    Mutant(
        "qc_retries_one_short", "retries", "queue_core", _QC_WORKERS,
        _QC_GIVE_UP,
        "        if task.attempts >= task.max_retries or isinstance(exc, self._non_retryable):",
        "off by one: a failing task gets max_retries attempts (at least one), one too few"),
    Mutant(
        "qc_linear_backoff", "retries", "queue_core", "queue_core/_retry.py",
        _QC_BACKOFF,
        "    delay = max_delay if k >= 1024 else min(base_delay * (k + 1), max_delay)",
        "backoff grows linearly (base, 2 base, 3 base, ...) instead of doubling"),
    Mutant(
        "qc_cap_with_max", "retries", "queue_core", "queue_core/_retry.py",
        _QC_BACKOFF,
        "    delay = max_delay if k >= 1024 else max(base_delay * 2.0**k, max_delay)",
        "the cap uses max() instead of min(): every backoff is at least max_delay"),
    Mutant(
        "qc_no_base_delay_backoff_never_grows", "retries", "queue_core", _QC,
        _lines(
            "        base_delay: float = 0.1,",
            "        max_delay: float = 10.0,",
            "        jitter: float = 0.0,",
            "        non_retryable: tuple[type[BaseException], ...] = (),",
            "        max_results: int = 1000,",
            "        result_ttl: float | None = 300.0,",
            "        seed: int | None = None,",
            "    ) -> None:",
            "        check_settings(workers=workers, max_pending=max_pending, base_delay=base_delay,",
            "                       max_delay=max_delay, jitter=jitter, non_retryable=non_retryable,",
            "                       max_results=max_results, result_ttl=result_ttl, seed=seed)",
            "        super().__init__(base_delay=base_delay, max_delay=max_delay, jitter=jitter,"),
        _lines(
            "        max_delay: float = 10.0,",
            "        jitter: float = 0.0,",
            "        non_retryable: tuple[type[BaseException], ...] = (),",
            "        max_results: int = 1000,",
            "        result_ttl: float | None = 300.0,",
            "        seed: int | None = None,",
            "    ) -> None:",
            "        base_delay = 0.1  # no setting: a fixed backoff base",
            "        check_settings(workers=workers, max_pending=max_pending, base_delay=base_delay,",
            "                       max_delay=max_delay, jitter=jitter, non_retryable=non_retryable,",
            "                       max_results=max_results, result_ttl=result_ttl, seed=seed)",
            "        super().__init__(base_delay=base_delay, max_delay=base_delay, jitter=jitter,"),
        "TaskQueue takes no base_delay (fixed at 0.1) and passes it as the cap too: max_delay is "
        "ignored and every backoff is 0.1 s, it never doubles (only timing the default "
        "schedule, without a base_delay knob, sees it)"),
    Mutant(
        "qc_pending_cancel_still_runs", "cancellation", "queue_core", _QC,
        _lines(
            "        timer = task.handle",
            "        self._finish(task, CANCELLED, None)"),
        _lines(
            "        timer = task.handle",
            "        task.cancel_reason = CANCEL  # only flagged: nothing stops it from starting",
            "        return True",
            "        self._finish(task, CANCELLED, None)"),
        "cancel() of a pending (or backing-off) task only flags it: it stays PENDING, still "
        "starts and runs its handler, and only then ends CANCELLED"),
    Mutant(
        "qc_running_cancel_not_propagated", "cancellation", "queue_core", _QC,
        _lines("            if task.cancel_reason is None:",
               "                task.handle.cancel()",
               "                if task.handle is asyncio.current_task():"),
        _lines("            if task.cancel_reason is None:",
               "                pass  # the running handler is never cancelled",
               "                if task.handle is asyncio.current_task():"),
        "cancel() of a running task never cancels the handler: it runs to its end (or "
        "forever, if it waits on a gate) and is marked CANCELLED only then"),
    Mutant(
        "qc_worker_dies_on_cancel", "cancellation", "queue_core", _QC_WORKERS,
        "                    elif reason is None or me.uncancel():",
        "                    elif True:  # every cancel of a running task ends the worker",
        "a worker whose running task is cancelled finishes it CANCELLED and then exits: "
        "workers drop by one per cancel"),
    Mutant(
        "qc_failed_counted_as_completed", "stats", "queue_core", _QC_WORKERS,
        "            self._failed += 1",
        "            self._completed += 1",
        "a FAILED task is counted in completed; failed stays 0"),
    Mutant(
        "qc_running_reported_as_pending", "stats", "queue_core", _QC,
        "            submitted=self._submitted, pending=len(self._tasks) - running, running=running,",
        "            submitted=self._submitted, pending=len(self._tasks), running=0,",
        "running tasks are reported as pending and running stays 0; the counters still add up"),
    Mutant(
        "qc_unlocked_read_modify_write", "stats", "queue_core", _QC_WORKERS,
        _lines(
            "                        self._running -= 1",
            "                        self._completed += 1"),
        _lines(
            "                        completed = self._completed",
            "                        await asyncio.sleep(0)  # read-modify-write across an await",
            "                        self._running -= 1",
            "                        self._completed = completed + 1"),
        "completed is read before an await and written after it: two completions in one loop "
        "iteration count once, so the counters no longer add up to submitted"),
    Mutant(
        "qc_finished_tasks_never_dropped", "memory", "queue_core", _QC_WORKERS,
        "                        task.handler = task.args = task.handle = None",
        _lines(
            '                        self.__dict__.setdefault("_history", []).append(',
            "                            (task, task.handler, task.args))",
            "                        task.handler = task.args = task.handle = None"),
        "every completed task, its handler and its arguments are appended to a history list "
        "that nothing trims: they outlive the result cache"),
    Mutant(
        "qc_unbounded_cache", "memory", "queue_core", "queue_core/_results.py",
        "        if len(records) > self.max_results:",
        "        if False:  # max_results is never enforced",
        "the result cache never evicts: max_results is ignored (only the TTL drops results)"),
    Mutant(
        "qc_stop_leaves_a_thread", "memory", "queue_core", _QC,
        "        self._started = True",
        "        self._started = True  # and a metrics thread that nobody ever ends:\n"
        '        __import__("threading").Thread(target=__import__("time").sleep, args=(3600,),\n'
        "                                       daemon=True).start()",
        "start() starts a thread (a metrics poller, say) that shutdown() never ends: it is "
        "still running after the queue has stopped (S5 / oas37a-6, under memory)"),
    Mutant(
        "qc_stop_leaves_workers", "memory", "queue_core", _QC,
        _lines(
            "        if timeout is None:",
            "            await asyncio.gather(*self._worker_tasks)"),
        _lines(
            "        if timeout is None:",
            "            pass  # the workers are never awaited"),
        "shutdown() returns without awaiting its workers: they are still alive afterwards "
        "(S5 / oas37a-6; filed under memory, where the harness checks it)"),
    Mutant(
        "qc_zero_workers_accepted", "edge_cases", "queue_core", _QC_VALIDATE,
        '    check_int("workers", workers, 1)',
        '    check_int("workers", workers, 0)',
        "TaskQueue(workers=0) is accepted, and then nothing ever runs"),
    Mutant(
        "qc_submit_after_stop_accepted", "edge_cases", "queue_core", _QC,
        _lines(
            "        if self._closed:",
            '            raise QueueClosed(self._why_closed("submit to"))'),
        _lines(
            "        if False:  # a closed queue still accepts tasks",
            '            raise QueueClosed(self._why_closed("submit to"))'),
        "submit() after shutdown() is accepted instead of raising QueueClosed; the task "
        "never runs"),
    Mutant(
        "qc_duplicate_id_overwrites", "edge_cases", "queue_core", _QC,
        _lines(
            "            if known:",
            "                raise DuplicateTask("),
        _lines(
            "            if False:  # a known id is silently reused",
            "                raise DuplicateTask("),
        "a duplicate task_id is accepted and overwrites the known task's record"),
    Mutant(
        "qc_exception_kills_worker", "edge_cases", "queue_core", _QC_WORKERS,
        "                except BaseException as exc:  # GeneratorExit and custom ones too: the attempt",
        "                except ArithmeticError as exc:  # other exceptions escape the worker",
        "only ArithmeticError is caught around the handler: any other exception kills the "
        "worker and leaves its task RUNNING"),
    Mutant(
        "qc_outside_cancel_kills_worker", "edge_cases", "queue_core", _QC_WORKERS,
        _lines(
            "                    if reason is None and not me.cancelling():",
            "                        # Not ours: something the handler awaited was cancelled by someone",
            "                        # else. The attempt fails like any other exception; the worker lives.",
            "                        self._end_attempt(task, None, exc)",
            "                    elif reason is None or me.uncancel():"),
        "                    if reason is None or me.uncancel():",
        "a CancelledError raised by the handler's own await (nobody cancelled the task or the "
        "worker) is taken for the worker's own cancellation: the task ends CANCELLED and the "
        "worker exits"),
    Mutant(
        "qc_stop_drops_retry", "edge_cases", "queue_core", _QC_WORKERS,
        _lines(
            "        task.handle = None",
            "        self._ready.push_late(task)"),
        _lines(
            "        task.handle = None",
            "        if self._closed:  # a closed queue takes no more work: the retry is dropped",
            "            return",
            "        self._ready.push_late(task)"),
        "a retry (or delayed start) that falls due after shutdown(drain=True) is dropped: the "
        "task stays PENDING for good and the draining shutdown never returns"),
    Mutant(
        "qc_cancelled_tasks_hold_their_place", "edge_cases", "queue_core", _QC,
        "        if self._max_pending is not None and len(tasks) - self._running >= self._max_pending:",
        "        if self._max_pending is not None and len(self._ready) >= self._max_pending:",
        "the max_pending bound counts the ready structure, whose cancelled entries stay until "
        "popped: after cancelling the queued tasks of a full queue, submits are still refused"),
    Mutant(
        "qc_delay_on_wall_clock", "scheduling", "queue_core", _QC,
        "                task.handle = loop.call_at(loop.time() + delay, self._make_eligible, task)",
        '                task.handle = loop.call_at(__import__("time").monotonic() + delay,'
        "\n                                           self._make_eligible, task)",
        "a start delay is measured from time.monotonic() instead of loop.time() (S9): on a "
        "virtual clock the task starts hours late"),
    Mutant(
        "qc_backoff_on_wall_clock", "retries", "queue_core", _QC_WORKERS,
        "        task.handle = loop.call_at(loop.time() + delay, self._make_eligible, task)",
        _lines(
            '        task.handle = loop.call_at(__import__("time").monotonic() + delay,',
            "                                   self._make_eligible, task)"),
        "a retry's backoff is measured from time.monotonic() instead of loop.time() (S9): right "
        "on a stock loop, whose clock is time.monotonic(), but on a virtual clock the retry "
        "is due at the wrong virtual time"),
    Mutant(
        "qc_timeout_on_wall_clock", "scheduling", "queue_core", _QC_WORKERS,
        "                    clock() + task.timeout, self._time_out, task, task.attempts)",
        '                    __import__("time").monotonic() + task.timeout, self._time_out, task,'
        "\n                    task.attempts)",
        "a per-task timeout is armed at time.monotonic() + timeout instead of loop.time() + "
        "timeout (S9): on a virtual clock it fires at the wrong virtual time"),
    Mutant(
        "qc_cancel_racing_timeout_counted_twice", "stats", "queue_core", _QC,
        _QC_CANCEL_RUNNING,
        _lines(
            # The only other reason is TIMEOUT, a name that queue_core/_queue.py lacks.
            "            if task.cancel_reason not in (None, CANCEL, SELF_CANCEL):  # timed out",
            "                # and already unwinding: count it now",
            "                self._cancelled += 1",
            _QC_CANCEL_RUNNING),
        "a cancel() that lands after a timeout fired but before the handler unwound counts "
        "the task as cancelled twice (only in that one-iteration window)",
        interleaving=True),
    Mutant(
        "qc_cancel_racing_timeout_lost", "cancellation", "queue_core", _QC,
        _QC_CANCEL_RUNNING,
        _lines(
            "            if task.cancel_reason is None:  # a timed-out attempt stays TIMEOUT",
            "                task.cancel_reason = CANCEL"),
        "a cancel() that lands after a timeout fired but before the handler unwound is "
        "dropped: it returns True, yet the timed-out attempt is retried (its retry timer is "
        "armed after the cancel and never cancelled)",
        interleaving=True),
]


OAS37A_MUTANTS: Final = [
    Mutant(
        "oas_inverted_priority", "ordering", "oas37a", _OAS,
        _OAS_ENTRY,
        "        self.entry = (priority, seq, self)",
        "the heap key is +priority: the lowest priority number runs first"),
    Mutant(
        "oas_lifo_ties", "ordering", "oas37a", _OAS,
        _OAS_ENTRY,
        "        self.entry = (-priority, -seq, self)",
        "the heap key negates the sequence number: equal priorities run last-in, first-out"),
    Mutant(
        "oas_unawaited_handler", "concurrency", "oas37a", _OAS,
        "        return await func(*args, **kwargs)",
        "        return func(*args, **kwargs)",
        "the handler is called but not awaited: the result is a coroutine object that never ran"),
    Mutant(
        "oas_time_sleep_in_backoff", "concurrency", "oas37a", _OAS,
        _lines(
            "    async def _requeue_after(self, job: _Job, delay: float) -> None:",
            "        await asyncio.sleep(delay)"),
        _lines(
            "    async def _requeue_after(self, job: _Job, delay: float) -> None:",
            '        __import__("time").sleep(0.06)  # "let the failure settle": blocks the loop',
            "        await asyncio.sleep(delay)"),
        "every backoff starts with time.sleep(0.06) (wall seconds), blocking the event loop; "
        "timings on the loop clock stay right"),
    Mutant(
        "oas_lock_across_handler", "concurrency", "oas37a", _OAS,
        _lines(
            "                job = heapq.heappop(self._heap)[2]",
            "            await self._execute(job)"),
        _lines(
            "                job = heapq.heappop(self._heap)[2]",
            "                await self._execute(job)"),
        "the worker runs the handler inside 'async with self._cond': one handler at a time, "
        "and submit() waits for it"),
    Mutant(
        "oas_one_worker_fewer", "concurrency", "oas37a", _OAS,
        "                             for i in range(self.num_workers)]",
        "                             for i in range(self.num_workers - 1)]",
        "start() creates num_workers - 1 workers (none at all for num_workers=1)"),
    Mutant(
        "oas_retries_one_extra", "retries", "oas37a", _OAS,
        _OAS_GIVE_UP,
        "            elif job.retry_count > job.max_retries:",
        "off by one: a failing task gets max_retries + 2 attempts"),
    Mutant(
        "oas_retries_one_short", "retries", "oas37a", _OAS,
        _OAS_GIVE_UP,
        "            elif job.retry_count + 1 >= job.max_retries:",
        "off by one: a failing task gets max_retries attempts (at least one), one too few"),
    Mutant(
        "oas_linear_backoff", "retries", "oas37a", _OAS,
        _OAS_BACKOFF,
        "        delay = min(self.base_delay * (job.retry_count + 1), self.max_delay)",
        "backoff grows linearly (base, 2 base, 3 base, ...) instead of doubling"),
    Mutant(
        "oas_cap_with_max", "retries", "oas37a", _OAS,
        _OAS_BACKOFF,
        "        delay = max(self.base_delay * 2 ** job.retry_count, self.max_delay)",
        "the cap uses max() instead of min(): every backoff is at least max_delay"),
    Mutant(
        "oas_no_base_delay_backoff_never_grows", "retries", "oas37a", _OAS,
        _lines(
            "    def __init__(self, num_workers: int = 4, max_queue_size: int = 1000, base_delay: float = 0.1,",
            "                 max_delay: float = 10.0, result_cache_size: int = 1000,",
            "                 result_ttl: float = 300.0) -> None:",
            "        if not isinstance(num_workers, int) or num_workers < 1:",
            '            raise ValueError(f"num_workers={num_workers!r} must be an int >= 1, "',
            '                             f"e.g. AsyncTaskQueue(num_workers=4)")',
            "        if result_cache_size < 1 or result_ttl <= 0 or base_delay < 0 or max_delay < 0:",
            '            raise ValueError("result_cache_size and result_ttl must be > 0, delays >= 0")',
            "        self.num_workers, self.max_queue_size = num_workers, max_queue_size",
            "        self.base_delay, self.max_delay = base_delay, max_delay"),
        _lines(
            "    def __init__(self, num_workers: int = 4, max_queue_size: int = 1000,",
            "                 max_delay: float = 10.0, result_cache_size: int = 1000,",
            "                 result_ttl: float = 300.0) -> None:",
            "        if not isinstance(num_workers, int) or num_workers < 1:",
            '            raise ValueError(f"num_workers={num_workers!r} must be an int >= 1, "',
            '                             f"e.g. AsyncTaskQueue(num_workers=4)")',
            "        if result_cache_size < 1 or result_ttl <= 0 or max_delay < 0:",
            '            raise ValueError("result_cache_size and result_ttl must be > 0, delays >= 0")',
            "        self.num_workers, self.max_queue_size = num_workers, max_queue_size",
            "        self.base_delay = self.max_delay = 0.1  # no base_delay setting; cap ignored"),
        "AsyncTaskQueue takes no base_delay (fixed at 0.1) and ignores max_delay, capping at "
        "0.1: every backoff is 0.1 s, it never doubles (only timing the default schedule, "
        "without a base_delay knob, sees it)"),
    Mutant(
        "oas_pending_cancel_still_runs", "cancellation", "oas37a", _OAS,
        _lines(
            "            else:",
            "                self._heap.remove(job.entry)",
            "                heapq.heapify(self._heap)",
            "            self._finish(job, TaskStatus.CANCELLED)"),
        _lines(
            "            else:  # only flagged: it stays in the heap and will run",
            "                job.cancelling = True",
            "                return True",
            "            self._finish(job, TaskStatus.CANCELLED)"),
        "cancel_task() of a queued task only flags it: it stays PENDING, still runs its "
        "handler, and only then ends CANCELLED"),
    Mutant(
        "oas_running_cancel_not_propagated", "cancellation", "oas37a", _OAS,
        _OAS_CANCEL_RUNNING,
        "            job.cancelling = True  # the handler's task is never cancelled",
        "cancel_task() of a running task never cancels the handler's asyncio task: it runs to "
        "its end (or forever, if it waits on a gate) and is marked CANCELLED only then"),
    Mutant(
        "oas_worker_dies_on_cancel", "cancellation", "oas37a", _OAS,
        "            if asyncio.current_task().cancelling():  # the worker itself is cancelled",
        "            if True:  # every CancelledError ends the worker",
        "a worker whose running task is cancelled finishes it CANCELLED and then exits: "
        "workers drop by one per cancel"),
    Mutant(
        "oas_failed_counted_as_completed", "stats", "oas37a", _OAS,
        _lines(
            "        elif status is TaskStatus.FAILED:",
            "            self._failed += 1"),
        _lines(
            "        elif status is TaskStatus.FAILED:",
            "            self._completed += 1"),
        "a FAILED task is counted in completed; failed stays 0"),
    Mutant(
        "oas_running_reported_as_pending", "stats", "oas37a", _OAS,
        '        return {"pending": len(self._jobs) - running, "running": running,',
        '        return {"pending": len(self._jobs), "running": 0,',
        "running tasks are reported as pending and running stays 0; the counters still add up"),
    Mutant(
        "oas_unlocked_read_modify_write", "stats", "oas37a", _OAS,
        "            self._finish(job, status, value)",
        _lines(
            "            completed = self._completed",
            "            await asyncio.sleep(0)  # read-modify-write across an await",
            "            self._finish(job, status, value)",
            "            self._completed = completed + (status is TaskStatus.COMPLETED)"),
        "completed is read before an await and written after it: two completions in one loop "
        "iteration count once, so the counters no longer add up to submitted"),
    Mutant(
        "oas_finished_tasks_never_dropped", "memory", "oas37a", _OAS,
        "        job.done.set_result(result)",
        _lines(
            "        job.done.set_result(result)",
            '        self.__dict__.setdefault("_history", []).append(',
            "            (job.func, job.args, result))"),
        "every finished task's handler, arguments and result are appended to a history list "
        "that nothing trims: they outlive the result cache"),
    Mutant(
        "oas_unbounded_cache", "memory", "oas37a", _OAS,
        "        while len(self._results) > self.result_cache_size:",
        "        while False:  # result_cache_size is never enforced",
        "the result cache never evicts: result_cache_size is ignored (only the TTL drops results)"),
    Mutant(
        "oas_stop_leaves_workers", "memory", "oas37a", _OAS,
        _lines(
            "        for task in list(self._tasks):",
            "            task.cancel()",
            "        await asyncio.gather(*self._tasks, return_exceptions=True)"),
        "        # the workers are neither cancelled nor awaited",
        "stop() returns without cancelling or awaiting its workers: they wait on the condition "
        "forever (oas37a rule 6, Memory: stop() cancels and awaits every task it created)"),
    Mutant(
        "oas_zero_workers_accepted", "edge_cases", "oas37a", _OAS,
        "        if not isinstance(num_workers, int) or num_workers < 1:",
        "        if not isinstance(num_workers, int) or num_workers < 0:",
        "AsyncTaskQueue(num_workers=0) is accepted, and then nothing ever runs"),
    Mutant(
        "oas_submit_after_stop_accepted", "edge_cases", "oas37a", _OAS,
        _lines(
            "        if self._closed:",
            '            raise RuntimeError("submit() after stop()'),
        _lines(
            "        if False:  # a stopped queue still accepts tasks",
            '            raise RuntimeError("submit() after stop()'),
        "submit() after stop() is accepted instead of raising RuntimeError; the task never runs"),
    Mutant(
        "oas_duplicate_id_overwrites", "edge_cases", "oas37a", _OAS,
        "        if task_id is not None and self._known(task_id):",
        "        if False:  # a known id is silently reused",
        "a duplicate task_id is accepted and overwrites the known task's record"),
    Mutant(
        "oas_exception_kills_worker", "edge_cases", "oas37a", _OAS,
        "        except Exception as exc:",
        "        except ArithmeticError as exc:  # other exceptions escape the worker",
        "only ArithmeticError is caught around the handler: any other exception kills the "
        "worker and leaves its task RUNNING"),
    Mutant(
        "oas_stop_drops_retry", "edge_cases", "oas37a", _OAS,
        _lines(
            "        await asyncio.sleep(delay)",
            "        async with self._cond:",
            "            job.backoff = None"),
        _lines(
            "        await asyncio.sleep(delay)",
            "        if self._closed:  # a stopped queue takes no more work: the retry is dropped",
            "            return",
            "        async with self._cond:",
            "            job.backoff = None"),
        "a retry that falls due after stop(wait=True) is dropped: the task stays PENDING for "
        "good and stop(wait=True), waiting for it, never returns"),
    Mutant(
        "oas_cancelled_tasks_hold_their_place", "edge_cases", "oas37a", _OAS,
        "        if 0 < self.max_queue_size <= len(self._jobs) - self._running:",
        "        if 0 < self.max_queue_size <= (self._seq - self._running - self._completed"
        "\n                                       - self._failed):  # forgets cancelled",
        "the max_queue_size bound is computed from the counters but forgets the cancelled: "
        "after cancelling the queued tasks of a full queue, submits are still refused"),
    Mutant(
        "oas_result_timeout_zero_waits_forever", "scheduling", "oas37a", _OAS,
        "            return await asyncio.wait_for(asyncio.shield(job.done), timeout)",
        "            return await asyncio.wait_for(asyncio.shield(job.done), timeout or None)",
        "get_result(task_id, timeout=0) takes the falsy 0 for 'no timeout' and waits until "
        "the task ends instead of timing out at once"),
    Mutant(
        "oas_backoff_on_wall_clock", "retries", "oas37a", _OAS,
        _lines(
            "        await asyncio.sleep(delay)",
            "        async with self._cond:",
            "            job.backoff = None"),
        _lines(
            '        await asyncio.sleep(max(0.0, __import__("time").monotonic() + delay',
            "                                - asyncio.get_running_loop().time()))",
            "        async with self._cond:",
            "            job.backoff = None"),
        "the retry's deadline is taken on time.monotonic() and waited for on the loop clock "
        "(S9, two clocks for one quantity): right on a stock loop, but on a virtual clock the "
        "backoff is off by the difference between the clocks"),
    Mutant(
        "oas_cancel_racing_completion_counted_twice", "stats", "oas37a", _OAS,
        _OAS_CANCEL_RUNNING,
        _lines(
            "            job.cancelling = True",
            "            if not job.runner.cancel():  # the handler has just ended: count it here",
            "                self._cancelled += 1"),
        "a cancel_task() that lands after the handler's task ended but before its worker "
        "resumed counts the task as cancelled twice (only in that one-iteration window)",
        interleaving=True),
    Mutant(
        "oas_cancel_racing_failure_still_retried", "cancellation", "oas37a", _OAS,
        _lines(
            "            if job.cancelling:  # the handler turned our cancel into an exception",
            "                self._finish(job, TaskStatus.CANCELLED)",
            "            elif job.retry_count >= job.max_retries:"),
        "            if job.retry_count >= job.max_retries:",
        "a cancel_task() that lands after a failed attempt ended but before its worker resumed "
        "is dropped: it returns True, yet the retry timer is armed after it and never "
        "cancelled, so the task runs again (or ends FAILED)",
        interleaving=True),
    Mutant(
        "oas_cancel_during_backoff_start_off_by_one", "stats", "oas37a", _OAS,
        _lines(
            "        self._retried += 1",
            "        self._running -= 1",
            "        job.status, job.runner = TaskStatus.PENDING, None",
            "        job.backoff = self._spawn(self._requeue_after(job, delay),"
            ' f"oas37a-wait-{job.task_id}")',
            "",
            "    async def _requeue_after(self, job: _Job, delay: float) -> None:",
            "        await asyncio.sleep(delay)"),
        _lines(
            "        self._retried += 1",
            "        job.status, job.runner = TaskStatus.PENDING, None",
            "        job.backoff = self._spawn(self._requeue_after(job, delay),"
            ' f"oas37a-wait-{job.task_id}")',
            "",
            "    async def _requeue_after(self, job: _Job, delay: float) -> None:",
            "        self._running -= 1  # the worker's slot is given back when the backoff starts",
            "        await asyncio.sleep(delay)"),
        "running is decremented by the backoff task's first step; a cancel_task() landing "
        "before that step (the iteration right after a failure) leaves running at 1 and "
        "pending at -1 for good, with no handler running",
        interleaving=True),
]

MUTANTS: Final = QUEUE_CORE_MUTANTS + OAS37A_MUTANTS
"""Every mutant of the zoo, queue_core's first."""

FAMILIES: Final = {
    "unlocked read-modify-write across an await": ("qc_unlocked_read_modify_write",
                                                   "oas_unlocked_read_modify_write"),
    "off-by-one retries, one too many": ("qc_retries_one_extra", "oas_retries_one_extra"),
    "off-by-one retries, one too few": ("qc_retries_one_short", "oas_retries_one_short"),
    "inverted priority": ("qc_inverted_priority", "oas_inverted_priority"),
    "LIFO ties": ("qc_lifo_ties", "oas_lifo_ties"),
    "un-awaited handler": ("qc_unawaited_handler", "oas_unawaited_handler"),
    "time.sleep in the loop": ("qc_time_sleep_in_backoff", "oas_time_sleep_in_backoff"),
    "lock held across the handler": ("qc_lock_across_handler", "oas_lock_across_handler"),
    "one worker fewer": ("qc_one_worker_fewer", "oas_one_worker_fewer"),
    "pending cancel still runs": ("qc_pending_cancel_still_runs",
                                  "oas_pending_cancel_still_runs"),
    "running cancel not propagated": ("qc_running_cancel_not_propagated",
                                      "oas_running_cancel_not_propagated"),
    "worker dies on cancel": ("qc_worker_dies_on_cancel", "oas_worker_dies_on_cancel"),
    "linear backoff": ("qc_linear_backoff", "oas_linear_backoff"),
    "cap with max": ("qc_cap_with_max", "oas_cap_with_max"),
    "backoff never grows (no base_delay setting)": ("qc_no_base_delay_backoff_never_grows",
                                                    "oas_no_base_delay_backoff_never_grows"),
    "failed counted as completed": ("qc_failed_counted_as_completed",
                                    "oas_failed_counted_as_completed"),
    "running reported as pending": ("qc_running_reported_as_pending",
                                    "oas_running_reported_as_pending"),
    "finished tasks never dropped": ("qc_finished_tasks_never_dropped",
                                     "oas_finished_tasks_never_dropped"),
    "unbounded cache": ("qc_unbounded_cache", "oas_unbounded_cache"),
    "stop leaves workers": ("qc_stop_leaves_workers", "oas_stop_leaves_workers"),
    "stop leaves a thread running": ("qc_stop_leaves_a_thread",),
    "zero workers accepted": ("qc_zero_workers_accepted", "oas_zero_workers_accepted"),
    "submit after stop accepted": ("qc_submit_after_stop_accepted",
                                   "oas_submit_after_stop_accepted"),
    "duplicate id overwrites": ("qc_duplicate_id_overwrites", "oas_duplicate_id_overwrites"),
    "exception kills worker": ("qc_exception_kills_worker", "oas_exception_kills_worker"),
    "a CancelledError from the handler's own await kills the worker": (
        "qc_outside_cancel_kills_worker",),
    "a draining stop strands a task waiting for its retry": ("qc_stop_drops_retry",
                                                              "oas_stop_drops_retry"),
    "cancelled tasks still count against the queue bound": (
        "qc_cancelled_tasks_hold_their_place", "oas_cancelled_tasks_hold_their_place"),
    "backoff or timeout timed on the wall clock": ("qc_backoff_on_wall_clock",
                                                   "oas_backoff_on_wall_clock",
                                                   "qc_timeout_on_wall_clock"),
    "cancel races a completion and counts twice": (
        "oas_cancel_racing_completion_counted_twice", "qc_cancel_racing_timeout_counted_twice"),
    "retry timer not cancelled by cancel": ("oas_cancel_racing_failure_still_retried",
                                            "qc_cancel_racing_timeout_lost"),
    "a result wait with timeout 0 never times out": ("oas_result_timeout_zero_waits_forever",),
    "stats off by one when a cancel lands during backoff": (
        "oas_cancel_during_backoff_start_off_by_one",),
}
"""Each bug family the zoo covers, the interleaving ones included -> its mutants' names."""


TWO_BUGS: Final = (
    ("oas_inverted_priority", "oas_failed_counted_as_completed"),
    ("oas_linear_backoff", "oas_unbounded_cache"),
    ("qc_linear_backoff", "qc_duplicate_id_overwrites"),
)
"""Pairs of mutants of one target, in different categories, to apply together: a checker must
report both bugs, each once (one failure of its own in each category; the rest, if any,
marked as following from it)."""


def by_name(name: str) -> Mutant:
    """Return the mutant called ``name``.

    Raises:
        KeyError: no such mutant; the message lists the known names.
    """
    for mutant in MUTANTS:
        if mutant.name == name:
            return mutant
    raise KeyError(f"no mutant {name!r}; known: {', '.join(m.name for m in MUTANTS)}")


def apply(mutant: Mutant, text: str) -> str:
    """Return ``text`` with the mutant's ``before`` snippet replaced by its ``after``.

    Raises:
        MutantError: ``before`` occurs in ``text`` zero times or more than once.
    """
    count = text.count(mutant.before)
    if count != 1:
        raise MutantError(
            f"mutant {mutant.name}: its 'before' snippet occurs {count} times in {mutant.path}, "
            f"expected exactly once; the file changed since the mutant was written, so update "
            f"the snippet in tests/zoo/mutants.py to match it:\n{mutant.before}")
    return text.replace(mutant.before, mutant.after)


def materialize(mutant: Mutant | Sequence[Mutant], dest_dir: Path | str, *,
                root: Path | str = REPO_ROOT) -> Path:
    """Write the mutated target under ``dest_dir`` and return the path to check.

    For ``queue_core`` the whole package is copied to ``dest_dir/queue_core`` and patched;
    the returned path is that package directory: put its parent (``dest_dir``) first on
    ``sys.path`` (or run from it) and import ``queue_core``, which then shadows the installed
    one. For ``oas37a`` the example file is copied to ``dest_dir/oas37a_queue.py``, patched,
    and that file is returned, to be loaded under a private module name.

    Args:
        mutant: the mutant to write out, or several of one target to apply together (a
            :data:`TWO_BUGS` pair).
        dest_dir: an existing directory, e.g. pytest's ``tmp_path``.
        root: the repository to copy from (default: this one).

    Raises:
        MutantError: a mutant does not apply to the file as it is now (or as the mutants
            before it left it).
        FileExistsError: ``dest_dir`` already holds a materialized target.
        ValueError: the mutants are of different targets, or of none.
    """
    mutants = [mutant] if isinstance(mutant, Mutant) else list(mutant)
    targets = {m.target for m in mutants}
    if len(targets) != 1 or not targets <= TARGETS.keys():
        raise ValueError(f"mutants {', '.join(m.name for m in mutants)} must share one target "
                         f"of {', '.join(TARGETS)}; their targets are {sorted(targets)}")
    dest, root = Path(dest_dir), Path(root)
    patched: dict[str, str] = {}
    for m in mutants:  # fail before copying anything
        patched[m.path] = apply(m, patched.get(m.path) or (root / m.path).read_text("utf-8"))
    if targets == {"queue_core"}:
        package = dest / "queue_core"
        shutil.copytree(root / "queue_core", package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for path, text in patched.items():
            (dest / path).write_text(text, encoding="utf-8")
        return package
    [(path, text)] = patched.items()
    out = dest / Path(path).name
    if out.exists():
        raise FileExistsError(f"{out} exists already; materialize each mutant into a "
                              f"directory of its own")
    out.write_text(text, encoding="utf-8")
    return out

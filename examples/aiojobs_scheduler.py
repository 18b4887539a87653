"""An adapter that lets the harness check aiojobs' ``Scheduler`` (``pip install aiojobs``).

aiojobs runs each spawned coroutine as an asyncio task of its own; ``limit`` bounds how many
run at once and the rest wait, first in first out, in a pending queue. Check it with::

    asyncqueue-check examples/aiojobs_scheduler.py

What aiojobs lacks, declared below so that the checks needing it are skipped, not failed:
priorities, retries (and so backoff settings), caller-chosen task ids, start delays,
per-task timeouts, a result cache with a size or a TTL, a refusing bound on the pending
queue (``pending_limit`` makes ``spawn`` *wait* for room, it never raises), and every stats
counter but the two it keeps (``pending_count``, ``active_count``): it counts no completed,
failed, cancelled or retried jobs and has no worker coroutines (a job is its own task).
The adapter does not invent those counters: it declares them ``absent``.

How the adapter maps the protocol:

* ``workers`` -> ``Scheduler(limit=...)``; ``wait_timeout=None`` so that a draining stop
  (``wait_and_close``) waits for all work, as the contract's drain does, instead of the
  library's default 60 s cut-off.
* ``start`` does nothing: a Scheduler has no start; a job spawned runs as soon as there is
  room (the checks submit before start only without yielding, so this is not observable).
* ``submit`` -> ``await scheduler.spawn(handler(*args))``; the task id is the :class:`Job`.
* ``cancel`` -> ``await job.close()``, answering True for a job whose task has not ended.
* ``status`` reads the job (``pending``) and its asyncio task (``job._task``, private: the
  Job's public ``active``/``closed`` still say "active" for the loop iteration between the
  task's end and the Job's done callback, and name no outcome).
* ``result`` -> ``await job.wait()``.
* ``stop(drain=True)`` -> ``wait_and_close()``; ``stop(drain=False)`` -> ``close()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import aiojobs
from aiojobs import Job

from pytest_asyncqueue.adapters import Capabilities, Outcome, ResultMissing, Unsupported


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class AiojobsSchedulerAdapter:
    """Drives an :class:`aiojobs.Scheduler` through the harness's Adapter protocol."""

    adapts = aiojobs.Scheduler
    shape = "aiojobs"

    @classmethod
    def capabilities_of(cls, queue_class: type) -> Capabilities:
        return Capabilities(settings=frozenset({"workers"}), submit_options=frozenset(),
                            drain_choice=True, stop_runs_queued=frozenset({"run"}),
                            closed_errors=(RuntimeError,),  # "Scheduling a new job after closing"
                            extras=frozenset({"cancel_running"}),
                            # A job is its own task (no workers), and only these are counted.
                            absent=frozenset({"worker_tasks", "stats.completed", "stats.failed",
                                              "stats.cancelled", "stats.retried",
                                              "stats.workers"}))

    def __init__(self, queue_class: type, settings: dict[str, Any]) -> None:
        self.capabilities = self.capabilities_of(queue_class)
        limit = settings.get("workers", 100)  # aiojobs' own default limit
        self.queue = queue_class(limit=limit, wait_timeout=None)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.queue!r}>"

    async def start(self) -> None:
        pass  # a Scheduler has no start: spawned jobs run as soon as there is room

    async def submit(self, handler: Callable[..., Awaitable[Any]], *args: Any,
                     **options: Any) -> Hashable:
        if options:
            raise Unsupported(f"aiojobs.Scheduler.spawn takes no {', '.join(options)} option")
        return await self.queue.spawn(handler(*args))

    async def cancel(self, task_id: Hashable) -> bool:
        if not isinstance(task_id, Job):
            return False
        task = task_id._task
        if task_id.closed or (task is not None and task.done()):
            return False  # finished (or already cancelled)
        await task_id.close()
        return True

    async def result(self, task_id: Hashable) -> Outcome:
        if not isinstance(task_id, Job):
            raise ResultMissing(f"{task_id!r} is no aiojobs Job")
        try:
            value = await task_id.wait()
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():
                raise  # the caller is being cancelled, not the job
            return Outcome("cancelled")
        except Exception as exc:
            return Outcome("failed", error=_error(exc))
        return Outcome("completed", value)

    async def status(self, task_id: Hashable) -> str | None:
        return self._status(task_id)

    @staticmethod
    def _status(job: Any) -> str | None:
        if not isinstance(job, Job):
            return None
        if job.pending:
            return "pending"
        task = job._task
        if task is None or not task.done():
            return "running"  # (task None: never, once not pending)
        if task.cancelled():
            return "cancelled"
        return "failed" if task.exception() is not None else "completed"

    async def stats(self) -> dict[str, int]:
        return self.stats_now()

    def stats_now(self) -> dict[str, int]:
        # Only what aiojobs counts; see the module docstring.
        return {"pending": self.queue.pending_count, "running": self.queue.active_count}

    async def stop(self, drain: bool = True) -> None:
        if drain:
            await self.queue.wait_and_close()
        else:
            await self.queue.close()

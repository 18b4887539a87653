"""Run the conformance checks against a target: each on a fresh virtual clock, hangs contained.

Each check runs on a new :class:`~pytest_asyncqueue.clock.VirtualClockLoop` with a new
:class:`~pytest_asyncqueue.conformance.Harness` and ends as one :class:`CheckResult`: passed,
failed (with a message saying what was observed and what the contract expects) or skipped
(with the reason). The loop runs ready callbacks in FIFO order and the seed seeds ``h.rng``,
so the same target, checks and seed give the same timelines and the same results.

IMPLEMENTATION DETAIL - three guards against a target that never finishes
=========================================================================

1. Virtual time. A timer at :data:`VIRTUAL_LIMIT` virtual seconds cancels the check; it fails
   naming where every task waits. A target that polls forever with ``asyncio.sleep(1)`` or
   waits on an event nothing sets ends there, at little wall cost (the clock jumps). This
   timer is why a deadlock shows up this way, not as the clock's ``DeadlockError``: the
   clock jumps straight to it.
2. Wall time inside the loop. The loop's ``max_real_seconds`` stops a check that keeps the
   loop busy without letting virtual time reach the limit (``while True: await
   asyncio.sleep(0)``). It is checked between loop iterations only.
3. Process isolation. Neither helps when one callback never returns: ``while True:`` without
   an await, or a worker loop that calls ``time.sleep`` and swallows every exception, so a
   signal raised into it is caught and ignored. So the checks of each category run in a
   child process (:class:`pytest_asyncqueue._children.Child`: forked, the loaded target is
   inherited) that sends each result back as soon as it has it, and stamps a heartbeat after
   every loop iteration. The parent gives up on a check when the heartbeat is older than
   ``stall_limit`` (one callback is stuck: found in about a second) or the result is more
   than ``wall_budget`` late. It then asks the child where it is (a stack dump that no
   ``except`` clause can swallow), kills it, reports the check as failed in its category
   with that file and line, and starts a fresh child for the rest of the category. Forking
   costs 10-20 wall ms per category. Where ``fork`` is not available or not safe (Windows,
   macOS), checks run in this process with guards 1 and 2.

Once one check of a run has hung, the target has shown that it can: from then on the limits
drop to :data:`AFTER_HANG` (stall, budget), so a target that spins in every check fails every
category in seconds, not minutes. A correct target never meets this; the longest single loop
iteration of the suite against ``queue_core`` is about 25 wall ms.

Example::

    factory = make_factory("queue_core")
    results = run_checks(factory, ALL_CHECKS, seed=1234)
    assert all(r.status != "failed" for r in results)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .._children import (
    HARNESS,
    STDLIB,
    Child,
    ChildExited,
    ChildHung,
    Link,
    can_fork,
    place,
    threads_note,
)
from .._isolation import replaced, stdlib_snapshot
from ..adapters import TargetFactory
from ..clock import VirtualClockLoop, _where_task_waits
from ..conformance import ALL_CHECKS, Check, Harness, Skip
from ..contract import CATEGORIES
from ..errors import RealTimeLimitError
from ._result import CheckResult, hang_hint

__all__ = [
    "AFTER_HANG",
    "DEFAULT_STALL_LIMIT",
    "DEFAULT_WALL_BUDGET",
    "VIRTUAL_LIMIT",
    "iter_results",
    "run_check",
    "run_checks",
    "select_checks",
]

VIRTUAL_LIMIT: Final = 100_000.0
"""Virtual seconds a check may take before it fails as hung (about 28 virtual hours)."""
DEFAULT_WALL_BUDGET: Final = 5.0
"""Wall seconds one check may take before its process is killed; a check takes ~10-100 ms."""
DEFAULT_STALL_LIMIT: Final = 1.0
"""Wall seconds one loop iteration may take before the check is given up on as spinning."""
AFTER_HANG: Final = (0.25, 2.0)
"""(stall limit, wall budget) in wall seconds once a check of the run has hung."""
SPIN_ITERATIONS: Final = 20_000
"""Loop iterations without the virtual clock moving that tell a polling target from a slow
machine, when a check runs out of wall time (a correct target's instants take far fewer)."""
_LOOP_SHARE: Final = 0.8  # of the wall budget, for the loop's own guard: it fires first
_SHOWN_TASKS: Final = 6  # waiting tasks named in a message


def select_checks(categories: Iterable[str] | None = None,
                  checks: Sequence[Check] = ALL_CHECKS) -> list[Check]:
    """The checks of these categories (all when None), in report order.

    Raises:
        ValueError: a name that is not a category; the message lists the valid ones.
    """
    if categories is None:
        chosen = set(CATEGORIES)
    else:
        chosen = set(categories)
        unknown = sorted(chosen - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown categor{'y' if len(unknown) == 1 else 'ies'} "
                             f"{', '.join(unknown)}; valid: {', '.join(CATEGORIES)}")
    return sorted((c for c in checks if c.category in chosen),
                  key=lambda c: CATEGORIES.index(c.category))


def run_check(check: Check, factory: TargetFactory, seed: int, *,
              max_real_seconds: float | None = None,
              heartbeat: Callable[[], None] | None = None) -> CheckResult:
    """Run one check in this process on a fresh virtual loop and return how it ended.

    Args:
        check: the check.
        factory: builds the targets the check asks for.
        seed: seeds the harness's ``rng``.
        max_real_seconds: wall seconds the loop may run before the check fails (None: no
            limit; a callback that never returns is not stopped by it).
        heartbeat: called when the check starts and after every loop iteration: a sign of
            life for a watchdog in another process.

    Returns:
        The result; every exception of the check or the target is turned into one.
    """
    started = time.perf_counter()
    if heartbeat is not None:
        heartbeat()
    reason = check.skip_reason(factory.capabilities)
    h = Harness(factory, seed)
    if reason is not None:
        status, message, hung = "skipped", reason, False
    else:
        before = stdlib_snapshot()
        with warnings.catch_warnings():
            # A target's own warnings (e.g. "coroutine was never awaited" from a handler it
            # forgot to await) are for the checks to judge, not for the caller's filters.
            warnings.simplefilter("ignore")
            status, message, hung = _outcome(check, h, max_real_seconds, heartbeat)
        if patched := replaced(before):
            status, message = "failed", (
                f"{check.rule}: the target replaced {', '.join(patched)} while the check ran; "
                f"the harness times and waits with them, so this check measured the "
                f"replacement (patch a name in the target's own module instead)")
    return CheckResult(check.name, check.category, check.rule, status, message, seed,
                       time.perf_counter() - started, hung, used=h.used)


def iter_results(factory: TargetFactory, checks: Sequence[Check], seed: int, *,
                 wall_budget: float = DEFAULT_WALL_BUDGET,
                 stall_limit: float = DEFAULT_STALL_LIMIT, isolate: bool = True
                 ) -> Generator[CheckResult, None, None]:
    """Run the checks and yield each result as soon as it is known, grouped by category.

    Args:
        factory: the loaded target (:func:`~pytest_asyncqueue.adapters.make_factory`).
        checks: the checks to run; results come grouped by category, in order of first
            appearance, each group in the given order.
        seed: seeds every check's harness.
        wall_budget: wall seconds one check may take before it is reported as failed.
        stall_limit: wall seconds one loop iteration (one callback, in practice) may take
            before the check is reported as failed: a target spinning without awaiting is
            found this fast. Only with ``isolate``.
        isolate: run each category in a child process that is killed on overrun (the
            default, where ``fork`` is available and safe: not on Windows or macOS); False
            runs everything in this process.

    Yields:
        One :class:`CheckResult` per check. Closing the iterator early kills the child.
    """
    for name, value in (("wall_budget", wall_budget), ("stall_limit", stall_limit)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name}={value!r} must be a number of wall seconds > 0")
    groups: dict[str, list[Check]] = {}
    for c in checks:
        groups.setdefault(c.category, []).append(c)
    limits = _Limits(wall_budget, stall_limit)
    isolate = isolate and can_fork()
    for group in groups.values():
        if isolate:
            yield from _run_isolated(factory, group, seed, limits)
        else:
            for c in group:
                result = run_check(c, factory, seed, max_real_seconds=limits.loop)
                limits.note(result)
                yield result


def run_checks(factory: TargetFactory, checks: Sequence[Check], seed: int, **options: Any
               ) -> list[CheckResult]:
    """Run the checks and return every result; the options are those of :func:`iter_results`."""
    return list(iter_results(factory, checks, seed, **options))


@dataclass
class _Limits:
    """The wall limits of a run: they drop to :data:`AFTER_HANG` once a check has hung."""

    budget: float
    stall: float

    @property
    def loop(self) -> float:
        return self.budget * _LOOP_SHARE

    def note(self, result: CheckResult) -> None:
        if result.hung:
            self.stall = min(self.stall, AFTER_HANG[0])
            self.budget = min(self.budget, AFTER_HANG[1])


class _VirtualOverrun(Exception):
    """The check was still running at VIRTUAL_LIMIT; the message says where tasks waited."""


async def _main(check: Check, h: Harness) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    waiting: list[str] = []

    def expire() -> None:
        waiting.append(_waiting(loop))
        task.cancel()

    timer = loop.call_at(loop.time() + VIRTUAL_LIMIT, expire)
    try:
        await check.func(h)
    except asyncio.CancelledError:
        if waiting and task.uncancel() == 0:
            raise _VirtualOverrun(waiting[0]) from None
        raise
    finally:
        timer.cancel()
        await h.close()


def _outcome(check: Check, h: Harness, max_real_seconds: float | None,
             heartbeat: Callable[[], None] | None) -> tuple[str, str, bool]:
    """Run the check with ``h`` on a fresh virtual loop; return (status, message, hung)."""
    loop = VirtualClockLoop(max_real_seconds=max_real_seconds)
    if heartbeat is not None:
        loop.observe_iterations(heartbeat)
    # Tasks a broken target leaves behind report "exception never retrieved" and the like
    # through the loop's handler; the check's result already says what went wrong.
    loop.set_exception_handler(lambda _loop, _context: None)
    runner = asyncio.Runner(loop_factory=lambda: loop)
    rule = check.rule
    try:
        runner.run(_main(check, h))
    except Skip as exc:
        return "skipped", str(exc), False
    except AssertionError as exc:  # CheckFailed included
        return "failed", str(exc) or f"{rule}: assertion failed {_location(exc)}", False
    except _VirtualOverrun as exc:
        return "failed", (f"{rule}: did not finish within {VIRTUAL_LIMIT:g} virtual s; "
                          f"waiting: {exc}; the target waits for something that never "
                          f"happens"), False
    except RealTimeLimitError:
        if loop.iterations_at_instant < SPIN_ITERATIONS and not threads_note():
            return "skipped", _too_slow(max_real_seconds, loop.time(),
                                       loop.iterations_at_instant), False
        return "failed", (f"{rule}: did not finish within {max_real_seconds:g} wall s, at "
                          f"virtual t={loop.time():.3f}s ({loop.iterations_at_instant} loop "
                          f"iterations without the clock moving); waiting: {_waiting(loop)}" + (
                              threads_note() or "; the target keeps the loop busy (polling "
                              "with 'await asyncio.sleep()' for something that never "
                              "happens?)")), True
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the target's own errors, SystemExit included
        return "failed", f"{rule}: raised {type(exc).__name__}: {exc} {_location(exc)}", False
    finally:
        with contextlib.suppress(Exception):
            runner.close()  # cancels what the target left running; may deadlock or overrun
    return "passed", "", False


def _too_slow(budget: float, virtual: float | None = None, iterations: int | None = None
             ) -> str:
    """The reason a check that ran out of wall time while its target made progress is not
    judged: the machine was too slow, which says nothing about the target."""
    progress = ("" if virtual is None else f" (the target was making progress: virtual "
                f"t={virtual:.3f}s, {iterations} loop iterations at that instant)")
    return (f"not judged: the machine was too slow to run this check within {budget:g} wall "
            f"s{progress}; rerun it on a quieter machine")


def _waiting(loop: asyncio.AbstractEventLoop) -> str:
    """Where the loop's tasks wait, the first few of them."""
    places = sorted(_where_task_waits(t) for t in asyncio.all_tasks(loop))
    more = len(places) - _SHOWN_TASKS
    return "; ".join(places[:_SHOWN_TASKS]) + (f"; and {more} more" if more > 0 else "") or "none"


def _location(exc: BaseException) -> str:
    """'at file:line in function' of the innermost frame of the target's or its adapter's
    code (outside the standard library and this package), else outside the standard
    library: the line to fix, not the probe whose error passed through it."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "(no traceback)"
    theirs = [f for f in frames if not f.filename.startswith((STDLIB, HARNESS))]
    ours = [f for f in frames if not f.filename.startswith(STDLIB)]
    frame = (theirs or ours or frames)[-1]
    return place(frame.filename, frame.lineno, frame.name)


def _checks_child(link: Link, factory: TargetFactory, checks: list[Check], seed: int,
                  limits: _Limits) -> None:
    """In a child process: run the checks, send each result back as it comes."""
    for c in checks:
        result = run_check(c, factory, seed, max_real_seconds=limits.loop,
                           heartbeat=link.heartbeat)
        limits.note(result)  # this copy of the limits lives in the child
        link.send(result)


def _run_isolated(factory: TargetFactory, checks: list[Check], seed: int, limits: _Limits
                  ) -> Iterator[CheckResult]:
    """Run one category's checks in child processes, a fresh one after each overrun."""
    pending = list(checks)
    while pending:
        lost: CheckResult | None = None
        with Child(_checks_child, factory, pending, seed, limits,
                   name="asyncqueue-checks") as child:
            while pending:
                waited = time.monotonic()
                try:
                    result = child.receive(budget=limits.budget, stall=limits.stall)
                except ChildHung as exc:
                    if exc.stalled is None:  # it kept beating: slow, not stuck
                        lost = CheckResult(pending[0].name, pending[0].category,
                                           pending[0].rule, "skipped",
                                           _too_slow(limits.budget), seed,
                                           time.monotonic() - waited)
                    else:
                        lost = _lost(pending[0], seed, f"{exc}: {hang_hint(exc)}",
                                     time.monotonic() - waited, hung=True)
                    break
                except ChildExited as exc:
                    lost = _lost(pending[0], seed, f"the check process ended while the "
                                 f"check ran: {exc.cause}", time.monotonic() - waited,
                                 hung=False)
                    break
                pending.pop(0)
                limits.note(result)
                yield result  # the child goes on with the next check meanwhile
        if lost is not None:
            pending.pop(0)
            limits.note(lost)
            yield lost


def _lost(check: Check, seed: int, reason: str, wall: float, *, hung: bool) -> CheckResult:
    """The result of a check whose process was killed or died: failed."""
    return CheckResult(check.name, check.category, check.rule, "failed",
                       f"{check.rule}: {reason}", seed, wall, hung)

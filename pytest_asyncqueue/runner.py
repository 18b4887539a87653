"""Run conformance checks against a target: each on a fresh virtual clock, hangs contained.

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
   signal raised into it is caught and ignored (issue 4, item 3). So the checks of each
   category run in a child process (``fork``: the loaded target is inherited) that sends each
   result back as soon as it has it, and stamps a shared heartbeat after every loop
   iteration. The parent gives up on a check when the heartbeat is older than
   ``stall_limit`` (one callback is stuck: found in about a second) or the result is more
   than ``wall_budget`` late. It then asks the child where it is (SIGUSR1: ``faulthandler``
   dumps the stack from C, which no ``except`` clause can swallow), kills it, reports the
   check as failed in its category with that file and line, and starts a fresh child for the
   rest of the category. Forking costs 10-20 wall ms per category. Where ``fork`` is not
   available or not safe (Windows, macOS), checks run in this process with guards 1 and 2.

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
import faulthandler
import math
import multiprocessing
import os
import random
import re
import signal
import sys
import sysconfig
import tempfile
import time
import traceback
import warnings
import weakref
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

from .adapters import TargetFactory
from .clock import VirtualClockLoop, _where_task_waits
from .conformance import ALL_CHECKS, Check, Harness, Skip
from .contract import CATEGORIES
from .errors import RealTimeLimitError

__all__ = [
    "AFTER_HANG",
    "DEFAULT_STALL_LIMIT",
    "DEFAULT_WALL_BUDGET",
    "SPIN_HINT",
    "STATUSES",
    "VIRTUAL_LIMIT",
    "CheckResult",
    "MODEL_EXAMPLES",
    "ModelRun",
    "iter_results",
    "new_seed",
    "run_check",
    "run_checks",
    "run_model",
    "select_checks",
    "start_model",
]

STATUSES: Final = ("passed", "failed", "skipped")
VIRTUAL_LIMIT: Final = 100_000.0
"""Virtual seconds a check may take before it fails as hung (about 28 virtual hours)."""
DEFAULT_WALL_BUDGET: Final = 5.0
"""Wall seconds one check may take before its process is killed; a check takes ~10-100 ms."""
DEFAULT_STALL_LIMIT: Final = 1.0
"""Wall seconds one loop iteration may take before the check is given up on as spinning."""
AFTER_HANG: Final = (0.25, 2.0)
"""(stall limit, wall budget) in wall seconds once a check of the run has hung."""
SPIN_HINT: Final = (
    "the target spins without awaiting (e.g. while True without await, or a worker loop that "
    "swallows every exception)"
)
MODEL_EXAMPLES: Final = 50
"""Examples the state machines run by default: about 2.5 wall s against ``queue_core``."""
MODEL_WALL_BUDGET: Final = 600.0
"""Wall seconds the model suite may take, from its start, before its process is killed."""
MODEL_STALL_LIMIT: Final = 5.0
"""Wall seconds one loop iteration may take in the model suite before it is given up on."""
_LOOP_SHARE: Final = 0.8  # of the wall budget, for the loop's own guard: it fires first
_SHOWN_TASKS: Final = 6  # waiting tasks named in a message
_WATCH_INTERVAL: Final = 0.05  # wall seconds between two looks at a child's heartbeat
_STDLIB: Final = sysconfig.get_paths()["stdlib"]
_PACKAGE: Final = str(Path(__file__).parent)


@dataclass(frozen=True)
class CheckResult:
    """How one check ended.

    Attributes:
        name: the check's name.
        category: its category.
        rule: the contract clause it asserts.
        status: "passed", "failed" or "skipped".
        message: why it failed or was skipped; "" when it passed.
        seed: the seed it ran with (replay with the same seed).
        wall: wall seconds it took.
        hung: it failed because it ran out of wall time (a busy or stuck loop): the sign
            that lowers a run's wall limits to :data:`AFTER_HANG`.
        replay: the command that replays it, when the default (``asyncqueue-check TARGET
            --suite examples --only CATEGORY --seed SEED``) would not.
    """

    name: str
    category: str
    rule: str
    status: str
    message: str = ""
    seed: int = 0
    wall: float = 0.0
    hung: bool = False
    replay: str = ""


def new_seed() -> int:
    """A fresh random seed for a run (print it: it is what replays the run)."""
    return random.SystemRandom().randrange(1_000_000)


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
    if reason is not None:
        status, message, hung = "skipped", reason, False
    else:
        with warnings.catch_warnings():
            # A target's own warnings (e.g. "coroutine was never awaited" from a handler it
            # forgot to await) are for the checks to judge, not for the caller's filters.
            warnings.simplefilter("ignore")
            status, message, hung = _outcome(check, factory, seed, max_real_seconds, heartbeat)
    return CheckResult(check.name, check.category, check.rule, status, message, seed,
                       time.perf_counter() - started, hung)


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
    isolate = isolate and _can_fork()
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


def run_model(factory: TargetFactory, categories: Sequence[str], seed: int, **options: Any
              ) -> list[CheckResult]:
    """Run the state machines against a target and return one result per category; the
    arguments are those of :func:`start_model`."""
    with start_model(factory, categories, seed, **options) as run:
        return run.wait()


def start_model(factory: TargetFactory, categories: Sequence[str], seed: int, *,
                examples: int = MODEL_EXAMPLES, replay: str = "",
                save_regression: str | Path | None = None, target: str | None = None,
                isolate: bool = True) -> ModelRun:
    """Start the state machines (:func:`pytest_asyncqueue.machines.run_machines`) against a
    target; :meth:`ModelRun.wait` returns one result per category, in the given order.

    With isolation the machines run meanwhile in a child process, so that the caller can run
    the conformance checks beside them; without (or where ``fork`` is not available and
    safe) they run inside ``wait()``. A category passes (check ``model``) when no example
    broke one of its invariants, fails with the first invariant that broke (check
    ``model.<invariant>``; the message ends with the shrunk steps) or is skipped with the
    reason. The same arguments replay the same run.

    Args:
        factory: the loaded target.
        categories: the categories to judge; the others' invariants are not judged.
        seed: Hypothesis's seed, which also draws each example's loop schedule.
        examples: examples per Hypothesis run.
        replay: the command that replays this run, kept in each failure.
        save_regression: a folder in which to write a pytest file per failure.
        target: the target as the user named it, for those files.
        isolate: run in a child process that is killed when one loop iteration takes
            :data:`MODEL_STALL_LIMIT` wall seconds (judged while ``wait()`` waits) or the
            run :data:`MODEL_WALL_BUDGET` (counted from the start).
    """
    from .machines import run_machines

    def run(heartbeat: Callable[[], None] | None = None) -> list[CheckResult]:
        return [CheckResult("model" if r.status != "failed" else f"model.{r.check}",
                            r.category, "the executable model of DESIGN section 2", r.status,
                            r.message, seed, replay=replay if r.status == "failed" else "")
                for r in run_machines(factory, seed=seed, examples=examples,
                                      categories=categories, save_regression=save_regression,
                                      target=target, heartbeat=heartbeat)]

    return ModelRun(run, categories, seed, replay, isolate=isolate and _can_fork())


class ModelRun:
    """The state machines started by :func:`start_model`.

    ``wait()`` returns their results (the same list on every call); ``close()`` stops a run
    still going. Use it as a context manager, which closes on exit; a run dropped unclosed
    is stopped when it is collected.
    """

    def __init__(self, run: Callable[..., list[CheckResult]], categories: Sequence[str],
                 seed: int, replay: str, *, isolate: bool) -> None:
        self._run, self._categories, self._seed, self._replay = run, categories, seed, replay
        self._results: list[CheckResult] | None = None
        self._child: tuple[Any, Connection, Any, Any] | None = None
        self.close: Callable[[], None] = lambda: None
        if not isolate:
            return
        context = multiprocessing.get_context("fork")
        receiver, sender = context.Pipe(duplex=False)
        beat = context.RawValue("d", math.inf)
        dump = tempfile.TemporaryFile()  # noqa: SIM115  # closed with the process
        process = context.Process(target=_model_child, daemon=True, name="asyncqueue-model",
                                  args=(sender, run, beat, dump))
        try:
            _start(process)
        except BaseException:
            _stop_child(process, receiver, dump)
            raise
        finally:
            sender.close()
        self._started = time.monotonic()
        self._child = (process, receiver, beat, dump)
        self.close = weakref.finalize(self, _stop_child, process, receiver, dump)

    def wait(self) -> list[CheckResult]:
        """The results, one per category: waits for the machines, or runs them here."""
        if self._results is None:
            self._results = self._run() if self._child is None else self._collect()
        return self._results

    def _collect(self) -> list[CheckResult]:
        assert self._child is not None
        process, receiver, beat, dump = self._child
        try:
            why = _wait(receiver, beat, _Limits(MODEL_WALL_BUDGET, MODEL_STALL_LIMIT),
                        since=self._started)
            if why is None:
                try:
                    return receiver.recv()
                except EOFError:
                    process.join(MODEL_STALL_LIMIT)
                    why = (f"the model process ended (exit code {process.exitcode}): the "
                           f"target ended the interpreter (os._exit, a crash)")
            else:
                why += f"{_stuck_at(process, dump)}: {SPIN_HINT}"
        finally:
            self.close()
        wall = time.monotonic() - self._started
        judged = [c for c in CATEGORIES if c in self._categories]
        blamed = "concurrency" if "concurrency" in judged else judged[0]
        return [CheckResult("model.finishes", c, "S2: the loop is never blocked", "failed",
                            f"the model suite {why}", self._seed, wall, True, self._replay)
                if c == blamed else
                CheckResult("model", c, "", "skipped", f"model: not judged: the run was "
                            f"stopped ({blamed} failed)", self._seed)
                for c in judged]

    def __enter__(self) -> ModelRun:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _stop_child(process: multiprocessing.process.BaseProcess, receiver: Connection,
                dump: Any) -> None:
    """Kill a child process if it still runs, reap it, and close what the parent holds."""
    if process.pid is not None:
        process.kill()
        process.join()
    receiver.close()
    dump.close()


def _model_child(conn: Connection, run: Callable[..., list[CheckResult]], beat: Any,
                 dump: Any) -> None:
    """Body of the model's child process: run the machines, send the results back."""
    _quiet_child(dump)

    def heartbeat() -> None:
        beat.value = time.monotonic()

    conn.send(run(heartbeat))
    conn.close()


def _can_fork() -> bool:
    # fork is missing on Windows and unsafe on macOS (system frameworks break in the child).
    return sys.platform != "darwin" and "fork" in multiprocessing.get_all_start_methods()


def _start(process: multiprocessing.process.BaseProcess) -> None:
    with warnings.catch_warnings():
        # Python >= 3.12 warns when a process with threads forks. The child runs only the
        # checks, and replaces the streams whose locks another thread could hold.
        warnings.filterwarnings("ignore", r"This process .* is multi-threaded",
                                DeprecationWarning)
        process.start()


def _quiet_child(dump: Any) -> None:
    """In a child: answer SIGUSR1 with a stack dump to ``dump``; silence stdout and stderr."""
    # The parent asks with SIGUSR1 where a stuck child is; faulthandler answers from C, so
    # even a loop that swallows every exception cannot stop it.
    faulthandler.register(signal.SIGUSR1, file=dump, all_threads=False)
    # A target's prints and logging would interleave with the caller's output.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = open(devnull, "w")  # noqa: SIM115  # lives as long as the child


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


async def _main(check: Check, factory: TargetFactory, seed: int) -> None:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    waiting: list[str] = []

    def expire() -> None:
        waiting.append(_waiting(loop))
        task.cancel()

    timer = loop.call_at(loop.time() + VIRTUAL_LIMIT, expire)
    h = Harness(factory, seed)
    try:
        await check.func(h)
    except asyncio.CancelledError:
        if waiting and task.uncancel() == 0:
            raise _VirtualOverrun(waiting[0]) from None
        raise
    finally:
        timer.cancel()
        await h.close()


def _outcome(check: Check, factory: TargetFactory, seed: int, max_real_seconds: float | None,
             heartbeat: Callable[[], None] | None) -> tuple[str, str, bool]:
    """Run the check on a fresh virtual loop; return (status, message, hung)."""
    loop = VirtualClockLoop(max_real_seconds=max_real_seconds)
    if heartbeat is not None:
        loop.observe_iterations(heartbeat)
    # Tasks a broken target leaves behind report "exception never retrieved" and the like
    # through the loop's handler; the check's result already says what went wrong.
    loop.set_exception_handler(lambda _loop, _context: None)
    runner = asyncio.Runner(loop_factory=lambda: loop)
    rule = check.rule
    try:
        runner.run(_main(check, factory, seed))
    except Skip as exc:
        return "skipped", str(exc), False
    except AssertionError as exc:  # CheckFailed included
        return "failed", str(exc) or f"{rule}: assertion failed {_location(exc)}", False
    except _VirtualOverrun as exc:
        return "failed", (f"{rule}: did not finish within {VIRTUAL_LIMIT:g} virtual s; "
                          f"waiting: {exc}; the target waits for something that never "
                          f"happens"), False
    except RealTimeLimitError:
        return "failed", (f"{rule}: did not finish within {max_real_seconds:g} wall s, at "
                          f"virtual t={loop.time():.3f}s; waiting: {_waiting(loop)}; the "
                          f"target keeps the loop busy (polling with 'await asyncio.sleep()' "
                          f"for something that never happens?)"), True
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the target's own errors, SystemExit included
        return "failed", f"{rule}: raised {type(exc).__name__}: {exc} {_location(exc)}", False
    finally:
        with contextlib.suppress(Exception):
            runner.close()  # cancels what the target left running; may deadlock or overrun
    return "passed", "", False


def _waiting(loop: asyncio.AbstractEventLoop) -> str:
    """Where the loop's tasks wait, the first few of them."""
    places = sorted(_where_task_waits(t) for t in asyncio.all_tasks(loop))
    more = len(places) - _SHOWN_TASKS
    return "; ".join(places[:_SHOWN_TASKS]) + (f"; and {more} more" if more > 0 else "") or "none"


def _location(exc: BaseException) -> str:
    """'at file:line in function' of the innermost frame outside the standard library."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "(no traceback)"
    ours = [f for f in frames if not f.filename.startswith(_STDLIB)]
    frame = (ours or frames)[-1]
    return f"at {_relative(frame.filename)}:{frame.lineno} in {frame.name}"


def _relative(filename: str) -> str:
    """The file name relative to the working folder when it is inside it."""
    with contextlib.suppress(ValueError):
        return str(Path(filename).relative_to(Path.cwd()))
    return filename


def _child(conn: Connection, factory: TargetFactory, checks: list[Check], seed: int,
           limits: _Limits, beat: Any, dump: Any) -> None:
    """Body of a child process: run the checks, send each result back as it comes."""
    _quiet_child(dump)

    def heartbeat() -> None:
        beat.value = time.monotonic()

    for c in checks:
        result = run_check(c, factory, seed, max_real_seconds=limits.loop, heartbeat=heartbeat)
        limits.note(result)  # this copy of the limits lives in the child
        conn.send(result)
    conn.close()


def _run_isolated(factory: TargetFactory, checks: list[Check], seed: int, limits: _Limits
                  ) -> Iterator[CheckResult]:
    """Run one category's checks in child processes, a fresh one after each overrun."""
    context = multiprocessing.get_context("fork")
    pending = list(checks)
    while pending:
        receiver, sender = context.Pipe(duplex=False)
        beat = context.RawValue("d", math.inf)  # no stall until the first check has begun
        dump = tempfile.TemporaryFile()  # noqa: SIM115  # closed with the process below
        process = context.Process(target=_child, daemon=True, name="asyncqueue-checks",
                                  args=(sender, factory, pending, seed, limits, beat, dump))
        _start(process)
        sender.close()
        lost: CheckResult | None = None
        try:
            while pending:
                waited = time.monotonic()
                why = _wait(receiver, beat, limits)
                if why is not None:
                    lost = _lost(pending[0], seed, f"{why}{_stuck_at(process, dump)}: "
                                 f"{SPIN_HINT}", time.monotonic() - waited, hung=True)
                    break
                try:
                    result = receiver.recv()
                except EOFError:
                    process.join(limits.budget)
                    lost = _lost(pending[0], seed,
                                 f"the check process ended (exit code {process.exitcode}) "
                                 f"while the check ran: the target ended the interpreter "
                                 f"(os._exit, a crash)", time.monotonic() - waited, hung=False)
                    break
                pending.pop(0)
                limits.note(result)
                yield result  # the child goes on with the next check meanwhile
        finally:
            _stop_child(process, receiver, dump)
        if lost is not None:
            pending.pop(0)
            limits.note(lost)
            yield lost


def _wait(receiver: Connection, beat: Any, limits: _Limits, since: float | None = None
          ) -> str | None:
    """Wait for the child's next result; return why it is given up on, or None when it came.
    The budget counts from ``since`` (a ``time.monotonic()`` reading), by default from now."""
    deadline = (time.monotonic() if since is None else since) + limits.budget
    while not receiver.poll(_WATCH_INTERVAL):
        now = time.monotonic()
        stuck = now - beat.value  # a loop that iterates stamps the beat every few microseconds
        if stuck > limits.stall or now > deadline:
            if stuck > 2 * _WATCH_INTERVAL:
                return (f"did not finish: the event loop was stuck in one callback for "
                        f"{stuck:.1f} wall s")
            return f"did not finish within {limits.budget:g} wall s"
    return None


def _stuck_at(process: multiprocessing.process.BaseProcess, dump: Any) -> str:
    """' at file:line in function' where the child's target code is, or '' if unknown."""
    if process.pid is None or not process.is_alive():
        return ""
    os.kill(process.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline and os.fstat(dump.fileno()).st_size == 0:
        time.sleep(0.005)
    time.sleep(0.005)  # let faulthandler finish the dump it began
    dump.seek(0)
    frames = re.findall(r'File "(.+)", line (\d+) in (\S+)', dump.read().decode(errors="replace"))
    for filename, line, function in frames:  # most recent call first
        if not filename.startswith((_STDLIB, _PACKAGE)):
            return f" at {_relative(filename)}:{line} in {function}"
    return ""


def _lost(check: Check, seed: int, reason: str, wall: float, *, hung: bool) -> CheckResult:
    """The result of a check whose process was killed or died: failed."""
    return CheckResult(check.name, check.category, check.rule, "failed",
                       f"{check.rule}: {reason}", seed, wall, hung)

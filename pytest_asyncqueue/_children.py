"""Child processes: fork one, watch its heartbeat, ask where it hangs, kill it.

The conformance checks and the state machines run a target in a child process so that a
target that never returns from one callback (``while True:`` without an await, a worker loop
that swallows every exception) cannot hang the caller; a check of what survives a crash kills
a target's process outright. :class:`Child` does all of it::

    with Child(work, target, name="asyncqueue-checks") as child:  # forked and running
        first = child.receive(budget=5.0, stall=1.0)  # what work sent, or ChildHung/ChildExited
    # leaving the block killed the child if it still ran, and reaped it

    def work(link: Link, target: object) -> None:  # runs in the child
        link.heartbeat()  # after every event loop iteration, in practice
        link.send(...)

IMPLEMENTATION DETAIL - what a child is made of
===============================================

- ``fork``: the child inherits the loaded target, the function and its arguments as they
  are, nothing is pickled. Where ``fork`` is missing (Windows) or unsafe (macOS: system
  frameworks break in the child), :func:`can_fork` is False and callers run in-process.
- Results come back through a one-way pipe, each as soon as the child sends it.
- The heartbeat is a shared double the child stamps with ``time.monotonic()`` (a reference
  taken at import: a target that replaces the function cannot stop the watchdog); it reads
  +inf until the first stamp, so nothing counts as stalled before the work has begun. Both
  users stamp it after every event loop iteration, so a stale heartbeat means one callback
  that does not return, and :class:`ChildHung` says so in those words.
- Where it hangs: the child answers SIGUSR1 with ``faulthandler``'s dump of its threads'
  stacks into a file the parent reads. faulthandler writes from C, so no ``except`` clause in
  the target can swallow the request. The place reported is the innermost frame outside the
  standard library and this package: the target's own line, in the main thread or, when
  the main thread is not in target code, in a thread the target started (a thread that
  never waits starves the event loop).
- The child's stdout and stderr go to ``os.devnull``: a target's prints and logging would
  interleave with the caller's output.
- Killing is SIGKILL and a join, so no process is left behind, not even a zombie; a
  :class:`Child` dropped without :meth:`Child.stop` is stopped when it is collected.
- A child never outlives its parent: on Linux the kernel SIGKILLs it when the parent dies
  (``prctl(PR_SET_PDEATHSIG)``), however the parent ends (killed, crashed, ``os._exit``);
  elsewhere a thread of the child's checks every 0.1 s that its parent is still there.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import math
import multiprocessing
import os
import re
import shutil
import signal
import sys
import sysconfig
import tempfile
import threading
from time import monotonic as _monotonic
from time import sleep as _sleep
import warnings
import weakref
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import IO, Any, Final

from ._isolation import isolate

__all__ = ["BUSY_THREAD_HINT", "HARNESS", "INTERRUPTED", "STDLIB", "THREAD_GRACE", "Child",
           "ChildExited", "ChildHung", "Link", "can_fork", "place", "queue_threads",
           "target_threads", "threads_left", "threads_note"]

STDLIB: Final = sysconfig.get_paths()["stdlib"]
"""The standard library's folder: frames in it are never the place a message names."""
HARNESS: Final = str(Path(__file__).parent)
"""This package's folder: a place in a target's code is the innermost frame outside it and
the standard library."""
_WATCH_INTERVAL: Final = 0.05  # wall seconds between two looks at a child's heartbeat
_DUMP_WAIT: Final = 0.5  # wall seconds a stuck child has to dump its stack
_PR_SET_PDEATHSIG: Final = 1  # prctl option: the signal the kernel sends when the parent dies


def can_fork() -> bool:
    """Whether children can be forked here: not on Windows (no fork) nor macOS (unsafe)."""
    return sys.platform != "darwin" and "fork" in multiprocessing.get_all_start_methods()


INTERRUPTED: Final = 130
"""A child's exit code when the target raised KeyboardInterrupt in it (as a shell's 128+2)."""
THREAD_GRACE: Final = 0.1
"""Wall seconds a thread the target started may take to end once ``stop`` has returned."""


def target_threads() -> list[threading.Thread]:
    """This process's live threads that the harness did not start (all but the main thread
    and the ``asyncqueue-`` ones): the target's, asyncio's executor's included."""
    return [t for t in threading.enumerate()
            if t is not threading.main_thread() and not t.name.startswith("asyncqueue-")]


def queue_threads() -> list[threading.Thread]:
    """:func:`target_threads` but the loop's default executor's (``asyncio_N``): those are
    the loop's, which the queue's stop cannot end."""
    return [t for t in target_threads() if not t.name.startswith("asyncio_")]


def threads_left(before: Iterable[threading.Thread]) -> list[str]:
    """The names of the :func:`queue_threads` started since ``before`` that are still alive
    after waiting up to :data:`THREAD_GRACE` wall seconds for them to end."""
    known = set(before)
    started = [t for t in queue_threads() if t not in known]
    deadline = _monotonic() + THREAD_GRACE
    for thread in started:
        thread.join(max(0.0, deadline - _monotonic()))
    return [t.name for t in started if t.is_alive()]


BUSY_THREAD_HINT: Final = ("a thread that never waits starves the event loop (let it block "
                           "or sleep, and end it on stop)")
"""What a message about a target's threads ends with."""


def threads_note() -> str:
    """"; meanwhile N thread(s) the target started were alive (names): ..." when there are
    any, else ""."""
    names = [t.name for t in target_threads()]
    if not names:
        return ""
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (f"; meanwhile {len(names)} thread(s) the target started were alive ({shown}): "
            f"{BUSY_THREAD_HINT}")


def place(filename: str, line: object, function: str) -> str:
    """``at file:line in function``, the file relative to the working folder when inside it."""
    with contextlib.suppress(ValueError):
        filename = str(Path(filename).relative_to(Path.cwd()))
    return f"at {filename}:{line} in {function}"


class ChildHung(Exception):
    """Raised by :meth:`Child.receive` when it gives up on a child that still runs.

    Attributes:
        stalled: wall seconds since the child's last heartbeat, when it had stopped beating
            (None: the budget ran out while it still beat).
        budget: the wall seconds the value was waited for.
        where: `` at file:line in function`` where the child's target code is, or "".
        thread: the same for a thread the target started (a busy thread can starve the
            event loop), or "".
    """

    def __init__(self, stalled: float | None, budget: float, where: str,
                 thread: str = "") -> None:
        self.stalled, self.budget, self.where, self.thread = stalled, budget, where, thread
        reason = (f"did not finish: the event loop was stuck in one callback for "
                  f"{stalled:.1f} wall s" if stalled is not None else
                  f"did not finish within {budget:g} wall s")
        super().__init__(reason + where)


class ChildExited(Exception):
    """Raised by :meth:`Child.receive` when the child ended before it sent a value.

    Attributes:
        exitcode: the child's exit code; negative: killed by that signal; None: unknown.
    """

    def __init__(self, exitcode: int | None) -> None:
        self.exitcode = exitcode
        super().__init__(f"the child process ended (exit code {exitcode})")

    @property
    def cause(self) -> str:
        """What ended it, as a message can say: a KeyboardInterrupt the target raised, a
        signal, or the target ending the interpreter."""
        if self.exitcode == INTERRUPTED:
            return "the target raised KeyboardInterrupt"
        if self.exitcode is not None and self.exitcode < 0:
            number = -self.exitcode
            name = (signal.Signals(number).name if number in signal.valid_signals()
                    else f"signal {number}")
            return (f"the process was killed by {name}" + (" (out of memory?)" if name ==
                                                           "SIGKILL" else ""))
        return f"the target ended the interpreter (exit code {self.exitcode}: os._exit, a crash)"


class Link:
    """The child's end of its tie to the parent; the child's function gets it first.

    Only the child itself may use it: a copy of the child that the target forked (a
    ``submit`` that calls ``os.fork()`` and returns in both processes) would run the rest of
    the checks a second time and send every result twice; it ends as it tries to.
    """

    def __init__(self, sender: Connection, beat: Any) -> None:
        self._sender, self._beat = sender, beat
        self.owner = 0  # the child's pid, set as it starts

    def heartbeat(self) -> None:
        """Stamp the heartbeat: the child is alive and its loop turns."""
        if os.getpid() == self.owner:
            self._beat.value = _monotonic()

    def send(self, value: object) -> None:
        """Send a value to the parent, which gets it from :meth:`Child.receive`."""
        if os.getpid() != self.owner:
            os._exit(0)  # a copy the target forked: the child itself sends this result
        self._sender.send(value)


class Child:
    """A forked process running ``func(link, *args)``, watched by this one.

    The process is running when the constructor returns. Values the function sends through
    its :class:`Link` are read with :meth:`receive`; :meth:`stop` (or leaving a ``with``
    block, or dropping the object) kills the process if it still runs and frees what this
    side holds. Only where :func:`can_fork` is True.

    Args:
        func: called in the child with a :class:`Link` and ``args``; what it returns is
            dropped, an exception it raises ends the child with exit code 1.
        *args: passed on as they are (forked, not pickled).
        name: the process's name, as ``multiprocessing.active_children()`` shows it.

    Attributes:
        started: ``_monotonic()`` when the process had been started.
    """

    def __init__(self, func: Callable[..., object], *args: Any, name: str,
                 isolated: bool = True) -> None:
        context = multiprocessing.get_context("fork")
        self._receiver, sender = context.Pipe(duplex=False)
        beat = context.RawValue("d", math.inf)
        self._dump: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115  # closed by stop()
        self.workdir = tempfile.mkdtemp(prefix="asyncqueue-")  # removed by stop()
        self._process: BaseProcess = context.Process(
            target=_child_main, args=(func, Link(sender, beat), args, self._dump, os.getpid(),
                                      self.workdir if isolated else None),
            daemon=True, name=name)
        self._beat = beat
        self._stop = weakref.finalize(self, _stop, self._process, self._receiver, self._dump,
                                      self.workdir)
        try:
            with warnings.catch_warnings():
                # Python >= 3.12 warns when a process with threads forks. The child runs
                # only the function, and replaces the streams whose locks a thread could hold.
                warnings.filterwarnings("ignore", r"This process .* is multi-threaded",
                                        DeprecationWarning)
                self._process.start()
        except BaseException:
            self.stop()
            raise
        finally:
            sender.close()  # the child's copy stays open: the pipe ends when the child does
        self.started = _monotonic()

    def receive(self, *, budget: float, stall: float, since: float | None = None) -> Any:
        """The next value the child sends, waiting at most ``budget`` wall seconds.

        Args:
            budget: wall seconds to wait, counted from ``since``.
            stall: wall seconds the heartbeat may stay unstamped (once stamped) before the
                child is given up on.
            since: a ``_monotonic()`` reading the budget counts from; default now
                (pass :attr:`started` to count from the start).

        Raises:
            ChildHung: the heartbeat or the budget ran out; the child still runs (stop it).
            ChildExited: the child ended first (the target ended the interpreter, crashed,
                or was killed).
        """
        deadline = (_monotonic() if since is None else since) + budget
        while not self._receiver.poll(_WATCH_INTERVAL):
            now = _monotonic()
            stuck = now - self._beat.value  # a loop that turns stamps it every few µs
            if stuck > stall or now > deadline:
                raise ChildHung(stuck if stuck > 2 * _WATCH_INTERVAL else None, budget,
                                *self._stuck_at())
        try:
            return self._receiver.recv()
        except EOFError:
            self._process.join(stall)
            raise ChildExited(self._process.exitcode) from None

    def kill(self) -> None:
        """SIGKILL the child if it still runs and reap it; values it sent stay readable."""
        _kill(self._process)

    def stop(self) -> None:
        """Kill the child if it still runs, reap it, and close this side's pipe and dump
        file. Idempotent."""
        self._stop()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _stuck_at(self) -> tuple[str, str]:
        """Where the child's main thread is in target code (`` at file:line in function``),
        and where a thread the target started is; "" for none."""
        if not self._process.is_alive():
            return "", ""
        assert self._process.pid is not None
        os.kill(self._process.pid, signal.SIGUSR1)
        deadline = _monotonic() + _DUMP_WAIT
        while _monotonic() < deadline and os.fstat(self._dump.fileno()).st_size == 0:
            _sleep(0.005)
        _sleep(0.005)  # let faulthandler finish the dump it began
        self._dump.seek(0)
        # One section per thread, each most recent call first; the main one runs _child_main.
        main, others = "", []
        for section in re.split(r"^(?:Current thread|Thread) 0x[0-9a-f]+ .*$",
                                self._dump.read().decode(errors="replace"), flags=re.M):
            frames = re.findall(r'File "(.+)", line (\d+) in (\S+)', section)
            functions = [function for _, _, function in frames]
            if "_child_main" in functions:  # the frames below it are the parent's, forked
                frames = frames[:functions.index("_child_main")]
            theirs = next((" " + place(*frame) for frame in frames
                           if not frame[0].startswith((STDLIB, HARNESS, "<frozen "))), "")
            if "_child_main" in functions:
                main = theirs
            elif theirs:
                others.append(theirs)
        return main, others[0] if others else ""


def _kill(process: BaseProcess) -> None:
    """SIGKILL a started process and every process of its group (what the target forked:
    a no-op for those that ended), and reap it."""
    if process.pid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.kill()
        process.join()


def _stop(process: BaseProcess, receiver: Connection, dump: IO[bytes], workdir: str) -> None:
    """Kill a child process if it still runs, reap it, close what the parent holds, and
    remove the child's working folder."""
    _kill(process)
    receiver.close()
    dump.close()
    shutil.rmtree(workdir, ignore_errors=True)


def _child_main(func: Callable[..., object], link: Link, args: tuple[Any, ...],
                dump: IO[bytes], parent: int, workdir: str | None) -> None:
    """Body of a child process: die with the parent, isolate itself (a folder of its own, a
    scrubbed environment, a memory limit), answer SIGUSR1 with a stack dump, go quiet, run
    ``func``."""
    link.owner = os.getpid()
    _die_with(parent)
    if workdir is not None:
        isolate(workdir)
    # A group of its own: what the target forks belongs to it, and dies with it (_kill).
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    # The parent asks with SIGUSR1 where a stuck child is; faulthandler answers from C, so
    # even a loop that swallows every exception cannot stop it.
    faulthandler.register(signal.SIGUSR1, file=dump, all_threads=True)
    # A target's prints and logging would interleave with the caller's output.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = open(devnull, "w")  # noqa: SIM115  # lives as long as the child
    try:
        func(link, *args)  # the pipe closes as the process ends: a receive after it says so
    except KeyboardInterrupt:  # the target's (a user's Ctrl-C reaches the parent too)
        os._exit(INTERRUPTED)


def _die_with(parent: int) -> None:
    """End this process when process ``parent`` ends."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    except (OSError, AttributeError):  # not Linux: watch the parent from a thread
        def watch() -> None:
            while os.getppid() == parent:
                _sleep(0.1)
            os._exit(1)

        threading.Thread(target=watch, name="asyncqueue-parent-watch", daemon=True).start()
    if os.getppid() != parent:  # it died before the kernel was asked
        os._exit(1)

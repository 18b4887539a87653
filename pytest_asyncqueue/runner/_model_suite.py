"""The model suite: the state machines against a target, beside the conformance checks.

:func:`start_machines` starts :func:`pytest_asyncqueue.machines.run_machines` in a child
process (:class:`pytest_asyncqueue._children.Child`) and returns at once, so that the caller
can run the conformance checks meanwhile; :meth:`MachinesRun.wait` then turns the machines'
verdicts into one :class:`~pytest_asyncqueue.runner.CheckResult` per category. A machine
stuck in one callback of the target fails the run in one category, naming the target's line.

Private: the public names are re-exported by :mod:`pytest_asyncqueue.runner`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from .._children import Child, ChildExited, ChildHung, Link, can_fork
from ..adapters import TargetFactory
from ..contract import CATEGORIES
from ._follows import model_uses
from ._result import CheckResult, hang_hint

__all__ = ["MODEL_EXAMPLES", "MachinesRun", "run_machines_as_checks", "start_machines"]

MODEL_EXAMPLES: Final = 50
"""Examples the state machines run by default: about 2.5 wall s against ``queue_core``."""
MODEL_WALL_BUDGET: Final = 600.0
"""Wall seconds the model suite may take, from its start, before its process is killed."""
MODEL_STALL_LIMIT: Final = 5.0
"""Wall seconds one loop iteration may take in the model suite before it is given up on."""


def run_machines_as_checks(factory: TargetFactory, categories: Sequence[str], seed: int,
                           **options: Any) -> list[CheckResult]:
    """Run the state machines against a target and return one result per category; the
    arguments are those of :func:`start_machines`."""
    with start_machines(factory, categories, seed, **options) as run:
        return run.wait()


def start_machines(factory: TargetFactory, categories: Sequence[str], seed: int, *,
                   examples: int = MODEL_EXAMPLES, replay: str = "",
                   save_regression: str | Path | None = None, target: str | None = None,
                   isolate: bool = True) -> MachinesRun:
    """Start the state machines (:func:`pytest_asyncqueue.machines.run_machines`) against a
    target; :meth:`MachinesRun.wait` returns one result per category, in the given order.

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
    from ..machines import run_machines

    def run(heartbeat: Callable[[], None] | None = None) -> list[CheckResult]:
        return [CheckResult("model" if r.status != "failed" else f"model.{r.check}",
                            r.category, "the executable model of DESIGN section 2", r.status,
                            r.message, seed, replay=replay if r.status == "failed" else "",
                            follows_from=r.follows_from, used=model_uses(r.calls))
                for r in run_machines(factory, seed=seed, examples=examples,
                                      categories=categories, save_regression=save_regression,
                                      target=target, heartbeat=heartbeat)]

    return MachinesRun(run, categories, seed, replay, isolate=isolate and can_fork())


class MachinesRun:
    """The state machines started by :func:`start_machines`.

    ``wait()`` returns their results (the same list on every call); ``close()`` stops a run
    still going. Use it as a context manager, which closes on exit; a run dropped unclosed
    is stopped when it is collected.
    """

    def __init__(self, run: Callable[..., list[CheckResult]], categories: Sequence[str],
                 seed: int, replay: str, *, isolate: bool) -> None:
        self._run, self._categories, self._seed, self._replay = run, categories, seed, replay
        self._results: list[CheckResult] | None = None
        self._child = Child(_machines_child, run, name="asyncqueue-model") if isolate else None

    def wait(self) -> list[CheckResult]:
        """The results, one per category: waits for the machines, or runs them here."""
        if self._results is None:
            self._results = self._run() if self._child is None else self._collect(self._child)
        return self._results

    def close(self) -> None:
        """Stop the machines' process if it still runs. Idempotent."""
        if self._child is not None:
            self._child.stop()

    def _collect(self, child: Child) -> list[CheckResult]:
        try:
            return child.receive(budget=MODEL_WALL_BUDGET, stall=MODEL_STALL_LIMIT,
                                 since=child.started)
        except ChildHung as exc:
            why = f"{exc}: {hang_hint(exc)}"
        except ChildExited as exc:
            why = f"the model process ended: {exc.cause}"
        finally:
            self.close()
        wall = time.monotonic() - child.started
        judged = [c for c in CATEGORIES if c in self._categories]
        blamed = "concurrency" if "concurrency" in judged else judged[0]
        return [CheckResult("model.finishes", c, "S2: the loop is never blocked", "failed",
                            f"the model suite {why}", self._seed, wall, True, self._replay)
                if c == blamed else
                CheckResult("model", c, "", "skipped", f"model: not judged: the run was "
                            f"stopped ({blamed} failed)", self._seed)
                for c in judged]

    def __enter__(self) -> MachinesRun:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _machines_child(link: Link, run: Callable[..., list[CheckResult]]) -> None:
    """In the child process: run the machines, send the results back."""
    link.send(run(link.heartbeat))

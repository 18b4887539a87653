"""Running the machines under Hypothesis: one verdict per category."""

from __future__ import annotations

import contextlib
import itertools
import warnings
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Final

from hypothesis import HealthCheck, Phase, Verbosity
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as Settings
from hypothesis.errors import Flaky, Unsatisfiable, UnsatisfiedAssumption
from hypothesis.stateful import run_state_machine_as_test

from ..adapters import TargetFactory
from ..contract import MODEL_CATEGORIES
from ..model import Finding
from ._machine import QueueMachine
from ._outcomes import (
    MachineFailure,
    MachineResult,
    Tally,
    ThreadsLeaked,
    blocking_result,
    failed_result,
)
from ._regression import write_regression
from ._replay import StepNotAllowed, replay
from ._shrink import shrink
from ._steps import SIMPLEST

_OTHER_TARGET: Final = frozenset({"zero_workers_rejected"})
"""Checks of a target built apart from the example's (its breach causes nothing there)."""


def run_machines(factory: TargetFactory, *, seed: int, examples: int = 100,
                 categories: Iterable[str] | None = None, steps: int = 30,
                 runs: int | None = None, shrinks: int = 150,
                 save_regression: str | Path | None = None, target: str | None = None,
                 heartbeat: Callable[[], None] | None = None) -> list[MachineResult]:
    """Model-check a target: one result per category, in :data:`MODEL_CATEGORIES` order.

    Runs :class:`QueueMachine` under Hypothesis with ``seed``. When a category fails, the
    run is repeated with it muted (examples in which it breaks are discarded, and Hypothesis
    draws others until ``examples`` were judged or it gives up on finding enough) until no
    judged category fails or ``runs`` runs are done. A failure found with others muted may
    follow from them; its message says so. The same arguments give the same results.

    Args:
        factory: builds the target (``adapters.make_factory``).
        seed: Hypothesis's seed; it also draws each example's loop schedule seed.
        examples: examples per run (each up to ``steps`` steps).
        categories: the categories to judge (default all); the others are muted.
        steps: most steps per example.
        runs: most Hypothesis runs (None: until every category has a verdict); categories
            left without one are "skipped".
        shrinks: most replays run to shrink a failure (the smallest so far is reported).
        save_regression: a folder in which to write a pytest file per failure.
        target: the target spec for those files (default: ``module:Class`` of the class).
        heartbeat: called after every loop iteration of the target's loops (a sign of life
            for a watchdog in another process).

    Returns:
        One :class:`MachineResult` per judged category.
    """
    wanted = [c for c in MODEL_CATEGORIES if categories is None or c in set(categories)]
    caps = factory.capabilities
    lacking = {"retries": "submit has no max_retries option" * ("max_retries" not in
                                                               caps.submit_options),
               "cancellation": "target has no cancel" * (not caps.has("cancel")),
               "scheduling": "submit has no delay or timeout option" * (
                   not {"delay", "timeout"} & caps.submit_options)}
    if "workers" not in caps.settings:
        lacking = dict.fromkeys(MODEL_CATEGORIES, "target has no workers setting")
    results = {c: MachineResult(c, "skipped", message=f"model: {lacking[c]}", seed=seed)
               for c in wanted if lacking.get(c)}
    muted = set(MODEL_CATEGORIES) - set(wanted) | set(results)
    failed: list[str] = []
    tally, done, failure = Tally(), False, None
    for _ in itertools.count() if runs is None else range(runs):
        if len(muted) == len(MODEL_CATEGORIES):
            break
        tally = Tally(heartbeat=heartbeat)
        failure = _run_once(factory, seed, examples, steps, frozenset(muted), tally)
        if isinstance(failure, ThreadsLeaked):  # no run can go on: report it and stop
            if "memory" in wanted:
                leak = _smallest_leak(factory, failure)
                results.setdefault("memory", failed_result(leak.finding, leak.steps, leak.calls,
                                                           seed, tally.examples))
            break
        cause = ""
        if isinstance(failure, MachineFailure) and failure.calls:
            failure = shrink(factory, failure, budget=shrinks, heartbeat=heartbeat)
            if failed:
                cause = _cause(factory, failure, heartbeat)
        found = [] if isinstance(failure, str) or failure is None else [replace(failed_result(
            failure.finding, failure.steps, failure.calls, seed,
            tally.first_failure or tally.examples), follows_from=cause)]
        if "concurrency" not in muted and (blocked := blocking_result(tally, seed)):
            found.insert(0, blocked)
        new = [r for r in found if r.category not in muted]
        for result in found:
            if result.category in wanted and result.category not in results:
                results[result.category] = result
                failed.append(result.category)
                muted.add(result.category)
        if failure == "discarded":  # every example broke a muted category first
            break
        if failure is None:
            done = True
            break
        if not new:  # a failure in a muted category (a replay that went otherwise): the
            break    # next run would find it again
    reason = "model: not judged; " + (
        "the target's threads outlive its stop, and every example would leave more"
        if isinstance(failure, ThreadsLeaked) else
        f"every example broke {', '.join(failed)} first" if failure == "discarded" else
        f"the model check stops after {len(failed)} failures")
    ordered = [results.get(c) or (MachineResult(c, "passed", seed=seed, examples=tally.examples)
                                  if done else MachineResult(c, "skipped", message=reason,
                                                             seed=seed)) for c in wanted]
    if save_regression is not None:
        spec = target or f"{factory.cls.__module__}:{factory.cls.__qualname__}"
        for result in ordered:
            if result.status == "failed" and result.calls:
                write_regression(result, Path(save_regression), spec, factory.shape)
    return ordered


def _smallest_leak(factory: TargetFactory, leak: ThreadsLeaked) -> ThreadsLeaked:
    """The simplest example (one plain task, then stop) if it leaves threads running too,
    else ``leak``: one replay, not a shrink, as each replay leaves more."""
    simplest = {name: SIMPLEST[name] for name in ("workers", "loop_seed", "base_delay", "cap",
                                                  "cache", "drain")}
    try:
        replay(factory, [("init", {**simplest, "tasks": [{}]})], Tally())
    except ThreadsLeaked as smaller:
        return smaller
    except (MachineFailure, StepNotAllowed, UnsatisfiedAssumption):
        pass
    return leak


def _cause(factory: TargetFactory, failure: MachineFailure,
           heartbeat: Callable[[], None] | None) -> str:
    """The earlier failure this one follows from, as ``category::model.check``, or "".

    Its steps are replayed with every other category muted: if another rule broke before
    this one did (in the example's own target: not the separate one built with
    ``workers=0``), this failure follows from the first such breach; if none did, it is a
    defect of its own.
    """
    others = frozenset(MODEL_CATEGORIES) - {failure.finding.category}
    tally = Tally(heartbeat=heartbeat)
    with contextlib.suppress(MachineFailure, StepNotAllowed, UnsatisfiedAssumption,
                             ThreadsLeaked):
        replay(factory, failure.calls, tally, muted=others)
    causes = [f for f in tally.muted_findings if f.check not in _OTHER_TARGET]
    return f"{causes[0].category}::model.{causes[0].check}" if causes else ""


def _run_once(factory: TargetFactory, seed: int, examples: int, steps: int,
              muted: frozenset[str], tally: Tally) -> MachineFailure | str | None:
    """One Hypothesis run, generation only: the first failure, or "discarded" when every
    example broke a muted category (Hypothesis found none to judge)."""
    def make() -> QueueMachine:
        return QueueMachine(factory, muted=muted, tally=tally)

    settings = Settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                        database=None, derandomize=False, phases=(Phase.generate,),
                        report_multiple_bugs=False, suppress_health_check=list(HealthCheck),
                        verbosity=Verbosity.quiet, print_blob=False)
    with warnings.catch_warnings():
        # A target that never awaits its handlers leaves coroutines to the garbage
        # collector; the machine reports that bug by its effects.
        warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
        try:
            run_state_machine_as_test(hypothesis_seed(seed)(make), settings=settings)
        except ThreadsLeaked as leak:
            return leak
        except MachineFailure as failure:
            return failure
        except Unsatisfiable:
            return "discarded"
        except BaseExceptionGroup as group:  # Hypothesis's FlakyFailure: report the first
            found = group.subgroup(MachineFailure)
            if found is None:
                raise
            while isinstance(found, BaseExceptionGroup):
                found = found.exceptions[0]
            return found
        except Flaky as error:  # the same choices did not replay the same way
            return MachineFailure(Finding(
                "concurrency", "replays_deterministically", f"S9: the same steps on the same "
                f"loop schedule went differently when replayed ({type(error).__name__}); the "
                f"queue must take its time from the loop's clock and start no threads"), [], [])
    return None

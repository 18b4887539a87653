"""Run the two suites against a target and say how each check ended.

- The conformance checks (``_checks``): :func:`run_checks`, :func:`iter_results`,
  :func:`run_check`, each check on a fresh virtual clock, each category in a child process
  that is killed if the target hangs.
- The model suite (``_model_suite``): :func:`start_machines` runs the state machines in a
  child process of their own beside the checks; :class:`MachinesRun` gives their verdicts.

Both end as :class:`CheckResult` s (``_result``), which :mod:`pytest_asyncqueue.report`
turns into the report, once :func:`attribute` (``_follows``) has marked the failures that
follow from a more basic one. Both fork through :mod:`pytest_asyncqueue._children`.

Example::

    factory = make_factory("queue_core")
    with start_machines(factory, ["ordering"], seed=1234) as machines:
        results = run_checks(factory, select_checks(["ordering"]), seed=1234)
        results += machines.wait()
    assert all(r.status != "failed" for r in results)
"""

from __future__ import annotations

from ._checks import (
    AFTER_HANG,
    DEFAULT_STALL_LIMIT,
    DEFAULT_WALL_BUDGET,
    VIRTUAL_LIMIT,
    iter_results,
    run_check,
    run_checks,
    select_checks,
)
from ._follows import FOUNDATIONS, attribute
from ._model_suite import MODEL_EXAMPLES, MachinesRun, run_machines_as_checks, start_machines
from ._result import SPIN_HINT, STATUSES, CheckResult, new_seed

__all__ = [
    "AFTER_HANG",
    "DEFAULT_STALL_LIMIT",
    "DEFAULT_WALL_BUDGET",
    "FOUNDATIONS",
    "MODEL_EXAMPLES",
    "SPIN_HINT",
    "STATUSES",
    "VIRTUAL_LIMIT",
    "CheckResult",
    "MachinesRun",
    "attribute",
    "iter_results",
    "new_seed",
    "run_check",
    "run_checks",
    "run_machines_as_checks",
    "select_checks",
    "start_machines",
]

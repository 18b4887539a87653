"""Regression files: a failed verdict written as a pytest test that replays its steps."""

from __future__ import annotations

import pprint
from pathlib import Path

from ._outcomes import MachineResult


def write_regression(result: MachineResult, folder: Path, target: str,
                     shape: str | None = None) -> Path:
    """Write a pytest file replaying a failed result's steps; return its path.

    The test fails while the bug is there and passes once it is fixed. It imports only
    ``make_factory`` and :func:`~pytest_asyncqueue.machines.run_steps`, so files written by
    earlier releases keep working.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"test_model_regression_{result.category}.py"
    calls = pprint.pformat([tuple(c) for c in result.calls], indent=4, width=96)
    finding = result.finding.replace('"""', "'''")
    path.write_text(
        f'"""Regression: the model check failed in {result.category} ({result.check}), '
        f'seed {result.seed}.\n\n{finding}\n"""\n\n'
        f"from pytest_asyncqueue.adapters import make_factory\n"
        f"from pytest_asyncqueue.machines import run_steps\n\n"
        f"TARGET = {target!r}\nSHAPE = {shape!r}\nSTEPS = {calls}\n\n\n"
        f"def test_model_regression_{result.category}() -> None:\n"
        f"    run_steps(make_factory(TARGET, shape=SHAPE), STEPS)\n", encoding="utf-8")
    return path

"""The false-alarm corpus passes the conformance suite: no check judges a point oas37a leaves open.

Each queue here is correct and takes its own readings of the open points (its docstring lists
them; ``test_own_readings.py`` checks that it does what it says). ``asyncqueue-check`` runs
every conformance category on each, in-process as ``tests/zoo/test_zoo.py`` does, on three
seeds, and no check may fail. Skips are allowed only for features a queue lacks (the
scheduling checks: none of them takes ``delay`` or ``timeout``). The zoo is the other half
of the guard: the relaxed checks still catch every mutant in its own category.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_asyncqueue.cli import main

HERE = Path(__file__).resolve().parent
QUEUES = ["lazy_queue", "cancelling_stop_queue", "polling_queue", "back_of_line_queue"]
SEEDS = [1, 2, 3]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("queue", QUEUES)
def test_no_conformance_check_fails_on_a_correct_queue(tmp_path: Path, queue: str,
                                                       seed: int) -> None:
    report = tmp_path / "report.json"
    with open(tmp_path / "out.txt", "w") as out:
        status = main([f"{HERE / queue}.py:AsyncTaskQueue", "--shape", "oas37a", "--suite",
                       "conformance", "--seed", str(seed), "--report", str(report)], out=out)
    verdicts = json.loads(report.read_text())["categories"]
    failures = {f"{category}::{f['check']}": f["message"]
                for category, verdict in verdicts.items() for f in verdict["failures"]}
    assert failures == {}
    skips = {s["reason"] for verdict in verdicts.values() for s in verdict.get("skips", [])}
    assert skips <= {"target has no delay", "target has no timeout"}
    assert status == 0

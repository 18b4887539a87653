"""The harness kills the zoo: each mutant fails ``asyncqueue-check`` in the category of its bug.

The correct targets pass every category; each mutant is checked with ``--only`` its own
category (the question is whether that category catches it; ``python -m tests.zoo.table``
runs every category on every mutant for the full table). Interleaving-only mutants are the
state machines' to catch, not the conformance checks': each must fail the model suite.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_asyncqueue.cli import main

from .mutants import MUTANTS, REPO_ROOT, TARGETS, TWO_BUGS, Mutant, by_name, materialize

SEED = 20261123


def check(target: Path | str, tmp_path: Path, *options: str) -> tuple[int, dict]:
    """Run asyncqueue-check in-process; return the exit status and the JSON report."""
    report = tmp_path / "report.json"
    with open(tmp_path / "out.txt", "w") as out:
        status = main([str(target), "--suite", "conformance", "--seed", str(SEED),
                       "--report", str(report), *options], out=out)
    return status, json.loads(report.read_text())


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_the_correct_target_passes_every_category(tmp_path, target):
    status, report = check(REPO_ROOT / TARGETS[target], tmp_path)
    failed = {c: r["failures"] for c, r in report["categories"].items() if r["status"] == "failed"}
    assert failed == {}
    assert status == 0 and report["ok"] is True


@pytest.mark.parametrize("mutant", [m for m in MUTANTS if not m.interleaving],
                         ids=lambda m: m.name)
def test_each_mutant_fails_in_the_category_that_names_its_bug(tmp_path, mutant: Mutant):
    target = materialize(mutant, tmp_path)
    status, report = check(target, tmp_path, "--only", mutant.category)
    verdict = report["categories"][mutant.category]
    assert verdict["status"] == "failed", (
        f"{mutant.name} ({mutant.bug}) passed the {mutant.category} checks")
    assert status == 1


@pytest.mark.parametrize("mutant", [m for m in MUTANTS if m.interleaving],
                         ids=lambda m: m.name)
def test_each_interleaving_mutant_fails_the_model_in_its_category(tmp_path, mutant: Mutant):
    # These only misbehave when a cancel lands in one particular loop iteration: the state
    # machines, which vary the schedule, must find them (150 examples: 1-4 wall s each).
    target = materialize(mutant, tmp_path)
    status, report = check(target, tmp_path, "--only", mutant.category, "--suite", "model",
                           "--model-examples", "150")
    assert report["categories"][mutant.category]["status"] == "failed", (
        f"{mutant.name} ({mutant.bug}) passed the model's {mutant.category} invariants")
    assert status == 1


@pytest.mark.parametrize("pair", TWO_BUGS, ids="+".join)
def test_two_bugs_in_two_categories_are_both_reported_each_once(tmp_path, pair):
    # One defect, one failure (DESIGN section 3): each bug has exactly one failure of its own,
    # in its own category; any other failure is marked as following from one of the two.
    mutants = [by_name(name) for name in pair]
    status, report = check(materialize(mutants, tmp_path), tmp_path)
    own = sorted((category, failure["check"])
                 for category, verdict in report["categories"].items()
                 for failure in verdict["failures"] if not failure.get("follows_from"))
    assert [category for category, _ in own] == sorted(m.category for m in mutants), own
    assert status == 1


@pytest.mark.parametrize("name", ["qc_running_reported_as_pending",
                                  "oas_running_reported_as_pending"])
def test_running_is_judged_against_the_handlers_in_flight(tmp_path, name: str):
    # The counters still add up and none goes negative: only comparing running with the
    # attempts started and not ended, once an instant settles, catches it at every iteration.
    target = materialize(next(m for m in MUTANTS if m.name == name), tmp_path)
    status, report = check(target, tmp_path, "--only", "stats")
    failures = {f["check"]: f["message"] for f in report["categories"]["stats"]["failures"]}
    assert failures["counters_consistent_at_every_iteration"].startswith(
        "S6: running was 0 once all was done at virtual t=")

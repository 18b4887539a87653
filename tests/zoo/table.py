"""Print the zoo table: ``python -m tests.zoo.table [--suite SUITE] [--model-examples N]``.

Runs ``asyncqueue-check`` with every category on every mutant and prints a markdown row
per mutant: intended category, the categories that failed, whether the intended one is
among them, how many failures it caused and how many of those are of their own (the rest
follow from another: one defect, one failure) and, for the model suite, in which example
the state machines first saw it fail.
The conformance suite takes a minute or two, the model suite at 200 examples about twenty
minutes; the fast pass/fail version is ``tests/zoo/test_zoo.py``.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from pathlib import Path

from pytest_asyncqueue.cli import main as check

from .mutants import MUTANTS, materialize


def failed_categories(target: Path, workdir: Path, suite: str, seed: int, examples: int
                      ) -> tuple[dict[str, str], int, int]:
    """The categories that failed, each with the example in which the model first saw it
    fail ("" when only the conformance checks did); then the failures, and how many of them
    are of their own (not following from another)."""
    report = workdir / "report.json"
    with open(workdir / "out.txt", "w") as out:
        check([str(target), "--suite", suite, "--seed", str(seed), "--model-examples",
               str(examples), "--report", str(report)], out=out)
    failed, failures, own = {}, 0, 0
    for name, verdict in json.loads(report.read_text())["categories"].items():
        failures += len(verdict["failures"])
        own += sum(not f.get("follows_from") for f in verdict["failures"])
        if verdict["status"] == "failed":
            seen = [re.search(r"first seen in example (\d+)", f["message"])
                    for f in verdict["failures"]]
            failed[name] = next((m.group(1) for m in seen if m), "")
    return failed, failures, own


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.zoo.table", description=__doc__)
    parser.add_argument("--suite", choices=("conformance", "model", "all"), default="conformance")
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--model-examples", type=int, default=200)
    args = parser.parse_args()
    print("| mutant | intended category | categories failed | caught | failures (of their "
          "own) | model: first seen in example |")
    print("|---|---|---|---|---|---|")
    caught = 0
    for mutant in MUTANTS:
        with tempfile.TemporaryDirectory() as tmp:
            failed, failures, own = failed_categories(materialize(mutant, tmp), Path(tmp),
                                                      args.suite, args.seed,
                                                      args.model_examples)
        hit = mutant.category in failed
        caught += hit
        flag = " (interleaving)" if mutant.interleaving else ""
        print(f"| {mutant.name}{flag} | {mutant.category} | {', '.join(failed) or '-'} | "
              f"{'yes' if hit else 'NO'} | {failures} ({own}) | "
              f"{failed.get(mutant.category) or '-'} |", flush=True)
    print(f"\n{caught} of {len(MUTANTS)} mutants caught in their own category "
          f"(suite {args.suite}, {args.model_examples} examples, seed {args.seed})")


if __name__ == "__main__":
    main()

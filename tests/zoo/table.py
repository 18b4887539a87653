"""Print the zoo table: ``python -m tests.zoo.table [--suite examples|model|all]``.

Runs ``asyncqueue-check`` with every category on every mutant and prints a markdown row
per mutant: intended category, the categories that failed, and whether the intended one is
among them. Takes a minute or two; the fast pass/fail version is ``tests/zoo/test_zoo.py``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from pytest_asyncqueue.cli import main as check

from .mutants import MUTANTS, materialize


def failed_categories(target: Path, workdir: Path, suite: str, seed: int) -> list[str]:
    report = workdir / "report.json"
    with open(workdir / "out.txt", "w") as out:
        check([str(target), "--suite", suite, "--seed", str(seed), "--report", str(report)],
              out=out)
    categories = json.loads(report.read_text())["categories"]
    return [name for name, verdict in categories.items() if verdict["status"] == "failed"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.zoo.table", description=__doc__)
    parser.add_argument("--suite", choices=("examples", "model", "all"), default="examples")
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args()
    print("| mutant | intended category | categories failed | caught |")
    print("|---|---|---|---|")
    caught = 0
    for mutant in MUTANTS:
        with tempfile.TemporaryDirectory() as tmp:
            failed = failed_categories(materialize(mutant, tmp), Path(tmp), args.suite,
                                       args.seed)
        hit = mutant.category in failed
        caught += hit
        flag = " (interleaving)" if mutant.interleaving else ""
        print(f"| {mutant.name}{flag} | {mutant.category} | {', '.join(failed) or '-'} | "
              f"{'yes' if hit else 'NO'} |", flush=True)
    print(f"\n{caught} of {len(MUTANTS)} mutants caught in their own category "
          f"(suite {args.suite}, seed {args.seed})")


if __name__ == "__main__":
    main()

"""The false-alarm sweep: ``python -m tests.false_alarms.sweep [--seeds N]``.

Runs ``asyncqueue-check`` (both suites, every category) on each correct queue of the corpus
and on the two reference targets, on seeds 1..N (default 20), and prints one line per run:
the verdict, the wall seconds and, for a run that is not "ok", its failures. Exits 1 if any
run was not ok. It takes a few minutes (about 2 wall s per run on a quiet machine), so CI
runs three seeds of each suite instead (``test_conformance_corpus.py``,
``test_model_corpus.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

from pytest_asyncqueue.cli import main as check

from .test_conformance_corpus import HERE, QUEUES

REPO = HERE.parents[1]
TARGETS = [f"{HERE / queue}.py" for queue in QUEUES] + [str(REPO / "examples/oas37a_queue.py"),
                                                        "queue_core"]


def run(target: str, seed: int) -> tuple[bool, float, list[str]]:
    """One run: (ok, wall seconds, its failures as ``category::check: message``)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            check([target, "--seed", str(seed), "--report", str(report)], out=io.StringIO())
        wall = time.perf_counter() - started
        verdict = json.loads(report.read_text())
    failures = [f"{category}::{f['check']}: {f['message'].splitlines()[0]}"
                for category, entry in verdict["categories"].items() for f in entry["failures"]]
    return verdict["ok"], wall, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    seeds = range(1, parser.parse_args().seeds + 1)
    bad = 0
    for target in TARGETS:
        for seed in seeds:
            ok, wall, failures = run(target, seed)
            bad += not ok
            print(f"{'ok' if ok else 'NOT OK'} {Path(target).name} seed {seed} {wall:.2f} wall s",
                  *failures, sep="\n    " if failures else "", flush=True)
    print(f"{bad} of {len(TARGETS) * len(seeds)} runs not ok")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

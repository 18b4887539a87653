"""``asyncqueue-check``: check a queue from the shell (DESIGN section 5).

Usage::

    asyncqueue-check TARGET [--shape NAME] [--report FILE] [--only CATEGORIES] [--pass-env]
                     [--suite conformance|model|all] [--model-examples N] [--seed S]
                     [--save-regression DIR] [--bench] [-v]

It prints one line per category as each finishes (the conformance checks, then the state
machines, which run meanwhile in a process of their own where ``fork`` is available), with
``-v`` each skipped check and why under its category, then every failure with the command
that replays it. ``--bench`` then benchmarks the target
beside a bare asyncio pool and prints the table (:mod:`pytest_asyncqueue.benchmark`); its
figures never change the exit status. Exit status: 0 every check passed (skips allowed), 1 a
check failed, 2 the target could not be loaded or adapted, every check skipped (nothing was
checked), or the command line was wrong.

The spellings of the previous release, ``--suite examples`` and ``--examples N``, still work
for this one: each prints a ``note:`` line to stderr naming the new spelling.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from itertools import groupby
from typing import Any, Final, TextIO

from ._children import target_threads
from ._isolation import ISOLATION
from ._trial import trial_load
from .adapters import SHAPES, LoadError, TargetFactory, make_factory
from .conformance import ALL_CHECKS
from .contract import CATEGORIES
from .report import (
    build_report,
    category_line,
    failure_lines,
    model_replay_command,
    skip_lines,
    summarize,
    report_path_problem,
    write_report,
)
from .runner import (
    MODEL_EXAMPLES,
    CheckResult,
    MachinesRun,
    attribute,
    iter_results,
    new_seed,
    select_checks,
    start_machines,
)

__all__ = ["main"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_UNUSABLE: Final = 2
SUITES: Final = ("conformance", "model", "all")
OLD_SUITE_NOTE: Final = "note: --suite examples is deprecated; use --suite conformance"
OLD_EXAMPLES_NOTE: Final = "note: --examples is deprecated; use --model-examples"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asyncqueue-check",
        description="Check an asyncio task queue against the pytest-asyncqueue contract, "
                    "category by category.",
        epilog="Exit status: 0 every check passed (skips allowed), 1 a check failed, "
               "2 the target could not be loaded or adapted, or every check skipped.",
    )
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="under each category, name every skipped check and why")
    parser.add_argument("target", metavar="TARGET",
                        help="package.module[:Class] or path/to/file.py[:Class]; without "
                             ":Class the queue class is found by its methods")
    parser.add_argument("--shape", choices=list(SHAPES),
                        help="the target's adapter shape. Default: detected from the class")
    parser.add_argument("--report", metavar="FILE",
                        help="write the JSON report (schema asyncqueue-report/1) to FILE. "
                             "Default: no report")
    parser.add_argument("--only", metavar="CATEGORIES", type=_category_list,
                        help=f"comma-separated categories to run ({', '.join(CATEGORIES)}). "
                             f"Default: all")
    parser.add_argument("--suite", choices=(*SUITES, "examples"), default="all",
                        metavar="{" + ",".join(SUITES) + "}",
                        help="conformance: the conformance checks; model: the state machines; "
                             "all: both ('examples' is the deprecated spelling of "
                             "conformance, kept for this release). Default: all")
    parser.add_argument("--model-examples", metavar="N", type=_model_examples,
                        help=f"Hypothesis examples (random runs of up to 30 steps) per "
                             f"state-machine run of the model suite. Default: {MODEL_EXAMPLES}")
    parser.add_argument("--examples", metavar="N", type=_model_examples, dest="old_examples",
                        help="deprecated spelling of --model-examples, kept for this release")
    parser.add_argument("--seed", metavar="S", type=int,
                        help="seed of the run; the same seed replays the same run. "
                             "Default: random, printed")
    parser.add_argument("--save-regression", metavar="DIR",
                        help="write each model failure's shrunk steps to "
                             "DIR/test_model_regression_<category>.py, a pytest test that fails "
                             "until the bug is fixed. Default: none")
    parser.add_argument("--pass-env", action="store_true",
                        help="let the target see this process's whole environment (default: "
                             "only locale, paths and PYTHON* variables)")
    parser.add_argument("--bench", action="store_true",
                        help="then benchmark the target beside a bare asyncio.Queue pool on "
                             "the stock loop (about 5 s for queue_core, 30 s for a slow "
                             "queue): print the table and add a 'bench' list to the report. "
                             "Default: no benchmark")
    return parser


def _category_list(text: str) -> list[str]:
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in CATEGORIES]
    if not names:
        raise argparse.ArgumentTypeError(f"no category given; pass one or more of "
                                         f"{', '.join(CATEGORIES)}, separated by commas")
    if unknown:
        shown = ", ".join(map(repr, unknown))
        raise argparse.ArgumentTypeError(
            f"{shown} {'is not a category' if len(unknown) == 1 else 'are not categories'}; "
            f"valid: {', '.join(CATEGORIES)}")
    return names


MODEL_EXAMPLE_SECONDS: Final = 0.025
"""Wall seconds one state-machine example takes on a passing queue (queue_core, this kind of
machine); a failing queue takes longer (shrinking)."""
MAX_MODEL_EXAMPLES: Final = 20_000
"""The most examples per run: about 8 wall minutes on a passing queue."""


def _model_examples(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_MODEL_EXAMPLES:
        raise argparse.ArgumentTypeError(
            f"{value:,} examples would take about {value * MODEL_EXAMPLE_SECONDS / 3600:.1f} "
            f"wall hours; pass at most {MAX_MODEL_EXAMPLES:,}, or run several --seed values")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run ``asyncqueue-check`` with these arguments and return its exit status.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).
        out: where the lines go (default: ``sys.stdout``); errors go to ``sys.stderr``.

    Returns:
        0 every check passed, 1 a check failed, 2 the target could not be used or every
        check skipped. A wrong command line exits 2 through argparse (``SystemExit``).
    """
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    for note in _follow_old_spellings(args):
        print(note, file=sys.stderr)
    if args.report is not None and (problem := report_path_problem(args.report,
                                                                    folders=False)):
        print(f"asyncqueue-check: --report {args.report!r} {problem}", file=sys.stderr)
        return EXIT_UNUSABLE
    ISOLATION.pass_env = args.pass_env
    seed = new_seed() if args.seed is None else args.seed
    started = time.perf_counter()
    if problem := trial_load(args.target, args.shape):
        print(f"asyncqueue-check: cannot check {args.target!r}: {problem}", file=sys.stderr)
        return EXIT_UNUSABLE
    try:
        factory = make_factory(args.target, args.shape)
    except LoadError as exc:
        print(f"asyncqueue-check: cannot check {args.target!r}: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE
    print(f"asyncqueue-check {args.target} (shape {factory.shape}, class "
          f"{factory.cls.__qualname__}), seed {seed}", file=out, flush=True)
    chosen = set(args.only or (c.category for c in ALL_CHECKS))
    categories = [c for c in CATEGORIES if c in chosen]
    results: list[CheckResult] = []
    # The machines run in a process of their own beside the conformance checks.
    machines = (_start_machines(args, factory, categories, seed)
                if args.suite in ("model", "all") else None)
    with machines or contextlib.nullcontext():
        if args.suite in ("conformance", "all"):
            results = _run_conformance(factory, categories, seed, out, args.verbose)
        if machines is not None:
            results += _report_machines(args, machines, seed, out)
    results = attribute(results)
    bench = _run_bench(factory, out) if args.bench else None
    report = build_report(args.target, factory.shape, seed, results, categories, bench=bench)
    failures = failure_lines(report)
    if failures:
        print("", *failures, sep="\n", file=out)
    if args.report is not None:
        print(f"report: {write_report(report, args.report)}", file=out)
    counts = {s: sum(r.status == s for r in results) for s in ("passed", "failed", "skipped")}
    checked = counts["passed"] + counts["failed"]
    verdict = "ok" if report["ok"] else "FAILED" if counts["failed"] else "NOTHING CHECKED"
    following = sum(r.status == "failed" and bool(r.follows_from) for r in results)
    print(f"{verdict}: {len(results)} checks, {counts['passed']} passed, {counts['failed']} "
          f"failed" + (f" ({following} following from another failure)" if following else "")
          + f", {counts['skipped']} skipped in {time.perf_counter() - started:.2f} wall s "
          f"(seed {seed})", file=out)
    if not checked:
        print(f"asyncqueue-check: every check skipped, so nothing about {args.target!r} was "
              f"checked; -v or --report lists why (a shape whose methods the class lacks? "
              f"--only a category it does not support?)", file=sys.stderr)
        return EXIT_UNUSABLE
    return EXIT_OK if report["ok"] else EXIT_FAILED


def _follow_old_spellings(args: argparse.Namespace) -> list[str]:
    """Turn the previous release's spellings into the new ones; a note for each one used.

    Given both ``--examples`` and ``--model-examples``, the new spelling wins.
    """
    notes = []
    if args.suite == "examples":
        args.suite = "conformance"
        notes.append(OLD_SUITE_NOTE)
    if args.old_examples is not None:
        notes.append(OLD_EXAMPLES_NOTE)
    args.model_examples = args.model_examples or args.old_examples or MODEL_EXAMPLES
    if args.model_examples > 1000 and args.suite in ("model", "all"):
        notes.append(f"note: --model-examples {args.model_examples:,}: expect roughly "
                     f"{args.model_examples * MODEL_EXAMPLE_SECONDS / 60:.1f} wall minutes on a "
                     f"passing queue, more on a failing one")
    return notes


def _run_conformance(factory: TargetFactory, categories: list[str], seed: int, out: TextIO,
                     verbose: bool) -> list[CheckResult]:
    """Run the conformance checks, printing each category's line as soon as it is done (and,
    ``verbose``, its skipped checks)."""
    results: list[CheckResult] = []
    waiting = list(categories)  # a category without checks gets its line in its place
    for category, group in groupby(iter_results(factory, select_checks(categories), seed),
                                   key=lambda r: r.category):
        while waiting and waiting[0] != category:
            print(category_line(waiting.pop(0), summarize(())), file=out)
        waiting.remove(category)
        done = list(group)
        results += done
        _print_category(category, summarize(done), out, verbose)
    for category in waiting:
        print(category_line(category, summarize(())), file=out)
    return results


def _start_machines(args: argparse.Namespace, factory: TargetFactory, categories: list[str],
                    seed: int) -> MachinesRun:
    """Start the state machines, with the command that replays their run."""
    replay = model_replay_command(args.target, factory.shape,
                                  categories if args.only else None, args.model_examples, seed)
    return start_machines(factory, categories, seed, examples=args.model_examples,
                          replay=replay, save_regression=args.save_regression,
                          target=args.target)


def _report_machines(args: argparse.Namespace, machines: MachinesRun, seed: int, out: TextIO
                     ) -> list[CheckResult]:
    """Wait for the state machines, print a line per category; return their results."""
    print(f"model: state machines against the executable model, {args.model_examples} "
          f"examples per run, seed {seed}", file=out, flush=True)
    results = machines.wait()
    for result in results:
        _print_category(result.category, summarize([result]), out, args.verbose)
    if args.save_regression and any(r.status == "failed" for r in results):
        print(f"regression tests written to {args.save_regression}", file=out)
    return results


def _print_category(category: str, entry: dict[str, Any], out: TextIO, verbose: bool) -> None:
    lines = [category_line(category, entry)] + (skip_lines(entry) if verbose else [])
    print(*lines, sep="\n", file=out, flush=True)


def _run_bench(factory: TargetFactory, out: TextIO) -> list[dict[str, Any]]:
    """Run the benchmark rows, printing each line of the table as it comes; return the rows."""
    from .benchmark import BarePool, BenchRow, run_plan, table_lines

    print(f"bench: {factory.cls.__qualname__} beside a {BarePool.name} of as many workers, on "
          f"fresh stock asyncio loops; ratio = its tasks/s over the pool's (median of "
          f"interleaved rounds); p50/p99 = idle submit-to-start latency", file=out)
    print(table_lines([])[0], file=out, flush=True)

    def show(row: BenchRow) -> None:
        print(*table_lines([row])[1:], sep="\n", file=out, flush=True)

    return [row.entry() for row in run_plan(factory, on_row=show)]


def console() -> None:
    """The ``asyncqueue-check`` command: :func:`main`, then exit with its status at once.

    Threads the target started and never ended (at import, say) would keep a normal exit
    waiting for them for ever; they are named and left behind, as the process ends.
    """
    # SIGTERM unwinds like Ctrl-C, so that every child (and what it forked) is killed on the
    # way out instead of being orphaned.
    signal.signal(signal.SIGTERM, lambda number, _frame: sys.exit(128 + number))
    status = main()
    lingering = [t.name for t in target_threads() if not t.daemon]
    if lingering:
        print(f"asyncqueue-check: the target left {len(lingering)} thread(s) running "
              f"({', '.join(lingering[:3])}); exiting without waiting for them",
              file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


if __name__ == "__main__":
    console()

"""The per-category report: the JSON document of DESIGN section 5 and its terminal form.

The JSON (schema ``asyncqueue-report/1``)::

    {"schema": "asyncqueue-report/1", "target": "...", "shape": "oas37a", "ok": false,
     "seed": 1234,
     "categories": {
       "retries": {"status": "failed", "passed": 4, "failed": 1, "skipped": 0,
                   "failures": [{"check": "backoff_is_exponential",
                                 "message": "S3: waits were ...; expected ...",
                                 "seed": 1234}]},
       "durability": {"status": "skipped", "passed": 0, "failed": 0, "skipped": 3,
                      "failures": [], "reason": "target has no durable store"}},
     "bench": [{"workload": "noop", "tasks": 10000, "workers": 8, "tasks_per_s": 310000,
                "baseline_tasks_per_s": 1000000, "ratio": 0.31, "p50_us": 9.8, "p99_us": 22.1,
                "bytes_per_pending": 213.2}]}

A category's status is ``failed`` if any of its checks failed, ``skipped`` if all were
skipped, else ``passed``; ``reason`` is there exactly when the status is ``skipped``, and
``skips`` (``[{"check", "reason"}]``) whenever a check of the category was skipped. ``ok`` is
true when no category failed and at least one check passed (a run in which everything was
skipped checked nothing). ``bench`` is there only when benchmarks ran
(``asyncqueue-check --bench``): one object per row with the keys of
:data:`pytest_asyncqueue.benchmark.REPORT_KEYS`, the figures null and a ``note`` saying why when
the row could not be measured; it never changes ``ok``. A failure may carry ``replay``, the
command that replays it, when that is not the default one of :func:`replay_command` (a
failure of the state machines replays their whole run: ``--suite model``, the same
categories and examples).

The terminal form is one line per category (``ordering ......... passed 6/6``, the count
being checks passed of checks run or skipped), then each failure with its message and the
command that replays it.
"""

from __future__ import annotations

import json
import os
import shlex
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from .benchmark import REPORT_KEYS as _BENCH_KEYS
from .contract import CATEGORIES
from .runner import STATUSES, CheckResult

__all__ = [
    "SCHEMA",
    "build_report",
    "category_line",
    "failure_lines",
    "model_replay_command",
    "replay_command",
    "skip_lines",
    "summarize",
    "validate_report",
    "write_report",
]

SCHEMA: Final = "asyncqueue-report/1"
NO_CHECKS: Final = "no checks in this category yet"
_COLUMN: Final = max(map(len, CATEGORIES)) + 6  # where the status starts on a category line
_TOP_KEYS: Final = {"schema", "target", "shape", "ok", "seed", "categories"}
_CATEGORY_KEYS: Final = {"status", "passed", "failed", "skipped", "failures"}
_FAILURE_KEYS: Final = {"check", "message", "seed"}


def summarize(results: Iterable[CheckResult]) -> dict[str, Any]:
    """The report entry of one category from the results of its checks.

    Returns:
        ``{"status", "passed", "failed", "skipped", "failures"}``, plus ``"reason"`` (the
        distinct skip reasons, joined with "; ") when every check was skipped or there were
        none, and ``"skips"`` (each skipped check and why) when any was skipped.
    """
    results = list(results)
    counts = {status: sum(r.status == status for r in results) for status in STATUSES}
    if counts["failed"]:
        status = "failed"
    elif counts["passed"]:
        status = "passed"
    else:
        status = "skipped"
    entry: dict[str, Any] = {
        "status": status,
        **counts,
        "failures": [{"check": r.name, "message": r.message, "seed": r.seed}
                     | ({"replay": r.replay} if r.replay else {})
                     | ({"follows_from": r.follows_from} if r.follows_from else {})
                     for r in results if r.status == "failed"],
    }
    if status == "skipped":
        reasons = dict.fromkeys(r.message for r in results)
        entry["reason"] = "; ".join(reasons) or NO_CHECKS
    skips = [{"check": r.name, "reason": r.message} for r in results if r.status == "skipped"]
    if skips:
        entry["skips"] = skips
    return entry


def build_report(target: str, shape: str, seed: int, results: Iterable[CheckResult],
                 categories: Sequence[str] | None = None,
                 bench: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON report (a dict) of one run.

    Args:
        target: the target as the user named it (``package.module[:Class]`` or a path).
        shape: the adapter shape used.
        seed: the run's seed.
        results: every check's result.
        categories: the categories to list, in this order; by default those of ``results``
            in report order. A listed category without results is "skipped" (no checks).
        bench: the benchmark rows (``BenchRow.entry()``); None leaves ``bench`` out.
    """
    by_category: dict[str, list[CheckResult]] = {}
    for result in results:
        by_category.setdefault(result.category, []).append(result)
    if categories is None:
        categories = [c for c in CATEGORIES if c in by_category]
        categories += [c for c in by_category if c not in categories]
    entries = {c: summarize(by_category.get(c, ())) for c in categories}
    report = {
        "schema": SCHEMA,
        "target": target,
        "shape": shape,
        "ok": all(e["status"] != "failed" for e in entries.values()) and any(
            e["passed"] for e in entries.values()),
        "seed": seed,
        "categories": entries,
    }
    if bench is not None:
        report["bench"] = [dict(row) for row in bench]
    return report


def report_path_problem(path: str, *, folders: bool) -> str | None:
    """Why the report could not be written to ``path`` (checked before a run), or None.

    Args:
        path: as the user gave it.
        folders: whether missing folders would be created (the plugin's option does, as
            ``--junitxml`` does; the command line does not).
    """
    if not path.strip():
        return "is empty; pass a file name, e.g. --report report.json"
    target = Path(path)
    if target.is_dir():
        return f"is a folder; pass a file in it, e.g. {target / 'report.json'}"
    folder = target.parent
    while not folder.exists() and folders and folder != folder.parent:
        folder = folder.parent
    if not folder.exists():
        return f"is in the folder {target.parent}, which does not exist; create it first"
    if not folder.is_dir():
        return f"is under {folder}, which is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK) or (target.exists()
                                                    and not os.access(target, os.W_OK)):
        return f"cannot be written: no permission to write in {folder}"
    return None


def write_report(report: Mapping[str, Any], path: str | Path) -> Path:
    """Write the report as JSON (UTF-8, indented) to ``path``, creating its folder; return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path


def validate_report(report: Any) -> None:
    """Check that ``report`` follows schema ``asyncqueue-report/1`` (DESIGN section 5).

    Raises:
        ValueError: listing every way it does not.
    """
    problems: list[str] = []
    if not isinstance(report, dict):
        raise ValueError(f"the report is a {type(report).__name__}, not a JSON object")
    _keys(report, _TOP_KEYS, {"bench"}, "the report", problems)
    if report.get("schema") != SCHEMA:
        problems.append(f"schema is {report.get('schema')!r}; expected {SCHEMA!r}")
    for key in ("target", "shape"):
        if key in report and not isinstance(report[key], str):
            problems.append(f"{key} is {report[key]!r}; expected a string")
    _integer(report, "seed", "the report", problems)
    categories = report.get("categories")
    if not isinstance(categories, dict):
        problems.append(f"categories is {categories!r}; expected an object")
        categories = {}
    for name, entry in categories.items():
        _validate_category(name, entry, problems)
    if "bench" in report:
        _validate_bench(report["bench"], problems)
    entries = [e for e in categories.values() if isinstance(e, dict)]
    failed = any(e.get("status") == "failed" for e in entries)
    passed = any(e.get("passed") for e in entries)
    if "ok" in report and report["ok"] is not (not failed and passed):
        problems.append(f"ok is {report['ok']!r}; expected {not failed and passed} "
                        f"({'a' if failed else 'no'} category failed, "
                        f"{'some' if passed else 'no'} check passed)")
    if problems:
        raise ValueError(f"not an {SCHEMA} report: " + "; ".join(problems))


def _validate_category(name: str, entry: Any, problems: list[str]) -> None:
    where = f"categories.{name}"
    if name not in CATEGORIES:
        problems.append(f"{where}: {name!r} is not a category; valid: {', '.join(CATEGORIES)}")
    if not isinstance(entry, dict):
        problems.append(f"{where} is {entry!r}; expected an object")
        return
    skipped = entry.get("status") == "skipped"
    _keys(entry, _CATEGORY_KEYS | ({"reason"} if skipped else set()), {"skips"}, where,
          problems)
    if entry.get("status") not in STATUSES:
        problems.append(f"{where}.status is {entry.get('status')!r}; expected one of "
                        f"{', '.join(STATUSES)}")
    counts = {k: entry.get(k) for k in STATUSES}
    for key in STATUSES:
        _integer(entry, key, where, problems, minimum=0)
    if all(isinstance(v, int) for v in counts.values()):
        expected = ("failed" if counts["failed"] else "passed" if counts["passed"]
                    else "skipped")
        if entry.get("status") != expected:
            problems.append(f"{where}.status is {entry.get('status')!r}; expected {expected!r} "
                            f"for counts {counts}")
    if skipped and not isinstance(entry.get("reason"), str):
        problems.append(f"{where}.reason is {entry.get('reason')!r}; expected a string")
    _validate_skips(entry.get("skips", []), counts["skipped"], where, problems)
    failures = entry.get("failures")
    if not isinstance(failures, list):
        problems.append(f"{where}.failures is {failures!r}; expected a list")
        return
    if isinstance(counts["failed"], int) and len(failures) != counts["failed"]:
        problems.append(f"{where} lists {len(failures)} failures; failed is {counts['failed']}")
    for i, failure in enumerate(failures):
        at = f"{where}.failures[{i}]"
        if not isinstance(failure, dict):
            problems.append(f"{at} is {failure!r}; expected an object")
            continue
        _keys(failure, _FAILURE_KEYS, {"replay", "follows_from"}, at, problems)
        for key in ("check", "message", "replay", "follows_from"):
            if key in failure and not isinstance(failure[key], str):
                problems.append(f"{at}.{key} is {failure[key]!r}; expected a string")
        _integer(failure, "seed", at, problems)


def _validate_skips(skips: Any, skipped: Any, where: str, problems: list[str]) -> None:
    if not isinstance(skips, list) or not all(
            isinstance(s, dict) and set(s) == {"check", "reason"}
            and all(isinstance(v, str) for v in s.values()) for s in skips):
        problems.append(f"{where}.skips is {skips!r}; expected a list of "
                        f"{{\"check\": str, \"reason\": str}}")
    elif skips and skipped != len(skips):
        problems.append(f"{where} lists {len(skips)} skips; skipped is {skipped}")


def _validate_bench(rows: Any, problems: list[str]) -> None:
    if not isinstance(rows, list):
        problems.append(f"bench is {rows!r}; expected a list")
        return
    for i, row in enumerate(rows):
        at = f"bench[{i}]"
        if not isinstance(row, dict):
            problems.append(f"{at} is {row!r}; expected an object")
            continue
        _keys(row, set(_BENCH_KEYS), {"note"}, at, problems)
        if not isinstance(row.get("workload"), str):
            problems.append(f"{at}.workload is {row.get('workload')!r}; expected a string")
        for key in ("tasks", "workers"):
            _integer(row, key, at, problems, minimum=1)
        for key in _BENCH_KEYS[3:]:
            value = row.get(key)
            if key in row and value is not None and (
                    isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
                problems.append(f"{at}.{key} is {value!r}; expected a number >= 0 or null")
        if any(row.get(key) is None for key in _BENCH_KEYS[3:]) and not row.get("note"):
            problems.append(f"{at} has a null figure but no note saying why")


def _keys(obj: dict[str, Any], required: set[str], optional: set[str], where: str,
          problems: list[str]) -> None:
    missing = sorted(required - set(obj))
    extra = sorted(set(obj) - required - optional)
    if missing:
        problems.append(f"{where} lacks {', '.join(missing)}")
    if extra:
        problems.append(f"{where} has unexpected {', '.join(extra)}")


def _integer(obj: dict[str, Any], key: str, where: str, problems: list[str],
             minimum: int | None = None) -> None:
    value = obj.get(key)
    if key in obj and (not isinstance(value, int) or isinstance(value, bool)
                       or (minimum is not None and value < minimum)):
        bound = f" >= {minimum}" if minimum is not None else ""
        problems.append(f"{where}.{key} is {value!r}; expected an integer{bound}")


def category_line(category: str, entry: Mapping[str, Any]) -> str:
    """``ordering ......... passed 6/6``: status and checks passed of all, then what else.

    Example:
        >>> category_line("retries", {"status": "failed", "passed": 4, "failed": 1,
        ...                           "skipped": 0, "failures": []})
        'retries .......... failed 4/5 (1 failed)'
    """
    total = entry["passed"] + entry["failed"] + entry["skipped"]
    extra = [f"{entry[k]} {k}" for k in ("failed", "skipped") if entry[k]]
    if entry["status"] == "skipped":
        extra = [entry.get("reason") or NO_CHECKS]
    dots = "." * max(3, _COLUMN - len(category) - 1)
    return (f"{category} {dots} {entry['status']} {entry['passed']}/{total}"
            + (f" ({', '.join(extra)})" if extra else ""))


def skip_lines(entry: Mapping[str, Any]) -> list[str]:
    """One indented line per skipped check of a category entry: its name and why.

    Example:
        >>> skip_lines({"skips": [{"check": "cancel_queued", "reason": "target has no cancel"}]})
        ['    skipped cancel_queued: target has no cancel']
    """
    return [f"    skipped {s['check']}: {s['reason']}" for s in entry.get("skips", ())]


def replay_command(target: str, shape: str, category: str, seed: int) -> str:
    """The shell command that runs one category's conformance checks again with the same
    seed."""
    return _check_command(target, shape, "conformance", "--only", category, "--seed", str(seed))


def model_replay_command(target: str, shape: str, categories: Sequence[str] | None,
                         examples: int, seed: int) -> str:
    """The shell command that runs the state machines again: the same examples and seed,
    judging ``categories`` (None: every category)."""
    only = ["--only", ",".join(categories)] if categories else []
    return _check_command(target, shape, "model", *only, "--model-examples", str(examples),
                          "--seed", str(seed))


def _check_command(target: str, shape: str, suite: str, *options: str) -> str:
    """``asyncqueue-check`` with these options; ``--shape`` is named only for a built-in
    shape: a user's adapter is its own shape."""
    from .adapters import SHAPES

    shape_option = ["--shape", shape] if shape in SHAPES else []
    return shlex.join(["asyncqueue-check", target, *shape_option, "--suite", suite, *options])


def failure_lines(report: Mapping[str, Any]) -> list[str]:
    """For each failure: ``category::check`` (and the failure it follows from, if any), its
    message, and the replay command."""
    lines: list[str] = []
    for category, entry in report["categories"].items():
        for failure in entry["failures"]:
            lines += [f"FAILED {category}::{failure['check']}"
                      + (f" (follows from {failure['follows_from']})"
                         if failure.get("follows_from") else ""),
                      *textwrap.indent(failure["message"], "  ").splitlines(),
                      "  replay: " + (failure.get("replay") or replay_command(
                          report["target"], report["shape"], category, failure["seed"]))]
    return lines

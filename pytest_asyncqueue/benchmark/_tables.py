"""A benchmark's rows as an aligned text table (printed a line at a time) or as markdown.

Private: the public names are re-exported by :mod:`pytest_asyncqueue.benchmark`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ._contenders import BarePool
from ._row import BenchRow

__all__ = ["markdown_table", "table_lines"]

_HEADERS: Final = ("workload", "tasks", "workers", "tasks/s", "ratio", "p50 µs", "p99 µs",
                   "bytes/pending")
_WIDTHS: Final = (8, 7, 7, 9, 6, 7, 7, 13)  # fixed, so that lines printed one by one align
_LOOP_NAMES: Final = {"asyncio": "the stock loop", "uvloop": "uvloop",
                      "virtual": "the virtual-time loop"}


def _cells(row: BenchRow) -> list[str]:
    def number(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    return [row.workload, f"{row.tasks:,}", str(row.workers), number(row.tasks_per_s, ","),
            number(row.ratio, ".3f"), number(row.p50_us, ".1f"), number(row.p99_us, ".1f"),
            number(row.bytes_per_pending, ".0f")]


def table_lines(rows: Sequence[BenchRow]) -> list[str]:
    """The header and the rows as an aligned text table; a row's note follows it indented."""
    cells = [_cells(row) for row in rows]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) if i == 0 else v.rjust(w)
                         for i, (v, w) in enumerate(zip(values, _WIDTHS))).rstrip()

    lines = [line(_HEADERS)]
    for row, values in zip(rows, cells):
        lines.append(line(values))
        if row.note:
            lines.append(f"  ({row.note})")
    return lines


def markdown_table(rows: Sequence[BenchRow]) -> str:
    """The rows as a markdown table, naming what each subject ran beside, and its notes."""
    lines = ["| subject | " + " | ".join(_HEADERS[:4]) + " | beside | its tasks/s | "
             + " | ".join(_HEADERS[4:]) + " | note |",
             "|---|---|--:|--:|--:|---|--:|--:|--:|--:|--:|---|"]
    for row in rows:
        cells = _cells(row)
        subject = (row.subject or "-") + (
            "" if row.loop == "asyncio" else f" on {_LOOP_NAMES.get(row.loop, row.loop)}")
        beside = ", ".join([
            "bare pool" if row.baseline == BarePool.name else row.baseline or "-",
            *([f"{row.baseline_workers} workers"] if row.baseline_workers else []),
            *([f"on {_LOOP_NAMES.get(row.baseline_loop, row.baseline_loop)}"]
              if row.baseline_loop else [])])
        theirs = "-" if row.baseline_tasks_per_s is None else f"{row.baseline_tasks_per_s:,}"
        lines.append(f"| {subject} | " + " | ".join(cells[:4]) + f" | {beside} | {theirs} | "
                     + " | ".join(cells[4:]) + f" | {row.note} |")
    return "\n".join(lines)

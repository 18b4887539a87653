"""The conformance suite: checks grouped by category, one module per category.

Each module lists its checks in ``CHECKS``; :data:`ALL_CHECKS` is every check in report order.
See ``_base`` for what a check is and how it reports. Docstrings and comments cite the rules
they check: DESIGN.md's S1-S9, and "oas37a point N" (rule ``oas37a-N`` in reports), the
numbered rule N of the contract every ``oas37a``-shaped queue must meet
(``../shared/targets/oas37a.md``: 1 ordering, 2 concurrency, 3 retries, 4 cancellation,
5 stats, 6 memory, 7 edge cases).

Each check's docstring ends with one "Open points:" sentence: which of the points a shape
leaves open (oas37a.md, "Points this shape leaves open"; queue_core takes one reading of each,
the defaults of ``Capabilities``) the check depends on and how it accepts every reading, or
"none". Where it does not accept a reading yet, the sentence says so. A check's ``needs``
name the settings, options, extras and features (``Capabilities.absent``) without which it
cannot judge anything; what it can judge without them, it judges.
"""

from __future__ import annotations

from . import (cancellation, concurrency, edge_cases, memory, ordering, retries, scheduling,
               stats)
from ._base import USES, Check, CheckFailed, Harness, Skip, check, expect_equal

__all__ = ["ALL_CHECKS", "USES", "Check", "CheckFailed", "Harness", "Skip", "check",
           "expect_equal"]

ALL_CHECKS: list[Check] = [
    check for module in (ordering, concurrency, retries, cancellation, stats, memory, edge_cases,
                         scheduling)
    for check in module.CHECKS]

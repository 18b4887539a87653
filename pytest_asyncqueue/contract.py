"""The contract's vocabulary, written once: categories, task states, stats keys, S6, time units.

Everything the harness says about a target is phrased in these words (DESIGN sections 2 and
3): the checks, the model, the state machines, the report and the plugin import them from
here, so that a category, a state or a counter has one spelling and one meaning everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "CATEGORIES",
    "FINISHED",
    "MODEL_CATEGORIES",
    "NEVER_DECREASE",
    "NS_PER_S",
    "REQUIRED_STATS",
    "STATE_COUNTERS",
    "STATES",
    "STATS_KEYS",
    "WATCHED_COUNTERS",
    "ns",
    "s6_breaches",
    "in_seconds",
]

CATEGORIES: Final = ("ordering", "concurrency", "retries", "cancellation", "stats", "memory",
                     "edge_cases", "scheduling", "durability")
"""Report categories, in report order (DESIGN section 3)."""

MODEL_CATEGORIES: Final = CATEGORIES[:-1]
"""The categories the state machines judge: every one but ``durability``, which no machine
reaches yet."""

STATES: Final = ("pending", "running", "completed", "failed", "cancelled")
"""Task states as the harness names them; a target's own names are mapped onto these."""

FINISHED: Final = STATES[2:]
"""The states a task never leaves."""

STATE_COUNTERS: Final = STATES
"""The stats counters that S6 adds up to ``submitted``: one per state."""

STATS_KEYS: Final = ("submitted",) + STATE_COUNTERS + ("retried", "workers")
"""The counters ``stats()`` returns (DESIGN S6)."""

REQUIRED_STATS: Final = STATE_COUNTERS + ("retried", "workers")
"""The counters a target must report for its stats to be judged; ``submitted`` may be left
out (the harness counts the submits it made)."""

WATCHED_COUNTERS: Final = REQUIRED_STATS + ("submitted", "queue_size")
"""Every counter the harness follows over time, ``queue_size`` included where a target has it."""

NEVER_DECREASE: Final = ("submitted", "completed", "failed", "cancelled", "retried")
"""The counters that S6 forbids to go down."""

NS_PER_S: Final = 1_000_000_000
"""Virtual nanoseconds per virtual second: the virtual clock's tick."""


def ns(seconds_: float) -> int:
    """Virtual seconds as integer virtual nanoseconds (the virtual clock's tick)."""
    return round(seconds_ * NS_PER_S)


def in_seconds(when: int | None) -> str:
    """An instant in virtual nanoseconds, shown in virtual seconds ("?" when unknown)."""
    return "?" if when is None else f"{when / NS_PER_S:g}"


def s6_breaches(stats: Mapping[str, Any], previous: Mapping[str, Any] | None,
                accepted: int, in_flight: int, where: str) -> dict[str, str]:
    """The ways one stats snapshot breaks DESIGN S6, by rule; empty when it keeps them all.

    Args:
        stats: the snapshot, as the adapter returned it; the sum is judged only when it has
            every counter of :data:`STATE_COUNTERS` (a missing key is reported by its caller).
        previous: the snapshot before it, or None for the first.
        accepted: the submits the target accepted before the snapshot was taken.
        in_flight: submits under way when it was taken (a target may count one an instant
            before its ``submit`` returns), so the sum may be up to ``accepted + in_flight``.
        where: when the snapshot was taken, e.g. "at virtual t=0.5".

    Returns:
        A dict from rule (``"negative"``, ``"decrease"``, ``"sum"``) to a message that says
        what was observed and what S6 expects; each message starts with "S6: ".
    """
    def breach(observed: str, expected: str) -> str:
        return f"S6: {observed} {where} ({_show(stats)}); expected {expected}"

    found = {}
    negative = [key for key in WATCHED_COUNTERS
                if isinstance(stats.get(key), int) and stats[key] < 0]
    if negative:
        found["negative"] = breach(f"{', '.join(negative)} went negative", "counters >= 0")
    if previous is not None:
        fell = [f"{key} {previous[key]} -> {stats[key]}" for key in NEVER_DECREASE
                if key in stats and key in previous and stats[key] < previous[key]]
        if fell:
            found["decrease"] = breach(", ".join(fell),
                                       f"{', '.join(NEVER_DECREASE)} never to decrease")
    if all(key in stats for key in STATE_COUNTERS):
        total = sum(stats[key] for key in STATE_COUNTERS)
        if not accepted <= total <= accepted + in_flight:
            found["sum"] = breach(f"pending + running + completed + failed + cancelled was "
                                  f"{total}", f"{accepted}, the submits accepted so far")
        elif "submitted" in stats and stats["submitted"] != total:
            found["sum"] = breach(f"submitted was {stats['submitted']} but pending + running "
                                  f"+ completed + failed + cancelled was {total}",
                                  "them equal")
    return found


def _show(stats: Mapping[str, Any]) -> str:
    return " ".join(f"{key}={stats[key]}" for key in WATCHED_COUNTERS if key in stats)

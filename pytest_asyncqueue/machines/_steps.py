"""What a step of the machines can be: the task specs they submit and how a step line shows them.

A task spec is a dict of :data:`TASK_FIELDS`; a step line (and a regression file) shows only
the fields that differ from :data:`PLAIN_TASK`, and a spec written without a field takes its
plain value. :data:`SIMPLEST` gives, for each other rule argument, the value the shrinker
tries first (:mod:`._shrink`).
"""

from __future__ import annotations

from typing import Any, Final

from hypothesis import strategies as st

GATES: Final = ("gate-a", "gate-b", "gate-c")
BIG_CACHE: Final = 100_000  # a result cache that never evicts in an example
FAILS: Final = {"ok": 0, "flaky": 0, "doomed": 1}  # + max_retries: how many attempts fail
TASK_FIELDS: Final = {
    "priority": st.integers(-1, 2),
    # near pairs: an attempt ends just before, at or just after another (DESIGN section 3:
    # small variations of work durations are what varies in real life)
    "work": st.sampled_from((0.0, 0.25, 0.5, 0.501, 1.0, 1.499, 1.5) + GATES),
    "retries": st.integers(0, 3),
    "outcome": st.sampled_from(("ok", "ok", "flaky", "doomed")),  # see FAILS
    "delay": st.sampled_from((0.0, 0.0, 0.0, 0.5, 1.25)),
    "timeout": st.sampled_from((None, None, None, 0.5, 1.0)),
    "own_id": st.booleans(),
}
TASK: Final = st.fixed_dictionaries(TASK_FIELDS)
PLAIN_TASK: Final = {"priority": 0, "work": 0.0, "retries": 0, "outcome": "ok", "delay": 0.0,
                     "timeout": None, "own_id": False}
"""A task spec's fields that a step line leaves out when they have these values (and that a
spec written without them takes)."""
assert PLAIN_TASK.keys() == TASK_FIELDS.keys(), "every task field needs its plain value"

SIMPLEST: Final = {"workers": 1, "loop_seed": 0, "base_delay": 0.25, "cap": 2,
                   "cache": BIG_CACHE, "drain": True, "pick": 0, "lag": 0, "seconds": 0.25}
"""Each rule argument but ``tasks`` at the simplest value its strategy draws."""


def shown(value: Any) -> str:
    """A step argument as a step line prints it: a list of task specs shows each with only
    the fields that differ from a plain task, in a fixed order."""
    if not (isinstance(value, list) and value and all(isinstance(v, dict) for v in value)):
        return repr(value)
    specs = []
    for spec in value:
        fields = [f"{k!r}: {spec[k]!r}" for k, plain in PLAIN_TASK.items()
                  if k in spec and spec[k] != plain]
        specs.append("{" + ", ".join(fields) + "}")
    return "[" + ", ".join(specs) + "]"

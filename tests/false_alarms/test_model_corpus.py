"""The false-alarm corpus passes the state machines: every reading of an open point is followed.

Each correct queue of the corpus runs the model suite (30 examples, one seed each: the
machines draw a new schedule per example, so one seed already covers many). ``polling_queue``
is left out of ``retries`` and ``ordering``: on some seeds the machines still refute its
reading of retries due together at one instant (a known false alarm, being worked on).
"""

from __future__ import annotations

import pytest

from pytest_asyncqueue.adapters import make_factory
from pytest_asyncqueue.machines import run_machines

from .test_conformance_corpus import HERE

KNOWN_GAPS = {"polling_queue": {"retries", "ordering"}}


@pytest.mark.parametrize("queue", ["lazy_queue", "cancelling_stop_queue", "polling_queue",
                                   "back_of_line_queue"])
def test_no_model_category_fails_on_a_correct_queue(queue: str) -> None:
    factory = make_factory(f"{HERE / queue}.py:AsyncTaskQueue", "oas37a")
    categories = [c for c in ("ordering", "concurrency", "retries", "cancellation", "stats",
                              "memory", "edge_cases") if c not in KNOWN_GAPS.get(queue, ())]
    results = run_machines(factory, seed=2, examples=30, categories=categories)
    assert {r.category: r.message for r in results if r.status != "passed"} == {}

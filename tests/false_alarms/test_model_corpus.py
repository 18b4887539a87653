"""The false-alarm corpus passes the state machines: every reading of an open point is followed.

Each correct queue of the corpus runs the model suite (30 examples, one seed each: the
machines draw a new schedule per example, so one seed already covers many). The wider sweep
(every check of both suites, 20 seeds per queue) is ``python -m tests.false_alarms.sweep``.
"""

from __future__ import annotations

import pytest

from pytest_asyncqueue.adapters import make_factory
from pytest_asyncqueue.machines import run_machines

from .test_conformance_corpus import HERE, QUEUES


@pytest.mark.timeout(120)
@pytest.mark.parametrize("queue", QUEUES)
def test_no_model_category_fails_on_a_correct_queue(queue: str) -> None:
    factory = make_factory(f"{HERE / queue}.py:AsyncTaskQueue", "oas37a")
    categories = ["ordering", "concurrency", "retries", "cancellation", "stats", "memory",
                  "edge_cases"]
    results = run_machines(factory, seed=2, examples=30, categories=categories)
    assert {r.category: r.message for r in results if r.status != "passed"} == {}

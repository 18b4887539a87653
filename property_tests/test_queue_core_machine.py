"""The model-checking state machine against ``queue_core`` (and the oas37a example queue).

Run with the ``ci`` profile by default; ``--hypothesis-profile=fuzz`` for long nightly runs
of submit/cancel/stop cycles. A failure prints the shrunk steps and a ``@seed`` to replay.
"""

from __future__ import annotations

from pathlib import Path

from pytest_asyncqueue.adapters import make_factory
from pytest_asyncqueue.machines import QueueMachine

QUEUE_CORE = make_factory("queue_core")
OAS37A = make_factory(str(Path(__file__).parents[1] / "examples" / "oas37a_queue.py"),
                      shape="oas37a")


class QueueCoreMachine(QueueMachine):
    """:class:`QueueMachine` bound to ``queue_core.TaskQueue``."""

    def __init__(self) -> None:
        super().__init__(QUEUE_CORE)


class Oas37aMachine(QueueMachine):
    """:class:`QueueMachine` bound to the oas37a-shaped example queue (both readings of
    every open point accepted)."""

    def __init__(self) -> None:
        super().__init__(OAS37A)


TestQueueCore = QueueCoreMachine.TestCase
TestOas37aExample = Oas37aMachine.TestCase

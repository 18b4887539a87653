"""The hostile suite: handlers, inputs and targets chosen to break queue_core and the harness."""

from __future__ import annotations

from tests.queue_core.conftest import run  # noqa: F401  # every test on the virtual clock

"""Hypothesis profiles for the state-machine runs: ``dev``, ``ci`` (the default) and ``fuzz``.

Choose one with ``--hypothesis-profile=NAME``; without the option this directory's tests
run under ``ci``, which keeps ``python -m pytest property_tests`` around 20 s. ``fuzz`` is the
nightly run: many more and longer examples, a fresh random seed each time (the failure
report prints the steps and the ``@seed`` that replays them).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "database": None, "print_blob": True,
           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large]}

settings.register_profile("dev", max_examples=25, stateful_step_count=20, derandomize=True,
                          **_COMMON)
settings.register_profile("ci", max_examples=100, stateful_step_count=30, derandomize=True,
                          **_COMMON)
settings.register_profile("fuzz", max_examples=4000, stateful_step_count=60, **_COMMON)


def pytest_configure(config: pytest.Config) -> None:
    """Load ``ci`` unless ``--hypothesis-profile`` chose a profile."""
    if not config.getoption("hypothesis_profile", None):
        settings.load_profile("ci")

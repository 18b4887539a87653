"""Fixtures and markers of the benchmark suite (``python -m pytest bench``).

``bench/`` is outside ``testpaths``, so the plain ``python -m pytest`` never collects it.
``-m quick`` selects the subset CI runs (``python -m bench.report --quick``).
"""

from __future__ import annotations

import pytest

from pytest_asyncqueue.adapters import TargetFactory, make_factory


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "quick: a benchmark of the quick subset that CI runs (-m quick)")


@pytest.fixture(scope="session")
def queue_core() -> TargetFactory:
    """queue_core as a target: ``TaskQueue`` with its defaults, every feature on."""
    return make_factory("queue_core")

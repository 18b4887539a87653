"""What the suite's pytester tests share: a project with the test ini, and a queue that breaks
the ordering rule."""

from __future__ import annotations

from collections.abc import Callable

import pytest

# As in test_clock_plugin.py: no Hypothesis plugin, which would cost ~1 s per in-process run.
PROJECT_INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
addopts = --strict-markers -p no:cacheprovider -p no:hypothesispytest
filterwarnings = error
"""
# queue_core with the priority direction turned around: the ordering checks must fail.
INVERTED = """
from queue_core import TaskQueue as _TaskQueue

class TaskQueue(_TaskQueue):
    def submit(self, handler, /, *args, task_id=None, priority=0, max_retries=0, delay=0.0,
               timeout=None):
        return super().submit(handler, *args, task_id=task_id, priority=-priority,
                              max_retries=max_retries, delay=delay, timeout=timeout)
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester project with the test ini."""
    pytester.makeini(PROJECT_INI)
    return pytester


@pytest.fixture
def add_ini(project: pytest.Pytester) -> Callable[[str], None]:
    """Rewrites the project's ini with these lines added to the test ini."""
    return lambda lines: project.makeini(PROJECT_INI + lines)


@pytest.fixture
def inverted_queue(project: pytest.Pytester) -> str:
    """Writes inverted_queue.py (priorities the wrong way round) and returns its target spec."""
    project.makepyfile(inverted_queue=INVERTED)
    return "inverted_queue.py"

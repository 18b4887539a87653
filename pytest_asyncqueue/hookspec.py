"""The hooks pytest-asyncqueue offers to a ``conftest.py`` (or another plugin).

Registered by ``pytest_asyncqueue.plugin`` in ``pytest_addhooks``. Implement a hook in the
``conftest.py`` at the root of the tests (conftests found later, while collecting, come too
late for the target). A project that also runs without the plugin can mark its
implementation ``@pytest.hookimpl(optionalhook=True)`` so that pytest does not reject it as
an unknown hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .adapters import TargetFactory

__all__ = ["pytest_asyncqueue_make_target", "pytest_asyncqueue_update_report"]


@pytest.hookspec(firstresult=True)
def pytest_asyncqueue_make_target(config: pytest.Config) -> TargetFactory | str | None:
    """The queue the conformance suite checks, instead of ``--asyncqueue-target``.

    Called once, while pytest configures. Return a
    :class:`~pytest_asyncqueue.adapters.TargetFactory` (what
    :func:`pytest_asyncqueue.adapters.make_factory` or your own adapter gives), a target spec
    as ``--asyncqueue-target`` takes it (``'package.module[:Class]'`` or
    ``'path/to/file.py[:Class]'``; ``--asyncqueue-shape`` then applies), or None to leave the
    choice to the options. The first answer other than None wins. ``--asyncqueue-target`` on
    the command line wins over the hook, and the hook over the ini option
    ``asyncqueue_target``. A returned factory is named in the header, the report and the
    replay commands as ``module:Class`` (its adapter class for your own adapter).

    To check your queue on every test run, without an option:

    .. sourcecode:: python

        from pytest_asyncqueue.adapters import make_factory

        def pytest_asyncqueue_make_target(config):
            return make_factory("myproject.queue:TaskQueue", shape="queue_core")
    """


def pytest_asyncqueue_update_report(config: pytest.Config, report: dict[str, Any]) -> None:
    """Change the JSON report (``--asyncqueue-report``) in place before it is written.

    ``report`` is the dict of schema ``asyncqueue-report/1`` (DESIGN section 5): ``schema``,
    ``target``, ``shape``, ``ok``, ``seed``, ``categories``. Called once per written report,
    after the last item; the terminal summary is not affected. That schema names every key,
    so :func:`pytest_asyncqueue.report.validate_report` accepts changed values of its keys
    but rejects a key it does not name: a reader that validates the file must drop your
    additions first.

    To record which CI job wrote the report:

    .. sourcecode:: python

        import os

        def pytest_asyncqueue_update_report(config, report):
            report["ci_job"] = os.environ.get("CI_JOB_ID")
    """

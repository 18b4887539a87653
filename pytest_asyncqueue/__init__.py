"""pytest-asyncqueue: a pytest plugin and verification harness for asyncio task queues.

The public names are re-exported here; the modules that define them are ``clock`` and
``errors``. The pytest hooks live in ``pytest_asyncqueue.plugin``.

Loading the plugin: the ``pytest11`` entry point ``asyncqueue`` registers
``pytest_asyncqueue.plugin``. ``pytest -p pytest_asyncqueue`` registers *this* module, before
entry points are loaded; its one hook, ``pytest_addhooks``, registers ``pytest_asyncqueue.plugin``
under the entry point's name, so pytest then skips the entry point. Either way (and with
``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1``) the plugin is registered once and no hook or option twice.
(``pytest_plugins = [...]`` here would not do: it registers the module under its own name, and
the entry point would then fail with "Plugin already registered under a different name".)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .clock import BlockingCall, VirtualClockLoop, new_virtual_loop, run
from .errors import AsyncQueueError, BlockingCallError, DeadlockError, RealTimeLimitError

if TYPE_CHECKING:
    import pytest

__all__ = [
    "AsyncQueueError",
    "BlockingCall",
    "BlockingCallError",
    "DeadlockError",
    "RealTimeLimitError",
    "VirtualClockLoop",
    "new_virtual_loop",
    "run",
]

_ENTRY_POINT_NAME = "asyncqueue"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Register pytest_asyncqueue.plugin when pytest is run with ``-p pytest_asyncqueue``."""
    from . import plugin

    if (
        pluginmanager.is_registered(plugin)
        or pluginmanager.has_plugin(_ENTRY_POINT_NAME)
        or pluginmanager.is_blocked(_ENTRY_POINT_NAME)
    ):
        return
    pluginmanager.register(plugin, _ENTRY_POINT_NAME)

"""pytest hooks, marker and fixture of pytest-asyncqueue.

Loaded by the ``pytest11`` entry point ``asyncqueue``, or by ``-p pytest_asyncqueue`` (see the
package docstring). Nothing here acts until a test uses the ``asyncqueue_clock`` marker or
fixture; imports of the clock and of pytest-asyncio internals happen inside the hooks.

IMPLEMENTATION DETAIL - how an async test gets the virtual loop
===============================================================

pytest-asyncio >= 1.4 creates each test's loop from the factories a
``pytest_asyncio_loop_factories`` hook returns; overriding its ``event_loop_policy`` fixture is
deprecated. But once any implementation of that hook is registered, pytest-asyncio parametrizes
*every* async test with a loop factory. So the hook object (``_LoopFactories``) is registered
only when collection first meets an async test that uses the clock (marker on the function,
class or module, or the fixture as a direct argument). From then on it gives clock tests a
``VirtualClockLoop`` factory and passes every other test through: another plugin's answer if
there is one, else ``asyncio.new_event_loop`` (what pytest-asyncio would use anyway); test ids
stay the same. Sessions that never use the clock never see the hook. A test that gets the
fixture only through another fixture is not detected; it fails asking for the marker.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    import asyncio

    from .clock import VirtualClockLoop

CLOCK_MARKER: Final = "asyncqueue_clock"
CLOCK_MARKER_DESC: Final = (
    "asyncqueue_clock(*, seed=None, detect_deadlocks=True, blocking_threshold=0.05, "
    "raise_on_blocking=False, max_real_seconds=None): run this async test (pytest-asyncio) on "
    "the virtual-time loop pytest_asyncqueue.clock.VirtualClockLoop, with these options. "
    "Markers on module, class and function merge, nearest wins."
)
CLOCK_OPTIONS: Final = (
    "seed",
    "detect_deadlocks",
    "blocking_threshold",
    "raise_on_blocking",
    "max_real_seconds",
)
NEEDS_LOOP_FACTORIES: Final = (
    "needs pytest-asyncio >= 1.4 (the pytest_asyncio_loop_factories hook) with the asyncio "
    "plugin enabled; upgrade it with pip install -U pytest-asyncio, or call "
    "pytest_asyncqueue.clock.run(...) from a sync test"
)
_FACTORY_HOOK: Final = "pytest_asyncio_loop_factories"


@dataclass
class _ClockState:
    """Per-session state, kept in config.stash."""

    registered: bool = False
    factories: dict[tuple[tuple[str, Any], ...], Callable[[], asyncio.AbstractEventLoop]] = field(
        default_factory=dict
    )

    def factory(self, options: dict[str, Any]) -> Callable[[], asyncio.AbstractEventLoop]:
        # The same object for the same options, so wider loop scopes can share one loop.
        key = tuple(sorted(options.items()))
        if key not in self.factories:
            from .clock import new_virtual_loop

            self.factories[key] = functools.partial(new_virtual_loop, **options)
        return self.factories[key]


_STATE_KEY: Final = pytest.StashKey[_ClockState]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", CLOCK_MARKER_DESC)
    config.stash[_STATE_KEY] = _ClockState()
    # Importing pytest_asyncio at module level would happen before a later
    # "-p pytest_asyncio.plugin" and trip pytest's "already imported, cannot rewrite" warning.
    import pytest_asyncio

    fixture = pytest_asyncio.fixture(loop_scope="function", name=CLOCK_MARKER)(
        _clock_fixture  # type: ignore[type-var]  # a sync generator fixture; typed for async
    )
    holder = ModuleType(f"{__name__}.fixtures", "Fixtures built in pytest_configure.")
    holder.asyncqueue_clock = fixture  # type: ignore[attr-defined]
    config.pluginmanager.register(holder, "asyncqueue-fixtures")


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    # Only when asked for with -p pytest_asyncqueue: an installed plugin stays silent.
    if not config.pluginmanager.has_plugin("pytest_asyncqueue"):
        return None
    if _loop_factories_available(config):
        return [f"asyncqueue: virtual clock for tests marked {CLOCK_MARKER}"]
    return [f"asyncqueue: the {CLOCK_MARKER} marker {NEEDS_LOOP_FACTORIES}"]


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Any:
    state = collector.config.stash.get(_STATE_KEY, None)
    if state is not None and not state.registered and _async_clock_test(collector, obj):
        state.registered = True
        if _loop_factories_available(collector.config):
            collector.config.pluginmanager.register(_LoopFactories(state), "asyncqueue-clock")
    return (yield)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker(CLOCK_MARKER) is None:
        return
    from pytest_asyncio import is_async_test

    if is_async_test(item):
        if not _loop_factories_available(item.config):
            pytest.fail(f"{item.nodeid}: mark.{CLOCK_MARKER} {NEEDS_LOOP_FACTORIES}", pytrace=False)
    elif CLOCK_MARKER not in getattr(item, "fixturenames", ()):
        item.warn(
            pytest.PytestWarning(
                f"{item.nodeid} is marked {CLOCK_MARKER} but is not an async test, so the "
                f"marker does nothing; request the {CLOCK_MARKER} fixture for a virtual loop "
                f"to drive, or call pytest_asyncqueue.clock.run(...)"
            )
        )


# The asyncqueue_clock fixture, registered in pytest_configure. Sync on purpose, and a
# pytest_asyncio fixture so that pytest-asyncio runs it with the test's loop set as the current
# loop. An async fixture would be pinned to one loop scope and could run on another loop than
# the test (pytest-asyncio issue #1142, explained in looptime's plugin).
def _clock_fixture(request: pytest.FixtureRequest) -> Iterator[VirtualClockLoop]:
    """The virtual-time loop running the test: .time(), .virtual_elapsed, .blocking_calls."""
    import asyncio

    from pytest_asyncio import is_async_test

    from .clock import VirtualClockLoop

    item = request.node
    if not is_async_test(item):
        # A sync test gets a fresh loop of its own to drive with run_until_complete().
        own_loop = VirtualClockLoop(**(_clock_options(item) or {}))
        try:
            yield own_loop
        finally:
            own_loop.close()
        return
    marker = item.get_closest_marker("asyncio")
    scope = (marker.kwargs.get("loop_scope") if marker else None) or request.config.getini(
        "asyncio_default_test_loop_scope"
    )
    if scope != "function":
        pytest.fail(
            f"{item.nodeid}: the {CLOCK_MARKER} fixture needs a function-scoped loop, but the "
            f"test runs in loop_scope={scope!r}; use asyncio.get_running_loop() in the test",
            pytrace=False,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loop = asyncio.get_event_loop()
    if not isinstance(loop, VirtualClockLoop):
        pytest.fail(
            f"{item.nodeid} runs on {loop!r}, not on the virtual clock; mark it "
            f"@pytest.mark.{CLOCK_MARKER}"
            + ("" if _loop_factories_available(request.config) else f" ({NEEDS_LOOP_FACTORIES})"),
            pytrace=False,
        )
    yield loop


class _LoopFactories:
    """Answers pytest-asyncio's loop-factory hook; registered only once a clock test exists."""

    def __init__(self, state: _ClockState) -> None:
        self._state = state

    @pytest.hookimpl(wrapper=True)
    def pytest_asyncio_loop_factories(
        self, config: pytest.Config, item: pytest.Item
    ) -> Generator[None, Any, Any]:
        answer = yield
        options = _clock_options(item)
        if options is not None:
            return {CLOCK_MARKER: self._state.factory(options)}
        if answer is None:
            import asyncio

            return {"asyncio": asyncio.new_event_loop}
        return answer


def _loop_factories_available(config: pytest.Config) -> bool:
    caller = getattr(config.hook, _FACTORY_HOOK, None)
    return caller is not None and caller.spec is not None


def _async_clock_test(collector: pytest.Collector, obj: object) -> bool:
    """Whether obj is an async test function that asks for the clock (cheap, no fixture closure)."""
    import inspect

    if not inspect.iscoroutinefunction(obj):
        return False
    if any(getattr(mark, "name", None) == CLOCK_MARKER for mark in getattr(obj, "pytestmark", ())):
        return True
    code = obj.__code__
    arguments = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    return CLOCK_MARKER in arguments or collector.get_closest_marker(CLOCK_MARKER) is not None


def _clock_options(item: pytest.Item) -> dict[str, Any] | None:
    """The merged options of every asyncqueue_clock marker on item, or None if it has none."""
    marks = list(item.iter_markers(CLOCK_MARKER))
    if not marks and CLOCK_MARKER not in getattr(item, "fixturenames", ()):
        return None
    options: dict[str, Any] = {}
    for mark in reversed(marks):  # outermost first, so the nearest marker wins
        unknown = sorted(set(mark.kwargs) - set(CLOCK_OPTIONS))
        if mark.args or unknown:
            got = ", ".join([repr(a) for a in mark.args] + unknown)
            pytest.fail(
                f"{item.nodeid}: mark.{CLOCK_MARKER} accepts only the keyword arguments "
                f"{', '.join(CLOCK_OPTIONS)}; got {got}",
                pytrace=False,
            )
        options.update(mark.kwargs)
    return options

"""The ``asyncqueue_clock`` marker and fixture: async tests on the virtual-time loop.

What the plugin's hooks call for the clock: :func:`register_clock_fixture` (at configure),
:func:`note_clock_test` (while collecting), :func:`check_clock_item` (at set-up). Nothing
here imports pytest-asyncio or the clock at module level.

IMPLEMENTATION DETAIL - how an async test gets the virtual loop
===============================================================

pytest-asyncio >= 1.4 creates each test's loop from the factories a
``pytest_asyncio_loop_factories`` hook returns; overriding its ``event_loop_policy`` fixture is
deprecated. But once any implementation of that hook is registered, pytest-asyncio parametrizes
*every* async test with a loop factory. So the hook object (:class:`_LoopFactories`) is
registered only when collection first meets an async test that uses the clock (marker on the
function, class or module, or the fixture as a direct argument). From then on it gives clock
tests a ``VirtualClockLoop`` factory and passes every other test through: another plugin's
answer if there is one, else ``asyncio.new_event_loop`` (what pytest-asyncio would use
anyway); test ids stay the same. Sessions that never use the clock never see the hook. A test
that gets the fixture only through another fixture is not detected; it fails asking for the
marker.
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

__all__ = [
    "CLOCK_MARKER",
    "CLOCK_OPTIONS",
    "NEEDS_LOOP_FACTORIES",
    "check_clock_item",
    "loop_factories_available",
    "note_clock_test",
    "register_clock_fixture",
]

CLOCK_MARKER: Final = "asyncqueue_clock"
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


def register_clock_fixture(config: pytest.Config) -> None:
    """Start the session's clock state and register the ``asyncqueue_clock`` fixture."""
    config.stash[_STATE_KEY] = _ClockState()
    # Importing pytest_asyncio at module level would happen before a later
    # "-p pytest_asyncio.plugin" and trip pytest's "already imported, cannot rewrite" warning.
    import pytest_asyncio

    fixture = pytest_asyncio.fixture(loop_scope="function", name=CLOCK_MARKER)(
        _clock_fixture  # type: ignore[type-var]  # a sync generator fixture; typed for async
    )
    holder = ModuleType(f"{__name__}.fixtures", "Fixtures built in pytest_configure.")
    holder.asyncqueue_clock = fixture  # type: ignore[attr-defined]
    config.pluginmanager.register(holder, "asyncqueue-clock-fixture")


def note_clock_test(collector: pytest.Module | pytest.Class, obj: object) -> None:
    """Register :class:`_LoopFactories` when collection first meets an async clock test."""
    state = collector.config.stash.get(_STATE_KEY, None)
    if state is not None and not state.registered and _async_clock_test(collector, obj):
        state.registered = True
        if loop_factories_available(collector.config):
            collector.config.pluginmanager.register(_LoopFactories(state), "asyncqueue-clock")


def check_clock_item(item: pytest.Item) -> None:
    """At set-up: fail a marked async test the loop factories cannot serve, and warn about
    a marked sync test that the marker does nothing for."""
    if item.get_closest_marker(CLOCK_MARKER) is None:
        return
    from pytest_asyncio import is_async_test

    if is_async_test(item):
        if not loop_factories_available(item.config):
            pytest.fail(f"{item.nodeid}: mark.{CLOCK_MARKER} {NEEDS_LOOP_FACTORIES}", pytrace=False)
    elif CLOCK_MARKER not in getattr(item, "fixturenames", ()):
        item.warn(
            pytest.PytestWarning(
                f"{item.nodeid} is marked {CLOCK_MARKER} but is not an async test, so the "
                f"marker does nothing; request the {CLOCK_MARKER} fixture for a virtual loop "
                f"to drive, or call pytest_asyncqueue.clock.run(...)"
            )
        )


# The asyncqueue_clock fixture, registered by register_clock_fixture. Sync on purpose, and a
# pytest_asyncio fixture so that pytest-asyncio runs it with the test's loop set as the current
# loop. An async fixture would be pinned to one loop scope and could run on another loop than
# the test: pytest-asyncio silently lets a function-scoped fixture's loop replace the wider
# loop a test asked for (https://github.com/pytest-dev/pytest-asyncio/issues/1142; looptime's
# plugin explains the same trap).
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
            + ("" if loop_factories_available(request.config) else f" ({NEEDS_LOOP_FACTORIES})"),
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


def loop_factories_available(config: pytest.Config) -> bool:
    """Whether the installed pytest-asyncio has the loop-factory hook the clock needs."""
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

"""pytest hooks, options, markers and fixtures of pytest-asyncqueue.

Loaded by the ``pytest11`` entry point ``asyncqueue``, or by ``-p pytest_asyncqueue`` (see the
package docstring). Nothing here acts until a test uses the ``asyncqueue_clock`` marker or
fixture, a fixture of its own, or the run names a queue with ``--asyncqueue-target`` (or the
ini option ``asyncqueue_target``); imports of the clock, the suite and pytest-asyncio
internals happen inside the hooks.

With a target, the conformance suite joins the session: one item per check, named
``asyncqueue::<category>::<check>`` and marked ``asyncqueue(<category>)`` and
``asyncqueue_<category>`` (so ``-m asyncqueue_retries`` or ``-k backoff`` select checks). The
checks run through :mod:`pytest_asyncqueue.runner` (a child process per category, killed if a
check hangs); each item waits only for its own result, which streams in while the items run.
The state machines (:mod:`pytest_asyncqueue.machines`) add one item per category,
``asyncqueue::model::<category>``, marked the same way; the first of them to run runs the
machines for every selected one. ``--asyncqueue-suite`` chooses examples, model or all (the
default), ``--asyncqueue-examples`` the examples per machine run.
At the end the terminal shows one line per category, and ``--asyncqueue-report`` writes the
JSON report.

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
    from pathlib import Path

    from .adapters import TargetFactory
    from .bench import BenchRow, Contender
    from .clock import VirtualClockLoop
    from .conformance import Check
    from .probes import Probes, Timeline
    from .runner import CheckResult, ModelRun

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

TARGET_HELP: Final = (
    "Run the conformance suite against this queue: package.module[:Class] or "
    "path/to/file.py[:Class]; one test item per check. Default: none (no suite)."
)
SHAPE_HELP: Final = (
    "Adapter shape of the target (queue_core, oas37a, ...). Default: detected from the class."
)
REPORT_HELP: Final = (
    "Write the suite's JSON report (schema asyncqueue-report/1) to this file at the end of "
    "the session. Default: no report."
)
SEED_HELP: Final = (
    "Seed of the suite's run; the same seed replays the same run. Default: a random seed, "
    "shown in the header."
)
SUITE_HELP: Final = (
    "Which suite to add: examples (the conformance checks), model (the state machines, one "
    "item per category) or all. Default: all."
)
EXAMPLES_HELP: Final = (
    "Examples per state-machine run (the model suite). Default: 50."
)
SUITE_MARKER: Final = "asyncqueue"
SUITE_MARKER_DESC: Final = (
    "asyncqueue(category=None, *, target=None, shape=None): a test about an asyncio task "
    "queue; category is one of the report categories; target ('package.module[:Class]' or "
    "'path/to/file.py[:Class]') and shape choose what the asyncqueue_target fixture loads "
    "(default: --asyncqueue-target). Markers on module, class and function merge, nearest wins."
)
CATEGORY_MARKER_DESC: Final = (
    "asyncqueue_{category}: a conformance check of the {category} category; "
    "select them with -m asyncqueue_{category}."
)
NO_TARGET: Final = (
    "no queue target: pass --asyncqueue-target=TARGET (or set asyncqueue_target in the ini "
    "file), or mark the test @pytest.mark.asyncqueue(target='package.module:Class')"
)
BENCH_IN_LOOP: Final = (
    "asyncqueue_bench runs each round on a fresh event loop of its own, so it cannot run "
    "inside one: call it from a plain (def, not async def) test function"
)
NEEDS_BENCHMARK: Final = (
    "the asyncqueue_bench fixture needs pytest-benchmark's benchmark fixture: install "
    "pytest-benchmark (pip install -e '.[test]') and do not disable it (-p no:benchmark)"
)
_SUITE_OPTIONS: Final = {"target": TARGET_HELP, "shape": SHAPE_HELP, "report": REPORT_HELP,
                         "seed": SEED_HELP, "suite": SUITE_HELP, "examples": EXAMPLES_HELP}
_SUITES: Final = ("examples", "model", "all")


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


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("asyncqueue", "asyncqueue: check an asyncio task queue")
    for noun, text in _SUITE_OPTIONS.items():
        group.addoption(f"--asyncqueue-{noun}", dest=f"asyncqueue_{noun}",
                        metavar=noun.upper(), default=None, help=text)
        parser.addini(f"asyncqueue_{noun}", text, default="")


def pytest_configure(config: pytest.Config) -> None:
    from .contract import CATEGORIES

    config.addinivalue_line("markers", CLOCK_MARKER_DESC)
    config.addinivalue_line("markers", SUITE_MARKER_DESC)
    for category in CATEGORIES:
        config.addinivalue_line("markers", CATEGORY_MARKER_DESC.format(category=category))
    suite = _Suite.from_config(config)
    if suite is not None:
        config.stash[_SUITE_KEY] = suite
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


def pytest_sessionstart(session: pytest.Session) -> None:
    suite = session.config.stash.get(_SUITE_KEY, None)
    if suite is not None:
        suite.load()


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    lines = []
    suite = config.stash.get(_SUITE_KEY, None)
    if suite is not None and suite.factory is not None:
        lines.append(f"asyncqueue: target {suite.target} (shape {suite.factory.shape}, class "
                     f"{suite.factory.cls.__qualname__}), seed {suite.seed}; replay with "
                     f"--asyncqueue-seed={suite.seed}")
    # Only when asked for with -p pytest_asyncqueue: an installed plugin stays silent.
    if config.pluginmanager.has_plugin("pytest_asyncqueue"):
        if _loop_factories_available(config):
            lines.append(f"asyncqueue: virtual clock for tests marked {CLOCK_MARKER}")
        else:
            lines.append(f"asyncqueue: the {CLOCK_MARKER} marker {NEEDS_LOOP_FACTORIES}")
    return lines or None


@pytest.hookimpl(tryfirst=True)  # before -k, -m and --deselect filter the items
def pytest_collection_modifyitems(session: pytest.Session, items: list[pytest.Item]) -> None:
    if session.config.stash.get(_SUITE_KEY, None) is not None:
        items.extend(session.genitems(_SuiteCollector.from_parent(
            session, name=SUITE_MARKER, nodeid=SUITE_MARKER)))


def pytest_sessionfinish(session: pytest.Session) -> None:
    suite = session.config.stash.get(_SUITE_KEY, None)
    if suite is not None:
        suite.finish()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    suite = terminalreporter.config.stash.get(_SUITE_KEY, None)
    if suite is None or not suite.results:
        return
    from .report import category_line

    terminalreporter.section("asyncqueue")
    report = suite.report()
    for category, entry in report["categories"].items():
        terminalreporter.line(category_line(category, entry))
    terminalreporter.line(f"seed {suite.seed}; replay with --asyncqueue-seed={suite.seed}")
    if suite.written is not None:
        terminalreporter.line(f"report written to {suite.written}")


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
    if item.get_closest_marker(SUITE_MARKER) is not None:
        _suite_marker_options(item)
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


# The conformance suite in the session (--asyncqueue-target) and the fixtures for users' tests.


@dataclass
class _Suite:
    """The suite's settings and results for one session, kept in config.stash.

    A report path from the command line is relative to the working folder, one from the ini
    file to the root folder.
    """

    target: str
    where: str  # where the target came from, for messages
    shape: str | None
    report_path: Path | None
    seed: int
    suite: str = "all"
    examples: int | None = None  # None: the model suite's default
    factory: TargetFactory | None = None
    results: dict[tuple[str, str], CheckResult] = field(default_factory=dict)
    model_results: dict[str, CheckResult] | None = None  # by category, once the model ran
    model_run: ModelRun | None = None  # the machines, once started
    stream: Generator[CheckResult, None, None] | None = None
    written: Path | None = None

    @classmethod
    def from_config(cls, config: pytest.Config) -> _Suite | None:
        """The suite the options ask for, or None without a target.

        Raises:
            pytest.UsageError: a bad option value, naming where it came from.
        """
        from .adapters import SHAPES
        from .runner import new_seed

        target, where = _option(config, "target")
        shape, shape_where = _option(config, "shape")
        report, report_where = _option(config, "report")
        seed_text, seed_where = _option(config, "seed")
        suite, suite_where = _option(config, "suite")
        examples_text, examples_where = _option(config, "examples")
        if suite is not None and suite not in _SUITES:
            raise pytest.UsageError(
                f"{_named('suite', suite_where)}={suite!r} ({suite_where}) is not a suite; "
                f"valid: {', '.join(_SUITES)}")
        examples = _whole(examples_text, examples_where, "examples", "--asyncqueue-examples=50")
        if shape is not None and shape not in SHAPES:
            raise pytest.UsageError(
                f"{_named('shape', shape_where)}={shape!r} ({shape_where}) is not a built-in "
                f"shape; valid: {', '.join(SHAPES)}")
        try:
            seed = new_seed() if seed_text is None else int(seed_text)
        except ValueError:
            raise pytest.UsageError(
                f"{_named('seed', seed_where)}={seed_text!r} ({seed_where}) is not an integer; "
                f"pass the seed a report or header shows, e.g. --asyncqueue-seed=1234"
            ) from None
        if target is None:
            if report is not None and report_where == "from command line":
                raise pytest.UsageError(
                    f"--asyncqueue-report={report!r} (from command line) has no suite to "
                    f"report on; pass --asyncqueue-target=TARGET too (or set "
                    f"asyncqueue_target in the ini file)")
            return None
        base = config.invocation_params.dir if report_where == "from command line" else (
            config.rootpath)
        return cls(target, where, shape, None if report is None else base / report, seed,
                   suite or "all", examples)

    def load(self) -> None:
        """Load the target (at session start).

        Raises:
            pytest.UsageError: it cannot be loaded or adapted; the message says why.
        """
        from .adapters import LoadError, make_factory

        try:
            self.factory = make_factory(self.target, self.shape)
        except LoadError as exc:
            raise pytest.UsageError(
                f"{_named('target', self.where)}={self.target!r} ({self.where}) cannot be "
                f"checked: {exc}") from None

    def result_of(self, item: _CheckItem) -> CheckResult:
        """The result of the item's check, running the selected checks on first use."""
        from .runner import iter_results

        key = (item.check.category, item.check.name)
        if key not in self.results:
            if self.stream is None:
                assert self.factory is not None
                # The machines, when selected too, run meanwhile in a process of their own.
                if any(isinstance(i, _ModelItem) for i in item.session.items):
                    self.start_model(item.session)
                checks = [i.check for i in item.session.items if isinstance(i, _CheckItem)]
                self.stream = iter_results(self.factory, checks, self.seed)
            for result in self.stream:
                self.results[result.category, result.name] = result
                if (result.category, result.name) == key:
                    break
        return self.results[key]

    def start_model(self, session: pytest.Session) -> ModelRun:
        """Start the machines once, judging the categories of every selected model item."""
        if self.model_run is None:
            from .report import model_replay_command
            from .runner import MODEL_EXAMPLES, start_model

            assert self.factory is not None
            examples = self.examples or MODEL_EXAMPLES
            categories = [i.name for i in session.items if isinstance(i, _ModelItem)]
            replay = model_replay_command(self.target, self.factory.shape, categories,
                                          examples, self.seed)
            self.model_run = start_model(self.factory, categories, self.seed,
                                         examples=examples, replay=replay, target=self.target)
        return self.model_run

    def model_result_of(self, item: _ModelItem) -> CheckResult:
        """The model's verdict in the item's category, waiting for the machines (started
        here unless the first conformance check started them)."""
        if self.model_results is None:
            results = self.start_model(item.session).wait()
            self.model_results = {r.category: r for r in results}
        return self.model_results[item.name]

    def report(self) -> dict[str, Any]:
        from .report import build_report

        assert self.factory is not None
        model = self.model_results.values() if self.model_results else ()
        return build_report(self.target, self.factory.shape, self.seed,
                            [*self.results.values(), *model])

    def finish(self) -> None:
        """Stop the runners (killing a child still running) and write the report."""
        if self.stream is not None:
            self.stream.close()
        if self.model_run is not None:
            self.model_run.close()
        if self.report_path is not None and self.factory is not None and self.results:
            from .report import write_report

            self.written = write_report(self.report(), self.report_path)


_SUITE_KEY: Final = pytest.StashKey[_Suite]()


def _option(config: pytest.Config, noun: str) -> tuple[str | None, str]:
    """An option's value, command line first, then ini; and where it came from."""
    value = config.getoption(f"asyncqueue_{noun}")
    if value is not None:
        return value, "from command line"
    value = config.getini(f"asyncqueue_{noun}")
    if value:
        return str(value), f"from ini file {config.inipath}"
    return None, "default"


def _whole(text: str | None, where: str, noun: str, example: str) -> int | None:
    """An option's text as a whole number >= 1 (None when not given)."""
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise pytest.UsageError(f"{_named(noun, where)}={text!r} ({where}) is not a whole "
                                f"number >= 1; e.g. {example}")
    return value


def _named(noun: str, where: str) -> str:
    """How the user spelled the option: --asyncqueue-<noun> or asyncqueue_<noun>."""
    return f"--asyncqueue-{noun}" if where == "from command line" else f"asyncqueue_{noun}"


class _SuiteCollector(pytest.Collector):
    """``asyncqueue``: the conformance suite, one child per category."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        from .conformance import ALL_CHECKS
        from .contract import CATEGORIES

        suite = self.config.stash[_SUITE_KEY].suite
        categories = [c for c in CATEGORIES if any(k.category == c for k in ALL_CHECKS)]
        children: list[pytest.Item | pytest.Collector] = []
        if suite in ("examples", "all"):
            children += [_CategoryCollector.from_parent(self, name=c, nodeid=f"{self.nodeid}::{c}")
                         for c in categories]
        if suite in ("model", "all"):
            children.append(_ModelCollector.from_parent(self, name="model",
                                                        nodeid=f"{self.nodeid}::model"))
        return children


class _ModelCollector(pytest.Collector):
    """``asyncqueue::model``: the state machines' verdict, one item per category."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        from .contract import MODEL_CATEGORIES

        return [_ModelItem.from_parent(self, name=c, nodeid=f"{self.nodeid}::{c}")
                for c in MODEL_CATEGORIES]


class _CategoryCollector(pytest.Collector):
    """``asyncqueue::<category>``: the checks of one category, marked with it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker(getattr(pytest.mark, SUITE_MARKER)(self.name))
        self.add_marker(f"{SUITE_MARKER}_{self.name}")

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        from .conformance import ALL_CHECKS

        return [_CheckItem.from_parent(self, name=c.name, nodeid=f"{self.nodeid}::{c.name}",
                                       check=c)
                for c in ALL_CHECKS if c.category == self.name]


class _CheckFailure(Exception):
    """Raised by a check item whose check failed; carries the result."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.message)
        self.result = result


class _ResultItem(pytest.Item):
    """An item that passes, fails or skips as its suite result says."""

    def result(self) -> CheckResult:
        raise NotImplementedError

    def runtest(self) -> None:
        result = self.result()
        if result.status == "skipped":
            pytest.skip(result.message)
        if result.status == "failed":
            raise _CheckFailure(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str | Any:
        if isinstance(excinfo.value, _CheckFailure):
            from .report import replay_command

            suite = self.config.stash[_SUITE_KEY]
            assert suite.factory is not None
            result = excinfo.value.result
            replay = result.replay or replay_command(suite.target, suite.factory.shape,
                                                     result.category, result.seed)
            return f"{result.message}\nreplay: {replay}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.nodeid


class _CheckItem(_ResultItem):
    """``asyncqueue::<category>::<check>``: one conformance check."""

    def __init__(self, *, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check

    def result(self) -> CheckResult:
        return self.config.stash[_SUITE_KEY].result_of(self)


class _ModelItem(_ResultItem):
    """``asyncqueue::model::<category>``: the state machines' verdict in one category, marked
    with it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker(getattr(pytest.mark, SUITE_MARKER)(self.name))
        self.add_marker(f"{SUITE_MARKER}_{self.name}")

    def result(self) -> CheckResult:
        return self.config.stash[_SUITE_KEY].model_result_of(self)


def _suite_marker_options(item: pytest.Item) -> dict[str, Any]:
    """The merged keyword options of the item's asyncqueue markers (nearest wins), checked."""
    from .contract import CATEGORIES

    options: dict[str, Any] = {}
    for mark in reversed(list(item.iter_markers(SUITE_MARKER))):  # outermost first
        unknown = sorted(set(mark.kwargs) - {"target", "shape"})
        bad = [a for a in mark.args if a not in CATEGORIES]
        if len(mark.args) > 1 or bad or unknown:
            got = ", ".join([repr(a) for a in mark.args] + unknown)
            pytest.fail(f"{item.nodeid}: mark.{SUITE_MARKER} takes one category ("
                        f"{', '.join(CATEGORIES)}) and the keywords target, shape; got {got}",
                        pytrace=False)
        options.update(mark.kwargs)
    return options


@pytest.fixture
def asyncqueue_timeline() -> Timeline:
    """A fresh :class:`~pytest_asyncqueue.probes.Timeline` that probes record on."""
    from .probes import Timeline

    return Timeline()


@pytest.fixture
def asyncqueue_probes(asyncqueue_timeline: Timeline) -> Probes:
    """:class:`~pytest_asyncqueue.probes.Probes` writing to ``asyncqueue_timeline``."""
    from .probes import Probes

    return Probes(asyncqueue_timeline)


@pytest.fixture
def asyncqueue_target(request: pytest.FixtureRequest) -> TargetFactory:
    """The queue under test, as a factory of started-on-demand adapters.

    Chosen by the nearest ``@pytest.mark.asyncqueue(target=..., shape=...)``, else by
    ``--asyncqueue-target`` / ``--asyncqueue-shape`` (or their ini twins); the test is skipped
    when there is none. Call it with harness settings: ``queue = asyncqueue_target(workers=2)``,
    then ``await queue.start()``.
    """
    from .adapters import LoadError, make_factory

    options = _suite_marker_options(request.node)
    suite = request.config.stash.get(_SUITE_KEY, None)
    if "target" not in options:
        if suite is None or suite.factory is None:
            pytest.skip(NO_TARGET)
        return suite.factory
    try:
        return make_factory(options["target"], options.get("shape"))
    except LoadError as exc:
        pytest.fail(f"{request.node.nodeid}: mark.{SUITE_MARKER}(target="
                    f"{options['target']!r}) cannot be checked: {exc}", pytrace=False)


@pytest.fixture
def asyncqueue_bench(request: pytest.FixtureRequest) -> Callable[..., BenchRow]:
    """Benchmarks a workload on a queue beside a bare asyncio pool, as this test's benchmark.

    Call it once per test: ``row = asyncqueue_bench("noop", tasks=10_000, workers=8)``. The
    queue is ``target`` (a ``TargetFactory``, ``'package.module[:Class]'`` with ``shape``, or
    any pool as a :class:`~pytest_asyncqueue.bench.Contender`) or else the
    ``asyncqueue_target`` fixture's. Each round runs on a fresh real loop
    (``loop="asyncio"``, or ``"uvloop"``: skipped when not installed), interleaved with a
    round of the bare pool; pytest-benchmark times the queue's rounds and its
    ``extra_info`` gets every figure of the returned
    :class:`~pytest_asyncqueue.bench.BenchRow` (tasks/s, ratio to the bare pool, latency
    p50/p99 in µs, bytes per pending task), so ``--benchmark-json`` and
    ``--benchmark-compare`` carry them. A workload the queue cannot run is skipped saying why.
    Further keywords (``baseline``, ``rounds``, ``warmup``, ``latency_samples``,
    ``memory_tasks``, ``limit``) are those of :func:`pytest_asyncqueue.bench.measure`.
    """
    # Sync, like pytest-benchmark's benchmark: every round needs a fresh loop of its own,
    # which cannot start inside a running one (an async test's).

    def run(workload: str = "noop", *, tasks: int = 10_000, workers: int = 8,
            target: TargetFactory | Contender | str | None = None, shape: str | None = None,
            loop: str = "asyncio", **options: Any) -> BenchRow:
        import asyncio

        from .adapters import LoadError, Unsupported, make_factory
        from .bench import bench_target, check_arguments

        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no running loop: as it should be
            problem = None
        else:
            problem = BENCH_IN_LOOP
        if problem is None and target is None:
            target = request.getfixturevalue("asyncqueue_target")
        elif problem is None and isinstance(target, str):
            try:
                target = make_factory(target, shape)
            except LoadError as exc:
                problem = f"asyncqueue_bench(target={target!r}) cannot be benchmarked: {exc}"
        if problem is None:
            check_arguments(workload, tasks, workers, options.get("rounds"),
                            options.get("warmup", 1))
            # Asked for only now: pytest-benchmark warns about a benchmark fixture left
            # unused, and skips the test here under --benchmark-skip.
            try:
                benchmark = request.getfixturevalue("benchmark")
            except pytest.FixtureLookupError:
                problem = NEEDS_BENCHMARK
        if problem is not None:
            pytest.fail(f"{request.node.nodeid}: {problem}", pytrace=False)
        assert target is not None and not isinstance(target, str)
        try:
            row = bench_target(target, workload, tasks, workers, loop=loop,
                               benchmark=benchmark, **options)
        except Unsupported as exc:
            pytest.skip(f"asyncqueue_bench: {exc}")
        benchmark.extra_info.update(row.extra_info())
        return row

    return run

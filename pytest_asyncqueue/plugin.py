"""pytest hooks, options and markers of pytest-asyncqueue.

Loaded by the ``pytest11`` entry point ``asyncqueue``, or by ``-p pytest_asyncqueue`` (see the
package docstring). Nothing here acts until a test uses the ``asyncqueue_clock`` marker or
fixture, a fixture of its own, or the run names a queue with ``--asyncqueue-target`` (the ini
option ``asyncqueue_target`` or the ``pytest_asyncqueue_make_target`` hook). Importing this
module imports no Hypothesis, clock, report writer or pytest-asyncio: the hooks hand their work
to the modules that do it, which import those when they need them:

- ``_options``: the options' values, checked, with where each came from;
- ``_session``: the conformance suite in the session, its collectors and items (one item per
  check, ``asyncqueue::<category>::<check>``, and per category of the state machines,
  ``asyncqueue::model::<category>``), the terminal summary's results and the JSON report;
- ``_clock_fixture``: the ``asyncqueue_clock`` marker and fixture and the pytest-asyncio loop
  bridge;
- ``_fixtures``: the fixtures for users' tests;
- ``hookspec``: the hooks a ``conftest.py`` implements.

``--asyncqueue-suite`` chooses conformance, model or all (the default),
``--asyncqueue-model-examples`` the Hypothesis examples per state-machine run; their old
spellings (``--asyncqueue-suite=examples``, ``--asyncqueue-examples``) work for one more
release with a deprecation warning.
"""

from __future__ import annotations

from typing import Any, Final

import pytest

from . import _fixtures
from ._clock_fixture import (
    CLOCK_MARKER,
    NEEDS_LOOP_FACTORIES,
    check_clock_item,
    loop_factories_available,
    note_clock_test,
    register_clock_fixture,
)
from ._fixtures import BENCH_IN_LOOP, NEEDS_BENCHMARK, NO_TARGET, suite_marker_options
from ._options import NOUNS, OLD_NOUNS, suite_options
from ._session import SUITE_KEY, SUITE_MARKER, SuiteCollector, SuiteSession

__all__ = [
    "BENCH_IN_LOOP",
    "CATEGORY_MARKER_DESC",
    "CLOCK_MARKER",
    "CLOCK_MARKER_DESC",
    "EXAMPLES_HELP",
    "MODEL_EXAMPLES_HELP",
    "NEEDS_BENCHMARK",
    "NEEDS_LOOP_FACTORIES",
    "NO_TARGET",
    "REPORT_HELP",
    "SEED_HELP",
    "SHAPE_HELP",
    "SUITE_HELP",
    "SUITE_MARKER",
    "SUITE_MARKER_DESC",
    "TARGET_HELP",
]

CLOCK_MARKER_DESC: Final = (
    f"{CLOCK_MARKER}(*, seed=None, detect_deadlocks=True, blocking_threshold=0.05, "
    "raise_on_blocking=False, max_real_seconds=None): run this async test (pytest-asyncio) on "
    "the virtual-time loop pytest_asyncqueue.clock.VirtualClockLoop, with these options. "
    "Markers on module, class and function merge, nearest wins."
)
SUITE_MARKER_DESC: Final = (
    f"{SUITE_MARKER}(category=None, *, target=None, shape=None): a test about an asyncio task "
    "queue; category is one of the report categories; target ('package.module[:Class]' or "
    "'path/to/file.py[:Class]') and shape choose what the asyncqueue_target fixture loads "
    "(default: --asyncqueue-target). Markers on module, class and function merge, nearest wins."
)
CATEGORY_MARKER_DESC: Final = (
    "asyncqueue_{category}: a conformance check of the {category} category; "
    "select them with -m asyncqueue_{category}."
)

TARGET_HELP: Final = (
    "Run the conformance suite against this queue: package.module[:Class] or "
    "path/to/file.py[:Class]; one test item per check. A conftest can return it from the "
    "pytest_asyncqueue_make_target hook instead. Default: none (no suite)."
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
    "Which suite to add: conformance (the conformance checks), model (the state machines, "
    "one item per category) or all; examples, the old name of conformance, is deprecated. "
    "Default: all."
)
MODEL_EXAMPLES_HELP: Final = (
    "Hypothesis examples per state-machine run (the model suite). Default: 50."
)
EXAMPLES_HELP: Final = (
    "Deprecated: the old name of --asyncqueue-model-examples (ini asyncqueue_model_examples); "
    "removed in the next release."
)
_HELP: Final = {"target": TARGET_HELP, "shape": SHAPE_HELP, "report": REPORT_HELP,
                "seed": SEED_HELP, "suite": SUITE_HELP, "model_examples": MODEL_EXAMPLES_HELP,
                "examples": EXAMPLES_HELP}
_METAVARS: Final = {"model_examples": "N", "examples": "N"}


PASS_ENV_HELP: Final = (
    "Let the target see the whole environment in the suite's child processes. Default: only "
    "the locale, path and PYTHON* variables."
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("asyncqueue", "asyncqueue: check an asyncio task queue")
    for noun in (*NOUNS, *OLD_NOUNS):
        group.addoption(f"--asyncqueue-{noun.replace('_', '-')}", dest=f"asyncqueue_{noun}",
                        metavar=_METAVARS.get(noun, noun.upper()), default=None,
                        help=_HELP[noun])
        parser.addini(f"asyncqueue_{noun}", _HELP[noun], default="")
    group.addoption("--asyncqueue-pass-env", action="store_true", dest="asyncqueue_pass_env",
                    default=False, help=PASS_ENV_HELP)
    parser.addini("asyncqueue_pass_env", PASS_ENV_HELP, type="bool", default=False)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspec

    pluginmanager.add_hookspecs(hookspec)


def pytest_configure(config: pytest.Config) -> None:
    from .contract import CATEGORIES

    config.addinivalue_line("markers", CLOCK_MARKER_DESC)
    config.addinivalue_line("markers", SUITE_MARKER_DESC)
    for category in CATEGORIES:
        config.addinivalue_line("markers", CATEGORY_MARKER_DESC.format(category=category))
    options = suite_options(config)
    if options is not None:
        from ._isolation import ISOLATION

        ISOLATION.pass_env = bool(config.getoption("asyncqueue_pass_env")
                                  or config.getini("asyncqueue_pass_env"))
        config.stash[SUITE_KEY] = SuiteSession(options)
    register_clock_fixture(config)
    config.pluginmanager.register(_fixtures, "asyncqueue-fixtures")


def pytest_sessionstart(session: pytest.Session) -> None:
    suite = session.config.stash.get(SUITE_KEY, None)
    if suite is not None:
        suite.load()


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    lines = []
    suite = config.stash.get(SUITE_KEY, None)
    if suite is not None and suite.factory is not None:
        seed = suite.options.seed
        lines.append(f"asyncqueue: target {suite.options.target} (shape {suite.factory.shape}, "
                     f"class {suite.factory.cls.__qualname__}), seed {seed}; replay with "
                     f"--asyncqueue-seed={seed}")
    # Only when asked for with -p pytest_asyncqueue: an installed plugin stays silent.
    if config.pluginmanager.has_plugin("pytest_asyncqueue"):
        if loop_factories_available(config):
            lines.append(f"asyncqueue: virtual clock for tests marked {CLOCK_MARKER}")
        else:
            lines.append(f"asyncqueue: the {CLOCK_MARKER} marker {NEEDS_LOOP_FACTORIES}")
    return lines or None


@pytest.hookimpl(tryfirst=True)  # before -k, -m and --deselect filter the items
def pytest_collection_modifyitems(session: pytest.Session, items: list[pytest.Item]) -> None:
    if session.config.stash.get(SUITE_KEY, None) is not None:
        items.extend(session.genitems(SuiteCollector.from_parent(
            session, name=SUITE_MARKER, nodeid=SUITE_MARKER)))


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Any:
    note_clock_test(collector, obj)
    return (yield)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker(SUITE_MARKER) is not None:
        suite_marker_options(item)
    check_clock_item(item)


def pytest_sessionfinish(session: pytest.Session) -> None:
    suite = session.config.stash.get(SUITE_KEY, None)
    if suite is not None:
        suite.finish(session.config)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    suite = terminalreporter.config.stash.get(SUITE_KEY, None)
    if suite is None or not suite.results:
        return
    from .report import category_line

    terminalreporter.section("asyncqueue")
    for category, entry in suite.report()["categories"].items():
        terminalreporter.line(category_line(category, entry))
    seed = suite.options.seed
    terminalreporter.line(f"seed {seed}; replay with --asyncqueue-seed={seed}")
    if suite.written is not None:
        terminalreporter.line(f"report written to {suite.written}")

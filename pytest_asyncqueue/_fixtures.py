"""The fixtures for users' tests: ``asyncqueue_timeline``, ``asyncqueue_probes``,
``asyncqueue_target``, ``asyncqueue_bench``; registered by the plugin in ``pytest_configure``.

Each fixture is a thin door to the harness (probes, adapters, benchmarks), imported when
the fixture is first used. ``asyncqueue_clock`` lives in ``_clock_fixture`` with the loop
bridge it needs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import pytest

from ._session import SUITE_KEY, SUITE_MARKER

if TYPE_CHECKING:
    from .adapters import TargetFactory
    from .benchmark import BenchRow, Contender
    from .probes import Probes, Timeline

__all__ = [
    "BENCH_IN_LOOP",
    "NEEDS_BENCHMARK",
    "NO_TARGET",
    "asyncqueue_bench",
    "asyncqueue_probes",
    "asyncqueue_target",
    "asyncqueue_timeline",
    "suite_marker_options",
]

NO_TARGET: Final = (
    "no queue target: pass --asyncqueue-target=TARGET (or set asyncqueue_target in the ini "
    "file, or return it from a pytest_asyncqueue_make_target hook), or mark the test "
    "@pytest.mark.asyncqueue(target='package.module:Class')"
)
BENCH_IN_LOOP: Final = (
    "asyncqueue_bench runs each round on a fresh event loop of its own, so it cannot run "
    "inside one: call it from a plain (def, not async def) test function"
)
NEEDS_BENCHMARK: Final = (
    "the asyncqueue_bench fixture needs pytest-benchmark's benchmark fixture: install "
    "pytest-benchmark (pip install -e '.[test]') and do not disable it (-p no:benchmark)"
)


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
    ``--asyncqueue-target`` / ``--asyncqueue-shape`` (or their ini twins, or the
    ``pytest_asyncqueue_make_target`` hook); the test is skipped when there is none. Call it
    with harness settings: ``queue = asyncqueue_target(workers=2)``, then
    ``await queue.start()``.
    """
    from .adapters import LoadError, make_factory

    options = suite_marker_options(request.node)
    suite = request.config.stash.get(SUITE_KEY, None)
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
    any pool as a :class:`~pytest_asyncqueue.benchmark.Contender`) or else the
    ``asyncqueue_target`` fixture's. Each round runs on a fresh real loop
    (``loop="asyncio"``, or ``"uvloop"``: skipped when not installed), interleaved with a
    round of the bare pool; pytest-benchmark times the queue's rounds and its
    ``extra_info`` gets every figure of the returned
    :class:`~pytest_asyncqueue.benchmark.BenchRow` (tasks/s, ratio to the bare pool, latency
    p50/p99 in µs, bytes per pending task), so ``--benchmark-json`` and
    ``--benchmark-compare`` carry them. A workload the queue cannot run is skipped saying why.
    Further keywords (``baseline``, ``rounds``, ``warmup``, ``latency_samples``,
    ``memory_tasks``, ``limit``) are those of :func:`pytest_asyncqueue.benchmark.measure`.
    """
    # Sync, like pytest-benchmark's benchmark: every round needs a fresh loop of its own,
    # which cannot start inside a running one (an async test's).
    return functools.partial(_bench, request)


def _bench(request: pytest.FixtureRequest, workload: str = "noop", *, tasks: int = 10_000,
           workers: int = 8, target: TargetFactory | Contender | str | None = None,
           shape: str | None = None, loop: str = "asyncio", **options: Any) -> BenchRow:
    """One call of the ``asyncqueue_bench`` fixture (see there)."""
    import asyncio

    from .adapters import LoadError, Unsupported, make_factory
    from .benchmark import bench_target, check_arguments

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


def suite_marker_options(item: pytest.Item) -> dict[str, Any]:
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

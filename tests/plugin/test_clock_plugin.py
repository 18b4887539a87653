"""The asyncqueue_clock marker and fixture, and how the plugin loads, tested with pytester."""

from __future__ import annotations

from textwrap import dedent

import pytest

from pytest_asyncqueue.plugin import CLOCK_MARKER_DESC

# Hypothesis's plugin imports Hypothesis at the end of every run, and pytester drops modules an
# in-process run imported, so each run would pay ~1 s for it; these projects don't use it.
INI = """
[pytest]
asyncio_default_fixture_loop_scope = function
addopts = --strict-markers -p no:cacheprovider -p no:hypothesispytest
filterwarnings = error
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    return pytester


def test_a_marked_async_test_runs_on_the_virtual_loop_and_sleeps_an_hour_instantly(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        dedent(
            """
            import asyncio, time
            import pytest
            from pytest_asyncqueue.clock import VirtualClockLoop

            @pytest.mark.asyncio
            @pytest.mark.asyncqueue_clock
            async def test_hour():
                wall = time.perf_counter()
                await asyncio.sleep(3600)
                loop = asyncio.get_running_loop()
                assert isinstance(loop, VirtualClockLoop)
                assert loop.time() == 3600.0
                assert time.perf_counter() - wall < 1.0

            @pytest.mark.asyncio
            @pytest.mark.asyncqueue_clock
            async def test_fixture_is_the_running_loop(asyncqueue_clock):
                await asyncio.sleep(2.5)
                assert asyncqueue_clock is asyncio.get_running_loop()
                assert (asyncqueue_clock.time(), asyncqueue_clock.jumps) == (2.5, 1)
                assert asyncqueue_clock.blocking_calls == []
            """
        )
    )

    project.runpytest().assert_outcomes(passed=2)


def test_requesting_the_fixture_alone_puts_an_async_test_on_the_virtual_loop(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        dedent(
            """
            import asyncio
            import pytest

            @pytest.mark.asyncio
            async def test_fixture_only(asyncqueue_clock):
                await asyncio.sleep(10)
                assert asyncio.get_running_loop() is asyncqueue_clock
                assert asyncqueue_clock.virtual_elapsed == 10.0
            """
        )
    )

    project.runpytest().assert_outcomes(passed=1)


def test_marker_options_reach_the_loop_and_the_nearest_marker_wins(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        dedent(
            """
            import asyncio
            import pytest

            pytestmark = pytest.mark.asyncqueue_clock(seed=1, blocking_threshold=0.5)

            @pytest.mark.asyncqueue_clock(seed=7)
            class TestOptions:
                @pytest.mark.asyncio
                async def test_class_marker(self):
                    loop = asyncio.get_running_loop()
                    assert (loop.seed, loop.blocking_threshold) == (7, 0.5)

                @pytest.mark.asyncio
                @pytest.mark.asyncqueue_clock(seed=None, raise_on_blocking=True)
                async def test_function_marker(self):
                    loop = asyncio.get_running_loop()
                    assert (loop.seed, loop.raise_on_blocking) == (None, True)

            @pytest.mark.asyncio
            async def test_module_marker():
                assert asyncio.get_running_loop().seed == 1
            """
        )
    )

    project.runpytest().assert_outcomes(passed=3)


def test_an_unknown_marker_keyword_is_an_error_listing_the_accepted_ones(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        dedent(
            """
            import pytest

            @pytest.mark.asyncio
            @pytest.mark.asyncqueue_clock(sed=1)
            async def test_typo():
                pass
            """
        )
    )

    result = project.runpytest()

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*mark.asyncqueue_clock accepts only the keyword arguments seed, detect_deadlocks, "
            "blocking_threshold, raise_on_blocking, max_real_seconds; got sed*"
        ]
    )


@pytest.mark.timeout(30)
def test_a_deadlocked_test_fails_with_deadlock_error_instead_of_hanging(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        dedent(
            """
            import asyncio
            import pytest

            @pytest.mark.asyncio
            @pytest.mark.asyncqueue_clock
            async def test_stuck():
                await asyncio.Event().wait()
            """
        )
    )

    result = project.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*DeadlockError: nothing can run at virtual t=0.000s and no timer is due; waiting: *"]
    )


def test_a_sync_test_gets_a_fresh_virtual_loop_from_the_fixture(project: pytest.Pytester) -> None:
    project.makepyfile(
        dedent(
            """
            import asyncio

            def test_sync(asyncqueue_clock):
                asyncqueue_clock.run_until_complete(asyncio.sleep(5))
                assert asyncqueue_clock.time() == 5.0
                assert not asyncqueue_clock.is_closed()
            """
        )
    )

    project.runpytest().assert_outcomes(passed=1)


def test_marking_a_sync_test_without_the_fixture_warns_that_it_does_nothing(
    pytester: pytest.Pytester,
) -> None:
    # In-process runs inherit the outer run's "error" filter unless the ini resets it.
    pytester.makeini(INI.replace("filterwarnings = error", "filterwarnings = default"))
    pytester.makepyfile(
        dedent(
            """
            import pytest

            @pytest.mark.asyncqueue_clock
            def test_sync():
                pass
            """
        )
    )

    result = pytester.runpytest()

    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines(["*is marked asyncqueue_clock but is not an async test*"])


def test_the_marker_is_registered_with_its_signature(project: pytest.Pytester) -> None:
    result = project.runpytest("--markers")

    result.stdout.fnmatch_lines([f"@pytest.mark.{CLOCK_MARKER_DESC}"])


PLAIN_PROJECT = """
import asyncio
import pytest

def test_sync():
    assert True

@pytest.mark.asyncio
async def test_async(request):
    loop = asyncio.get_running_loop()
    assert type(loop).__name__ == "_UnixSelectorEventLoop"
    assert not hasattr(request.node, "callspec")
    assert request.config.pluginmanager.get_plugin("asyncqueue-clock") is None
    await asyncio.sleep(0)

@pytest.mark.asyncio
@pytest.mark.parametrize("n", [1, 2])
async def test_param(n):
    assert n in (1, 2)
"""


def test_a_plain_projects_test_run_is_unchanged_with_the_plugin_installed(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(PLAIN_PROJECT)

    with_plugin = project.runpytest("-v")
    without_plugin = project.runpytest("-v", "-p", "no:asyncqueue")

    with_plugin.assert_outcomes(passed=4)
    without_plugin.assert_outcomes(passed=4)
    assert _test_lines(with_plugin) == _test_lines(without_plugin)
    assert not any("asyncqueue" in line for line in with_plugin.outlines if "plugins:" not in line)


def test_unmarked_async_tests_stay_on_the_stock_loop_next_to_clock_tests(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        test_a_clock=dedent(
            """
            import asyncio
            import pytest

            @pytest.mark.asyncio
            @pytest.mark.asyncqueue_clock
            async def test_virtual():
                await asyncio.sleep(60)
                assert asyncio.get_running_loop().time() == 60
            """
        ),
        test_b_plain=dedent(
            """
            import asyncio
            import pytest

            @pytest.mark.asyncio
            async def test_stock():
                assert type(asyncio.get_running_loop()).__name__ == "_UnixSelectorEventLoop"
            """
        ),
    )

    result = project.runpytest("-v")

    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_b_plain.py::test_stock PASSED*"])


def test_the_marker_overrides_a_users_loop_factories_only_for_clock_tests(
    project: pytest.Pytester,
) -> None:
    project.makeconftest(
        dedent(
            """
            import asyncio

            def pytest_asyncio_loop_factories(config, item):
                return {"plain": asyncio.new_event_loop, "selector": asyncio.SelectorEventLoop}
            """
        )
    )
    project.makepyfile(
        dedent(
            """
            import asyncio
            import pytest
            from pytest_asyncqueue.clock import VirtualClockLoop

            @pytest.mark.asyncio
            @pytest.mark.asyncqueue_clock
            async def test_virtual():
                assert isinstance(asyncio.get_running_loop(), VirtualClockLoop)

            @pytest.mark.asyncio
            async def test_users():
                assert not isinstance(asyncio.get_running_loop(), VirtualClockLoop)
            """
        )
    )

    result = project.runpytest("-v")

    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["*::test_users[[]plain[]] PASSED*", "*::test_users[[]selector[]] PASSED*"]
    )


CLOCK_PROJECT = """
import asyncio
import pytest
import pytest_asyncqueue.plugin

def test_registered_once(request):
    plugins = request.config.pluginmanager.get_plugins()
    assert sum(plugin is pytest_asyncqueue.plugin for plugin in plugins) == 1

@pytest.mark.asyncio
@pytest.mark.asyncqueue_clock
async def test_virtual():
    await asyncio.sleep(3600)
    assert asyncio.get_running_loop().time() == 3600
"""


def test_dash_p_pytest_asyncqueue_works_alongside_the_entry_point(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(CLOCK_PROJECT)

    result = project.runpytest("-p", "pytest_asyncqueue")

    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["asyncqueue: virtual clock for tests marked asyncqueue_clock"])


def test_dash_p_pytest_asyncqueue_works_without_plugin_autoload(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    project.makepyfile(CLOCK_PROJECT)

    result = project.runpytest("-p", "pytest_asyncqueue", "-p", "pytest_asyncio.plugin")

    result.assert_outcomes(passed=2)


def test_the_entry_point_alone_adds_no_report_header_line(project: pytest.Pytester) -> None:
    project.makepyfile(CLOCK_PROJECT)

    result = project.runpytest()

    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("asyncqueue: *")


def _test_lines(result: pytest.RunResult) -> list[str]:
    return sorted(line.split(" ")[0] for line in result.outlines if "::" in line)

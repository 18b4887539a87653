"""The conformance suite inside a pytest session: its state, its collectors and its items.

With a target (``--asyncqueue-target``, the ini option or the ``pytest_asyncqueue_make_target``
hook), :class:`SuiteSession` is kept in ``config.stash`` under :data:`SUITE_KEY` and the
suite joins the session under :class:`SuiteCollector`: one item per check, named
``asyncqueue::<category>::<check>`` and marked ``asyncqueue(<category>)`` and
``asyncqueue_<category>`` (so ``-m asyncqueue_retries`` or ``-k backoff`` select checks).
The checks run through :mod:`pytest_asyncqueue.runner` (a child process per category, killed
if a check hangs); each item waits only for its own result, which streams in while the items
run. The state machines add one item per category, ``asyncqueue::model::<category>``, marked
the same way; they start with the first conformance item (or the first model item) and run
meanwhile for every selected category. At the end :meth:`SuiteSession.finish` writes the JSON
report, after the ``pytest_asyncqueue_update_report`` hook has seen it.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from ._options import SuiteOptions
    from .adapters import TargetFactory
    from .conformance import Check
    from .runner import CheckResult, MachinesRun

__all__ = ["SUITE_KEY", "SUITE_MARKER", "SuiteCollector", "SuiteSession"]

SUITE_MARKER: Final = "asyncqueue"


@dataclass
class SuiteSession:
    """The suite's settings and results for one session, kept in ``config.stash``."""

    options: SuiteOptions
    factory: TargetFactory | None = None
    results: dict[tuple[str, str], CheckResult] = field(default_factory=dict)
    model_results: dict[str, CheckResult] | None = None  # by category, once the model ran
    machines_run: MachinesRun | None = None  # the machines, once started
    stream: Generator[CheckResult, None, None] | None = None
    written: Path | None = None

    def load(self) -> None:
        """Load the target (at session start), unless the hook gave its factory.

        Raises:
            pytest.UsageError: it cannot be loaded or adapted; the message says why.
        """
        if self.options.factory is not None:
            self.factory = self.options.factory
            return
        from .adapters import LoadError, make_factory

        try:
            self.factory = make_factory(self.options.target, self.options.shape)
        except LoadError as exc:
            raise pytest.UsageError(
                f"{self.options.target_given} cannot be checked: {exc}") from None

    def result_of(self, item: _CheckItem) -> CheckResult:
        """The result of the item's check, running the selected checks on first use."""
        from .runner import iter_results

        key = (item.check.category, item.check.name)
        if key not in self.results:
            if self.stream is None:
                assert self.factory is not None
                # The machines, when selected too, run meanwhile in a process of their own.
                if any(isinstance(i, _ModelItem) for i in item.session.items):
                    self.start_machines(item.session)
                checks = [i.check for i in item.session.items if isinstance(i, _CheckItem)]
                self.stream = iter_results(self.factory, checks, self.options.seed)
            for result in self.stream:
                self.results[result.category, result.name] = result
                if (result.category, result.name) == key:
                    break
        return self.results[key]

    def start_machines(self, session: pytest.Session) -> MachinesRun:
        """Start the machines once, judging the categories of every selected model item."""
        if self.machines_run is None:
            from .report import model_replay_command
            from .runner import MODEL_EXAMPLES, start_machines

            assert self.factory is not None
            target, seed = self.options.target, self.options.seed
            examples = self.options.model_examples or MODEL_EXAMPLES
            categories = [i.name for i in session.items if isinstance(i, _ModelItem)]
            replay = model_replay_command(target, self.factory.shape, categories, examples, seed)
            self.machines_run = start_machines(self.factory, categories, seed, examples=examples,
                                         replay=replay, target=target)
        return self.machines_run

    def model_result_of(self, item: _ModelItem) -> CheckResult:
        """The model's verdict in the item's category, waiting for the machines (started
        here unless the first conformance check started them)."""
        if self.model_results is None:
            from .runner import attribute

            # The conformance checks of the session ran first: a model failure may follow
            # from one of theirs.
            results = attribute([*self.results.values(), *self.start_machines(
                item.session).wait()])[len(self.results):]
            self.model_results = {r.category: r for r in results}
        return self.model_results[item.name]

    def report(self) -> dict[str, Any]:
        """The JSON report (a dict) of the results so far."""
        from .report import build_report
        from .runner import attribute

        assert self.factory is not None
        model = self.model_results.values() if self.model_results else ()
        return build_report(self.options.target, self.factory.shape, self.options.seed,
                            attribute([*self.results.values(), *model]))

    def finish(self, config: pytest.Config) -> None:
        """Stop the runners (killing a child still running) and write the report, once the
        ``pytest_asyncqueue_update_report`` hook has changed it."""
        if self.stream is not None:
            self.stream.close()
        if self.machines_run is not None:
            self.machines_run.close()
        path = self.options.report_path
        if path is not None and self.factory is not None and self.results:
            from .report import write_report

            report = self.report()
            config.hook.pytest_asyncqueue_update_report(config=config, report=report)
            self.written = write_report(report, path)


SUITE_KEY: Final = pytest.StashKey[SuiteSession]()


class SuiteCollector(pytest.Collector):
    """``asyncqueue``: the conformance suite, one child per category."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        from .conformance import ALL_CHECKS
        from .contract import CATEGORIES

        suite = self.config.stash[SUITE_KEY].options.suite
        categories = [c for c in CATEGORIES if any(k.category == c for k in ALL_CHECKS)]
        children: list[pytest.Item | pytest.Collector] = []
        if suite in ("conformance", "all"):
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
        _mark_category(self)

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        from .conformance import ALL_CHECKS

        return [_CheckItem.from_parent(self, name=c.name, nodeid=f"{self.nodeid}::{c.name}",
                                       check=c)
                for c in ALL_CHECKS if c.category == self.name]


def _mark_category(node: pytest.Node) -> None:
    """Mark a node named after a category ``asyncqueue(<category>)`` and
    ``asyncqueue_<category>``."""
    node.add_marker(getattr(pytest.mark, SUITE_MARKER)(node.name))
    node.add_marker(f"{SUITE_MARKER}_{node.name}")


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

            suite = self.config.stash[SUITE_KEY]
            assert suite.factory is not None
            result = excinfo.value.result
            replay = result.replay or replay_command(suite.options.target, suite.factory.shape,
                                                     result.category, result.seed)
            follows = (f"follows from {result.follows_from}\n" if result.follows_from
                       else "")
            return f"{follows}{result.message}\nreplay: {replay}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.nodeid


class _CheckItem(_ResultItem):
    """``asyncqueue::<category>::<check>``: one conformance check."""

    def __init__(self, *, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check

    def result(self) -> CheckResult:
        return self.config.stash[SUITE_KEY].result_of(self)


class _ModelItem(_ResultItem):
    """``asyncqueue::model::<category>``: the state machines' verdict in one category, marked
    with it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _mark_category(self)

    def result(self) -> CheckResult:
        return self.config.stash[SUITE_KEY].model_result_of(self)

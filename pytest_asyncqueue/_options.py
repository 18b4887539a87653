"""The suite's settings as the plugin's options give them, checked, with where each came from.

Each value is read from the command line, then the ini file (pytest-asyncio's order); the
target also from the ``pytest_asyncqueue_make_target`` hook, between the two. A deprecated
spelling (``--asyncqueue-examples``, ini ``asyncqueue_examples``, ``--asyncqueue-suite=
examples``) still works for one release and issues a ``PytestDeprecationWarning`` naming the
new one. A bad value is a ``pytest.UsageError`` naming the value, where it came from and the
valid choices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from .adapters import TargetFactory

__all__ = ["NOUNS", "OLD_NOUNS", "OLD_SUITES", "SUITES", "SuiteOptions", "suite_options"]

NOUNS: Final = ("target", "shape", "report", "seed", "suite", "model_examples")
"""The suite's options: ``--asyncqueue-<noun>`` (``_`` spelled ``-``), ini ``asyncqueue_<noun>``."""
OLD_NOUNS: Final = {"examples": "model_examples"}
"""Deprecated option names (kept for one release) and the option each now is."""
SUITES: Final = ("conformance", "model", "all")
OLD_SUITES: Final = {"examples": "conformance"}
"""Deprecated ``--asyncqueue-suite`` values and the suite each now is."""
FROM_COMMAND_LINE: Final = "from command line"
MAKE_TARGET_HOOK: Final = "pytest_asyncqueue_make_target"


@dataclass(frozen=True)
class _Given:
    """A setting's text, how the user spelled it and where it came from."""

    value: str | None
    name: str  # "--asyncqueue-seed", "asyncqueue_seed" or the hook's name
    where: str  # "from command line", "from ini file <path>", "default", ...

    def __str__(self) -> str:
        return f"{self.name}={self.value!r} ({self.where})"


@dataclass(frozen=True)
class SuiteOptions:
    """What the options ask of the suite in this session.

    Attributes:
        target: the target as the header, report and replay commands name it.
        target_given: the target setting as the user gave it, for messages.
        factory: the target factory the hook returned (None: load ``target`` at start).
        shape: the adapter shape to load ``target`` with (None: detect it).
        report_path: where to write the JSON report (None: no report). One from the command
            line is relative to the working folder, one from the ini file to the root folder.
        seed: the run's seed.
        suite: ``conformance``, ``model`` or ``all``.
        model_examples: examples per state-machine run (None: the model suite's default).
    """

    target: str
    target_given: str
    factory: TargetFactory | None
    shape: str | None
    report_path: Path | None
    seed: int
    suite: str
    model_examples: int | None


def suite_options(config: pytest.Config) -> SuiteOptions | None:
    """The suite the options ask for, or None without a target.

    Raises:
        pytest.UsageError: a bad option value, naming where it came from.
    """
    from .adapters import SHAPES
    from .runner import new_seed

    shape, report, seed_given, suite, examples = (
        _read(config, noun) for noun in ("shape", "report", "seed", "suite", "model_examples"))
    if suite.value in OLD_SUITES:
        _deprecated(config, f"{suite.name}={suite.value}",
                    f"{suite.name}={OLD_SUITES[suite.value]}")
    suite_name = OLD_SUITES.get(suite.value or "all", suite.value or "all")
    if suite_name not in SUITES:
        raise pytest.UsageError(f"{suite} is not a suite; valid: {', '.join(SUITES)}")
    model_examples = _whole(examples, "--asyncqueue-model-examples=50")
    if shape.value is not None and shape.value not in SHAPES:
        raise pytest.UsageError(
            f"{shape} is not a built-in shape; valid: {', '.join(SHAPES)}")
    try:
        seed = new_seed() if seed_given.value is None else int(seed_given.value)
    except ValueError:
        raise pytest.UsageError(
            f"{seed_given} is not an integer; pass the seed a report or header shows, e.g. "
            f"--asyncqueue-seed=1234") from None
    target, factory = _target(config)
    if target.value is None:
        if report.value is not None and report.where == FROM_COMMAND_LINE:
            raise pytest.UsageError(
                f"{report} has no suite to report on; pass --asyncqueue-target=TARGET too (or "
                f"set asyncqueue_target in the ini file)")
        return None
    if factory is not None and shape.value not in (None, factory.shape):
        raise pytest.UsageError(
            f"{shape} does not apply to the TargetFactory {MAKE_TARGET_HOOK} returned (shape "
            f"{factory.shape}); drop it, or return a target spec instead of a factory")
    report_path = None
    if report.value is not None:
        base = config.invocation_params.dir if report.where == FROM_COMMAND_LINE else (
            config.rootpath)
        report_path = base / report.value
        from .report import report_path_problem

        problem = report_path_problem(str(report_path) if report.value.strip() else "",
                                      folders=True)
        if problem:
            raise pytest.UsageError(f"{report} {problem}")
    return SuiteOptions(target=target.value, target_given=str(target), factory=factory,
                        shape=shape.value, report_path=report_path, seed=seed,
                        suite=suite_name, model_examples=model_examples)


def _read(config: pytest.Config, noun: str) -> _Given:
    """An option's text, command line first, then ini; under its name or a deprecated one."""
    names = [noun, *(old for old, new in OLD_NOUNS.items() if new == noun)]
    sources = [(config.getoption(f"asyncqueue_{name}"), name, _flag, FROM_COMMAND_LINE)
               for name in names]
    sources += [(config.getini(f"asyncqueue_{name}") or None, name, _ini,
                 f"from ini file {config.inipath}") for name in names]
    for value, name, spell, _ in sources:
        if value is not None and name != noun:
            _deprecated(config, spell(name), spell(noun))
    return next((_Given(str(value), spell(name), where)
                 for value, name, spell, where in sources if value is not None),
                _Given(None, _flag(noun), "default"))


def _target(config: pytest.Config) -> tuple[_Given, TargetFactory | None]:
    """The target: from the command line, else the hook, else the ini file; and the factory
    when the hook returned one."""
    command_line = config.getoption("asyncqueue_target")
    if command_line is not None:
        return _Given(command_line, "--asyncqueue-target", FROM_COMMAND_LINE), None
    answer = config.hook.pytest_asyncqueue_make_target(config=config)
    if answer is None:
        return _read(config, "target"), None
    if isinstance(answer, str):
        return _Given(answer, MAKE_TARGET_HOOK, "returned by the hook"), None
    from .adapters import SHAPES, TargetFactory

    if not isinstance(answer, TargetFactory):
        raise pytest.UsageError(
            f"{MAKE_TARGET_HOOK} returned {answer!r}; expected a TargetFactory (for example "
            f"pytest_asyncqueue.adapters.make_factory('package.module:Class')), a target spec "
            f"such as 'package.module:Class' or 'path/to/file.py', or None")
    # Named as the command line would load it: the queue class, or a user's adapter class.
    named = answer.cls if answer.adapter in SHAPES.values() else answer.adapter
    name = f"{named.__module__}:{named.__qualname__}"
    return _Given(name, MAKE_TARGET_HOOK, "returned by the hook"), answer


def _whole(given: _Given, example: str) -> int | None:
    """An option's text as a whole number >= 1 (None when not given)."""
    if given.value is None:
        return None
    try:
        value = int(given.value)
    except ValueError:
        value = 0
    if value < 1:
        raise pytest.UsageError(f"{given} is not a whole number >= 1; e.g. {example}")
    return value


def _flag(noun: str) -> str:
    """The command-line spelling of an option: ``--asyncqueue-model-examples``."""
    return f"--asyncqueue-{noun.replace('_', '-')}"


def _ini(noun: str) -> str:
    """The ini spelling of an option: ``asyncqueue_model_examples``."""
    return f"asyncqueue_{noun}"


def _deprecated(config: pytest.Config, spelled: str, instead: str) -> None:
    """Warn that a spelling is deprecated (it goes in the next release) and name the new one."""
    config.issue_config_time_warning(pytest.PytestDeprecationWarning(
        f"{spelled} is deprecated and will be removed in the next release; use {instead}"),
        stacklevel=2)

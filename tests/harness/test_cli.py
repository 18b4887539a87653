"""``asyncqueue-check``: output, report and exit status 0 / 1 / 2 (DESIGN section 5)."""

from __future__ import annotations

import io
import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_asyncqueue.cli import OLD_EXAMPLES_NOTE, OLD_SUITE_NOTE, main
from pytest_asyncqueue.conformance import ALL_CHECKS
from pytest_asyncqueue.contract import CATEGORIES
from pytest_asyncqueue.report import validate_report

# queue_core with the priority direction turned around: the ordering checks must fail.
INVERTED = '''
from queue_core import TaskQueue as _TaskQueue


class TaskQueue(_TaskQueue):
    def submit(self, handler, /, *args, task_id=None, priority=0, max_retries=0, delay=0.0,
               timeout=None):
        return super().submit(handler, *args, task_id=task_id, priority=-priority,
                              max_retries=max_retries, delay=delay, timeout=timeout)
'''


def check(*argv: str) -> tuple[int, list[str]]:
    """Run asyncqueue-check in this process; return its exit status and output lines."""
    out = io.StringIO()
    status = main(list(argv), out=out)
    return status, out.getvalue().splitlines()


@pytest.fixture
def inverted(tmp_path: Path) -> str:
    path = tmp_path / "inverted_queue.py"
    path.write_text(INVERTED)
    return str(path)


def test_a_correct_queue_passes_every_category_and_exits_0(tmp_path: Path) -> None:
    status, lines = check("queue_core", "--seed", "42", "--model-examples", "5",
                          "--report", str(tmp_path / "r.json"))

    categories = list(dict.fromkeys(c.category for c in ALL_CHECKS))
    model = 2 + len(categories)
    assert status == 0
    assert lines[0] == "asyncqueue-check queue_core (shape queue_core, class TaskQueue), seed 42"
    assert [line.split(" ")[0] for line in lines[1:1 + len(categories)]] == categories
    assert all(" passed " in line for line in lines[1:1 + len(categories)])
    assert lines[1 + len(categories)] == ("model: state machines against the executable model, "
                                          "5 examples per run, seed 42")
    assert [line.split(" ")[0] for line in lines[model:model + len(categories)]] == categories
    assert all(line.endswith(" passed 1/1") for line in lines[model:model + len(categories)])
    total = len(ALL_CHECKS) + len(categories)
    assert lines[-1].startswith(f"ok: {total} checks, {total} passed, 0 failed, 0 skipped in ")
    report = json.loads((tmp_path / "r.json").read_text())
    validate_report(report)
    assert (report["ok"], report["seed"], report["target"]) == (True, 42, "queue_core")


def test_a_failed_check_exits_1_and_prints_its_message_and_replay_command(
    inverted: str, tmp_path: Path
) -> None:
    status, lines = check(inverted, "--only", "ordering", "--seed", "7", "--suite", "conformance",
                          "--report", str(tmp_path / "r.json"))

    assert status == 1
    assert lines[1].startswith("ordering ......... failed ")
    failure = lines.index("FAILED ordering::priority_order_before_start")
    assert lines[failure + 1].startswith("  S1: start order of priorities [1, 5, 3, 5, 2] ")
    assert lines[failure + 2] == (f"  replay: asyncqueue-check {inverted} --shape queue_core "
                                  f"--suite conformance --only ordering --seed 7")
    assert lines[-1].startswith("FAILED: ")
    report = json.loads((tmp_path / "r.json").read_text())
    validate_report(report)
    assert report["ok"] is False and list(report["categories"]) == ["ordering"]


def test_the_same_seed_prints_the_same_results(inverted: str) -> None:
    first = check(inverted, "--only", "ordering", "--seed", "3", "--suite", "conformance")
    again = check(inverted, "--only", "ordering", "--seed", "3", "--suite", "conformance")

    assert first[0] == again[0] == 1
    assert first[1][:-1] == again[1][:-1]  # all but the line with the wall time


def test_the_previous_releases_spellings_still_work_and_say_they_are_deprecated(
    inverted: str, capsys: pytest.CaptureFixture[str]
) -> None:
    new = check(inverted, "--only", "ordering", "--seed", "3", "--suite", "conformance")
    assert capsys.readouterr().err == ""
    old = check(inverted, "--only", "ordering", "--seed", "3", "--suite", "examples")
    assert capsys.readouterr().err == f"{OLD_SUITE_NOTE}\n"
    status, lines = check("queue_core", "--only", "ordering", "--seed", "3", "--suite", "model",
                          "--examples", "5")
    assert capsys.readouterr().err == f"{OLD_EXAMPLES_NOTE}\n"

    assert old[0] == new[0] == 1
    assert old[1][:-1] == new[1][:-1]  # all but the wall time; the replay says conformance
    assert status == 0
    assert lines[1] == ("model: state machines against the executable model, 5 examples per "
                        "run, seed 3")


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ("no/such/queue.py", "no file 'no/such/queue.py'; pass an existing .py file"),
        ("no_such_module_xyz", "cannot import 'no_such_module_xyz': ModuleNotFoundError"),
        ("queue_core:Missing", "'queue_core' has no class 'Missing'; classes there: "),
    ],
)
def test_a_target_that_cannot_be_loaded_exits_2_saying_why(
    target: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, lines = check(target)

    assert (status, lines) == (2, [])
    error = capsys.readouterr().err
    assert error.startswith(f"asyncqueue-check: cannot check {target!r}: ")
    assert says in error


def test_a_class_of_no_known_shape_exits_2_naming_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "odd.py").write_text("class Odd:\n    async def start(self): ...\n")

    status, _ = check(f"{tmp_path / 'odd.py'}:Odd")

    assert status == 2
    assert "matches no known shape (queue_core needs submit, result" in capsys.readouterr().err


def test_an_unknown_category_is_a_usage_error_listing_the_valid_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        check("queue_core", "--only", "ordering,retry")

    assert exited.value.code == 2
    assert (f"argument --only: 'retry' is not a category; valid: {', '.join(CATEGORIES)}"
            in capsys.readouterr().err)


def test_a_model_failure_lands_in_its_category_and_replays_from_its_command(
    inverted: str, tmp_path: Path
) -> None:
    argv = (inverted, "--suite", "model", "--only", "ordering,stats", "--model-examples", "20",
            "--seed", "7")
    status, lines = check(*argv, "--save-regression", str(tmp_path), "--report",
                          str(tmp_path / "r.json"))

    assert status == 1
    assert lines[2].startswith("ordering ......... failed 0/1")
    assert lines[3] == "stats ............ passed 1/1"
    failure = lines.index("FAILED ordering::model.best_rank_first")
    assert lines[failure + 1].startswith("  [ordering] S1: ")
    assert any(line.startswith("  state = QueueMachine(") for line in lines)  # shrunk steps
    replay = next(line for line in lines if line.startswith("  replay: "))
    assert replay == f"  replay: asyncqueue-check {' '.join(argv[:1])} --shape queue_core " \
                     f"{' '.join(argv[1:])}"
    report = json.loads((tmp_path / "r.json").read_text())
    validate_report(report)
    assert report["categories"]["ordering"]["failures"][0]["replay"] == replay[len("  replay: "):]
    assert (tmp_path / "test_model_regression_ordering.py").is_file()
    again = check(*argv)
    assert again[0] == 1
    assert again[1][:-1] == [line for line in lines[:-1]  # all but the wall time
                             if not line.startswith(("regression tests written", "report:"))]


def test_the_module_runs_as_a_program_with_the_documented_exit_status(inverted: str) -> None:
    failed = subprocess.run([sys.executable, "-m", "pytest_asyncqueue.cli", inverted, "--only",
                             "ordering", "--seed", "11", "--model-examples", "10"],
                            capture_output=True, text=True, timeout=60, check=False)

    assert failed.returncode == 1, failed.stderr
    assert failed.stdout.splitlines()[1].startswith("ordering ......... failed ")
    assert "FAILED ordering::priority_order_before_start" in failed.stdout.splitlines()


def test_the_model_starts_before_the_conformance_checks_and_stops_if_they_raise(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_asyncqueue import cli

    events: list[str] = []
    start_machines = cli.start_machines

    def start(*args: object, **options: object) -> object:
        events.append("model started")
        return start_machines(*args, **options)

    def conformance(*_: object) -> None:
        events.append("conformance checks")
        assert [p.name for p in multiprocessing.active_children()] == ["asyncqueue-model"]
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "start_machines", start)
    monkeypatch.setattr(cli, "_run_conformance", conformance)
    with pytest.raises(KeyboardInterrupt):
        check("queue_core", "--model-examples", "200")

    assert events == ["model started", "conformance checks"]
    assert not multiprocessing.active_children()


def test_verbose_names_every_skipped_check_and_why_under_its_category(tmp_path: Path) -> None:
    report_path = tmp_path / "r.json"
    status, lines = check("examples/tiny_pool.py", "--suite", "conformance", "--seed", "3", "-v",
                          "--report", str(report_path))

    report = json.loads(report_path.read_text())
    skips = [(c, s) for c, e in report["categories"].items() for s in e.get("skips", [])]
    assert status == 0 and skips  # tiny_pool has no priorities: some checks skip
    for category, skip in skips:
        line = f"    skipped {skip['check']}: {skip['reason']}"
        assert line in lines
        heading = max(i for i, text in enumerate(lines[:lines.index(line)])
                      if not text.startswith(" "))
        assert lines[heading].startswith(f"{category} ")
    _, quiet = check("examples/tiny_pool.py", "--suite", "conformance", "--seed", "3")
    assert not any(text.startswith("    skipped ") for text in quiet)


def test_a_run_in_which_every_check_skipped_checked_nothing_and_exits_2(
        capsys: pytest.CaptureFixture[str]) -> None:
    status, lines = check("queue_core", "--only", "durability", "--suite", "conformance")

    assert status == 2
    assert lines[-1].startswith("NOTHING CHECKED: 0 checks, 0 passed, 0 failed, 0 skipped")
    assert "every check skipped, so nothing about 'queue_core' was checked" in (
        capsys.readouterr().err)

"""``asyncqueue-check``: output, report and exit status 0 / 1 / 2 (DESIGN section 5)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_asyncqueue.cli import MODEL_NOT_BUILT, main
from pytest_asyncqueue.conformance import ALL_CHECKS, CATEGORIES
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
    status, lines = check("queue_core", "--seed", "42", "--report", str(tmp_path / "r.json"))

    categories = list(dict.fromkeys(c.category for c in ALL_CHECKS))
    assert status == 0
    assert lines[0] == "asyncqueue-check queue_core (shape queue_core, class TaskQueue), seed 42"
    assert [line.split(" ")[0] for line in lines[1:1 + len(categories)]] == categories
    assert all(" passed " in line for line in lines[1:1 + len(categories)])
    assert lines[1 + len(categories)] == f"model: {MODEL_NOT_BUILT}"
    assert lines[-1].startswith(f"ok: {len(ALL_CHECKS)} checks, {len(ALL_CHECKS)} passed, "
                                f"0 failed, 0 skipped in ")
    report = json.loads((tmp_path / "r.json").read_text())
    validate_report(report)
    assert (report["ok"], report["seed"], report["target"]) == (True, 42, "queue_core")


def test_a_failed_check_exits_1_and_prints_its_message_and_replay_command(
    inverted: str, tmp_path: Path
) -> None:
    status, lines = check(inverted, "--only", "ordering", "--seed", "7", "--suite", "examples",
                          "--report", str(tmp_path / "r.json"))

    assert status == 1
    assert lines[1].startswith("ordering ......... failed ")
    failure = lines.index("FAILED ordering::priority_order_before_start")
    assert lines[failure + 1].startswith("  S1: start order of priorities [1, 5, 3, 5, 2] ")
    assert lines[failure + 2] == (f"  replay: asyncqueue-check {inverted} --shape queue_core "
                                  f"--suite examples --only ordering --seed 7")
    assert lines[-1].startswith("FAILED: ")
    report = json.loads((tmp_path / "r.json").read_text())
    validate_report(report)
    assert report["ok"] is False and list(report["categories"]) == ["ordering"]


def test_the_same_seed_prints_the_same_results(inverted: str) -> None:
    first = check(inverted, "--only", "ordering", "--seed", "3", "--suite", "examples")
    again = check(inverted, "--only", "ordering", "--seed", "3", "--suite", "examples")

    assert first[0] == again[0] == 1
    assert first[1][:-1] == again[1][:-1]  # all but the line with the wall time


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


def test_the_model_suite_is_not_built_yet_and_says_so() -> None:
    status, lines = check("queue_core", "--suite", "model", "--examples", "5", "--seed", "1")

    assert status == 0
    assert lines[1] == f"model: {MODEL_NOT_BUILT}"
    assert lines[-1].startswith("ok: 0 checks, ")


def test_the_module_runs_as_a_program_with_the_documented_exit_status(inverted: str) -> None:
    failed = subprocess.run([sys.executable, "-m", "pytest_asyncqueue.cli", inverted, "--only",
                             "ordering", "--seed", "11"],
                            capture_output=True, text=True, timeout=60, check=False)

    assert failed.returncode == 1, failed.stderr
    assert failed.stdout.splitlines()[1].startswith("ordering ......... failed ")
    assert "FAILED ordering::priority_order_before_start" in failed.stdout.splitlines()

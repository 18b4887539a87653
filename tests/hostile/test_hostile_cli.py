"""asyncqueue-check ends with a sentence and the exit code DESIGN gives, whatever it is handed
(issue 14, point 10): a report path it cannot write is refused before the run, an empty
category list and a file that is not Python are named, a target's KeyboardInterrupt is one."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_asyncqueue.cli import main

QUEUE_CORE = "queue_core"


def check(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


@pytest.mark.parametrize(("report", "says"), [
    ("{tmp}", "is a folder; pass a file in it"),
    ("", "is empty"),
    ("{tmp}/missing/r.json", "which does not exist; create it first"),
    ("{tmp}/file/r.json", "which is a file, not a folder"),
])
def test_a_report_path_it_cannot_write_is_refused_before_the_run(tmp_path, capsys, report,
                                                                  says) -> None:
    (tmp_path / "file").write_text("")
    status, out = check(QUEUE_CORE, "--report", report.format(tmp=tmp_path))
    assert (status, out) == (2, "")  # nothing ran
    assert says in capsys.readouterr().err
    assert not (tmp_path / "missing").exists()


def test_an_empty_category_list_says_no_category_was_given(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        check(QUEUE_CORE, "--only", "")
    assert exited.value.code == 2
    assert "argument --only: no category given" in capsys.readouterr().err


def test_a_file_that_is_not_python_is_named_as_such(tmp_path, capsys) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\n")
    assert check(str(passwd))[0] == 2
    assert "is not a Python file (its name does not end in .py)" in capsys.readouterr().err


INTERRUPTING = '''
import asyncio
from queue_core import TaskQueue as _Base


class TaskQueue(_Base):
    def submit(self, handler, /, *args, task_id=None, priority=0, max_retries=0, delay=0.0,
               timeout=None):
        raise KeyboardInterrupt
'''


def test_a_keyboard_interrupt_in_the_target_is_reported_as_one(tmp_path: Path) -> None:
    path = tmp_path / "interrupting.py"
    path.write_text(INTERRUPTING)
    status, out = check(f"{path}:TaskQueue", "--shape", "queue_core", "--suite", "conformance",
                        "--only", "ordering")
    assert status == 1
    assert "the check process ended while the check ran: the target raised KeyboardInterrupt" in (
        out)


@pytest.mark.parametrize(("source", "says"), [
    ("import time\nwhile True:\n    time.sleep(0.01)\n",
     ("loading it had not finished after 0 wall s at ", "blocking.py:3 in <module>; a module "
      "must not block or spin when it is imported")),
    ("import os\nos._exit(7)\n",
     ("loading it ended the process: the target ended the interpreter (exit code 7",)),
])
def test_a_target_that_hangs_or_exits_at_import_is_named_not_waited_for(
        tmp_path, capsys, monkeypatch, source, says) -> None:
    monkeypatch.setattr("pytest_asyncqueue._trial.IMPORT_LIMIT", 0.3)
    path = tmp_path / "blocking.py"
    path.write_text(source)
    assert check(str(path)) == (2, "")
    err = capsys.readouterr().err
    assert all(part in err for part in says), err


LINGERING = '''
import threading, time
threading.Thread(target=lambda: time.sleep(10**6), name="poller").start()
from queue_core import TaskQueue
'''


def test_a_thread_the_target_leaves_running_does_not_keep_the_command_from_ending(
        tmp_path) -> None:
    path = tmp_path / "lingering.py"
    path.write_text(LINGERING)
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from pytest_asyncqueue.cli import console; "
         "sys.argv[1:] = sys.argv[1:]; console()", f"{path}:TaskQueue", "--suite",
         "conformance", "--only", "ordering"],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "the target left 1 thread(s) running (poller); exiting without waiting" in (
        done.stderr)


PATCHING_AT_IMPORT = '''
import asyncio
async def _instant(delay, result=None):
    return result
asyncio.sleep = _instant
from queue_core import TaskQueue
'''

PATCHING_AT_START = '''
import time
from queue_core import TaskQueue as _Base


class TaskQueue(_Base):
    def start(self):
        time.monotonic = lambda: 0.0
        return super().start()
'''


def test_a_target_that_replaces_what_the_harness_times_with_is_named(tmp_path, capsys):
    at_import = tmp_path / "patch_import.py"
    at_import.write_text(PATCHING_AT_IMPORT)
    assert check(f"{at_import}:TaskQueue") == (2, "")
    assert "importing it replaced asyncio.sleep, which the harness times and waits with" in (
        capsys.readouterr().err)
    at_start = tmp_path / "patch_start.py"
    at_start.write_text(PATCHING_AT_START)
    status, out = check(f"{at_start}:TaskQueue", "--suite", "conformance", "--only", "ordering")
    assert status == 1
    assert "the target replaced time.monotonic while the check ran" in out


def test_the_trial_import_sees_what_the_real_import_sees(tmp_path, monkeypatch) -> None:
    path = tmp_path / "configured.py"
    path.write_text("import os\nBROKER = os.environ['ASYNCQUEUE_TEST_BROKER']\n"
                    "from queue_core import TaskQueue\n")
    monkeypatch.setenv("ASYNCQUEUE_TEST_BROKER", "redis://localhost")
    status, out = check(f"{path}:TaskQueue", "--suite", "conformance", "--only", "ordering")
    assert status == 0, out


def test_a_model_run_too_long_for_a_ci_job_is_refused_and_a_long_one_estimated(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        check(QUEUE_CORE, "--model-examples", "1000000")
    assert exited.value.code == 2
    assert "1,000,000 examples would take about 6.9 wall hours; pass at most 20,000" in (
        capsys.readouterr().err)
    check(QUEUE_CORE, "--suite", "model", "--only", "durability", "--model-examples", "2000")
    assert "note: --model-examples 2,000: expect roughly 0.8 wall minutes" in (
        capsys.readouterr().err)

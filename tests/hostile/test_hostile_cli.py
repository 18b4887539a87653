"""asyncqueue-check ends with a sentence and the exit code DESIGN gives, whatever it is handed
(issue 14, point 10): a report path it cannot write is refused before the run, an empty
category list and a file that is not Python are named, a target's KeyboardInterrupt is one."""

from __future__ import annotations

import io
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

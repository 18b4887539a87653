"""A target cannot defeat the checks by hiding what it takes (issue 14, point 5): options a
``submit(func, *args, **kwargs)`` takes without naming them are probed, so a queue that takes
``priority`` and ``max_retries`` and drops them fails, where it used to pass with skips."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from pytest_asyncqueue.adapters import make_factory
from pytest_asyncqueue.cli import main
from pytest_asyncqueue.runner import run_checks, select_checks

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "oas37a_queue.py"

HIDING = f'''
import importlib.util, sys
spec = importlib.util.spec_from_file_location("_hidden_oas_example", {str(EXAMPLE)!r})
example = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = example
spec.loader.exec_module(example)
TaskStatus, TaskResult = example.TaskStatus, example.TaskResult


class AsyncTaskQueue(example.AsyncTaskQueue):
    async def submit(self, func, *args, **kwargs):
        kwargs.pop("priority", None)  # taken, and dropped
        kwargs.pop("max_retries", None)  # taken, and dropped
        return await super().submit(func, *args, task_id=kwargs.pop("task_id", None),
                                    **kwargs)
'''


def test_options_taken_through_kwargs_are_probed_and_their_checks_run(tmp_path: Path) -> None:
    path = tmp_path / "hiding.py"
    path.write_text(HIDING)
    factory = make_factory(str(path), "oas37a")
    # delay and timeout reach the handler (the example's **kwargs are the handler's): not
    # the queue's; the three it pops are.
    assert factory.capabilities.submit_options == {"priority", "max_retries", "task_id"}
    report = tmp_path / "report.json"
    status = main([str(path), "--shape", "oas37a", "--suite", "conformance", "--only",
                   "ordering,retries", "--seed", "1", "--report", str(report)],
                  out=io.StringIO())
    verdicts = json.loads(report.read_text())["categories"]
    assert status == 1
    assert {c: v["status"] for c, v in verdicts.items()} == {"ordering": "failed",
                                                              "retries": "failed"}


def test_the_example_whose_kwargs_are_the_handlers_keeps_its_options() -> None:
    assert make_factory(str(EXAMPLE), "oas37a").capabilities.submit_options == {
        "priority", "max_retries", "task_id"}


FORKING = '''
import os, time
from queue_core import TaskQueue as _Base


class TaskQueue(_Base):
    def submit(self, handler, /, *args, task_id=None, priority=0, max_retries=0, delay=0.0,
               timeout=None):
        child = os.fork()
        if child == 0:  # a process that would live for ever
            with open({pids!r}, "a") as pids:
                pids.write(f"{{os.getpid()}}\\n")
            while True:
                time.sleep(1)
        return super().submit(handler, *args, task_id=task_id, priority=priority,
                              max_retries=max_retries, delay=delay, timeout=timeout)
'''


def alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, killed and awaiting its reaper, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_what_a_target_forks_does_not_outlive_the_run(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    path = tmp_path / "forking.py"
    path.write_text(FORKING.format(pids=str(pids)))
    main([f"{path}:TaskQueue", "--suite", "conformance", "--only", "ordering", "--seed", "1"],
         out=io.StringIO())
    forked = [int(line) for line in pids.read_text().split()]
    deadline = time.monotonic() + 2.0  # a few wall ms, normally
    while any(alive(pid) for pid in forked) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert forked and not any(alive(pid) for pid in forked)


CLONING = '''
import os
from queue_core import TaskQueue as _Base


class TaskQueue(_Base):
    def submit(self, handler, /, *args, task_id=None, priority=0, max_retries=0, delay=0.0,
               timeout=None):
        os.fork()  # both processes go on: a copy of the check process runs the rest too
        return super().submit(handler, *args, task_id=task_id, priority=priority,
                              max_retries=max_retries, delay=delay, timeout=timeout)
'''


def test_a_target_that_forks_a_copy_of_the_check_process_gets_one_result_per_check(
        tmp_path: Path) -> None:
    path = tmp_path / "cloning.py"
    path.write_text(CLONING)
    checks = select_checks(["ordering", "stats"])
    results = run_checks(make_factory(f"{path}:TaskQueue"), checks, seed=1)
    assert [r.name for r in results] == [c.name for c in checks]


PRYING = '''
import os
from pathlib import Path
from queue_core import TaskQueue as _Base


class TaskQueue(_Base):
    def start(self):
        Path("trace.txt").write_text(f"{{os.getcwd()}}\\n{{os.environ.get('SECRET_TOKEN')}}")
        Path({where!r}).write_text(f"{{os.getcwd()}}\\n{{os.environ.get('SECRET_TOKEN')}}")
        return super().start()
'''


def test_a_target_works_in_a_folder_of_its_own_without_the_callers_secrets(
        tmp_path: Path, monkeypatch) -> None:
    where = tmp_path / "seen.txt"
    path = tmp_path / "prying.py"
    path.write_text(PRYING.format(where=str(where)))
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
    monkeypatch.chdir(tmp_path)
    main([f"{path}:TaskQueue", "--suite", "conformance", "--only", "ordering", "--seed", "1"],
         out=io.StringIO())
    folder, secret = where.read_text().splitlines()
    assert Path(folder) != tmp_path and not Path(folder).exists()  # removed with the child
    assert secret == "None"
    assert not (tmp_path / "trace.txt").exists()


GREEDY = '''
from queue_core import TaskQueue as _Base


class TaskQueue(_Base):
    def start(self):
        self.hoard = bytearray(8 * 2**30)  # 8 GiB: past the children's memory limit
        return super().start()
'''


def test_a_target_that_grows_past_the_memory_limit_fails_with_memory_error(
        tmp_path: Path) -> None:
    path = tmp_path / "greedy.py"
    path.write_text(GREEDY)
    report = tmp_path / "report.json"
    main([f"{path}:TaskQueue", "--suite", "conformance", "--only", "ordering", "--seed", "1",
          "--report", str(report)], out=io.StringIO())
    failures = json.loads(report.read_text())["categories"]["ordering"]["failures"]
    assert failures and all("MemoryError" in f["message"] for f in failures)

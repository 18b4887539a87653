"""Child processes: values come back, a hang is reported where it spins, nothing is left."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading

import pytest

from pytest_asyncqueue._children import Child, ChildExited, ChildHung, Link, can_fork
from pytest_asyncqueue.runner._result import SPIN_HINT, hang_hint

pytestmark = pytest.mark.skipif(not can_fork(), reason="children are forked")


def send_twice(link: Link, value: object) -> None:
    link.heartbeat()
    link.send(value)
    link.send([value, value])


def beat_then_spin(link: Link) -> None:
    link.heartbeat()
    while True:
        pass  # the line a hang report names


def spin_forever() -> None:
    while True:
        pass  # the line a hang report names for the thread


def beat_then_wait_beside_a_busy_thread(link: Link) -> None:
    threading.Thread(target=spin_forever, name="busy", daemon=True).start()
    link.heartbeat()
    threading.Event().wait()


def wait_without_beating(link: Link) -> None:
    signal.pause()


def exit_with(link: Link, code: int) -> None:
    os._exit(code)


def test_a_child_sends_values_back_in_order_and_is_gone_after_its_block() -> None:
    with Child(send_twice, "hello", name="asyncqueue-test") as child:
        running = [p.name for p in multiprocessing.active_children()]
        first = child.receive(budget=5.0, stall=1.0)
        second = child.receive(budget=5.0, stall=1.0)

    assert running == ["asyncqueue-test"]
    assert (first, second) == ("hello", ["hello", "hello"])
    assert multiprocessing.active_children() == []


def test_a_child_stuck_in_one_callback_is_reported_at_its_line_after_the_stall_limit() -> None:
    with Child(beat_then_spin, name="asyncqueue-test") as child:
        with pytest.raises(ChildHung) as hung:
            child.receive(budget=30.0, stall=0.2)

    first = beat_then_spin.__code__.co_firstlineno
    assert hung.value.stalled is not None and hung.value.stalled > 0.2
    assert any(hung.value.where.endswith(f"test_children.py:{line} in beat_then_spin")
               for line in (first + 2, first + 3)), hung.value.where
    assert str(hung.value).startswith("did not finish: the event loop was stuck in one "
                                      "callback for ")
    assert multiprocessing.active_children() == []


def test_a_hang_names_the_line_a_thread_the_target_started_runs() -> None:
    with Child(beat_then_wait_beside_a_busy_thread, name="asyncqueue-test") as child:
        with pytest.raises(ChildHung) as hung:
            child.receive(budget=30.0, stall=0.2)

    first = spin_forever.__code__.co_firstlineno
    assert any(hung.value.thread.endswith(f"test_children.py:{line} in spin_forever")
               for line in (first + 1, first + 2)), hung.value.thread
    assert "in beat_then_wait_beside_a_busy_thread" in hung.value.where
    hint = hang_hint(hung.value)
    assert hint.startswith(SPIN_HINT) and "a thread the target started was running at" in hint
    assert multiprocessing.active_children() == []


def test_a_child_that_never_beats_is_given_up_on_at_the_budget() -> None:
    with Child(wait_without_beating, name="asyncqueue-test") as child:
        with pytest.raises(ChildHung) as hung:
            child.receive(budget=0.2, stall=0.1)

    assert hung.value.stalled is None
    assert str(hung.value).startswith("did not finish within 0.2 wall s")


def test_a_child_that_ends_the_interpreter_or_is_killed_says_how_it_ended() -> None:
    with Child(exit_with, 3, name="asyncqueue-test") as child:
        with pytest.raises(ChildExited) as exited:
            child.receive(budget=5.0, stall=1.0)
    assert exited.value.exitcode == 3

    with Child(wait_without_beating, name="asyncqueue-test") as child:
        child.kill()
        assert multiprocessing.active_children() == []
        with pytest.raises(ChildExited) as killed:
            child.receive(budget=5.0, stall=1.0)
    assert killed.value.exitcode == -signal.SIGKILL


def test_a_child_stopped_twice_or_dropped_unstopped_leaves_no_process() -> None:
    child = Child(wait_without_beating, name="asyncqueue-test")
    child.stop()
    child.stop()
    assert multiprocessing.active_children() == []

    dropped = Child(wait_without_beating, name="asyncqueue-test")
    assert [p.name for p in multiprocessing.active_children()] == ["asyncqueue-test"]
    del dropped
    assert multiprocessing.active_children() == []


ORPHAN = """
import os, sys, time
from pytest_asyncqueue._children import Child

def spin(link):
    while True:
        time.sleep(0.01)  # a target stuck in its backoff

child = Child(spin, name="orphan")
print(child._process.pid, flush=True)
os._exit(0)  # the parent dies without stopping its child: no atexit, no finalizer
"""


def test_a_child_never_outlives_its_parent(tmp_path) -> None:
    import subprocess
    import sys
    import time

    script = tmp_path / "orphan.py"
    script.write_text(ORPHAN)
    pid = int(subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                             check=True, timeout=30).stdout)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)  # the OS's process table has no virtual clock: a few wall ms
    os.kill(pid, signal.SIGKILL)
    pytest.fail(f"the child {pid} still ran 5 s after its parent had exited")

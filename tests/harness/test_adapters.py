"""Adapters: loading targets of any form, shape detection, capabilities, normalised answers."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from pytest_asyncqueue.adapters import (
    SHAPES,
    LoadError,
    Shape,
    Unsupported,
    detect_shape,
    load_target,
    make_factory,
    register_shape,
)
from pytest_asyncqueue.adapters._registry import REGISTRY
from pytest_asyncqueue.cli import main
from pytest_asyncqueue.clock import run

REPO = Path(__file__).resolve().parents[2]
OAS37A = REPO / "examples" / "oas37a_queue.py"
TINY_POOL = REPO / "examples" / "tiny_pool.py"

MINIMAL_OAS37A = '''
import asyncio, enum


class TaskStatus(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class AsyncTaskQueue:
    """Only num_workers and max_queue_size; async get_stats; no task_id option."""

    def __init__(self, num_workers=4, max_queue_size=1000):
        self.num_workers = num_workers

    async def start(self): pass
    async def stop(self): pass
    async def submit(self, func, *args, priority=0, max_retries=3, **kwargs): return "t1"
    async def get_result(self, task_id, timeout=None): return None
    async def cancel_task(self, task_id): return False
    async def get_stats(self): return {"pending": 0, "workers": self.num_workers}
    def get_task_status(self, task_id): return TaskStatus.PENDING
'''


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_file_named_like_a_stdlib_module_loads_without_shadowing_it(tmp_path):
    path = write(tmp_path, "queue.py", MINIMAL_OAS37A)
    cls = load_target(str(path))
    import queue

    assert cls.__name__ == "AsyncTaskQueue" and cls.__module__.startswith("_asyncqueue_target_")
    assert hasattr(queue, "Queue")  # the standard library's queue is untouched


def test_capabilities_are_read_from_the_public_signatures(tmp_path):
    factory = make_factory(str(write(tmp_path, "q.py", MINIMAL_OAS37A)))
    caps = factory.capabilities
    assert factory.shape == "oas37a"
    assert caps.settings == {"workers", "max_pending"}
    assert caps.submit_options == {"priority", "max_retries"}  # **kwargs hides no task_id
    assert caps.drain_choice is False
    with pytest.raises(Unsupported, match="has no result_ttl setting"):
        factory(workers=1, result_ttl=5.0)


def test_sync_and_async_stats_both_come_back_as_dicts(tmp_path):
    factory = make_factory(str(write(tmp_path, "q.py", MINIMAL_OAS37A)))

    async def main():
        adapter = factory(workers=3)
        return await adapter.stats(), adapter.stats_now()

    assert run(main()) == ({"pending": 0, "workers": 3}, {"pending": 0, "workers": 3})


def test_a_package_module_and_a_package_folder_both_load():
    assert load_target("queue_core").__name__ == "TaskQueue"
    assert load_target(str(REPO / "queue_core")).__name__ == "TaskQueue"
    assert load_target(f"{OAS37A}:AsyncTaskQueue").__name__ == "AsyncTaskQueue"


@pytest.mark.parametrize("spec, message", [
    ("no_such_module_anywhere", r"cannot import 'no_such_module_anywhere': ModuleNotFoundError"),
    ("missing/file.py", r"no file 'missing/file.py'; pass an existing .py file"),
    (f"{OAS37A}:Nope", r"has no class 'Nope'; classes there: AsyncTaskQueue"),
])
def test_a_target_that_cannot_be_loaded_says_what_and_how_to_fix(spec, message):
    with pytest.raises(LoadError, match=message):
        make_factory(spec)


def test_a_class_of_no_known_shape_is_refused_naming_the_missing_methods(tmp_path):
    path = write(tmp_path, "odd.py", "class Odd:\n    def submit(self): pass\n")
    with pytest.raises(LoadError, match=r"odd.py' has no queue class of a known shape"):
        make_factory(str(path))
    with pytest.raises(LoadError, match=r"oas37a needs start, stop, get_result"):
        detect_shape(load_target(f"{path}:Odd"))


def test_the_cli_exits_2_with_the_load_error(tmp_path, capsys):
    status = main([str(tmp_path / "nothing.py")])
    assert status == 2
    assert "no file" in capsys.readouterr().err


def test_a_user_adapter_of_another_shape_is_found_and_checked(tmp_path):
    report = tmp_path / "r.json"
    with open(tmp_path / "out.txt", "w") as out:
        status = main([str(REPO / "examples" / "tiny_pool.py"), "--suite", "conformance",
                       "--seed", "3", "--report", str(report)], out=out)
    data = json.loads(report.read_text())
    assert (status, data["shape"], data["ok"]) == (0, "tiny_pool", True)
    assert data["categories"]["retries"]["status"] == "skipped"
    assert data["categories"]["cancellation"]["passed"] >= 4


def test_a_shape_whose_methods_the_class_lacks_exits_2_saying_which(tmp_path, capsys):
    (tmp_path / "odd.py").write_text("class Odd:\n    async def start(self): ...\n")

    assert main(["queue_core", "--shape", "oas37a"]) == 2
    assert ("queue_core._queue.TaskQueue lacks stop, get_result, cancel_task, get_stats, "
            "which --shape=oas37a needs; pass --shape=queue_core (its methods are there) or "
            "drop --shape") in capsys.readouterr().err
    assert main([f"{tmp_path / 'odd.py'}:Odd", "--shape", "queue_core"]) == 2
    assert ("Odd lacks submit, result, cancel, status, stats, shutdown, which "
            "--shape=queue_core needs; drop --shape to see what each shape needs, or write an "
            "adapter") in capsys.readouterr().err


@pytest.fixture
def tiny_pool_shape():
    """examples/tiny_pool.py's pool declared as a shape of its own, registered for one test
    (as a module of adapters/shapes/ listed in the registry would be)."""
    shape = register_shape(Shape(
        name="tiny_pool", family="handler queue",
        methods=("open", "add", "outcome", "drop", "state", "counters", "close"),
        adapter=load_target(f"{TINY_POOL}:TinyPoolAdapter"), class_names=("TinyPool",)))
    yield shape
    del REGISTRY[shape.name]


def test_a_class_of_an_unregistered_shape_is_not_detected():
    with pytest.raises(LoadError, match=r"TinyPool matches no known shape \(queue_core needs "):
        make_factory(f"{TINY_POOL}:TinyPool")
    assert "tiny_pool" not in SHAPES


def test_a_registered_shape_is_detected_and_checked_with_no_other_change(tiny_pool_shape,
                                                                          tmp_path):
    pool = load_target(f"{TINY_POOL}:TinyPool")
    assert detect_shape(pool) == "tiny_pool"
    assert SHAPES["tiny_pool"] is tiny_pool_shape.adapter
    factory = make_factory(f"{TINY_POOL}:TinyPool", shape="tiny_pool")
    assert (factory.cls, factory.adapter) == (pool, tiny_pool_shape.adapter)
    report = tmp_path / "r.json"
    with open(tmp_path / "out.txt", "w") as out:
        status = main([f"{TINY_POOL}:TinyPool", "--shape", "tiny_pool", "--suite", "conformance",
                       "--seed", "3", "--report", str(report)], out=out)
    data = json.loads(report.read_text())
    assert (status, data["shape"], data["ok"]) == (0, "tiny_pool", True)
    assert data["categories"]["cancellation"]["passed"] >= 4


def test_a_shape_is_refused_unless_its_name_family_and_adapter_agree(tiny_pool_shape):
    with pytest.raises(ValueError, match="a shape named 'tiny_pool' is registered already"):
        register_shape(tiny_pool_shape)
    with pytest.raises(ValueError, match="family='thread pool' is not one of 'handler queue'"):
        Shape("pool", "thread pool", ("add",), tiny_pool_shape.adapter)
    with pytest.raises(ValueError, match="its adapter's shape is 'tiny_pool'; give both the"):
        Shape("pool", "handler queue", ("add",), tiny_pool_shape.adapter)


def test_an_absent_feature_is_missing_and_an_unknown_one_is_refused() -> None:
    from pytest_asyncqueue.adapters import FEATURES, Capabilities

    caps = Capabilities(frozenset({"workers"}), frozenset(), drain_choice=True,
                        absent=frozenset({"cancel", "stats.retried"}))
    assert caps.missing(("workers", "cancel", "closed_state", "stats.retried", "delay")) == [
        "cancel", "stats.retried", "delay"]
    assert (caps.has("cancel"), caps.has("closed_state")) == (False, True)
    assert "stats.running" in FEATURES
    with pytest.raises(ValueError, match="names stats.done, which are not features; the "
                                         "features are cancel, closed_state"):
        Capabilities(frozenset(), frozenset(), drain_choice=True,
                     absent=frozenset({"stats.done"}))

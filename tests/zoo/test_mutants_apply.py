"""The bug zoo applies cleanly: every snippet is in its file once, every mutant imports.

Fast and static: nothing here runs a queue. Whether each mutant is caught in its category is
the harness's test; this one fails first when ``queue_core`` or the example changes under a
mutant's snippet, and says which snippet to update.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import importlib.util
import subprocess
import symtable
import sys
from collections import Counter
from pathlib import Path

import pytest

from .mutants import (
    CATEGORIES, FAMILIES, MUTANTS, REPO_ROOT, TARGETS, Mutant, MutantError, apply, by_name,
    materialize,
)

QUEUE_CORE = [m for m in MUTANTS if m.target == "queue_core"]
OAS37A = [m for m in MUTANTS if m.target == "oas37a"]


def _ids(mutants: list[Mutant]) -> list[str]:
    return [m.name for m in mutants]


def test_every_mutant_has_a_unique_name_a_known_category_and_a_known_target():
    names = Counter(m.name for m in MUTANTS)
    assert [n for n, c in names.items() if c > 1] == []
    for m in MUTANTS:
        assert m.category in CATEGORIES, m
        assert m.target in TARGETS, m
        prefix = {"queue_core": "qc_", "oas37a": "oas_"}[m.target]
        assert m.name.startswith(prefix), m.name
        assert m.path == TARGETS[m.target] or m.path.startswith(TARGETS[m.target] + "/"), m
        assert m.bug and "\n" not in m.bug, m.name


@pytest.mark.parametrize("mutant", MUTANTS, ids=_ids(MUTANTS))
def test_every_snippet_occurs_exactly_once_in_its_file_and_is_really_changed(mutant):
    text = (REPO_ROOT / mutant.path).read_text(encoding="utf-8")
    assert text.count(mutant.before) == 1, (
        f"{mutant.name}: update its 'before' snippet to match {mutant.path}")
    patched = apply(mutant, text)
    assert ast.dump(ast.parse(patched)) != ast.dump(ast.parse(text)), (
        f"{mutant.name} changes only comments or formatting, not the code")


@pytest.mark.parametrize("mutant", MUTANTS, ids=_ids(MUTANTS))
def test_a_mutant_uses_no_global_name_that_its_file_lacks(mutant):
    # A name the file does not define would only fail when the mutated line runs: a
    # NameError there is another bug than the one the mutant stands for.
    text = (REPO_ROOT / mutant.path).read_text(encoding="utf-8")
    added = _undefined_globals(apply(mutant, text)) - _undefined_globals(text)
    assert added == set(), f"{mutant.name} uses {sorted(added)}, which {mutant.path} lacks"


@pytest.mark.parametrize("mutant", QUEUE_CORE, ids=_ids(QUEUE_CORE))
def test_a_materialized_queue_core_mutant_imports_in_a_fresh_interpreter(mutant, tmp_path):
    package = materialize(mutant, tmp_path)
    assert package == tmp_path / "queue_core"
    assert mutant.after in (tmp_path / mutant.path).read_text(encoding="utf-8")
    # A fresh interpreter run from tmp_path imports the copy, which shadows the installed
    # queue_core (the editable install's finder comes after the path on sys.path).
    probe = ("import queue_core, sys; "
             "assert queue_core.__file__.startswith(sys.argv[1]), queue_core.__file__; "
             "queue_core.TaskQueue(workers=2)")
    done = subprocess.run([sys.executable, "-W", "error", "-c", probe, str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("mutant", OAS37A, ids=_ids(OAS37A))
def test_a_materialized_oas37a_mutant_imports_under_a_private_name(mutant, tmp_path,
                                                                   monkeypatch):
    path = materialize(mutant, tmp_path)
    assert path == tmp_path / "oas37a_queue.py"
    assert mutant.after in path.read_text(encoding="utf-8")
    module = _load_private(path, f"_zoo_{mutant.name}", monkeypatch)
    assert callable(module.AsyncTaskQueue)


def test_the_correct_example_has_the_oas37a_surface(monkeypatch):
    module = _load_private(REPO_ROOT / TARGETS["oas37a"], "_zoo_oas37a_correct", monkeypatch)
    assert {s.name: s.value for s in module.TaskStatus} == {
        "PENDING": "pending", "RUNNING": "running", "COMPLETED": "completed",
        "FAILED": "failed", "CANCELLED": "cancelled"}
    assert [f.name for f in dataclasses.fields(module.TaskResult)] == [
        "task_id", "success", "result", "error", "duration_ms", "retry_count"]
    for method in ("start", "stop", "submit", "get_result", "cancel_task", "get_stats",
                   "get_task_status"):
        assert callable(getattr(module.AsyncTaskQueue, method)), method
    with pytest.raises(ValueError, match="num_workers=0"):
        module.AsyncTaskQueue(num_workers=0)


def test_materialize_refuses_a_snippet_that_is_missing_or_ambiguous_and_copies_nothing(
        tmp_path):
    missing = dataclasses.replace(by_name("qc_lifo_ties"), before="no such line\n")
    with pytest.raises(MutantError, match=r"occurs 0 times in queue_core/_ready\.py"):
        materialize(missing, tmp_path)
    ambiguous = dataclasses.replace(by_name("oas_lifo_ties"), before="self")
    with pytest.raises(MutantError, match=r"update the snippet in tests/zoo/mutants\.py"):
        materialize(ambiguous, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_zoo_covers_every_family_every_category_and_both_targets():
    names = {m.name for m in MUTANTS}
    for family, members in FAMILIES.items():
        assert members and set(members) <= names, family
    assert len(MUTANTS) >= 24
    assert abs(len(QUEUE_CORE) - len(OAS37A)) <= len(MUTANTS) // 4
    core = set(CATEGORIES) - {"scheduling"}  # the oas37a shape has no delays or timeouts
    for mutants in (QUEUE_CORE, OAS37A):
        assert {m.category for m in mutants} >= core
    interleaving = [m for m in MUTANTS if m.interleaving]
    assert len(interleaving) >= 3
    assert {m.category for m in interleaving} >= {"stats", "cancellation"}


def _undefined_globals(source: str) -> set[str]:
    """The global names that code in ``source`` reads but neither it nor builtins define."""
    top = symtable.symtable(source, "<mutant>", "exec")
    defined = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    defined |= set(dir(builtins)) | {"__file__"}
    read = set()
    tables = [top]
    while tables:
        table = tables.pop()
        read |= {s.get_name() for s in table.get_symbols() if s.is_referenced() and s.is_global()}
        tables.extend(table.get_children())
    return read - defined


def _load_private(path: Path, name: str, monkeypatch: pytest.MonkeyPatch):
    """Import the file at ``path`` as module ``name``, removed from sys.modules afterwards."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # dataclasses look the module up there
    spec.loader.exec_module(module)
    return module

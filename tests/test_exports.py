"""Every public name is exported, and importable from its package."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["queue_core", "pytest_asyncqueue"])
def test_every_name_in_all_is_importable(package):
    module = importlib.import_module(package)
    assert module.__all__, f"{package} exports nothing"
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name} is missing"


def test_queue_core_imports_only_the_standard_library():
    import sys

    import queue_core  # noqa: F401

    modules = [m for m in sys.modules if m.startswith("queue_core")]
    for name in modules:
        with open(importlib.import_module(name).__file__, encoding="utf-8") as source:
            text = source.read()
        for banned in ("import pytest", "import hypothesis", "pytest_asyncqueue"):
            assert banned not in text, f"{name} mentions {banned!r}"


def test_the_distribution_ships_every_subpackage():
    import tomllib
    from pathlib import Path

    from setuptools import find_packages

    root = Path(__file__).resolve().parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    shipped = set(find_packages(root, include=include))
    on_disk = {str(p.parent.relative_to(root)).replace("/", ".")
               for top in ("queue_core", "pytest_asyncqueue") for p in root.glob(f"{top}/**/__init__.py")}
    assert on_disk <= shipped, f"not shipped: {sorted(on_disk - shipped)}"


def test_the_adapters_package_exports_what_users_and_the_harness_import():
    from pytest_asyncqueue import adapters

    for name in adapters.__all__:
        assert getattr(adapters, name) is not None, f"pytest_asyncqueue.adapters.{name} is missing"
    # Imported by the CLI, the plugin, the checks, the benchmarks, examples/ and the README.
    used = {"Adapter", "Capabilities", "LoadError", "Outcome", "QueueCoreAdapter",
            "ResultMissing", "SHAPES", "TargetFactory", "Unsupported", "detect_shape",
            "load_target", "make_factory"}
    assert used <= set(adapters.__all__)

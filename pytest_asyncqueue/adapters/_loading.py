"""Loading a target: from a module name, a file or a package folder, to a factory."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from ._factory import TargetFactory
from ._protocol import LoadError
from ._registry import adapter_for, class_names, detect_shape

__all__ = ["load_target", "make_factory"]


def load_target(spec: str) -> type:
    """Import the queue class named by ``spec``.

    ``spec`` is ``package.module[:Class]``, ``path/to/file.py[:Class]`` or a package directory
    ``path/to/package[:Class]`` (a path has a slash or ends in ``.py``; ``./pkg`` for one in
    the current folder). Files and directories are loaded under a private module name
    with their folder importable at the end of ``sys.path``, so a file called ``queue.py``
    neither shadows nor is shadowed by the standard library. Without ``:Class`` the class is
    a user's adapter class (one with an ``adapts`` attribute) if the module holds one, else
    the class of a known shape, preferring the usual class names of the shapes (TaskQueue,
    AsyncTaskQueue).

    Raises:
        LoadError: the module or class cannot be found, or the import failed.
    """
    where, _, class_name = spec.partition(":")
    path = Path(where)
    try:
        if where.endswith(".py") or "/" in where or "\\" in where:
            module = _load_path(path)
        else:
            module = importlib.import_module(where)
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError(f"cannot import {where!r}: {type(exc).__name__}: {exc}") from exc
    if class_name:
        cls = getattr(module, class_name, None)
        if not isinstance(cls, type):
            raise LoadError(f"{where!r} has no class {class_name!r}; classes there: "
                            f"{', '.join(_classes(module)) or 'none'}")
        return cls
    return _find_queue_class(module, where)


def make_factory(spec: str, shape: str | None = None) -> TargetFactory:
    """Load the target named by ``spec`` and wrap it in the adapter of ``shape`` (or detect it).

    If ``spec`` names an adapter class (one with an ``adapts`` attribute), that adapter
    drives the queue class it names.

    Raises:
        LoadError: as :func:`load_target`; an unknown ``shape``, or one whose methods the
            class lacks; ``shape`` given for an adapter class.
    """
    cls = load_target(spec)
    adapted = getattr(cls, "adapts", None)
    if isinstance(adapted, type):  # a user's adapter class, naming the queue class it drives
        if shape is not None:
            raise LoadError(f"{spec!r} is an adapter (it adapts {adapted.__qualname__}); "
                            f"drop --shape={shape!r}")
        return TargetFactory(adapted, cls)
    return TargetFactory(cls, adapter_for(cls, shape))


def _load_path(path: Path) -> Any:
    """The module of a ``.py`` file or a package folder, loaded under a private name."""
    init = path / "__init__.py" if path.is_dir() else path
    if not init.is_file():
        raise LoadError(f"no file {str(init)!r}; pass an existing .py file, a package folder "
                        f"or an importable module name")
    if init.suffix != ".py":
        raise LoadError(f"{str(init)!r} is not a Python file (its name does not end in .py); "
                        f"pass a .py file, a package folder or an importable module name")
    digest = hashlib.sha1(str(init.resolve()).encode()).hexdigest()[:16]
    name = f"_asyncqueue_target_{digest}"  # the same in every process, for forked runners
    if name in sys.modules:
        return sys.modules[name]
    folder = str(path.parent.resolve())
    if folder not in sys.path:
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(
        name, init, submodule_search_locations=[str(path)] if path.is_dir() else None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _classes(module: Any) -> list[str]:
    """The names of the classes defined in ``module`` (or its submodules), sorted."""
    return sorted(n for n, v in vars(module).items()
                  if isinstance(v, type) and v.__module__.startswith(module.__name__))


def _find_queue_class(module: Any, where: str) -> type:
    """The first adapter class in ``module``, else its queue class of a known shape."""
    adapters = [getattr(module, n) for n in _classes(module)
                if isinstance(getattr(getattr(module, n), "adapts", None), type)]
    if adapters:
        return adapters[0]
    candidates = []
    for name in _classes(module):
        cls = getattr(module, name)
        try:
            detect_shape(cls)
        except LoadError:
            continue
        candidates.append(cls)
    if not candidates:
        raise LoadError(f"{where!r} has no queue class of a known shape (classes: "
                        f"{', '.join(_classes(module)) or 'none'}); name it as "
                        f"{where}:ClassName or write an adapter")
    usual = class_names()
    candidates.sort(key=lambda c: (c.__name__ not in usual, c.__name__))
    return candidates[0]

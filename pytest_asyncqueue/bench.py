"""Deprecated alias of :mod:`pytest_asyncqueue.benchmark`, kept for one release.

``from pytest_asyncqueue.bench import bench_target`` still works and warns with a
:class:`DeprecationWarning` naming the new module; import from
:mod:`pytest_asyncqueue.benchmark` instead. The warning fires on each name taken through this
module (a module ``__getattr__``), not on importing it.
"""

from __future__ import annotations

import warnings
from typing import Any

from . import benchmark

__all__ = list(benchmark.__all__)


def __getattr__(name: str) -> Any:
    if name not in benchmark.__all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"pytest_asyncqueue.bench is deprecated; import {name} from "
                  f"pytest_asyncqueue.benchmark", DeprecationWarning, stacklevel=2)
    return getattr(benchmark, name)

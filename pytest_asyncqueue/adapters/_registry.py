"""The registry of shapes: which exist, how a queue class's shape is found, which adapter
drives it.

Each built-in shape is one module of :mod:`.shapes` that defines ``SHAPE``, a
:class:`~._shape.Shape`. Adding a built-in shape is adding that module and its name to
:data:`BUILTIN_SHAPES`; nothing else changes.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Final

from ._protocol import AdapterClass, LoadError
from ._shape import Shape

__all__ = ["BUILTIN_SHAPES", "REGISTRY", "SHAPES", "adapter_for", "class_names",
           "detect_shape", "register_shape"]

BUILTIN_SHAPES: Final = ("queue_core", "oas37a")
"""The modules of :mod:`.shapes` that declare the built-in shapes, in detection order."""

REGISTRY: Final[dict[str, Shape]] = {}
"""Every registered shape by name, in detection order."""


class _Adapters(Mapping[str, AdapterClass]):
    """The adapter class of each registered shape, by name: a live view of :data:`REGISTRY`."""

    def __getitem__(self, name: str) -> AdapterClass:
        return REGISTRY[name].adapter

    def __iter__(self) -> Iterator[str]:
        return iter(REGISTRY)

    def __len__(self) -> int:
        return len(REGISTRY)

    def __repr__(self) -> str:
        return f"SHAPES({dict(self)!r})"


SHAPES: Final[Mapping[str, AdapterClass]] = _Adapters()
"""The built-in adapters by shape name (``--shape``)."""


def register_shape(shape: Shape) -> Shape:
    """Add ``shape`` to the registry, after the shapes already there, and return it.

    Detection tries shapes in the order they were registered.

    Raises:
        ValueError: a shape of that name is registered already.
    """
    if shape.name in REGISTRY:
        raise ValueError(f"a shape named {shape.name!r} is registered already "
                         f"({REGISTRY[shape.name].adapter!r}); choose another name")
    REGISTRY[shape.name] = shape
    return shape


def detect_shape(cls: type) -> str:
    """Return the name of the first registered shape whose methods ``cls`` has.

    Raises:
        LoadError: it has the methods of no shape; the message lists what is missing.
    """
    for shape in REGISTRY.values():
        if not shape.lacks(cls):
            return shape.name
    gaps = "; ".join(f"{shape.name} needs {', '.join(shape.lacks(cls))}"
                     for shape in REGISTRY.values())
    raise LoadError(f"{cls.__module__}.{cls.__qualname__} matches no known shape ({gaps}); "
                    f"pass --shape, or write an adapter (README: 'Check your own queue')")


def adapter_for(cls: type, shape: str | None = None) -> AdapterClass:
    """The adapter class of ``shape`` (detected from ``cls`` when None) for driving ``cls``.

    Raises:
        LoadError: ``shape`` is no registered shape, ``cls`` lacks methods it needs, or
            (without ``shape``) ``cls`` has the methods of no shape.
    """
    if shape is None:
        return REGISTRY[detect_shape(cls)].adapter
    if shape not in REGISTRY:
        raise LoadError(f"--shape={shape!r} is not a built-in shape; valid: "
                        f"{', '.join(REGISTRY)}")
    lacking = REGISTRY[shape].lacks(cls)
    if lacking:
        others = [s.name for s in REGISTRY.values() if s.name != shape and not s.lacks(cls)]
        fix = (f"pass --shape={others[0]} (its methods are there) or drop --shape" if others
               else "drop --shape to see what each shape needs, or write an adapter "
                    "(README: 'Check your own queue')")
        raise LoadError(f"{cls.__module__}.{cls.__qualname__} lacks {', '.join(lacking)}, "
                        f"which --shape={shape} needs; {fix}")
    return REGISTRY[shape].adapter


def class_names() -> set[str]:
    """The usual queue class names of every registered shape."""
    return {name for shape in REGISTRY.values() for name in shape.class_names}


def _register_builtin_shapes() -> None:
    for module in BUILTIN_SHAPES:
        register_shape(importlib.import_module(f"{__package__}.shapes.{module}").SHAPE)


_register_builtin_shapes()

"""How a shape declares itself: its name, family, detection and adapter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ._protocol import AdapterClass

__all__ = ["FAMILIES", "Shape"]

FAMILIES: Final = ("handler queue",)
"""The families of targets the harness knows: "handler queue", a queue that is handed async
handlers and reports their results (DESIGN section 2)."""


@dataclass(frozen=True)
class Shape:
    """One shape of queue the harness drives through a built-in adapter.

    Attributes:
        name: the shape's name (``--shape NAME``); the same as ``adapter.shape``.
        family: one of :data:`FAMILIES`.
        methods: the public methods a queue class must have (callable) to be of this shape.
        adapter: the adapter class that drives such a queue.
        class_names: names a queue class of this shape usually has; a module holding
            several queue classes offers one of these names first.
    """

    name: str
    family: str
    methods: tuple[str, ...]
    adapter: AdapterClass
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"shape {self.name!r}: family={self.family!r} is not one of "
                             f"{', '.join(map(repr, FAMILIES))}")
        if self.adapter.shape != self.name:
            raise ValueError(f"shape {self.name!r}: its adapter's shape is "
                             f"{self.adapter.shape!r}; give both the same name")

    def lacks(self, cls: type) -> list[str]:
        """The methods of :attr:`methods` that ``cls`` does not have (or not callable)."""
        return [m for m in self.methods if not callable(getattr(cls, m, None))]

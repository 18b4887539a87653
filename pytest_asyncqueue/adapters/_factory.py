"""The factory through which every check builds fresh targets of one queue class."""

from __future__ import annotations

from typing import Any

from ._capabilities import SETTINGS
from ._protocol import Adapter, AdapterClass, Unsupported

__all__ = ["TargetFactory"]


class TargetFactory:
    """Builds fresh adapters around one target class.

    Args:
        cls: the target's queue class.
        adapter: the adapter class that drives it (a built-in shape's, or a user's).

    Attributes:
        cls: the queue class.
        adapter: the adapter class.
        shape: the adapter's shape name.
        capabilities: what the queue class accepts (``adapter.capabilities_of(cls)``).
    """

    def __init__(self, cls: type, adapter: AdapterClass) -> None:
        self.cls = cls
        self.adapter = adapter
        self.shape = adapter.shape
        self.capabilities = adapter.capabilities_of(cls)

    def __call__(self, **settings: Any) -> Adapter:
        """Build a new target with these :data:`SETTINGS` (harness names), not started.

        Raises:
            TypeError: a name that is none of :data:`SETTINGS`.
            Unsupported: a setting the target's constructor does not take.
        """
        unknown = set(settings) - set(SETTINGS)
        if unknown:
            raise TypeError(f"unknown settings {sorted(unknown)}; valid: {', '.join(SETTINGS)}")
        lacking = [name for name in settings if name not in self.capabilities.settings]
        if lacking:
            raise Unsupported(f"target {self.cls.__qualname__} has no "
                              f"{' or '.join(lacking)} setting")
        return self.adapter(self.cls, settings)

    def __repr__(self) -> str:
        return f"<TargetFactory {self.cls.__module__}.{self.cls.__qualname__} shape={self.shape}>"

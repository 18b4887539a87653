"""Fixtures of the benchmark suite (``python -m pytest bench -p no:cacheprovider``).

``bench/`` is outside ``testpaths``, so the plain ``python -m pytest`` never collects it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .rounds import InterleavedRounds


@pytest.fixture
def interleaved_rounds() -> Iterator[Callable[..., InterleavedRounds]]:
    """Makes :class:`InterleavedRounds` (same arguments) and closes every loop they leave open."""
    made: list[InterleavedRounds] = []

    def make(*args: Any, **kwargs: Any) -> InterleavedRounds:
        rounds = InterleavedRounds(*args, **kwargs)
        made.append(rounds)
        return rounds

    yield make
    for rounds in made:
        rounds.close()

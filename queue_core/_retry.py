"""Backoff as pure functions (DESIGN S3)."""

from __future__ import annotations

import random

__all__ = ["backoff_delay"]


def backoff_delay(
    failures: int,
    base_delay: float,
    max_delay: float,
    jitter: float = 0.0,
    rng: random.Random | None = None,
) -> float:
    """Return the wait in loop seconds after the attempt numbered ``failures - 1`` failed.

    The wait after attempt k (k = 0, 1, ...) is ``min(base_delay * 2**k, max_delay)``. With
    ``jitter`` > 0 a uniform amount in ``[0, jitter * delay]`` is added from ``rng``, and the
    sum is clamped to ``[0, max_delay]``: never negative, never above the cap.

    Args:
        failures: how many attempts have failed so far (>= 1).
        base_delay: wait after the first failure, in loop seconds.
        max_delay: the cap, in loop seconds.
        jitter: fraction of the delay added at random; 0 disables jitter.
        rng: the random source for jitter (seed it for reproducible runs).
    """
    k = failures - 1
    # 2**k overflows a float long before k gets large; past the cap it no longer matters.
    delay = max_delay if k >= 1024 else min(base_delay * 2.0**k, max_delay)
    if jitter:
        delay += (rng or random).uniform(0.0, jitter * delay)
    return min(max(delay, 0.0), max_delay)

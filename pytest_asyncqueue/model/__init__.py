"""An executable model of the queue contract (DESIGN section 2): pure, synchronous, exact.

Given what a harness does to a queue (submit, cancel, open a gate, stop) and when, the model
says what a correct queue does: which task starts at which instant, how each attempt ends,
when each retry becomes eligible (``min(base_delay * 2**k, max_delay)`` after failure k),
what ``cancel`` returns, and every stats counter. The state machines (:mod:`..machines`) drive a
real target through the same operations and compare it with the model after every step.

Example:
    >>> m = Model(Params(workers=1))
    >>> for name, priority in [("a", 1), ("b", 5), ("c", 3), ("d", 5), ("e", 2)]:
    ...     m.submit(name, Work(seconds=1.0), priority=priority)
    >>> m = m.run()
    >>> [name for _, kind, name, _ in m.history if kind == "start"]
    ['b', 'd', 'c', 'e', 'a']

IMPLEMENTATION DETAIL - instants and their interleavings
========================================================

Time is an integer count of nanoseconds, like the virtual clock's, so sums are exact. At one
instant several things may be due together: attempts ending, delays and backoffs running
out, a cancel racing them, free workers picking tasks. A real queue handles them over
several loop iterations in an order the contract leaves open (a worker freed at t may pick
before or after a backoff that also ends at t has put its task back). :meth:`Model.at`
explores every order with a depth-first search over the atomic moves, merging equal states,
and returns every distinct outcome; the caller keeps those that match what it observed
(:func:`follow`). Most instants have exactly one outcome.

IMPLEMENTATION DETAIL - open points
===================================

:class:`Params` holds the readings a shape leaves open (priority direction, where a retry
re-enters among equal priorities, when ``retried`` rises, what a draining stop does to
queued work). :func:`readings` makes one :class:`Params` per combination a target's
``Capabilities`` accept; the machines follow all of them and drop those the target refutes.
"""

from __future__ import annotations

import warnings
from typing import Any

from ._divergence import Divergence, Finding, follow
from ._model import Model
from ._params import Params, backoff, readings, stop_readings
from ._task import Expect, Work

__all__ = ["Divergence", "Expect", "Finding", "Model", "Params", "Work", "backoff", "follow",
           "readings", "stop_readings"]


def __getattr__(name: str) -> Any:
    """``Probe``, this class's old name (beside the unrelated :mod:`..probes`), for one release."""
    if name == "Probe":
        warnings.warn("pytest_asyncqueue.model.Probe is now model.Work; the old name goes in "
                      "the next release", DeprecationWarning, stacklevel=2)
        return Work
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Adapters: one small async protocol through which the harness drives any queue.

The checks never touch a target directly. They build it through a :class:`TargetFactory`
(``factory(workers=2, base_delay=0.1)``), which passes each setting on under the target's own
name, and talk to the result through the :class:`Adapter` protocol: every method is async,
whatever the target's own methods are, and every answer is normalised (states are the
lower-case strings of :data:`~pytest_asyncqueue.contract.STATES`, results are
:class:`Outcome`, stats are a plain dict). :class:`Adapter`'s docstring says what the checks
expect of each method.

A target that lacks a setting or a submit option is not wrong: it answers ``Unsupported``,
and a check that needs it is skipped with that reason, never passed and never failed. The
factory's :class:`Capabilities` say beforehand what the target accepts, read from the
signatures of its public methods only, and which readings of the shape's open points the
checks must accept.

A queue of another shape needs one adapter class (:class:`AdapterClass`): the methods of
:class:`Adapter`, a ``shape`` name, a ``capabilities_of(queue_class)`` classmethod,
``__init__(queue_class, settings)`` and an ``adapts`` attribute naming the queue class.
``asyncqueue-check file.py:MyAdapter`` (or a file holding such a class) then drives that
queue; see the README, "Check your own queue", and ``examples/tiny_pool.py``.

Modules: ``_protocol`` (the protocols, :class:`Outcome` and the errors), ``_capabilities``,
``_factory``, ``_loading`` (:func:`load_target`, :func:`make_factory`), ``_registry`` (the
shapes, :func:`detect_shape`), ``_shape`` (:class:`Shape`), ``_common`` (what the built-in
adapters share) and ``shapes/``, one module per built-in shape. A new built-in shape is a
module ``shapes/<name>.py`` that defines its adapter and ``SHAPE = Shape(...)``, plus its name
in ``_registry.BUILTIN_SHAPES``.
"""

from __future__ import annotations

from ._capabilities import FEATURES, SETTINGS, SUBMIT_OPTIONS, Capabilities
from ._factory import TargetFactory
from ._loading import load_target, make_factory
from ._protocol import Adapter, AdapterClass, LoadError, Outcome, ResultMissing, Unsupported
from ._registry import SHAPES, detect_shape, register_shape
from ._shape import FAMILIES, Shape
from .shapes.oas37a import Oas37aAdapter
from .shapes.queue_core import QueueCoreAdapter

__all__ = [
    "Adapter",
    "AdapterClass",
    "Capabilities",
    "FAMILIES",
    "FEATURES",
    "LoadError",
    "Oas37aAdapter",
    "Outcome",
    "QueueCoreAdapter",
    "ResultMissing",
    "SETTINGS",
    "SHAPES",
    "SUBMIT_OPTIONS",
    "Shape",
    "TargetFactory",
    "Unsupported",
    "detect_shape",
    "load_target",
    "make_factory",
    "register_shape",
]

"""The built-in shapes, one module each.

A shape module defines its adapter class and ``SHAPE``, a
:class:`~pytest_asyncqueue.adapters.Shape` that names the shape, its family, the methods
that detect it and its adapter. The registry (``adapters/_registry.py``) imports the modules
named in its ``BUILTIN_SHAPES``.
"""

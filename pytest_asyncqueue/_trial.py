"""Load a target in a child process first, so that one that misbehaves at import is named.

Importing a target runs its module's code. A module that blocks or spins at import would
hang ``asyncqueue-check`` with no output, and one that calls ``os._exit`` would end it
without a word. So the command first loads the target in a forked child, watched as the
checks are (:mod:`pytest_asyncqueue._children`), and only loads it itself once the child
did. Where ``fork`` is not available the trial is skipped.
"""

from __future__ import annotations

from typing import Final

from ._children import Child, ChildExited, ChildHung, Link, can_fork
from ._isolation import replaced, stdlib_snapshot

__all__ = ["IMPORT_LIMIT", "trial_load"]

IMPORT_LIMIT: Final = 10.0
"""Wall seconds loading a target may take (the child gives one sign of life, as it begins:
a load is one long step, so this bounds it from there)."""


def trial_load(spec: str, shape: str | None) -> str | None:
    """Load the target in a child; return why it cannot be loaded, or None if it can.

    The sentence names what happened: the load's own error (as ``make_factory`` words it), a
    load that did not finish (and where it was), or one that ended the interpreter.
    """
    if not can_fork():
        return None
    # Not isolated: it stands in for the import this process does next, with the caller's
    # folder, environment and memory.
    with Child(_load, spec, shape, name="asyncqueue-import", isolated=False) as child:
        try:
            return child.receive(budget=IMPORT_LIMIT, stall=IMPORT_LIMIT)
        except ChildHung as hung:
            return (f"loading it had not finished after {IMPORT_LIMIT:.0f} wall s"
                    f"{hung.where or hung.thread}; a module must not block or spin when it is "
                    f"imported")
        except ChildExited as exited:
            return f"loading it ended the process: {exited.cause}"


def _load(link: Link, spec: str, shape: str | None) -> None:
    """In the child: load the target; send None, or the load error's sentence."""
    from .adapters import LoadError, make_factory

    link.heartbeat()
    before = stdlib_snapshot()
    try:
        make_factory(spec, shape)
    except LoadError as error:
        link.send(str(error))
        return
    patched = replaced(before)
    link.send(f"importing it replaced {', '.join(patched)}, which the harness times and waits "
              f"with, so its verdicts would describe the replacement; patch a name in your own "
              f"module instead" if patched else None)

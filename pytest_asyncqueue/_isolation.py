"""What a check process gets instead of the caller's: a working folder of its own, a scrubbed
environment, a memory limit.

A target runs in the harness's child processes (:mod:`pytest_asyncqueue._children`). What it
does there must not reach the caller: files it writes or deletes by relative path land in a
fresh temporary folder, removed with the child; it sees only the environment variables a
Python program needs (locale, paths, Python's own), not the caller's secrets, unless
``--pass-env`` is given; and it cannot map more than :attr:`Isolation.memory_limit` bytes of
address space beyond what it inherited (a target that grows without bound fails with
``MemoryError`` there, instead of taking the machine down).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import time
from dataclasses import dataclass
from typing import Final

__all__ = ["ISOLATION", "KEPT_VARIABLES", "Isolation", "isolate", "replaced", "stdlib_snapshot"]

KEPT_VARIABLES: Final = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
                         "VIRTUAL_ENV", "SYSTEMROOT")
"""Environment variables a child keeps (and every ``LC_*`` and ``PYTHON*`` one)."""


@dataclass
class Isolation:
    """How children are isolated; the command line sets it once, before the run.

    Attributes:
        pass_env: keep the caller's whole environment (``--pass-env``).
        memory_limit: bytes of address space a child may add to what it inherited (None:
            no limit).
    """

    pass_env: bool = False
    memory_limit: int | None = 4 * 2**30


ISOLATION: Final = Isolation()
"""The isolation every child of this process gets."""


def isolate(workdir: str) -> None:
    """In a child: work in ``workdir``, scrub the environment, limit memory."""
    os.chdir(workdir)
    if not ISOLATION.pass_env:
        kept = {name: value for name, value in os.environ.items()
                if name in KEPT_VARIABLES or name.startswith(("LC_", "PYTHON"))}
        os.environ.clear()
        os.environ.update(kept)
    if ISOLATION.memory_limit is not None:
        with contextlib.suppress(ValueError, OSError):  # a lower hard limit stays in force
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            # On top of what the child inherited: a caller that maps much (a pytest process
            # that imported a big library) must not leave the target no room at all.
            limit = _address_space() + ISOLATION.memory_limit
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _address_space() -> int:
    """The bytes of address space this process maps now (Linux); OSError elsewhere."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


_WATCHED: Final = ((asyncio, "sleep"), (asyncio, "get_running_loop"), (asyncio, "wait_for"),
                   (time, "monotonic"), (time, "perf_counter"), (time, "time"), (time, "sleep"))
"""Standard-library functions the harness times and waits with: a target that replaces one
would have the verdicts describe its replacement."""


def stdlib_snapshot() -> dict[str, object]:
    """The watched functions as they are now, by dotted name."""
    return {f"{module.__name__}.{name}": getattr(module, name) for module, name in _WATCHED}


def replaced(before: dict[str, object]) -> list[str]:
    """The watched functions that are no longer what ``before`` holds, by dotted name."""
    return [name for name, now in stdlib_snapshot().items() if now is not before[name]]

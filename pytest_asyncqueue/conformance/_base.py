"""What every conformance check is built from: the registry entry, the harness, failures.

A check is an ``async def`` taking a :class:`Harness`, registered with :func:`check` under
exactly one category (the one whose rule it asserts). It builds targets through the harness,
submits probes, and raises :class:`CheckFailed` (an ``AssertionError``) with a message that
says what was observed and what the contract expects, or :class:`Skip` when the target lacks
what the check needs. It runs on a fresh virtual-time loop, so it may wait as long as it
likes in virtual time.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Final

from ..adapters import Adapter, Capabilities, TargetFactory, Unsupported
from ..contract import CATEGORIES
from ..probes import FAIL, Probes, Timeline

__all__ = ["USES", "Check", "CheckFailed", "Harness", "Skip", "check", "expect_equal"]

USES: Final = ("handlers", "failures", "retries", "cancel", "priorities", "order")
"""What a check may lean on (:attr:`Harness.used`): it submitted a handler; a handler raised;
one raised in a task submitted with ``max_retries``; it cancelled; it set priorities; it
submitted two tasks of one priority to a one-worker target (their order is FIFO's)."""



class CheckFailed(AssertionError):
    """Raised by a check when the target breaks the rule the check asserts."""


class Skip(Exception):
    """Raised by a check when the target lacks what it needs; the message is the reason."""


@dataclass(frozen=True)
class Check:
    """A registered conformance check.

    Attributes:
        name: the function's name, unique across the suite.
        category: one of :data:`~pytest_asyncqueue.contract.CATEGORIES`.
        rule: the contract clause it asserts, e.g. "S3" or "oas37a-3".
        needs: settings, submit options or extras (see ``Capabilities.missing``) without
            which it is skipped.
        func: the check itself.
    """

    name: str
    category: str
    rule: str
    needs: tuple[str, ...]
    func: Callable[[Harness], Awaitable[None]]

    @property
    def doc(self) -> str:
        return (self.func.__doc__ or "").strip().splitlines()[0] if self.func.__doc__ else ""

    def skip_reason(self, capabilities: Capabilities) -> str | None:
        """Why the check cannot run on a target with these capabilities, or None."""
        missing = capabilities.missing(self.needs)
        return f"target has no {', '.join(missing)}" if missing else None


def check(category: str, rule: str, *, needs: tuple[str, ...] = ()
          ) -> Callable[[Callable[[Harness], Awaitable[None]]], Check]:
    """Register an ``async def check(h: Harness)`` under ``category`` for contract ``rule``."""
    if category not in CATEGORIES:
        raise ValueError(f"category={category!r} is not one of {', '.join(CATEGORIES)}")

    def register(func: Callable[[Harness], Awaitable[None]]) -> Check:
        return Check(func.__name__, category, rule, tuple(needs), func)

    return register


def expect_equal(observed: Any, expected: Any, what: str, rule: str) -> None:
    """Raise :class:`CheckFailed` "rule: what was <observed>; expected <expected>" unless equal."""
    __tracebackhide__ = True
    if observed != expected:
        raise CheckFailed(f"{rule}: {what} was {observed!r}; expected {expected!r}")


class Harness:
    """What a check works with: fresh targets, probes, the timeline, the loop, the seed.

    Args:
        factory: builds adapters around the target class.
        seed: the run's seed; ``rng`` is seeded with it, so the same seed replays a run.
    """

    def __init__(self, factory: TargetFactory, seed: int) -> None:
        self.factory = factory
        self.seed = seed
        self.rng = random.Random(seed)
        self.timeline = Timeline()
        self.probes = Probes(self.timeline)
        self.submitted = 0  # submits the targets accepted, as the harness counts them
        self._made: list[Adapter] = []
        self._asked: set[str] = set()  # "max_retries" and the USES known at the call
        self._one_worker: dict[int, list[int]] = {}  # a one-worker target -> its priorities

    @property
    def capabilities(self) -> Capabilities:
        return self.factory.capabilities

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    def now(self) -> float:
        """The loop's time, in virtual seconds."""
        return asyncio.get_running_loop().time()

    async def make(self, *, start: bool = True, **settings: Any) -> Adapter:
        """Build a target with these settings (and start it unless ``start=False``).

        A setting the target lacks makes the check skip with the reason.
        """
        try:
            adapter = self.factory(**settings)
        except Unsupported as exc:
            raise Skip(str(exc)) from None
        self._made.append(adapter)
        self._note_cancels(adapter)
        if settings.get("workers") == 1:
            self._one_worker[id(adapter)] = []
        if start:
            await adapter.start()
        return adapter

    async def submit(self, adapter: Adapter, handler: Callable[..., Awaitable[Any]],
                     *args: Any, **options: Any) -> Hashable:
        """Submit through the adapter, counting accepted submits; an option the target lacks
        makes the check skip."""
        self._asked.add("handlers")
        if options.get("priority"):
            self._asked.add("priorities")
        priorities = self._one_worker.get(id(adapter))
        if priorities is not None:
            if options.get("priority", 0) in priorities:
                self._asked.add("order")
            priorities.append(options.get("priority", 0))
        if options.get("max_retries"):
            self._asked.add("max_retries")
        try:
            task_id = await adapter.submit(handler, *args, **options)
        except Unsupported as exc:
            raise Skip(str(exc)) from None
        self.submitted += 1
        return task_id

    @property
    def used(self) -> frozenset[str]:
        """What of the target the check has leaned on so far, by :data:`USES` name."""
        used = self._asked - {"max_retries"}
        if any(event.kind == FAIL for event in self.timeline.events):
            used.add("failures")
            if "max_retries" in self._asked:
                used.add("retries")
        return frozenset(used)

    def _note_cancels(self, adapter: Adapter) -> None:
        """Wrap the adapter's ``cancel`` so that :attr:`used` knows the check cancelled."""
        cancel = adapter.cancel

        async def noted(task_id: Hashable) -> bool:
            self._asked.add("cancel")
            return await cancel(task_id)

        try:
            adapter.cancel = noted  # type: ignore[method-assign]
        except AttributeError:  # a user's adapter with __slots__: cancels go unnoted
            pass

    async def settle(self, rounds: int = 20) -> None:
        """Let ready work run for a while without moving the clock."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def close(self) -> None:
        """Stop every target this harness made (cancelling its work); errors are ignored."""
        for adapter in self._made:
            try:
                await asyncio.wait_for(adapter.stop(drain=False), timeout=60.0)
            except asyncio.CancelledError:
                # A broken target's stop may re-raise a dead worker's cancellation; only a
                # cancellation of this check itself must go on.
                if asyncio.current_task().cancelling():
                    raise
            except Exception:  # the check's own verdict matters, not how a stop failed
                pass
        self._made.clear()

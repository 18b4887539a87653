"""One example against one target: its loop, its handlers, the steps it records, and how a
call to the target or a broken rule becomes a failure in a category."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from hypothesis import reject
from hypothesis.stateful import RuleBasedStateMachine

from .._children import HARNESS
from ..adapters import TargetFactory
from ..errors import AsyncQueueError
from ..model import Finding
from ._driver import LoopDriver, NotAtOnce
from ._handlers import Handlers
from ._judge import exc
from ._outcomes import FAILURES, Tally
from ._steps import shown
from ._target import Target


class Example(RuleBasedStateMachine):
    """What every example needs, whatever its rules: the base of :class:`QueueMachine`.

    Args:
        factory: builds the target.
        muted: categories not judged: an example in which one of them breaks is discarded.
        tally: counts examples (shared by one run).

    Attributes:
        driver: the example's loop (set by the first rule). target: the target once built.
        handlers: makes the handlers submitted and keeps their timeline.
        calls: the steps so far as ``(rule, arguments)``. steps: the same as step lines.
        clean: the last step ended with the invariant holding.
        closed: the target has been stopped.
    """

    def __init__(self, factory: TargetFactory, *, muted: frozenset[str] = frozenset(),
                 tally: Tally | None = None) -> None:
        super().__init__()
        self.factory, self.muted = factory, muted
        self.tally = tally or Tally()
        self.tally.examples += 1
        self.driver: LoopDriver | None = None
        self.target: Target | None = None
        self.handlers = Handlers()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.steps = [f"state = {type(self).__name__}({factory!r})"]
        self.clean = self.closed = False

    @property
    def loop(self) -> Any:
        """The example's virtual loop."""
        return self.driver.loop

    def _call(self, coro: Coroutine[Any, Any, Any], what: str, category: str, *,
              now: bool = True, limit: float = 0.0, expect: type[BaseException] | tuple = ()
              ) -> Any:
        """Run ``coro`` on the loop, then settle; its errors become findings in ``category``.

        ``now``: it must return without the clock moving; else it may take ``limit`` virtual
        seconds (0: as long as it takes). An error of a type in ``expect`` is returned.
        """
        try:
            return self.driver.run(coro, now=now, limit=limit)
        except NotAtOnce:
            self._fail(category, "returns_at_once", f"{what} did not return " + (
                f"within {limit:g} virtual s" if limit else "without waiting on the clock"))
        except AsyncQueueError as error:  # deadlock, real-time limit
            self._fail("concurrency", "loop_stays_free", f"S2: during {what}: {error}")
        except expect as error:
            return error
        except (Exception, asyncio.CancelledError) as error:  # noqa: BLE001  # target's error
            self._fail(category, "target_raises", f"{what} raised {exc(error)}")

    def _on_iteration(self) -> None:
        if self.tally.heartbeat is not None:
            self.tally.heartbeat()
        if self.target is not None:
            self.target.on_iteration(self.loop.time())

    def _snapshot(self) -> dict[str, int] | None:
        try:
            snapshot = self.target.adapter.stats_now()
        except Exception as error:  # noqa: BLE001  # target's error
            self._fail("stats", "stats_answers", f"S6: stats raised {exc(error)}")
        return snapshot if snapshot is not None else self._call(
            self.target.adapter.stats(), "stats()", "stats")

    def _note_blocking_calls(self) -> None:
        """Keep the target's blocking calls for the run to judge (wall time is not
        replayable, so no single example fails for one)."""
        for call in self.loop.blocking_calls:
            if not call.location.startswith(HARNESS):
                self.tally.blocking.setdefault(call.location, []).append(call)
                self.tally.blocking_seen.setdefault(call.location,
                                                    (self.tally.examples, list(self.steps)))
        self.loop.blocking_calls.clear()

    def _record(self, rule_name: str, **arguments: Any) -> None:
        self.clean = False
        self.calls.append((rule_name, arguments))
        args = ", ".join(f"{k}={shown(v)}" for k, v in arguments.items())
        self.steps.append(f"state.{rule_name}({args})")

    def _fail(self, category: str, check: str, message: str, *, soft: bool = False) -> None:
        self._fail_with(Finding(category, check, message), soft=soft)

    def _fail_with(self, finding: Finding | None, *, soft: bool = False) -> None:
        """Raise the finding as a failure. A muted one does not stop the other categories
        from being judged: a ``soft`` one (the target and the model still agree on what
        happened, as after a wrong answer that changed nothing) is passed over, and any
        other discards the example."""
        if finding is None:
            return
        if finding.category in self.muted:
            self.tally.muted_findings.append(finding)
            if soft:
                return
            self.tally.discarded += 1
            reject()
        if self.tally.first_failure is None:
            self.tally.first_failure = self.tally.examples
        raise FAILURES[finding.category](finding, self.calls, self.steps)

    def _clean_up(self) -> None:
        """Stop the target if it still runs, cancel what is left, close the loop."""
        if self.driver is not None:
            target, closed = self.target, self.closed
            self.driver.close(None if target is None or closed
                              else lambda: target.adapter.stop(False))

"""The eligible tasks, by rank (DESIGN S1): higher priority first, then lower sequence number.

A binary heap of every pending task costs ~2 log2(n) comparisons per pop: at 100,000
pending tasks that alone is slower than the rest of a task's life. Real queues use a few
priority levels, so each level keeps a FIFO of freshly submitted tasks (already in sequence
order, O(1) in and out) and a small heap for tasks that re-enter late, after a start delay
or a retry backoff, so that those still take their place by their original sequence number.
A heap of the levels' priorities picks the best level.
"""

from __future__ import annotations

from collections import deque
from heapq import heapify, heappop, heappush

from ._task import PENDING, Task

__all__ = ["ReadyTasks"]

_COMPACT_MIN = 64  # cancelled entries tolerated before compacting is worth it

_Level = tuple[int, deque[Task], list[tuple[int, Task]]]
"""(-priority, fresh tasks in submission order, a heap of (seq, task) of late ones)."""


class ReadyTasks:
    """Tasks that a free worker may start, best rank first.

    A task cancelled while in here stays, skipped by ``pop``, until it is popped or the
    structure is compacted; ``cancelled()`` must be called for each such task.
    """

    __slots__ = ("_levels", "_order", "_stale", "_check_at")

    def __init__(self) -> None:
        self._levels: dict[int, _Level] = {}  # by priority
        self._order: list[_Level] = []  # the same levels as a heap: the best one on top
        self._stale = 0  # cancelled tasks held
        self._check_at = _COMPACT_MIN  # stale count at which to count the entries again

    def __len__(self) -> int:
        """How many tasks are held, cancelled ones included (counted: the hot paths keep
        no count)."""
        return sum(len(fresh) + len(late) for _, fresh, late in self._levels.values())

    def push(self, task: Task) -> None:
        """Add a task submitted just now (its sequence number is the highest so far)."""
        level = self._levels.get(task.priority) or self._add_level(task.priority)
        level[1].append(task)

    def push_late(self, task: Task) -> None:
        """Add a task coming back from a delay or a backoff, at its original place."""
        level = self._levels.get(task.priority) or self._add_level(task.priority)
        heappush(level[2], (task.seq, task))

    def pop(self) -> Task | None:
        """Remove and return the pending task of best rank, or None if there is none."""
        order = self._order
        while order:
            negated, fresh, late = order[0]
            if late and (not fresh or late[0][0] < fresh[0].seq):
                task = heappop(late)[1]
            elif fresh:
                task = fresh.popleft()
            elif len(order) == 1:
                # The last level stays for the next push: an idle queue fed one task at a
                # time would otherwise build and drop a level per task. Emptied levels
                # above it go as pops reach them, so an empty queue keeps one level.
                return None
            else:
                heappop(order)
                del self._levels[-negated]
                continue
            if task.state is PENDING:
                return task
            self._stale -= 1
        return None

    def cancelled(self) -> None:
        """Note that a task held here was cancelled; compact when most entries are stale.

        The entries are counted (a walk over the levels) only when the stale count reaches
        a mark, set each time to half the entries then held, so cancelling stays O(1)
        amortized however many priority levels there are.
        """
        self._stale += 1
        if self._stale <= self._check_at:
            return
        held = len(self)
        if self._stale * 2 <= held:
            self._check_at = held // 2
            return
        for _, fresh, late in self._levels.values():
            keep = [task for task in fresh if task.state is PENDING]
            fresh.clear()
            fresh.extend(keep)
            late[:] = [entry for entry in late if entry[1].state is PENDING]
            heapify(late)
        # Emptied levels go too, so that neither pop nor the next count walks them.
        self._order[:] = [level for level in self._order if level[1] or level[2]]
        heapify(self._order)
        self._levels = {-level[0]: level for level in self._order}
        self._stale = 0
        self._check_at = _COMPACT_MIN

    def clear(self) -> None:
        """Drop every task."""
        self._levels.clear()
        self._order.clear()
        self._stale = 0
        self._check_at = _COMPACT_MIN

    def _add_level(self, priority: int) -> _Level:
        level = self._levels[priority] = (-priority, deque(), [])
        heappush(self._order, level)  # -priority is unique: heap order never compares the rest
        return level

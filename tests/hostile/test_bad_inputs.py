"""Bad input to queue_core gets a clear error at the call, naming what was wrong (issue 14).

Each entry is one bad input: the call, the error it must raise, and a fragment of the message
that names the argument or the thing to do. None is accepted, none hangs (each call runs on
the virtual clock inside a 60 virtual-second bound). ``python -m pytest tests/hostile/
test_bad_inputs.py -q`` is the table of the closing note.
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable
from typing import Any

import pytest

from queue_core import DuplicateTask, QueueClosed, QueueFull, TaskQueue, UnknownTask


async def work(*_: Any) -> None:
    return None


def plain() -> None:
    return None


async def agen():  # type: ignore[no-untyped-def]
    yield 1


class AsyncCall:
    async def __call__(self) -> None:
        return None


def submit_coroutine_object(queue: TaskQueue) -> None:
    """``submit(work())``: a coroutine object, not a function (closed after, unawaited)."""
    coroutine = work()
    try:
        queue.submit(coroutine)
    finally:
        coroutine.close()


NUMBERS = [("-1", -1), ("nan", math.nan), ("inf", math.inf), ("'1'", "1"), ("True", True),
           ("None", None), ("[1]", [1])]
SETTINGS: list[tuple[str, dict[str, Any], type[BaseException], str]] = []
for name, positive_int in (("workers", True), ("max_pending", False), ("max_results", True)):
    for label, value in [("0", 0), ("-1", -1), ("1.5", 1.5), ("'4'", "4"), ("True", True),
                         ("nan", math.nan)] + [("None", None)] * positive_int:
        error = TypeError if not isinstance(value, int) or isinstance(value, bool) else ValueError
        SETTINGS.append((f"{name}={label}", {name: value}, error, f"{name}="))
SETTINGS.append(("workers=10**9", {"workers": 10**9}, ValueError, "workers="))
for name in ("base_delay", "max_delay", "jitter", "result_ttl"):
    for label, value in NUMBERS:
        if value is None and name == "result_ttl":
            continue  # None: results kept until evicted
        error = ValueError if isinstance(value, float) or (
            isinstance(value, int) and not isinstance(value, bool)) else TypeError
        SETTINGS.append((f"{name}={label}", {name: value}, error, f"{name}="))
SETTINGS += [
    ("result_ttl=0", {"result_ttl": 0}, ValueError, "result_ttl="),
    ("max_delay < base_delay", {"base_delay": 2.0, "max_delay": 1.0}, ValueError, "max_delay="),
    ("non_retryable=ValueError", {"non_retryable": ValueError}, TypeError, "non_retryable="),
    ("non_retryable=(1,)", {"non_retryable": (1,)}, TypeError, "non_retryable="),
    ("seed=[1]", {"seed": [1]}, TypeError, "seed="),
    ("seed='1'", {"seed": "1"}, TypeError, "seed="),
    ("unknown keyword", {"worker": 4}, TypeError, "worker"),
]


@pytest.mark.parametrize(("settings", "error", "names"), [s[1:] for s in SETTINGS],
                         ids=[s[0] for s in SETTINGS])
def test_a_bad_setting_is_refused_at_construction(settings, error, names) -> None:
    with pytest.raises(error, match=names):
        TaskQueue(**settings)


SUBMITS: list[tuple[str, Callable[[TaskQueue], Any], type[BaseException], str]] = [
    ("handler=plain function", lambda q: q.submit(plain), TypeError, "plain function"),
    ("handler=None", lambda q: q.submit(None), TypeError, "not callable"),
    ("handler=42", lambda q: q.submit(42), TypeError, "not callable"),
    ("handler=class", lambda q: q.submit(AsyncCall), TypeError, "is a class"),
    ("handler=async generator", lambda q: q.submit(agen), TypeError, "async generator"),
    ("handler=coroutine object", lambda q: submit_coroutine_object(q), TypeError,
     "not callable"),
    ("handler=partial of plain", lambda q: q.submit(functools.partial(plain)), TypeError,
     "plain function"),
    ("handler=lambda", lambda q: q.submit(lambda: None), TypeError, "plain function"),
    ("task_id=[1]", lambda q: q.submit(work, task_id=[1]), TypeError, "task_id="),
    ("task_id={}", lambda q: q.submit(work, task_id={}), TypeError, "task_id="),
    ("task_id=nan", lambda q: q.submit(work, task_id=math.nan), ValueError, "task_id="),
    ("duplicate task_id", lambda q: (q.submit(work, task_id="a"), q.submit(work, task_id="a")),
     DuplicateTask, "task_id='a'"),
    ("full queue", lambda q: [q.submit(work) for _ in range(3)], QueueFull, "max_pending="),
] + [
    (f"{name}={label}", functools.partial(lambda name, value, q: q.submit(work, **{name: value}),
                                          name, value), error, f"{name}=")
    for name, cases in (
        ("priority", [("'1'", "1", TypeError), ("1.5", 1.5, TypeError), ("None", None, TypeError),
                      ("True", True, TypeError)]),
        ("max_retries", [("-1", -1, ValueError), ("'3'", "3", TypeError),
                         ("1.0", 1.0, TypeError), ("True", True, TypeError)]),
        ("delay", [("-1", -1, ValueError), ("nan", math.nan, ValueError),
                   ("inf", math.inf, ValueError), ("'1'", "1", TypeError),
                   ("True", True, TypeError)]),
        ("timeout", [("0", 0, ValueError), ("-1", -1, ValueError), ("nan", math.nan, ValueError),
                     ("inf", math.inf, ValueError), ("'1'", "1", TypeError)]),
    )
    for label, value, error in cases
]


@pytest.mark.parametrize(("call", "error", "says"), [s[1:] for s in SUBMITS],
                         ids=[s[0] for s in SUBMITS])
def test_a_bad_submit_is_refused_at_the_call(run, call, error, says) -> None:
    async def main() -> None:
        queue = TaskQueue(workers=1, max_pending=2)
        with pytest.raises(error, match=says):
            call(queue)

    run(main())


async def closed_queue() -> TaskQueue:
    queue = TaskQueue(workers=1)
    queue.start()
    await queue.shutdown()
    return queue


CALLS: list[tuple[str, Callable[[], Any], type[BaseException], str]] = [
    ("result of an unknown id", lambda q: q.result("nope"), UnknownTask, "nope"),
    ("result timeout=-1", lambda q: q.result(1, timeout=-1), ValueError, "timeout="),
    ("result timeout='1'", lambda q: q.result(1, timeout="1"), TypeError, "timeout="),
    ("shutdown timeout=nan", lambda q: q.shutdown(timeout=math.nan), ValueError, "timeout="),
    ("requeue of an unknown id", lambda q: q.requeue("nope"), KeyError, "nope"),
]


@pytest.mark.parametrize(("call", "error", "says"), [s[1:] for s in CALLS],
                         ids=[s[0] for s in CALLS])
def test_a_bad_call_is_refused(run, call, error, says) -> None:
    async def main() -> None:
        async with TaskQueue(workers=1) as queue:
            queue.submit(work)
            with pytest.raises(error, match=says):
                result = call(queue)
                if asyncio.iscoroutine(result):
                    await asyncio.wait_for(result, 60)

    run(main())


def test_submit_and_start_after_shutdown_say_shutdown_was_called(run) -> None:
    async def main() -> None:
        queue = await closed_queue()
        for call in (lambda: queue.submit(work), queue.start):
            with pytest.raises(QueueClosed, match="shutdown\\(\\) was called"):
                call()

    run(main())


def test_calls_that_need_a_loop_say_so_outside_one() -> None:
    queue = TaskQueue(workers=1)
    for call in (lambda: queue.submit(work), queue.start):
        with pytest.raises(RuntimeError, match="needs a running event loop"):
            call()

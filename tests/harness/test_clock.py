"""Tests of pytest_asyncqueue.clock: virtual time, autojump, deadlocks, blocking calls.

No test sleeps in real time, except where a thread or a blocking callback must take a few wall
milliseconds to prove a point; those say so. Wall-time budgets are generous (never flaky).
"""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time

import pytest

from pytest_asyncqueue.clock import BlockingCall, VirtualClockLoop, new_virtual_loop, run
from pytest_asyncqueue.errors import (
    AsyncQueueError,
    BlockingCallError,
    DeadlockError,
    RealTimeLimitError,
)


def _loop() -> VirtualClockLoop:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualClockLoop)
    return loop


# --- virtual time ------------------------------------------------------------------------


def test_sleeping_an_hour_takes_exactly_an_hour_of_virtual_time_and_near_zero_wall_time() -> None:
    async def main() -> tuple[float, float]:
        loop = _loop()
        start = loop.time()
        await asyncio.sleep(3600)
        return start, loop.time()

    wall_start = time.perf_counter()
    start, end = run(main())
    wall = time.perf_counter() - wall_start

    assert (start, end) == (0.0, 3600.0)
    assert wall < 1.0


def test_virtual_time_stays_exact_over_a_thousand_small_sleeps() -> None:
    async def main() -> tuple[float, float, int]:
        loop = _loop()
        await asyncio.sleep(0.2)
        await asyncio.sleep(0.1)
        at_point_three = loop.time()
        for _ in range(1000):
            await asyncio.sleep(0.001)
        return at_point_three, loop.time(), loop.jumps

    assert run(main()) == (0.3, 1.3, 1002)


def test_elapsed_and_jump_count_report_how_far_the_clock_moved() -> None:
    loop = new_virtual_loop()
    try:
        assert (loop.virtual_elapsed, loop.jumps) == (0.0, 0)
        loop.run_until_complete(asyncio.sleep(12.5))
        loop.run_until_complete(asyncio.sleep(0))  # nothing to wait for: no jump
        assert (loop.time(), loop.virtual_elapsed, loop.jumps) == (12.5, 12.5, 1)
        assert "t=12.500s jumps=1" in repr(loop)
    finally:
        loop.close()


def test_concurrent_sleeps_wake_in_deadline_order_at_their_exact_deadlines() -> None:
    async def main() -> list[tuple[str, float]]:
        woke: list[tuple[str, float]] = []

        async def sleeper(name: str, delay: float) -> None:
            await asyncio.sleep(delay)
            woke.append((name, _loop().time()))

        await asyncio.gather(
            sleeper("c", 3), sleeper("a", 1), sleeper("b", 2), sleeper("a2", 1), sleeper("d", 2.5)
        )
        return woke

    assert run(main()) == [("a", 1.0), ("a2", 1.0), ("b", 2.0), ("d", 2.5), ("c", 3.0)]


def test_nested_sleeps_add_up_on_the_virtual_clock() -> None:
    async def main() -> list[tuple[str, float]]:
        marks: list[tuple[str, float]] = []

        async def inner() -> None:
            await asyncio.sleep(2)
            marks.append(("inner", _loop().time()))

        async def outer() -> None:
            await asyncio.sleep(1)
            marks.append(("outer", _loop().time()))
            await asyncio.create_task(inner())
            marks.append(("outer done", _loop().time()))

        await outer()
        return marks

    assert run(main()) == [("outer", 1.0), ("inner", 3.0), ("outer done", 3.0)]


def test_call_later_and_call_at_fire_in_order_at_their_virtual_times() -> None:
    async def main() -> list[tuple[str, float]]:
        loop = _loop()
        fired: list[tuple[str, float]] = []
        done = loop.create_future()
        loop.call_later(5, lambda: fired.append(("later 5", loop.time())))
        loop.call_at(2.5, lambda: fired.append(("at 2.5", loop.time())))
        loop.call_later(7, done.set_result, None)
        await done
        return fired

    assert run(main()) == [("at 2.5", 2.5), ("later 5", 5.0)]


def test_asyncio_timeout_expires_on_virtual_time() -> None:
    async def main() -> float:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(10):
                await asyncio.sleep(3600)
        return _loop().time()

    assert run(main()) == 10.0


def test_wait_for_times_out_or_returns_on_virtual_time() -> None:
    async def main() -> tuple[float, str, float]:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.sleep(100), timeout=7.5)
        timed_out_at = _loop().time()

        async def answer() -> str:
            await asyncio.sleep(2)
            return "ok"

        return timed_out_at, await asyncio.wait_for(answer(), timeout=3), _loop().time()

    assert run(main()) == (7.5, "ok", 9.5)


# --- executor work, real I/O --------------------------------------------------------------


def test_the_clock_does_not_jump_while_work_is_out_in_a_thread() -> None:
    # The thread waits up to 20 wall ms for a gate that a timer at virtual t=1 opens. If the
    # clock jumped while the thread was out, the timer would open the gate at once.
    gate = threading.Event()

    async def main() -> tuple[bool, float, float]:
        loop = _loop()
        loop.call_later(1, gate.set)
        opened = await asyncio.to_thread(gate.wait, 0.02)
        returned_at = loop.time()
        await asyncio.sleep(5)
        return opened, returned_at, loop.time()

    assert run(main()) == (False, 0.0, 5.0)


def test_a_timeout_around_thread_work_does_not_fire_early() -> None:
    async def main() -> tuple[str, float]:
        loop = _loop()
        result = await asyncio.wait_for(loop.run_in_executor(None, str.upper, "done"), 0.001)
        return result, loop.time()

    assert run(main()) == ("DONE", 0.0)


def test_a_real_socketpair_read_callback_runs_at_the_right_virtual_time() -> None:
    async def main() -> tuple[bytes, float]:
        loop = _loop()
        left, right = socket.socketpair()
        with left, right:
            left.setblocking(False)
            right.setblocking(False)
            loop.call_later(5, left.send, b"ping")
            data = await asyncio.wait_for(loop.sock_recv(right, 4), timeout=3600)
            return data, loop.time()

    assert run(main()) == (b"ping", 5.0)


def test_a_loopback_tcp_echo_works_under_the_virtual_clock() -> None:
    async def main() -> bytes:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"hello\n")
            line = await asyncio.wait_for(reader.readline(), timeout=60)
            writer.close()
            await writer.wait_closed()
            return line

    assert run(main()) == b"hello\n"


# --- deadlocks and the real-time guard -----------------------------------------------------


@pytest.mark.timeout(10)
def test_a_task_waiting_on_an_event_nobody_sets_raises_deadlock_error_naming_it() -> None:
    async def waiter(gate: asyncio.Event) -> None:
        await gate.wait()

    async def main() -> None:
        task = asyncio.create_task(waiter(asyncio.Event()), name="worker-1")
        await asyncio.sleep(12.5)
        await task

    with pytest.raises(DeadlockError) as caught:
        run(main())

    message = str(caught.value)
    assert message.startswith("nothing can run at virtual t=12.500s and no timer is due; waiting: ")
    assert f"worker-1 at {__file__}:" in message
    assert "in test_a_task_waiting_on_an_event_nobody_sets_raises_deadlock_error_naming_it." in (
        message
    )
    assert ".waiter awaiting Event.wait()" in message
    assert isinstance(caught.value, AsyncQueueError)


@pytest.mark.timeout(10)
def test_sleeping_forever_is_a_deadlock_not_a_jump_to_infinity() -> None:
    async def main() -> None:
        await asyncio.sleep(5)
        await asyncio.sleep(math.inf)

    with pytest.raises(DeadlockError, match=r"at virtual t=5\.000s.*in .*main awaiting sleep\(\)"):
        run(main())


@pytest.mark.timeout(10)
def test_a_wakeup_from_another_thread_within_the_grace_period_is_not_a_deadlock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(VirtualClockLoop, "deadlock_grace", 5.0)  # the thread wakes it at once

    async def main() -> int:
        loop = _loop()
        future: asyncio.Future[int] = loop.create_future()
        thread = threading.Thread(target=loop.call_soon_threadsafe, args=(future.set_result, 42))
        thread.start()
        try:
            return await future
        finally:
            thread.join()

    assert run(main()) == 42


@pytest.mark.timeout(10)
def test_a_loop_that_never_waits_on_a_timer_hits_the_real_time_limit() -> None:
    async def main() -> None:
        while True:
            await asyncio.sleep(0)

    with pytest.raises(RealTimeLimitError, match=r"over max_real_seconds=0\.05.*polling"):
        run(main(), max_real_seconds=0.05)


# --- blocking calls ------------------------------------------------------------------------


def test_a_task_that_blocks_the_loop_is_recorded_with_its_duration_and_name() -> None:
    async def sleepy() -> None:
        time.sleep(0.01)  # deliberately blocks the loop: this is what is being detected
        await asyncio.sleep(3)

    async def main() -> list[BlockingCall]:
        await asyncio.sleep(1)
        await asyncio.create_task(sleepy(), name="sleepy")
        return _loop().blocking_calls

    calls = [call for call in run(main(), blocking_threshold=0.005) if call.name == "sleepy"]

    assert len(calls) == 1
    assert calls[0].duration >= 0.01
    assert calls[0].virtual_time == 1.0
    assert calls[0].location.startswith(f"{__file__}:")


def test_a_plain_callback_that_blocks_is_named_by_its_qualified_name() -> None:
    def stall() -> None:
        time.sleep(0.01)  # deliberately blocks the loop

    async def main() -> list[BlockingCall]:
        _loop().call_soon(stall)
        await asyncio.sleep(1)
        return _loop().blocking_calls

    calls = run(main(), blocking_threshold=0.005)

    assert [call.name for call in calls if "stall" in call.name] == [stall.__qualname__]


def test_raise_on_blocking_raises_blocking_call_error_naming_the_task() -> None:
    async def sleepy() -> None:
        time.sleep(0.03)  # deliberately blocks the loop, over the threshold
        await asyncio.sleep(1)

    async def main() -> None:
        await asyncio.create_task(sleepy(), name="sleepy")

    # No other step comes near the threshold, so the first one over it is the sleep.
    expected = r"^sleepy blocked the event loop for \d+\.\d{3} wall s at virtual t=0\.000s"
    with pytest.raises(BlockingCallError, match=expected):
        run(main(), blocking_threshold=0.02, raise_on_blocking=True)


# --- determinism and seeded order ----------------------------------------------------------


async def _interleaving() -> list[tuple[str, int, float]]:
    trace: list[tuple[str, int, float]] = []

    async def worker(name: str) -> None:
        for step in range(3):
            trace.append((name, step, _loop().time()))
            await asyncio.sleep(0 if step == 0 else 0.5)

    await asyncio.gather(*(worker(f"w{i}") for i in range(6)))
    return trace


def test_the_same_seed_gives_the_same_schedule_every_time() -> None:
    traces = {tuple(run(_interleaving(), seed=1234)) for _ in range(10)}

    assert len(traces) == 1


async def _round_robin() -> list[tuple[str, int]]:
    trace: list[tuple[str, int]] = []

    async def worker(name: str) -> None:
        for step in range(3):
            trace.append((name, step))
            await asyncio.sleep(0)

    await asyncio.gather(*(worker(f"w{i}") for i in range(6)))
    return trace


def test_without_a_seed_ready_callbacks_run_in_fifo_order_like_stock_asyncio() -> None:
    with asyncio.Runner() as runner:
        stock = runner.run(_round_robin())

    assert run(_round_robin()) == stock
    assert stock[:7] == [(f"w{i}", 0) for i in range(6)] + [("w0", 1)]


def test_different_seeds_run_the_timers_due_at_one_instant_in_different_orders() -> None:
    fifo = run(_interleaving())
    seeded = {tuple(run(_interleaving(), seed=seed)) for seed in range(5)}

    assert tuple(fifo) not in seeded
    assert len(seeded) > 1
    assert all(sorted(trace) == sorted(fifo) for trace in seeded)


def test_a_seed_never_reorders_ready_callbacks_only_timers_due_together() -> None:
    # asyncio promises FIFO order for call_soon callbacks, and the order of timers due at
    # different instants: a seeded loop keeps both and may only permute timers due together.
    with asyncio.Runner() as runner:
        stock = runner.run(_round_robin())

    async def staggered() -> list[int]:
        done: list[int] = []

        async def wake(i: int) -> None:
            await asyncio.sleep(0.1 * (5 - i))
            done.append(i)

        await asyncio.gather(*(wake(i) for i in range(5)))
        return done

    for seed in range(20):
        assert run(_round_robin(), seed=seed) == stock
        assert run(staggered(), seed=seed) == [4, 3, 2, 1, 0]


# --- construction and runners --------------------------------------------------------------


def test_the_loop_works_as_an_asyncio_runner_loop_factory_and_keeps_its_seed() -> None:
    with asyncio.Runner(loop_factory=lambda: new_virtual_loop(seed=7)) as runner:
        runner.run(asyncio.sleep(60))
        loop = runner.get_loop()
        assert isinstance(loop, VirtualClockLoop)
        assert (loop.time(), loop.seed) == (60.0, 7)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"seed": "7"}, TypeError, "seed='7' must be an int, or None"),
        ({"blocking_threshold": 0}, ValueError, "blocking_threshold=0 must be a number of wall"),
        ({"max_real_seconds": -1}, ValueError, "max_real_seconds=-1 must be a number of wall"),
        (
            {"blocking_threshold": None, "raise_on_blocking": True},
            ValueError,
            "raise_on_blocking=True needs blocking_threshold",
        ),
    ],
)
def test_bad_options_are_rejected_when_the_loop_is_built(
    options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        VirtualClockLoop(**options)  # type: ignore[arg-type]


def test_run_with_bad_options_closes_the_coroutine_instead_of_leaking_it() -> None:
    coro = asyncio.sleep(1)

    with pytest.raises(ValueError, match="blocking_threshold"):
        run(coro, blocking_threshold=-1)

    assert coro.cr_frame is None  # closed: no "was never awaited" warning follows

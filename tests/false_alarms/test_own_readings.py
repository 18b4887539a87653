"""Sanity tests: each false-alarm queue meets the contract and does what its docstring says
on the points oas37a leaves open.  Plain asyncio, real time in milliseconds only."""
import asyncio
import inspect

import pytest

from tests.false_alarms import back_of_line_queue as bol
from tests.false_alarms import cancelling_stop_queue as cs
from tests.false_alarms import lazy_queue as lazy
from tests.false_alarms import polling_queue as poll

ALL = [lazy, cs, poll, bol]
pytestmark = pytest.mark.asyncio


async def settle(n=20):
    for _ in range(n):
        await asyncio.sleep(0)


async def call(fn, *a):
    r = fn(*a)
    return await r if inspect.isawaitable(r) else r


def status(mod, name):
    return mod.TaskStatus[name]


class Flaky:
    """Fails `fails` times, then returns its name; records every attempt start."""
    def __init__(self, log, name, fails=0, work=0.0):
        self.log, self.name, self.fails, self.work = log, name, fails, work

    async def __call__(self):
        self.log.append(self.name)
        if self.work:
            await asyncio.sleep(self.work)
        if self.fails:
            self.fails -= 1
            raise ValueError(f"{self.name} failed")
        return self.name


class Blocker:
    """Runs until cancelled (or until `gate` is set); records that it saw CancelledError."""
    def __init__(self):
        self.gate, self.started, self.unwound = asyncio.Event(), False, False

    async def __call__(self):
        self.started = True
        try:
            await self.gate.wait()
            return "done"
        except asyncio.CancelledError:
            self.unwound = True
            raise


# ---------------------------------------------------------------- the contract, every queue
@pytest.mark.parametrize("mod", ALL, ids=lambda m: m.__name__.rsplit(".", 1)[1])
async def test_contract_basics(mod):
    with pytest.raises(ValueError):
        mod.AsyncTaskQueue(num_workers=0)
    log = []
    q = mod.AsyncTaskQueue(num_workers=1, base_delay=0.002, max_delay=0.003)
    names = ["p1", "p5a", "p3", "p5b", "p2"]
    ids = [await q.submit(Flaky(log, n), priority=int(n[1]), task_id=n) for n in names]
    with pytest.raises(ValueError):
        await q.submit(Flaky(log, "dup"), task_id="p1")
    await q.start()
    for i in ids:
        assert (await q.get_result(i)).result == i
    assert log == ["p5a", "p5b", "p3", "p2", "p1"]              # rule 1
    loop = asyncio.get_running_loop()
    stamps = []

    async def doomed():
        stamps.append(loop.time())
        raise KeyError("boom")
    tid = await q.submit(doomed, max_retries=3)
    r = await q.get_result(tid)
    assert not r.success and r.retry_count == 3 and len(stamps) == 4   # rule 3
    assert "boom" in str(r.error)
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    for gap, want in zip(gaps, [0.002, 0.003, 0.003]):               # min(base*2**k, max)
        assert want - 1e-6 <= gap < want + 0.05
    s = await call(q.get_stats)
    assert s["failed"] == 1 and s["completed"] == 5 and s["retried"] == 3
    assert sum(s[k] for k in ("pending", "running", "completed", "failed", "cancelled")) == 6
    assert await q.cancel_task(tid) is False and await q.cancel_task("nope") is False
    await q.stop()
    assert (await call(q.get_stats))["workers"] == 0
    with pytest.raises(RuntimeError):
        await q.submit(Flaky(log, "late"))


async def retry_order(mod):
    """One worker: A fails once (backoff 1 ms) while B works 10 ms; C was queued before A's
    retry fell due.  Original sequence: A, B, A, C.  Behind the waiting: A, B, C, A."""
    log = []
    q = mod.AsyncTaskQueue(num_workers=1, base_delay=0.001)
    for n, kw in (("A", {"fails": 1}), ("B", {"work": 0.01}), ("C", {})):
        await q.submit(Flaky(log, n, **kw), task_id=n)
    await q.start()
    for n in "ABC":
        await q.get_result(n)
    await q.stop()
    return log


async def retry_counted_when(mod):
    """(retried, retry_count) seen during a 50 ms backoff, and retry_count after a cancel."""
    q = mod.AsyncTaskQueue(num_workers=1, base_delay=0.05)
    tid = await q.submit(Flaky([], "X", fails=5), max_retries=2)
    await q.start()
    await settle()
    assert await call(q.get_task_status, tid) == status(mod, "PENDING")
    retried = (await call(q.get_stats))["retried"]
    assert await q.cancel_task(tid) is True
    r = await q.get_result(tid)
    await q.stop()
    return retried, r.retry_count


async def cancel_running_returns(mod):
    q = mod.AsyncTaskQueue(num_workers=1)
    b = Blocker()
    tid = await q.submit(b)
    await q.start()
    await settle()
    assert b.started
    assert await q.cancel_task(tid) is True
    seen = b.unwound
    assert await call(q.get_task_status, tid) == status(mod, "CANCELLED")
    await settle()
    assert b.unwound                      # judged after letting the loop run: always true
    log = []
    await q.submit(Flaky(log, "next"), task_id="next")
    assert (await q.get_result("next")).success  # workers carry on
    await q.stop()
    return seen


async def stop_wait_false(mod):
    q = mod.AsyncTaskQueue(num_workers=1)
    b = Blocker()
    run = await q.submit(b)
    queued = await q.submit(Flaky([], "Q"))
    await q.start()
    await settle()
    await q.stop(wait=False)
    seen = b.unwound
    assert await call(q.get_task_status, queued) == status(mod, "CANCELLED")
    await settle()
    assert b.unwound and await call(q.get_task_status, run) == status(mod, "CANCELLED")
    return seen


async def stop_wait_true(mod):
    """1 worker, a 20 ms handler running and one queued: their statuses after stop()."""
    q = mod.AsyncTaskQueue(num_workers=1)
    log = []
    run = await q.submit(Flaky(log, "R", work=0.02))
    queued = await q.submit(Flaky(log, "Q"))
    await q.start()
    await settle()
    await q.stop(wait=True)
    s = await call(q.get_stats)
    assert s["workers"] == 0 and s["pending"] == s["running"] == 0
    return (await call(q.get_task_status, run)).value, (await call(q.get_task_status, queued)).value


async def restart(mod):
    q = mod.AsyncTaskQueue(num_workers=1)
    await q.start()
    await q.stop()
    try:
        await q.start()
    except RuntimeError:
        return False
    tid = await q.submit(Flaky([], "again"))
    assert (await q.get_result(tid)).result == "again"
    await q.stop()
    return True


async def expiry(mod):
    """ttl 30 ms: is the result still held 50 ms later, before anyone reads it?"""
    q = mod.AsyncTaskQueue(num_workers=1, result_ttl=0.03)
    await q.start()
    tid = await q.submit(Flaky([], "E"))
    assert (await q.get_result(tid)).result == "E"
    await asyncio.sleep(0.05)
    held = tid in q._results
    try:
        expired = await q.get_result(tid)
    except KeyError:
        expired = KeyError
    assert tid not in q._results
    await q.stop()
    return held, expired


async def evicted(mod):
    q = mod.AsyncTaskQueue(num_workers=1, result_cache_size=1)
    await q.start()
    a = await q.submit(Flaky([], "a"))
    await q.get_result(a)
    b = await q.submit(Flaky([], "b"))
    await q.get_result(b)
    await q.stop()
    try:
        return await q.get_result(a)
    except KeyError:
        return KeyError


async def full_queue(mod):
    """max_queue_size=1, one worker busy: does one more queued task fit?"""
    q = mod.AsyncTaskQueue(num_workers=1, max_queue_size=1)
    b = Blocker()
    await q.submit(b)
    await q.start()
    await settle()
    try:
        await q.submit(Flaky([], "second"))
        outcome = None
    except Exception as exc:  # noqa: BLE001 - which exception is the point
        outcome = exc
    await q.stop(wait=False)
    return outcome


# ---------------------------------------------------------------- each queue's readings
async def test_lazy_readings():
    assert await retry_order(lazy) == ["A", "B", "A", "C"]
    assert await retry_counted_when(lazy) == (1, 1)
    assert await cancel_running_returns(lazy) is True
    assert await stop_wait_false(lazy) is True
    assert await stop_wait_true(lazy) == ("completed", "completed")
    assert await restart(lazy) is True
    assert await expiry(lazy) == (True, None)
    assert await evicted(lazy) is None
    assert await full_queue(lazy) is None            # the running task does not count
    q = lazy.AsyncTaskQueue(num_workers=1, max_queue_size=1)
    await q.submit(Flaky([], "x"))
    with pytest.raises(asyncio.QueueFull):           # queued only, not started
        await q.submit(Flaky([], "y"))
    await q.stop()                                   # never started: CANCELLED
    assert q.get_stats()["cancelled"] == 1


async def test_cancelling_stop_readings():
    assert await retry_order(cs) == ["A", "B", "A", "C"]
    assert await retry_counted_when(cs) == (0, 0)
    assert await cancel_running_returns(cs) is False
    assert await stop_wait_false(cs) is False
    assert await stop_wait_true(cs) == ("cancelled", "cancelled")
    assert await restart(cs) is False
    assert await expiry(cs) == (False, KeyError)
    assert await evicted(cs) is KeyError
    assert type(await full_queue(cs)) is RuntimeError
    assert inspect.iscoroutinefunction(cs.AsyncTaskQueue.get_task_status)


async def test_polling_readings():
    assert await retry_order(poll) == ["A", "B", "C", "A"]
    assert await retry_counted_when(poll) == (0, 0)
    assert await cancel_running_returns(poll) is True
    assert await stop_wait_false(poll) is False
    assert await stop_wait_true(poll) == ("completed", "completed")
    assert await restart(poll) is False
    assert await expiry(poll) == (True, KeyError)
    assert await evicted(poll) is KeyError
    full = await full_queue(poll)
    assert isinstance(full, asyncio.QueueFull) and type(full) is not asyncio.QueueFull
    assert inspect.iscoroutinefunction(poll.AsyncTaskQueue.get_stats)
    # get_result polls every 10 ms: a 1 ms task is seen about 10 ms after it was awaited
    q = poll.AsyncTaskQueue(num_workers=1)
    await q.start()
    loop = asyncio.get_running_loop()
    tid = await q.submit(Flaky([], "p", work=0.001))
    t0 = loop.time()
    assert (await q.get_result(tid)).result == "p"
    assert loop.time() - t0 >= poll.POLL_INTERVAL - 1e-3
    b = Blocker()
    slow = await q.submit(b)
    with pytest.raises(asyncio.TimeoutError):
        await q.get_result(slow, timeout=0.015)
    b.gate.set()
    assert (await q.get_result(slow)).result == "done"
    await q.stop()


async def test_back_of_line_readings():
    assert await retry_order(bol) == ["A", "B", "C", "A"]
    assert await retry_counted_when(bol) == (1, 1)
    assert await cancel_running_returns(bol) is False
    assert await stop_wait_false(bol) is True
    assert await stop_wait_true(bol) == ("completed", "cancelled")
    assert await restart(bol) is True
    assert await expiry(bol) == (False, None)
    assert await evicted(bol) is None
    assert await full_queue(bol) is None             # the running task does not count
    q = bol.AsyncTaskQueue(num_workers=1, max_queue_size=1)
    await q.submit(Flaky([], "x"))
    with pytest.raises(RuntimeError):
        await q.submit(Flaky([], "y"))
    await q.stop()
    # the error is recorded as a string
    q = bol.AsyncTaskQueue(num_workers=1)
    await q.start()
    tid = await q.submit(Flaky([], "s", fails=1), max_retries=0)
    assert (await q.get_result(tid)).error == "ValueError: s failed"
    await q.stop()


async def test_back_of_line_same_instant_retries_last_scheduled_first():
    """Two retries due at the same loop instant re-enter last-scheduled first.  The loop clock
    is frozen while both first attempts fail, so both backoffs end at the same instant."""
    log = []
    q = bol.AsyncTaskQueue(num_workers=1, base_delay=0.002)
    for n in "AB":
        await q.submit(Flaky(log, n, fails=1), task_id=n)
    loop = asyncio.get_running_loop()
    frozen = loop.time()
    loop.time = lambda: frozen
    try:
        await q.start()
        await settle()
        assert log == ["A", "B"] and len(q._backoffs) == 2
        assert q._backoffs[0][0] == q._backoffs[1][0]
    finally:
        del loop.time
    for n in "AB":
        await q.get_result(n)
    assert log == ["A", "B", "B", "A"]
    await q.stop()

"""asyncio-pool 0.6.0: pool.cancel(fut) right after spawn_n() never resolves the future,
and the pool never empties (join() hangs).

spawn_n() wraps the coroutine in a task running _spawn(); cancelling that task before its
first step means _spawn's try/finally never runs: the future is never resolved and stays in
pool._waiting, so len(pool) stays 1 and join() waits forever."""
import asyncio
from asyncio_pool import AioPool

async def work():
    await asyncio.sleep(0.1)
    return "done"

async def main():
    pool = AioPool(size=2)
    fut = pool.spawn_n(work())
    cancelled, _ = await pool.cancel(fut)          # cancel at once, as any caller may
    print("cancel() count:", cancelled, "| future done:", fut.done(), "| len(pool):", len(pool))
    try:
        await asyncio.wait_for(asyncio.shield(fut), 2.0)
    except asyncio.TimeoutError:
        print("future still unresolved after 2 s")
    try:
        await asyncio.wait_for(pool.join(), 2.0)
        print("join() returned")
    except asyncio.TimeoutError:
        print("join() still waiting after 2 s; len(pool) =", len(pool))

asyncio.run(main())

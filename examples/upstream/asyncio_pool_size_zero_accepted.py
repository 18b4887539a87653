"""asyncio-pool 0.6.0: AioPool(size=0) is accepted; a coroutine spawned on it never runs.
(size=-1 does raise ValueError, from asyncio.Semaphore.)"""
import asyncio
from asyncio_pool import AioPool

async def work():
    return 1

async def main():
    pool = AioPool(size=0)          # no ValueError
    fut = pool.spawn_n(work())
    try:
        print("result:", await asyncio.wait_for(asyncio.shield(fut), 1.0))
    except asyncio.TimeoutError:
        print("size=0 accepted; the coroutine has not started after 1 s; len(pool) =", len(pool))
    await pool.cancel()

asyncio.run(main())

"""asyncio-pool 0.6.0: cancelling a coroutine whose slot was just acquired (its _wrap task
created, not yet started) leaks the slot: the semaphore is never released, the future never
resolved, and the pool runs one coroutine fewer at a time from then on."""
import asyncio
from asyncio_pool import AioPool

async def work(name):
    print("start", name)
    await asyncio.sleep(0.1)
    return name

async def main():
    pool = AioPool(size=1)
    fut = pool.spawn_n(work("victim"))
    await asyncio.sleep(0)   # _spawn acquires the slot and creates the _wrap task, not yet run
    print("victim in pool._active:", fut in pool._active)
    await pool.cancel(fut)
    print("victim future done:", fut.done(), "| n_active:", pool.n_active)
    later = pool.spawn_n(work("later"))
    try:
        print("later:", await asyncio.wait_for(asyncio.shield(later), 2.0))
    except asyncio.TimeoutError:
        print("a coroutine spawned afterwards on the size=1 pool never started in 2 s")

asyncio.run(main())

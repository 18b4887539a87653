"""aiojobs 1.4.0: closing a *pending* job lets the scheduler run more than `limit` jobs at once."""
import asyncio
import aiojobs

running, peak = 0, 0

async def work(name, seconds):
    global running, peak
    running += 1
    peak = max(peak, running)
    print(f"start {name} (running now: {running})")
    try:
        await asyncio.sleep(seconds)
    finally:
        running -= 1

async def main():
    scheduler = aiojobs.Scheduler(limit=1)
    a = await scheduler.spawn(work("A", 1.0))   # runs
    b = await scheduler.spawn(work("B", 0.1))   # pending
    c = await scheduler.spawn(work("C", 0.1))   # pending
    await asyncio.sleep(0.01)
    await b.close()                             # cancel the pending job B
    await asyncio.sleep(0.05)
    print(f"limit=1, most jobs running at once: {peak}; "
          f"A active={a.active}, C active={c.active}")
    await scheduler.close()

asyncio.run(main())

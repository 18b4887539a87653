"""aiojobs 1.4.0: Scheduler(limit=0) / limit=-1 are accepted; a job spawned there never runs
(and nothing says why)."""
import asyncio
import aiojobs

async def work():
    print("work ran")

async def main():
    for limit in (0, -1):
        scheduler = aiojobs.Scheduler(limit=limit)   # no ValueError
        job = await scheduler.spawn(work())
        await asyncio.sleep(1.0)
        print(f"limit={limit}: accepted; 1 s after spawn: pending={job.pending}, "
              f"pending_count={scheduler.pending_count}")
        await scheduler.close()

asyncio.run(main())

"""aiohttp + gather: one ClientSession, asyncio.gather over every URL,
a Semaphore(P) (the connector's own limit set to P as well).

Usage: aiohttp_gather.py URL N P. Prints one JSON line: seconds (wall
time of the gather), cpu_seconds (this process), ok (bodies read).
"""
import asyncio
import json
import sys
import time

import aiohttp


async def fetch(session, url, sem):
    async with sem:
        async with session.get(url) as resp:
            return len(await resp.read())


async def main(url, n, p):
    sem = asyncio.Semaphore(p)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=p), timeout=timeout) as session:
        start, cpu = time.perf_counter(), time.process_time()
        results = await asyncio.gather(*(fetch(session, url, sem) for _ in range(n)), return_exceptions=True)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    ok = sum(1 for r in results if not isinstance(r, BaseException))
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "ok": ok}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))

"""The seed's pattern: asyncio.gather over every URL, a Semaphore(P), and
each request made by urllib in asyncio.to_thread (the default executor).

Usage: seed.py URL N P. Prints one JSON line: seconds (wall time of the
gather), cpu_seconds (this process, all threads), ok (bodies read).
"""
import asyncio
import json
import sys
import time
import urllib.request


def get(url):
    with urllib.request.urlopen(url, timeout=30) as resp:
        return len(resp.read())


async def fetch(url, sem):
    async with sem:
        return await asyncio.to_thread(get, url)


async def main(url, n, p):
    sem = asyncio.Semaphore(p)
    start, cpu = time.perf_counter(), time.process_time()
    results = await asyncio.gather(*(fetch(url, sem) for _ in range(n)), return_exceptions=True)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    ok = sum(1 for r in results if not isinstance(r, BaseException))
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "ok": ok}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))

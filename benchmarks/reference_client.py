"""The benchmark's reference: a minimal aiohttp client posting request bodies with N workers.

python benchmarks/reference_client.py URL requests.jsonl CONCURRENCY -> prints seconds taken.
"""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp


async def main(url: str, path: str, concurrency: int) -> None:
    with open(path, "rb") as stream:
        bodies = stream.read().splitlines()
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"Authorization": "bench", "Content-Type": "application/json"}
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def work() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()

        await asyncio.gather(*(work() for _ in range(concurrency)))
    print(f"{time.perf_counter() - started:.3f}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))

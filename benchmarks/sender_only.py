"""Diagnostic for the benchmark: invoca-upload's Sender alone posting prepared bodies.

python benchmarks/sender_only.py URL requests.jsonl CONCURRENCY -> prints seconds taken. No file
reading, validation, journal or results: how the client itself compares with the minimal one.
"""

from __future__ import annotations

import asyncio
import sys
import time

from uploader.check.mapping import CallRequest
from uploader.send.client import Pending, Sender, send_all
from uploader.send.pacing import Pace

BATCH = 5000


async def main(url: str, path: str, concurrency: int) -> None:
    with open(path, "rb") as stream:
        bodies = stream.read().splitlines()
    requests = [CallRequest(row, str(row), body, "") for row, body in enumerate(bodies)]
    started = time.perf_counter()
    async with Sender(
        url, "bench", Pace(rate=0, concurrency=concurrency), queue_size=BATCH
    ) as sender:
        for start in range(0, len(requests), BATCH):
            await send_all(
                sender, [Pending(r, sent_before=False) for r in requests[start : start + BATCH]]
            )
    print(f"{time.perf_counter() - started:.3f}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))

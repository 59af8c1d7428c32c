"""An instant API peer for the benchmark: answers every POST with 201 and records when it came.

python benchmarks/peer.py  -> prints its base URL; GET /stats gives the request times;
DELETE clears.
"""

from __future__ import annotations

import asyncio
import sys
import time

from aiohttp import web

TIMES: list[float] = []


async def created(request: web.Request) -> web.Response:
    await request.read()
    TIMES.append(time.time())
    return web.json_response({"cuid": f"C{len(TIMES)}"}, status=201)


async def stats(request: web.Request) -> web.Response:
    return web.json_response({"count": len(TIMES), "times": TIMES})


async def clear(request: web.Request) -> web.Response:
    TIMES.clear()
    return web.json_response({})


async def main() -> None:
    app = web.Application()
    app.router.add_post("/api/2022-03-01/calls.json", created)
    app.router.add_get("/stats", stats)
    app.router.add_delete("/stats", clear)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    print(f"http://{host}:{port}", flush=True)
    await asyncio.sleep(3600)  # the benchmark stops it; an hour is the bound


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)

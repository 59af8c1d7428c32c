"""Run the sandbox in a background thread: for the demo, the tests and the benchmark."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from uploader.sandbox.config import SandboxConfig
from uploader.sandbox.server import serve

# Straight to the sandbox on loopback, whatever HTTP_PROXY says (no proxy can reach it).
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class RunningSandbox:
    def __init__(self, url: str, loop: asyncio.AbstractEventLoop, task: asyncio.Future) -> None:
        self.url = url
        self._loop = loop
        self._task = task

    def _get(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(self.url + path, method=method)  # noqa: S310 - our loopback URL
        with DIRECT.open(request, timeout=10) as response:
            return json.loads(response.read())

    def calls(self) -> list[dict[str, Any]]:
        return self._get("/_sandbox/calls")

    def stats(self) -> dict[str, Any]:
        return self._get("/_sandbox/stats")

    def requests(self) -> list[dict[str, Any]]:
        """Every request as it arrived: method, headers, body, id and the answer's status."""
        return self._get("/_sandbox/requests")

    def clear(self) -> None:
        self._get("/_sandbox/calls", method="DELETE")

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)


@contextmanager
def running_sandbox(
    config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> Iterator[RunningSandbox]:
    """Start the sandbox on a free loopback port; stop it on exit."""
    config = config or SandboxConfig()
    ready = threading.Event()
    box: dict[str, Any] = {}

    def announce(url: str) -> None:
        box["url"] = url
        ready.set()

    def run() -> None:
        loop = asyncio.new_event_loop()
        box["loop"] = loop
        task = loop.create_task(serve(config, host, port, announce))
        box["task"] = task
        try:
            loop.run_until_complete(task)
        except (asyncio.CancelledError, Exception) as error:  # noqa: BLE001
            box["error"] = error
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="invoca-sandbox", daemon=True)
    thread.start()
    if not ready.wait(10) or "url" not in box:
        raise RuntimeError(f"the sandbox did not start: {box.get('error')}")
    sandbox = RunningSandbox(box["url"], box["loop"], box["task"])
    try:
        yield sandbox
    finally:
        sandbox.stop()
        thread.join(10)

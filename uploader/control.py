"""A run watched and stopped from another thread: what the web page holds for the upload it
started. `stop()` has the effect of a first Ctrl-C: no new rows are taken, the requests in flight
finish, every row gets its line in the results file, and the summary says interrupted (exit 4)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uploader.progress import Progress


class RunControl:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._interrupt: Callable[[], None] | None = None
        self.stop_requested = False
        self.started = time.monotonic()
        self.total: int | None = None
        self.done = 0
        self.delivered = 0
        self.failed = 0

    def update(self, progress: Progress) -> None:
        """The run's progress, as its Progress reports it (on the run's thread)."""
        self.total, self.done = progress.total, progress.done
        self.delivered, self.failed = progress.delivered, progress.failed

    def attach(self, interrupt: Callable[[], None]) -> None:
        """Called by the run on its event loop once it can be stopped."""
        with self._lock:
            self._loop, self._interrupt = asyncio.get_running_loop(), interrupt
            if self.stop_requested:
                self._loop.call_soon(interrupt)

    def detach(self) -> None:
        with self._lock:
            self._loop = self._interrupt = None

    def stop(self) -> None:
        """Stop taking rows (from any thread); a run not yet started stops as soon as it can."""
        with self._lock:
            if self.stop_requested:
                return
            self.stop_requested = True
            if self._loop is not None and self._interrupt is not None:
                self._loop.call_soon_threadsafe(self._interrupt)

    def snapshot(self) -> dict:
        return {
            "total": self.total,
            "done": self.done,
            "delivered": self.delivered,
            "failed": self.failed,
            "elapsed": round(time.monotonic() - self.started, 3),
            "stopping": self.stop_requested,
        }

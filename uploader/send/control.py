"""How a run is stopped from outside it: `Interrupts` (Ctrl-C, SIGTERM) and `RunControl`, what the
web page holds for the upload it started. A RunControl's `stop()` has the effect of a first Ctrl-C:
no new rows are taken, the requests in flight finish, every row gets its line in the results file,
and the summary says interrupted (exit 4)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("uploader")


class Counts(Protocol):
    """A run's counts so far (the report stage's `Progress`)."""

    total: int | None
    done: int
    delivered: int
    failed: int


class RunControl:
    """A run watched and stopped from another thread."""

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

    def update(self, progress: Counts) -> None:
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


class Interrupts:
    """How a run is stopped from outside: SIGINT/SIGTERM when the command line asks for them, and
    a RunControl's stop(). The first stops taking rows and lets the requests in flight finish
    (`drain_seconds` at most), the second stops at once; `count` says how many came."""

    def __init__(self, drain_seconds: float) -> None:
        self.drain_seconds = drain_seconds
        self.count = 0

    def interrupter(self, sink, again: str = "") -> Callable[[], None]:  # type: ignore[no-untyped-def]
        """The stop for this run's sink, to call on its event loop; `again` tells the person how
        to stop at once (Ctrl-C for a terminal; nothing for a page that says it itself)."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()

        def interrupt() -> None:
            self.count += 1
            if self.count == 1 and hasattr(sink, "stop"):
                log.warning(
                    "stopping: finishing the requests in flight%s", f" ({again})" if again else ""
                )
                sink.stop("interrupted")
                loop.call_later(self.drain_seconds, lambda: task.cancel() if task else None)
            elif task is not None:
                task.cancel()

        return interrupt

    def install_signals(self, interrupt: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        # Outside the main thread (a notebook, a worker) Python's default handling applies.
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, interrupt)

    def remove_signals(self) -> None:
        """Hand over to plain handlers that only count, while the files are written and closed."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signum)
                signal.signal(signum, self._late)

    def _late(self, signum: int, frame: object) -> None:
        self.count += 1

"""Progress on stderr: a tqdm bar on a terminal, otherwise a log line about every 10 seconds."""

from __future__ import annotations

import logging
import sys
import time
from collections import deque
from collections.abc import Callable

from tqdm import tqdm

from uploader.outcome import DELIVERED, ERRORS, RowOutcome

log = logging.getLogger("uploader")
LOG_EVERY = 10.0


class Progress:
    """Rows done of the total, delivered and failed: shown on stderr when `enabled`, and given to
    `listener` (the web page's run) after every change."""

    def __init__(
        self,
        total: int | None,
        *,
        enabled: bool = True,
        what: str = "rows",
        stream=None,
        listener: Callable[[Progress], None] | None = None,
    ) -> None:
        self.listener = listener
        self.stream = stream or sys.stderr
        self.total = total
        self.what = what
        self.done = 0
        self.delivered = 0
        self.failed = 0
        self.enabled = enabled
        self.started = time.monotonic()
        self.last_line = self.started
        self._marks: deque[tuple[float, int]] = deque([(self.started, 0)], maxlen=7)
        self.bar = None
        if enabled and self.stream.isatty():
            self.bar = tqdm(
                total=total, unit=" rows", file=self.stream, dynamic_ncols=True, smoothing=0.1
            )

    def outcome(self, outcome: RowOutcome) -> None:
        if outcome.status in DELIVERED:
            self.delivered += 1
        elif outcome.status in ERRORS:
            self.failed += 1
        self.advance(1)

    def advance(self, rows: int) -> None:
        if rows <= 0:
            return
        self.done += rows
        if self.listener is not None:
            self.listener(self)
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(rows)
            self.bar.set_postfix(delivered=self.delivered, failed=self.failed, refresh=False)
            return
        now = time.monotonic()
        if now - self.last_line >= LOG_EVERY:
            self.last_line = now
            log.info(self.line(now))

    def line(self, now: float) -> str:
        """Rows done and the current rate (over the last minute or so, not since the start: after a
        slow minute the ETA follows), with the ETA it gives."""
        since, done_then = self._marks[0]
        rate = (self.done - done_then) / max(now - since, 1e-9)
        self._marks.append((now, self.done))
        total = f"/{self.total:,}" if self.total else ""
        eta = ""
        if self.total and rate > 0 and self.total > self.done:
            left = int((self.total - self.done) / rate)
            eta = f", ETA {left // 60}m{left % 60:02d}s"
        return (
            f"{self.done:,}{total} {self.what}, {rate:,.1f} rows/s, {self.delivered:,} delivered, "
            f"{self.failed:,} failed{eta}"
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

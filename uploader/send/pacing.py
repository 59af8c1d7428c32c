"""How fast to send: `Pace` (the options) and the one `Pacer` every worker shares, which keeps the
rate asked, slows on a 429 or a run of failures and probes back up, and reads `Retry-After`."""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER = 120.0


MIN_RATE = 1.0


CEILING_SHARE = 0.97  # of the API's limit as estimated at a 429


PROBE = 0.25  # requests/s per second by which the ceiling under a 429 limit rises


UNLIMITED_AGAIN = 2000.0


@dataclass(frozen=True)
class Pace:
    rate: float = 10.0
    concurrency: int = 8
    max_retries: int = 6
    timeout: float = 60.0
    backoff: float = 0.5
    max_backoff: float = 30.0


class Pacer:
    """Spaces requests evenly at `rate` per second (no bursts); 0 means unlimited.

    The whole run slows down only on evidence that the server is overloaded; an isolated 500 or
    503 costs only its own request's retry. Two kinds of evidence, AIMD-fashion:
    - a 429, the API's rate limit: its Retry-After holds back every worker, and the rate is set
      just under the limit, estimated between what the API accepted over the last second and the
      rate that met the 429 (at most once a second). The ceiling then probes upwards slowly
      (PROBE), so a low estimate or a raised limit is found without a 429 every few seconds.
    - a failure share above OVERLOAD_SHARE of the last RECENT answers (an outage, a server in
      trouble): the rate is cut by 30%, and successes win it back quickly (0.5 request/s each).
    `--rate` is a cap that nothing exceeds.
    """

    # Measured with the sandbox: at 2% random 503s the failure share of the last 50 answers stays
    # below 10% (1 expected, P(13 or more) < 1e-9), and at 10% (a sick server) it passes 25% about
    # once in 500 windows; when the server is down or shedding load, most answers fail and the
    # share passes 25% within a dozen answers.
    RECENT = 50
    OVERLOAD_SHARE = 0.25

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self._cap = rate or float("inf")  # --rate: never exceeded, never probed past
        self.ceiling = self._cap
        self._limited = False  # the API has said 429: the ceiling is its limit, probed slowly
        self._clock = clock
        self._next = 0.0
        self._last_slow_down = -1e9
        self._starts: deque[float] = deque(maxlen=4096)
        self._recent: deque[bool] = deque(maxlen=self.RECENT)  # True: the answer was a failure
        self._successes: deque[float] = deque(maxlen=4096)

    def reserve(self) -> float:
        """Book the next slot; the seconds the caller waits for it (0 on the hot path: no await)."""
        now = self._clock()
        slot = max(now, self._next)
        self._next = slot + (1.0 / self.rate if self.rate else 0.0)
        self._starts.append(slot)
        return slot - now

    def measured_rate(self) -> float:
        now = self._clock()
        return float(sum(1 for start in self._starts if now - 1.0 < start <= now))

    def slow_down(self, retry_after: float | None, *, rate_limited: bool = True) -> None:
        now = self._clock()
        if retry_after:
            self._next = max(self._next, now + retry_after)
        if now - self._last_slow_down < 1.0:
            return
        self._last_slow_down = now
        current = self.rate or max(self.measured_rate(), 1.0)
        if rate_limited:
            # The API's limit lies between what it accepted over the last second and the rate
            # that met the 429: aim just under the middle, then probe upwards slowly (succeeded).
            limit = (min(self.accepted(), current) + current) / 2
            self.ceiling = min(max(limit * CEILING_SHARE, MIN_RATE), self._cap)
            self._limited = True
            self.rate = self.ceiling
        else:
            self.rate = max(current * 0.7, MIN_RATE)

    def accepted(self) -> float:
        """Successes over the last second: the API's limit, once it refuses the rest."""
        now = self._clock()
        return float(sum(1 for done in self._successes if now - 1.0 < done <= now))

    def answered(self, *, failed: bool) -> None:
        """Count an answer (or a failed connection); slow down together when too many fail."""
        self._recent.append(failed)
        if failed and len(self._recent) >= self.RECENT // 2:
            if sum(self._recent) / len(self._recent) > self.OVERLOAD_SHARE:
                self.slow_down(None, rate_limited=False)
        elif not failed:
            self._successes.append(self._clock())
            self.succeeded()

    def succeeded(self) -> None:
        """Additive increase. After an overload, 0.5 request/s per success, until unlimited
        again. Under a limit the API set (a 429), back up to the ceiling at 2 requests/s per
        second, and the ceiling itself probes upwards at PROBE requests/s per second, so that a
        low first estimate or a raised limit is found without a 429 every few seconds."""
        if not self.rate:
            return
        if not self._limited:  # after an overload: back quickly, to --rate or unlimited
            self.rate = min(self.ceiling, self.rate + 0.5)
            if self.rate > UNLIMITED_AGAIN and self.ceiling == float("inf"):
                self.rate = 0.0
            return
        if self.rate >= self.ceiling and self.ceiling < self._cap:
            self.ceiling = min(self._cap, self.ceiling + PROBE / self.rate)
        self.rate = min(self.ceiling, self.rate + 2.0 / self.rate)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]{1,9}", value):  # ASCII digits only: "²" and "١" are digits to str
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return min(max(when - (now if now is not None else time.time()), 0.0), MAX_RETRY_AFTER)

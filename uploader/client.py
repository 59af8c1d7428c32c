"""Posting calls: one aiohttp session, exactly `concurrency` workers fed by a bounded queue, one shared
pacer, retries for what can succeed later, and every answer turned into a row outcome.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import SimpleNamespace
from typing import Any

import aiohttp
import orjson
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential
from yarl import URL

from uploader.errors import RunStopped, TransportError
from uploader.mapping import CallRequest
from uploader.outcome import (
    ALREADY_RECEIVED,
    CONFLICT,
    CREATED,
    ERRORS,
    FAILED,
    NOT_SENT,
    REJECTED,
    RowOutcome,
)

MAX_RESPONSE = 64 * 1024
MAX_RETRY_AFTER = 120.0
MIN_RATE = 1.0
UNLIMITED_AGAIN = 2000.0
IDENTICAL_REJECTIONS = 20
Sleep = Callable[[float], Awaitable[None]]


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

    Told to slow down (429/503), it cuts the current rate by 30% (at most once a second) and a
    Retry-After holds back every worker, not only the one that was told. A 429 also lowers the
    ceiling for the rest of the run; successes win the rate back up to that ceiling, so random 503s
    cannot grind the run to a halt.
    """

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.ceiling = rate or float("inf")
        self._clock = clock
        self._next = 0.0
        self._last_slow_down = -1e9
        self._starts: deque[float] = deque(maxlen=4096)

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
            self.ceiling = min(self.ceiling, current * 0.9)
        self.rate = max(current * 0.7, MIN_RATE)

    def succeeded(self) -> None:
        if self.rate and self.rate < self.ceiling:
            self.rate = min(self.ceiling, self.rate + 0.5)
            if self.rate > UNLIMITED_AGAIN and self.ceiling == float("inf"):
                self.rate = 0.0


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return min(max(when - (now if now is not None else time.time()), 0.0), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class Answer:
    """What the API said, as far as an outcome is concerned."""

    status: str
    http_status: int
    cuid: str | None = None
    error: str = ""


def classify(http_status: int, body: Any, headers: dict[str, str], *, sent_before: bool) -> Answer:
    """Turn one HTTP answer into a row status; raise for answers that retry or stop the run."""
    errors = body.get("errors") if isinstance(body, dict) else None
    error_class = str(errors.get("class", "")) if isinstance(errors, dict) else ""
    detail = str(errors.get("invalid_data", "")) if isinstance(errors, dict) else ""
    message = f"{error_class}: {detail}".strip(": ")
    if http_status == 201:
        cuid = body.get("cuid") if isinstance(body, dict) else None
        return Answer(CREATED, 201, str(cuid) if cuid else None)
    if http_status == 202:
        return Answer(ALREADY_RECEIVED, 202, error="the API had already received this call")
    if http_status == 409:
        if sent_before:
            return Answer(
                ALREADY_RECEIVED, 409, error="delivered by an earlier attempt whose answer was lost"
            )
        return Answer(
            CONFLICT, 409, error="external_call_unique_id is already used by another call"
        )
    if http_status in (429, 503):
        retry_after = parse_retry_after(headers.get("Retry-After"))
        raise TransportError(
            f"HTTP {http_status}", http_status=http_status, retry_after=retry_after, slow_down=True
        )
    if http_status >= 500:
        raise TransportError(f"HTTP {http_status} {message}".strip(), http_status=http_status)
    if http_status == 401:
        raise RunStopped(
            "the API refused the token (401): check INVOCA_OAUTH_TOKEN or --token-file"
        )
    if http_status == 400:
        raise RunStopped(
            f"the API refused the API version (400) {message}: check --api-version".strip()
        )
    if http_status == 403 and error_class == "UnauthorizedOperation":
        raise RunStopped(f"the API refused the network (403 {message}): is call ingestion enabled?")
    if http_status in (403, 413):
        return Answer(REJECTED, http_status, error=message or f"HTTP {http_status}")
    if 300 <= http_status < 400:
        raise RunStopped(f"the API answered {http_status} (a redirect): check --base-url")
    raise RunStopped(
        f"the API answered {http_status} {message}: check --base-url and --api-version".strip()
    )


@dataclass
class _Tries:
    sent_before: bool
    attempts: int = 0


@dataclass
class Pending:
    """A request on its way, with what the journal knew of it beforehand."""

    request: CallRequest
    sent_before: bool


class Sender:
    """Sends batches of requests with a fixed pool of workers; use as an async context manager."""

    def __init__(
        self,
        endpoint: str,
        token: str,
        pace: Pace,
        *,
        ca_bundle: str | None = None,
        max_errors: int | None = None,
        on_outcome: Callable[[RowOutcome], None] = lambda outcome: None,
        sleep: Sleep = asyncio.sleep,
        queue_size: int = 0,
    ) -> None:
        self.endpoint = endpoint
        self._url = URL(endpoint)  # parsed once, not per request
        self.pace = pace
        self.pacer = Pacer(pace.rate)
        self.max_errors = max_errors
        self.on_outcome = on_outcome
        self.stop_reason: str | None = None
        self.stopped_by_api = False
        self._sleep = sleep
        self._backoff = wait_random_exponential(multiplier=pace.backoff, max=pace.max_backoff)
        self._headers = {"Authorization": token, "Content-Type": "application/json"}
        self._ssl = (
            ssl.create_default_context(cafile=ca_bundle) if endpoint.startswith("https") else None
        )
        self._queue: asyncio.Queue[Pending] = asyncio.Queue(
            maxsize=max(pace.concurrency * 2, queue_size)
        )
        self._outcomes: dict[int, RowOutcome] = {}
        self._workers: list[asyncio.Task] = []
        self._session: aiohttp.ClientSession | None = None
        self._errors = 0
        self._streak: tuple[str, int] = ("", 0)

    async def __aenter__(self) -> Sender:
        connector = aiohttp.TCPConnector(
            limit=self.pace.concurrency, ssl=self._ssl if self._ssl else False
        )
        timeout = aiohttp.ClientTimeout(total=self.pace.timeout)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, trust_env=False,
            cookie_jar=aiohttp.DummyCookieJar(),  # the API sets no cookies; skip the jar per request
        )  # fmt: skip
        self._workers = [asyncio.create_task(self._work()) for _ in range(self.pace.concurrency)]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    @property
    def stopping(self) -> bool:
        return self.stop_reason is not None

    def stop(self, reason: str) -> None:
        """Take no new rows; requests already out finish."""
        self.stop_reason = self.stop_reason or reason

    @property
    def outcomes_so_far(self) -> dict[int, RowOutcome]:
        """The current batch's outcomes, for a caller whose wait for the batch was cancelled."""
        return dict(self._outcomes)

    async def send(self, batch: list[Pending]) -> dict[int, RowOutcome]:
        """Send one batch; every row gets an outcome (`not_sent` for those the stop left behind)."""
        self._outcomes = {}
        for pending in batch:
            await self._queue.put(pending)
        await self._queue.join()
        return self._outcomes

    async def _work(self) -> None:
        while True:
            pending = await self._queue.get()
            try:
                if self.stopping:
                    outcome = _outcome(
                        pending, Answer(NOT_SENT, 0, error=f"not sent: {self.stop_reason}"), 0
                    )
                else:
                    try:
                        outcome = await self._deliver(pending)
                    except (
                        Exception
                    ) as error:  # a worker must never die: the batch would wait forever
                        failure = Answer(
                            FAILED, 0, error=f"internal error: {type(error).__name__}: {error}"
                        )
                        outcome = _outcome(pending, failure, 1)
                self._outcomes[outcome.row] = outcome
                self._count(outcome)
                self.on_outcome(outcome)
            finally:
                self._queue.task_done()

    async def _deliver(self, pending: Pending) -> RowOutcome:
        tries = _Tries(sent_before=pending.sent_before)
        try:
            try:
                answer = await self._attempt(
                    pending, tries
                )  # most rows: one request, no retry machinery
            except TransportError as first:
                if not self.pace.max_retries:
                    raise
                await self._sleep_unless_stopping(self._wait_after(first, 1))
                answer = await AsyncRetrying(
                    stop=stop_after_attempt(self.pace.max_retries),
                    wait=lambda state: self._wait_after(
                        state.outcome.exception() if state.outcome else None,
                        state.attempt_number + 1,
                    ),
                    retry=retry_if_exception_type(TransportError),
                    sleep=self._sleep_unless_stopping,
                    reraise=True,
                )(self._attempt, pending, tries)
        except TransportError as error:
            failure = Answer(FAILED, error.http_status or 0, error=f"gave up: {error}")
            return _outcome(pending, failure, tries.attempts)
        except RunStopped as error:
            self.stopped_by_api = True
            self.stop(str(error))
            return _outcome(pending, Answer(FAILED, 0, error=str(error)), tries.attempts)
        return _outcome(pending, answer, tries.attempts)

    async def _attempt(self, pending: Pending, tries: _Tries) -> Answer:
        tries.attempts += 1
        try:
            answer = await self._post(pending.request, tries.sent_before)
        except TransportError as error:
            tries.sent_before = True  # the API may have stored it before failing to answer
            if error.slow_down:
                self.pacer.slow_down(error.retry_after, rate_limited=error.http_status == 429)
            raise
        self.pacer.succeeded()
        return answer

    def _wait_after(self, error: BaseException | None, failures: int) -> float:
        """Retry-After when the API gave one, else exponential backoff with full jitter."""
        if isinstance(error, TransportError) and error.retry_after is not None:
            return error.retry_after
        return self._backoff(SimpleNamespace(attempt_number=failures))  # type: ignore[arg-type]

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        if self.stopping:
            raise TransportError(f"not retried: {self.stop_reason}")
        await self._sleep(seconds)

    async def _post(self, request: CallRequest, sent_before: bool) -> Answer:
        assert self._session is not None
        delay = self.pacer.reserve()
        if delay > 0:
            await self._sleep(delay)
        try:
            async with self._session.post(
                self._url, data=request.payload, headers=self._headers, allow_redirects=False
            ) as response:
                raw = await response.content.read(MAX_RESPONSE)
                headers = {"Retry-After": response.headers.get("Retry-After", "")}
                status = response.status
        except TimeoutError:
            raise TransportError(f"no answer within {self.pace.timeout:g} s") from None
        except aiohttp.ClientSSLError as error:
            raise RunStopped(
                f"TLS with {self.endpoint.split('/')[2]} failed ({type(error).__name__}): "
                "behind a corporate proxy, pass its certificates with --ca-bundle"
            ) from None
        except aiohttp.ClientError as error:
            raise TransportError(f"connection problem ({type(error).__name__})") from None
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        return classify(status, body, headers, sent_before=sent_before)

    def _count(self, outcome: RowOutcome) -> None:
        if outcome.status in ERRORS:
            self._errors += 1
            if self.max_errors is not None and self._errors >= self.max_errors:
                self.stop(
                    f"{self._errors} rows failed or were refused (--max-errors {self.max_errors})"
                )
        if outcome.status == REJECTED:
            last, count = self._streak
            count = count + 1 if outcome.error == last else 1
            self._streak = (outcome.error, count)
            if count >= IDENTICAL_REJECTIONS:
                self.stop(
                    f"the API gave the same refusal to {count} rows in a row, a configuration problem: "
                    f"{outcome.error}"
                )
        elif outcome.status != NOT_SENT:
            self._streak = ("", 0)


def _outcome(pending: Pending, answer: Answer, attempts: int) -> RowOutcome:
    return RowOutcome(
        row=pending.request.row,
        external_call_unique_id=pending.request.external_call_unique_id,
        status=answer.status,
        cuid=answer.cuid,
        http_status=answer.http_status or None,
        attempts=attempts,
        error=answer.error,
    )

"""Posting calls: one aiohttp session, at most `concurrency` requests in flight, workers fed by a
bounded queue, one shared pacer, retries for what can succeed later, and every answer turned into a
row outcome.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import SimpleNamespace
from typing import Any, Protocol

import aiohttp
import orjson
from aiohttp.helpers import get_env_proxy_for_url
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential
from yarl import URL

from uploader.check.mapping import CallRequest
from uploader.errors import JournalFailure, RunStopped, TransportError
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
from uploader.settings import is_loopback
from uploader.textsafe import printable

log = logging.getLogger("uploader")
MAX_RESPONSE = 64 * 1024
MAX_RETRY_AFTER = 120.0
LONG_WAIT = 10.0  # a Retry-After this long is worth a line on the screen
# A run gives up when no request has succeeded for this long while every attempt failed: an outage,
# not a bad minute (the API's own gateway gives up on a request after 120 s).
OUTAGE_SECONDS = 300.0
MIN_RATE = 1.0
CEILING_SHARE = 0.97  # of the API's limit as estimated at a 429
PROBE = 0.25  # requests/s per second by which the ceiling under a 429 limit rises
UNLIMITED_AGAIN = 2000.0
IDENTICAL_REJECTIONS = 20
# Workers per request slot: a worker whose row waits for a retry holds no slot, so spare workers
# keep every slot busy while a few rows sit in their backoff.
WORKERS_PER_SLOT = 2
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


@dataclass(frozen=True)
class Answer:
    """What the API said, as far as an outcome is concerned."""

    status: str
    http_status: int
    cuid: str | None = None
    error: str = ""


NOT_JSON = object()  # a body that is there but is not JSON (a proxy's HTML page, say)


def classify(http_status: int, body: Any, headers: dict[str, str], *, sent_before: bool) -> Answer:
    """Turn one HTTP answer into a row status; raise for answers that retry or stop the run.

    `body` is the decoded JSON, None when the body was empty, NOT_JSON when it was not JSON."""
    errors = body.get("errors") if isinstance(body, dict) else None
    error_class = str(errors.get("class", "")) if isinstance(errors, dict) else ""
    detail = str(errors.get("invalid_data", "")) if isinstance(errors, dict) else ""
    message = printable(f"{error_class}: {detail}".strip(": "))
    if 200 <= http_status < 300 and (
        body is NOT_JSON or (body is not None and not isinstance(body, dict))
    ):
        raise RunStopped(
            f"HTTP {http_status} with a body that is not the API's JSON: a proxy or a wrong "
            "--base-url answered; the call may have been stored, so it is kept as maybe-sent"
        )
    if http_status == 201:
        cuid = body.get("cuid") if isinstance(body, dict) else None
        if not isinstance(cuid, str | int) or not str(cuid).strip():
            raise RunStopped(
                "HTTP 201 without a cuid: not an answer the API gives (a proxy or a wrong "
                "--base-url?); the call may have been stored, so it is kept as maybe-sent"
            )
        return Answer(CREATED, 201, printable(str(cuid).strip(), 200))
    if 200 <= http_status < 300 and http_status != 202:
        raise RunStopped(
            f"HTTP {http_status}: not an answer the Call Ingestion API gives; check --base-url"
        )
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
    if http_status in (429, 503):  # a 429 slows the whole run; a 503's Retry-After is its own
        retry_after = parse_retry_after(headers.get("Retry-After"))
        raise TransportError(
            f"HTTP {http_status}",
            http_status=http_status,
            retry_after=retry_after,
            slow_down=http_status == 429,
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
    reached: bool = False  # a request of this run may have reached the API


@dataclass
class Pending:
    """A request on its way, with what the journal knew of it beforehand."""

    request: CallRequest
    sent_before: bool


class Ledger(Protocol):
    """Where each request is marked before it goes out and each answer committed (the journal).
    A mark that cannot be committed raises JournalFailure: that request must not go out."""

    async def mark_sending(self, external_call_unique_id: str, payload_hash: str) -> None: ...
    def unmark(self, external_call_unique_id: str) -> None: ...
    def record(self, outcome: RowOutcome, *, reached: bool) -> None: ...


class _NotSent(Exception):
    """The run stopped before this request went out."""


class Watchdog:
    """When a run must stop although each row is fine on its own: --max-errors rows refused or
    failed, IDENTICAL_REJECTIONS identical refusals in a row (a configuration problem, not bad
    data), or no success at all for the outage budget. Each check returns the reason, or None."""

    def __init__(
        self, max_errors: int | None, outage_seconds: float, clock: Callable[[], float]
    ) -> None:
        self.max_errors = max_errors
        self.outage_seconds = outage_seconds
        self._clock = clock
        self._last_success = clock()
        self._errors = 0
        self._streak: tuple[str, int] = ("", 0)

    def started(self) -> None:
        self._last_success = self._clock()

    def succeeded(self) -> None:
        self._last_success = self._clock()

    def failed(self, host: str | None) -> str | None:
        """An attempt failed: past the outage budget with no success at all, stop."""
        silent = self._clock() - self._last_success
        if silent < self.outage_seconds:
            return None
        return (
            f"no request has succeeded for {silent:.0f} s "
            f"(outage budget {self.outage_seconds:g} s):"
            f" is {host} down? Run again later; nothing is sent twice"
        )

    def outcome(self, outcome: RowOutcome) -> str | None:
        reason = None
        if outcome.status in ERRORS:
            self._errors += 1
            if self.max_errors is not None and self._errors >= self.max_errors:
                reason = (
                    f"{self._errors} rows failed or were refused (--max-errors {self.max_errors})"
                )
        if outcome.status == REJECTED:
            last, count = self._streak
            count = count + 1 if outcome.error == last else 1
            self._streak = (outcome.error, count)
            if count >= IDENTICAL_REJECTIONS:
                reason = (
                    f"the API gave the same refusal to {count} rows in a row, "
                    f"a configuration problem: {outcome.error}"
                )
        elif outcome.status != NOT_SENT:
            self._streak = ("", 0)
        return reason


class Sender:
    """Sends rows as they are submitted, at most `concurrency` requests at a time; use as an
    async context manager. Each row's outcome goes to `on_outcome` as soon as it is known.

    With a ledger, each request is marked in it just before it goes out and each row's answer is
    committed as it arrives. A stop (`stop()`) ends every wait at once; requests already out finish.
    """

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
        ledger: Ledger | None = None,
        outage_seconds: float = OUTAGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint
        self.transport = Transport(endpoint, token, pace, ca_bundle=ca_bundle)
        self.pace = pace
        self.pacer = Pacer(pace.rate)
        self.watchdog = Watchdog(max_errors, outage_seconds, clock)
        self.on_outcome = on_outcome
        self.ledger = ledger
        self._stop = Stop(sleep)
        self._queue: asyncio.Queue[Pending] = asyncio.Queue(
            maxsize=max(pace.concurrency * 2, queue_size)
        )
        self.in_flight_rows: dict[int, Pending] = {}
        self._workers: list[asyncio.Task] = []
        self._delivery = Delivery(self, asyncio.Semaphore(pace.concurrency))

    async def __aenter__(self) -> Sender:
        self._stop.start()
        self.transport.open()
        self.watchdog.started()
        workers = self.pace.concurrency * WORKERS_PER_SLOT
        self._workers = [asyncio.create_task(self._work()) for _ in range(workers)]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        await self.transport.close()

    @property
    def stop_reason(self) -> str | None:
        return self._stop.reason

    @property
    def stopping(self) -> bool:
        return self._stop.reason is not None

    def stop(self, reason: str) -> None:
        """Take no new rows and end every wait now; requests already out finish."""
        self._stop.stop(reason)

    def in_flight(self) -> list[Pending]:
        """Rows whose request went out and whose answer has not come (for a cancelled caller)."""
        return list(self.in_flight_rows.values())

    async def submit(self, pending: Pending) -> None:
        """Hand a row to the workers; waits only while the queue is full. Its outcome goes to
        `on_outcome` when it is known, whatever the rows around it are doing."""
        await self._queue.put(pending)

    async def drain(self) -> None:
        """Wait until every submitted row has its outcome."""
        await self._queue.join()

    async def _work(self) -> None:
        while True:
            pending = await self._queue.get()
            try:
                try:
                    outcome, reached = await self._delivery.deliver(pending)
                except Exception as error:  # a worker must never die: the batch would wait forever
                    failure = Answer(
                        FAILED, 0, error=f"internal error: {type(error).__name__}: {error}"
                    )
                    outcome, reached = _outcome(pending, failure, 1), True
                self.in_flight_rows.pop(pending.request.row, None)
                if self.ledger is not None and outcome.attempts:
                    self.ledger.record(outcome, reached=reached)
                if reason := self.watchdog.outcome(outcome):
                    self.stop(reason)
                self.on_outcome(outcome)
            finally:
                self._queue.task_done()


class Delivery:
    """How one row is delivered: paced attempts, each holding one of the `concurrency` slots (a
    row waiting for its retry holds none, so a fault delays only its own row), its journal mark
    committed before its request goes out, retries only for what can succeed later; and what each
    answer tells the pacer and the watchdog."""

    def __init__(self, sender: Sender, slots: asyncio.Semaphore) -> None:
        self.sender = sender
        self.transport, self.pacer, self.watchdog = sender.transport, sender.pacer, sender.watchdog
        self.pace, self.ledger = sender.pace, sender.ledger
        self._stop = sender._stop
        self._slots = slots
        self._backoff = wait_random_exponential(
            multiplier=self.pace.backoff, max=self.pace.max_backoff
        )

    @property
    def stopping(self) -> bool:
        return self._stop.reason is not None

    async def deliver(self, pending: Pending) -> tuple[RowOutcome, bool]:
        """The row's outcome, and whether a request for it may have reached the API."""
        tries = _Tries(sent_before=pending.sent_before)
        try:
            try:
                answer = await self._attempt(pending, tries)  # most rows: one request, no retries
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
        except _NotSent:
            stopped = Answer(NOT_SENT, 0, error=f"not sent: {self._stop.reason}")
            return _outcome(pending, stopped, tries.attempts), tries.reached
        except TransportError as error:
            failure = Answer(FAILED, error.http_status or 0, error=f"gave up: {error}")
            return _outcome(pending, failure, tries.attempts), tries.reached
        except RunStopped as error:
            self.sender.stop(str(error))
            return _outcome(pending, Answer(FAILED, 0, error=str(error)), tries.attempts), True
        if answer.error.startswith("UnauthorizedAdvertiser"):
            answer = _naming_campaign(answer, pending.request)
        return _outcome(pending, answer, tries.attempts), tries.reached

    async def _attempt(self, pending: Pending, tries: _Tries) -> Answer:
        """One request, holding one of the `concurrency` slots; a row waiting for its retry holds
        none, so a fault delays only its own row."""
        async with self._slots:
            return await self._attempt_in_slot(pending, tries)

    async def _attempt_in_slot(self, pending: Pending, tries: _Tries) -> Answer:
        await self._pace()
        if tries.attempts == 0 and self.stopping:
            raise _NotSent
        request = pending.request
        if self.ledger is not None:
            try:
                await self.ledger.mark_sending(
                    request.external_call_unique_id, request.payload_hash
                )
            except JournalFailure as error:  # unmarked, the request must not go out: stop
                self.sender.stop(str(error))
                if tries.attempts == 0:
                    raise _NotSent from None
                raise RunStopped(str(error)) from None  # an earlier attempt may have gone out
        tries.attempts += 1
        self.sender.in_flight_rows[request.row] = pending
        try:
            answer = await self.transport.post(request, tries.sent_before)
        except _Unreached:  # the connection was never made: nothing went out
            if self.ledger is not None:
                self.ledger.unmark(request.external_call_unique_id)
            self._count_failure()
            raise
        except TransportError as error:
            tries.sent_before = tries.reached = True  # the API may have stored it, then failed
            if error.slow_down:  # a 429: the API's limit, for every worker; not a failure
                self.pacer.slow_down(error.retry_after, rate_limited=True)
            if error.retry_after and error.retry_after >= LONG_WAIT:
                log.warning("the API asked to wait %.0f s (Retry-After)", error.retry_after)
            self._count_failure(counted=not error.slow_down)
            raise
        except RunStopped:
            tries.reached = True
            raise
        tries.reached = True
        self.watchdog.succeeded()
        self.pacer.answered(failed=False)
        return answer

    def _count_failure(self, *, counted: bool = True) -> None:
        """An attempt failed: the pacer counts it (unless a 429), the watchdog may stop the run."""
        if counted:
            self.pacer.answered(failed=True)
        if reason := self.watchdog.failed(self.transport.host):
            self.sender.stop(reason)

    def _wait_after(self, error: BaseException | None, failures: int) -> float:
        """Retry-After when the API gave one, else exponential backoff with full jitter."""
        if isinstance(error, TransportError) and error.retry_after is not None:
            return error.retry_after
        return self._backoff(SimpleNamespace(attempt_number=failures))  # type: ignore[arg-type]

    async def _pace(self) -> None:
        delay = self.pacer.reserve()
        if delay > 0:
            await self._stop.pause(delay)

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        await self._stop.pause(seconds)
        if self.stopping:
            raise TransportError(f"not retried: {self._stop.reason}")


async def send_all(sender: Sender, batch: list[Pending]) -> dict[int, RowOutcome]:
    """Send some rows and wait for all of them (`not_sent` for those a stop left behind)."""
    outcomes: dict[int, RowOutcome] = {}
    told = sender.on_outcome

    def keep(outcome: RowOutcome) -> None:
        outcomes[outcome.row] = outcome
        told(outcome)

    sender.on_outcome = keep
    try:
        for pending in batch:
            await sender.submit(pending)
        await sender.drain()
    finally:
        sender.on_outcome = told
    return outcomes


class Stop:
    """A run's stop: its reason once given, and sleeps that end the moment it comes."""

    def __init__(self, sleep: Sleep) -> None:
        self.reason: str | None = None
        self._sleep = sleep
        self._event: asyncio.Event | None = None

    def start(self) -> None:
        """On the run's event loop."""
        self._event = asyncio.Event()
        if self.reason:
            self._event.set()

    def stop(self, reason: str) -> None:
        self.reason = self.reason or reason
        if self._event is not None:
            self._event.set()

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the run is asked to stop."""
        if seconds <= 0 or self.reason is not None:
            return
        assert self._event is not None
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        stopper = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()


class Transport:
    """One aiohttp session to the endpoint: posts a request's body and turns the answer, however
    it comes (split across packets, cut, refused, not the API's), into an `Answer` or a
    TransportError (may succeed later), `_Unreached` (never left) or RunStopped."""

    def __init__(self, endpoint: str, token: str, pace: Pace, *, ca_bundle: str | None) -> None:
        self._url = URL(endpoint)  # parsed once, not per request
        self.host = self._url.host
        self._headers = {"Authorization": token, "Content-Type": "application/json"}
        self._ssl = (
            ssl.create_default_context(cafile=ca_bundle) if endpoint.startswith("https") else None
        )
        self._concurrency = pace.concurrency
        self._timeout = pace.timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxy: URL | None = None
        self._proxy_headers: dict[str, str] | None = None

    def open(self) -> None:
        self._proxy, self._proxy_headers = _environment_proxy(self._url)
        if self._proxy is not None:
            log.info("through the proxy %s (%s)", self._proxy, self._proxy_variable)
        connector = aiohttp.TCPConnector(
            limit=self._concurrency, ssl=self._ssl if self._ssl else False
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            trust_env=False,  # the proxy is found once, above; never ~/.netrc for the API
            cookie_jar=aiohttp.DummyCookieJar(),  # the API sets no cookies: no jar per request
        )

    @property
    def _proxy_variable(self) -> str:
        return f"{self._url.scheme.upper()}_PROXY"

    @property
    def _proxy_named(self) -> str:
        assert self._proxy is not None
        return f"{self._proxy.host}:{self._proxy.port} ({self._proxy_variable})"

    @property
    def _proxy_refused(self) -> str:
        return (
            f"the proxy {self._proxy_named} asks for credentials (407): "
            f"give them in {self._proxy_variable} as http://user:password@host:port"
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, request: CallRequest, sent_before: bool) -> Answer:
        assert self._session is not None
        try:
            async with self._session.post(
                self._url,
                data=request.payload,
                headers=self._headers,
                allow_redirects=False,
                proxy=self._proxy,
                proxy_headers=self._proxy_headers,
            ) as response:
                raw = await _read_body(response)
                headers = {"Retry-After": response.headers.get("Retry-After", "")}
                status = response.status
        except TimeoutError:
            raise TransportError(f"no answer within {self._timeout:g} s") from None
        except aiohttp.ClientSSLError as error:
            raise RunStopped(
                f"TLS with {self._url.host} failed ({type(error).__name__}): "
                "behind a corporate proxy, pass its certificates with --ca-bundle"
            ) from None
        except aiohttp.ClientProxyConnectionError as error:
            raise _Unreached(
                f"cannot connect to the proxy {self._proxy_named} "
                f"({printable(str(error.os_error))})"
            ) from None
        except aiohttp.ClientHttpProxyError as error:  # the tunnel was refused: nothing went out
            if error.status == 407:
                raise RunStopped(self._proxy_refused) from None
            raise _Unreached(
                f"the proxy {self._proxy_named} refused the tunnel to {self.host} "
                f"(HTTP {error.status})"
            ) from None
        except aiohttp.ClientConnectorError as error:
            raise _Unreached(
                f"cannot connect to {self._url.host} ({printable(str(error.os_error))})"
            ) from None
        except aiohttp.ClientError as error:
            raise TransportError(f"connection problem ({type(error).__name__})") from None
        if not raw:
            body: Any = None
        else:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body = NOT_JSON
        return classify(status, body, headers, sent_before=sent_before)


def _environment_proxy(url: URL) -> tuple[URL | None, dict[str, str] | None]:
    """The proxy the environment names for the endpoint (HTTPS_PROXY, unless NO_PROXY covers the
    host, as curl and pip read them) and the header carrying its credentials, taken out of its
    URL and sent on the CONNECT request alone: what aiohttp's trust_env does, done once per run
    rather than on a thread for every request. Never for a loopback address (as Go's net/http
    does): a proxy cannot reach this machine's loopback, so a sandbox on 127.0.0.1 keeps working
    where a proxy is set for everything else. (Only loopback addresses may be plain http.)"""
    if url.host is None or is_loopback(url.host):
        return None, None
    try:
        proxy, credentials = get_env_proxy_for_url(url)
    except LookupError:
        return None, None
    return proxy, {"Proxy-Authorization": credentials.encode()} if credentials else None


class _Unreached(TransportError):
    """The connection could not be made, so the request cannot have reached the API."""


async def _read_body(response: aiohttp.ClientResponse) -> bytes:
    """The whole body, however many packets it came in, up to MAX_RESPONSE bytes."""
    body = bytearray()
    while True:
        piece = await response.content.read(MAX_RESPONSE)
        if not piece:
            return bytes(body)
        body += piece
        if len(body) > MAX_RESPONSE:
            raise RunStopped(
                f"an answer of more than {MAX_RESPONSE // 1024} KiB: not the API (check --base-url)"
            )


def _naming_campaign(answer: Answer, request: CallRequest) -> Answer:
    """A refused campaign is named: a wrong --campaign-id is the usual cause."""
    try:
        campaign = orjson.loads(request.payload)["call"]["advertiser_campaign_id_from_network"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return answer
    return Answer(
        answer.status,
        answer.http_status,
        answer.cuid,
        f"{answer.error} (campaign {printable(str(campaign), 80)}: check --campaign-id)",
    )


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

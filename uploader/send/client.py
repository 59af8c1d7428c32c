"""Posting calls: one aiohttp session, at most `concurrency` requests in flight, workers fed by a
bounded queue, one shared pacer, retries for what can succeed later, and every answer turned into a
row outcome.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Protocol

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_random_exponential

from uploader.check.mapping import CallRequest
from uploader.errors import JournalFailure, RunStopped, TransportError
from uploader.outcome import (
    ERRORS,
    FAILED,
    NOT_SENT,
    REJECTED,
    RowOutcome,
)
from uploader.send.answers import Answer, naming_campaign, outcome_of
from uploader.send.pacing import Pace, Pacer
from uploader.send.transport import Transport, Unreached

log = logging.getLogger("uploader")
LONG_WAIT = 10.0  # a Retry-After this long is worth a line on the screen
# A run gives up when no request has succeeded for this long while every attempt failed: an outage,
# not a bad minute (the API's own gateway gives up on a request after 120 s).
OUTAGE_SECONDS = 300.0
IDENTICAL_REJECTIONS = 20
# Workers per request slot: a worker whose row waits for a retry holds no slot, so spare workers
# keep every slot busy while a few rows sit in their backoff.
WORKERS_PER_SLOT = 2
Sleep = Callable[[float], Awaitable[None]]


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

    async def mark_sending(
        self, external_call_unique_id: str, payload_hash: str, identity: str = ""
    ) -> None: ...
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
        self.answered = False  # some request got an HTTP answer, whatever it said
        self.unanswered: str | None = None  # the last attempt that got none, and why
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
        """Wait until every submitted row has its outcome. A run in which no request got any
        answer (refused, unreachable, timed out) is stopped by the API's absence: exit 3."""
        await self._queue.join()
        if self.unanswered and not self.answered and not self.stopping:
            self.stop(
                f"no answer from the API at all ({self.unanswered}): is {self.transport.host} "
                "the right address, and up? Run again later; nothing is sent twice"
            )

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
                    outcome, reached = outcome_of(pending.request, failure, 1), True
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
            return outcome_of(pending.request, stopped, tries.attempts), tries.reached
        except TransportError as error:
            failure = Answer(FAILED, error.http_status or 0, error=f"gave up: {error}")
            return outcome_of(pending.request, failure, tries.attempts), tries.reached
        except RunStopped as error:
            self.sender.stop(str(error))
            return outcome_of(
                pending.request, Answer(FAILED, 0, error=str(error)), tries.attempts
            ), True
        if answer.error.startswith("UnauthorizedAdvertiser"):
            answer = naming_campaign(answer, pending.request)
        return outcome_of(pending.request, answer, tries.attempts), tries.reached

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
                    request.external_call_unique_id, request.payload_hash, request.identity
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
        except Unreached as error:  # the connection was never made: nothing went out
            if self.ledger is not None:
                self.ledger.unmark(request.external_call_unique_id)
            self.sender.unanswered = str(error)
            self._count_failure()
            raise
        except TransportError as error:
            tries.sent_before = tries.reached = True  # the API may have stored it, then failed
            if error.http_status is None:
                self.sender.unanswered = str(error)
            else:
                self.sender.answered = True
            if error.slow_down:  # a 429: the API's limit, for every worker; not a failure
                self.pacer.slow_down(error.retry_after, rate_limited=True)
            if error.retry_after and error.retry_after >= LONG_WAIT:
                log.warning("the API asked to wait %.0f s (Retry-After)", error.retry_after)
            self._count_failure(counted=not error.slow_down)
            raise
        except RunStopped:
            tries.reached = True
            raise
        tries.reached = self.sender.answered = True
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

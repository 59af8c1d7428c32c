"""The send flow: rows go from the checked chunks to the sender one by one, without barriers, and
come back to the results file in input order.

Each chunk opens an `Open` entry in a `ReorderWindow`; its rows go to the sender as they come, and
their outcomes arrive whenever their answers do. A chunk is written as soon as every row in it has
an outcome and every chunk before it has been written. The open chunks hold at most `MAX_OPEN`
times --chunk-size rows (counted in rows: the first chunk is small, see table.next_chunk): a row
stuck in a long retry holds back the writing of its chunk (and, past that, the reading of the
file), never the sending of the rows around it. No spill to disk is needed: a row's retries end
within minutes (--max-retries, Retry-After capped at 2 minutes), while a chunk's worth of rows
keeps the workers busy far longer (50,000 rows take 2.5 minutes at 320 rows/s).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from uploader.check.mapping import CallRequest
from uploader.errors import RowError
from uploader.outcome import (
    ALREADY_UPLOADED,
    CHANGED_SINCE,
    CONFLICT,
    FAILED,
    NOT_SENT,
    RowOutcome,
)
from uploader.send.client import Pending
from uploader.send.journal import Journal, JournalEntry

if TYPE_CHECKING:
    from uploader.read.table import Chunk
    from uploader.settings import Options

MAX_OPEN = 2  # chunks' worth of rows open at once
LOOKUP_BATCH = 5000  # ids looked up in the journal in one query


class ChunkWriter(Protocol):
    """Where a complete chunk's outcomes go, in input order (the report stage's `Outputs`)."""

    def write(
        self,
        chunk: Chunk,
        outcomes: dict[int, RowOutcome],
        errors: dict[int, list[RowError]],
        sent: dict[int, tuple[str, ...]],
    ) -> None: ...


class OutcomeLog(Protocol):
    """Where each row's outcome is logged, in input order (the report stage's `RunLog`)."""

    def outcome(self, outcome: RowOutcome) -> None: ...


class Sink(Protocol):
    """Where requests go: the HTTP sender, or the requests file of a dry run."""

    stop_reason: str | None

    async def submit(self, pending: Pending) -> None: ...
    async def drain(self) -> None: ...
    def in_flight(self) -> list[Pending]: ...


class DryRunSink:
    """A dry run behind the sender's interface: each body is written to the requests file and the
    row is `not_sent`."""

    stop_reason: str | None = None

    def __init__(self, write: Callable[[bytes], None], on_outcome: Callable[[RowOutcome], None]):
        self._write = write
        self.on_outcome = on_outcome

    async def submit(self, pending: Pending) -> None:
        request = pending.request
        self._write(request.payload)
        self.on_outcome(
            RowOutcome(request.row, request.external_call_unique_id, NOT_SENT, error=request.note)
        )

    async def drain(self) -> None:
        return None

    def in_flight(self) -> list[Pending]:
        return []


def what_to_send(
    request: CallRequest, entry: JournalEntry | None, stop_reason: str | None
) -> Pending | RowOutcome:
    """The journal's decision for one row: delivered by an earlier run (not sent again), left
    behind by a stop, or sent, telling the sender whether an earlier request may have arrived."""
    if entry is not None and entry.delivered:
        if entry.identity and entry.identity != request.identity:
            start, number = entry.identity.partition(" ")[::2]
            return RowOutcome(
                request.row,
                request.external_call_unique_id,
                CONFLICT,
                error=f"the id was delivered for another call on {entry.first_time[:10]}: "
                f"{start}, {number}; give this call its own id",
            )
        note = "" if entry.payload_hash == request.payload_hash else CHANGED_SINCE
        return RowOutcome(
            request.row,
            request.external_call_unique_id,
            ALREADY_UPLOADED,
            cuid=entry.cuid,
            error=note,
        )
    if stop_reason is not None:
        return RowOutcome(
            request.row, request.external_call_unique_id, NOT_SENT, error=f"not sent: {stop_reason}"
        )
    return Pending(request, sent_before=entry is not None and entry.maybe_sent)


@dataclass
class Open:
    """A chunk whose rows are out: its rows' outcomes so far and the rows still waiting."""

    chunk: Chunk
    errors: dict[int, list[RowError]]
    outcomes: dict[int, RowOutcome]
    waiting: dict[int, str]  # row -> its external_call_unique_id
    sent: dict[int, tuple[str, ...]] = field(default_factory=dict)  # row -> its values as sent
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def arrived(self, outcome: RowOutcome) -> None:
        self.outcomes[outcome.row] = outcome
        self.waiting.pop(outcome.row, None)
        if not self.waiting:
            self.done.set()


class ReorderWindow:
    """Open chunks in input order; each is written, once complete, to the run log (one line per
    row) and the outputs (results and retry files)."""

    def __init__(self, outputs: ChunkWriter, runlog: OutcomeLog, chunk_size: int):
        self._outputs = outputs
        self._runlog = runlog
        self._open: deque[Open] = deque()
        self._owner: dict[int, Open] = {}
        self._room = MAX_OPEN * chunk_size  # rows
        self._rows = 0  # rows in the open chunks

    def open(
        self, chunk, errors, outcomes: dict[int, RowOutcome], requests: Iterable[CallRequest]
    ) -> None:
        """A chunk whose rows without an outcome yet are `requests`, about to be sent."""
        requests = list(requests)
        waiting = {r.row: r.external_call_unique_id for r in requests}
        entry = Open(chunk, errors, outcomes, waiting, {r.row: r.sent for r in requests})
        if not entry.waiting:
            entry.done.set()
        for row in entry.waiting:
            self._owner[row] = entry
        self._open.append(entry)
        self._rows += len(chunk.index)

    def arrived(self, outcome: RowOutcome) -> None:
        entry = self._owner.pop(outcome.row, None)
        if entry is not None:
            entry.arrived(outcome)

    def flush(self) -> None:
        """Write the complete chunks at the head."""
        while self._open and self._open[0].done.is_set():
            entry = self._open.popleft()
            self._rows -= len(entry.chunk.index)
            for row in sorted(entry.outcomes):
                self._runlog.outcome(entry.outcomes[row])
            self._outputs.write(entry.chunk, entry.outcomes, entry.errors, entry.sent)

    async def wait_for_room(self) -> None:
        while self._rows >= self._room:
            await self._open[0].done.wait()
            self.flush()

    def close(self, in_flight: list[Pending], interrupted: str) -> None:
        """After a stop that did not wait (a second Ctrl-C, an error): every row left gets an
        outcome, in flight ones as failed (maybe delivered: the journal keeps them marked)."""
        flying = {pending.request.row for pending in in_flight}
        for entry in self._open:
            for row, identifier in list(entry.waiting.items()):
                if row in flying:
                    outcome = RowOutcome(
                        row,
                        identifier,
                        FAILED,
                        attempts=1,
                        error="interrupted before the answer came: run again to finish",
                    )
                else:
                    outcome = RowOutcome(row, identifier, NOT_SENT, error=interrupted)
                entry.arrived(outcome)
        self.flush()


@contextlib.asynccontextmanager
async def open_sink(
    options: Options,
    token: str | None,
    journal: Journal | None,
    write_request: Callable[[bytes], None] | None,
    on_outcome: Callable[[RowOutcome], None],
):
    """The HTTP sender, or for a dry run (no journal) the requests file behind the same
    interface; each row's outcome goes to `on_outcome` as it is known."""
    if journal is None:
        assert write_request is not None
        yield DryRunSink(write_request, on_outcome)
        return
    from uploader.send.client import Sender
    from uploader.send.pacing import Pace

    assert token is not None
    pace = Pace(options.rate, options.concurrency, options.max_retries, options.timeout)
    sender = Sender(
        options.endpoint,
        token,
        pace,
        ca_bundle=options.ca_bundle,
        max_errors=options.max_errors,
        on_outcome=on_outcome,
        ledger=journal,
        outage_seconds=options.outage_budget,
    )
    async with sender:
        yield sender

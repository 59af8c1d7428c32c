"""The pipeline: file -> sources -> profiles -> schema -> mapping -> flow (journal, client) ->
results.

`upload()` and `validate_file()` are what the CLI calls and what Python callers use; both return a
`RunSummary` whose `exit_code` follows the command-line contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from uploader.check.mapping import CallRequest, call_requests
from uploader.check.prepare import Prepared, ValidatedRows, count_invalid, prepare
from uploader.errors import (
    JournalFailure,
    exit_code_for,
)
from uploader.outcome import (
    INVALID,
    SKIPPED,
    RowOutcome,
)
from uploader.read.expand import single_input
from uploader.read.inputs import Input, location
from uploader.read.table import Chunk, ReadCount
from uploader.report.paths import RunFiles, unclobbered_retry
from uploader.report.progress import Progress
from uploader.report.results import ErrorsFile, Outputs, RequestsFile
from uploader.report.runlog import RunLog
from uploader.send.control import Interrupts, RunControl
from uploader.send.journal import Journal, default_journal_path
from uploader.settings import Options, target_token
from uploader.summary import RunSummary, recordings_note, zone_warning

if TYPE_CHECKING:  # the client (and aiohttp) loads only when a run sends: validate starts faster
    from uploader.send.flow import ReorderWindow

log = logging.getLogger("uploader")
DRAIN_SECONDS = 30.0


# ---------------------------------------------------------------- validate


def validate_file(
    path: str | Path,
    options: Options | None = None,
    *,
    report: str | Path | None = None,
    on_chunk: Callable[[Chunk, ValidatedRows], None] | None = None,
    **overrides: object,
) -> RunSummary:
    """Read and check every row without sending anything; write `<stem>.errors.csv`. `on_chunk`
    sees each chunk's cells with its problems (the web page shows the rows to fix)."""
    options = Options.build(options, **overrides)
    source = single_input(str(path))
    started = time.monotonic()
    prepared = prepare(source, options)
    summary = RunSummary(
        input=source.name,
        command="validate",
        warnings=prepared.warnings,
        counts={"valid": 0, INVALID: 0, SKIPPED: 0},
    )
    errors_file = ErrorsFile(location(report) if report else source.output(".errors.csv"))
    progress = Progress(
        prepared.table.estimated_rows, enabled=options.progress, what="rows checked"
    )
    read = ReadCount(prepared.table)
    try:
        for chunk, checked in prepared.rows(options.chunk_size):
            for row in sorted(checked.errors):
                errors_file.write(checked.errors[row])
            if on_chunk is not None:
                on_chunk(chunk, checked)
            summary.counts[INVALID] += len(checked.errors)
            summary.counts[SKIPPED] += len(checked.skipped)
            summary.counts["valid"] += len(chunk) - len(checked.errors) - len(checked.skipped)
            progress.advance(read.since(len(chunk)))
    finally:
        errors_file.close()
        progress.close()
    zone_warning(summary, prepared.zone_less)
    recordings_note(summary, prepared)
    summary.blank_rows = prepared.table.blank_rows
    if errors_file.written:
        summary.files["errors"] = str(errors_file.path)
    summary.problems = errors_file.problems.as_dict()
    summary.elapsed_seconds = time.monotonic() - started
    summary.exit_code = exit_code_for(summary.counts, sending=False)
    return summary


# ---------------------------------------------------------------- upload


def upload(
    path: str | Path | Input,
    options: Options | None = None,
    *,
    handle_signals: bool = False,
    control: RunControl | None = None,
    **overrides: object,
) -> RunSummary:
    """Validate, map and send every row of one spreadsheet (a path or URL, compressed or not);
    write its results (and retry) file. For several inputs see `upload_all()`.

    With `handle_signals` (the command line asks for it), SIGINT and SIGTERM stop the run gently
    (exit 4) instead of raising KeyboardInterrupt; a library caller keeps its own handling. A
    `control` lets another thread follow the progress and stop the run the same way."""
    options = Options.build(options, **overrides)
    token = target_token(options)
    source = path if isinstance(path, Input) else single_input(str(path))
    run = Run(source, options, token, handle_signals=handle_signals, control=control)
    with restored_signals(handle_signals):
        return run.perform()


@contextlib.contextmanager
def restored_signals(handle_signals: bool) -> Iterator[None]:
    handlers = _current_handlers() if handle_signals else {}
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def _current_handlers() -> dict[int, Any]:
    """The caller's SIGINT/SIGTERM handlers (main thread only), to put back after the run."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}


@dataclass
class Run:
    """One upload run of one input: owns the sender and the output files for its duration, and
    the journal too unless it is given one (several inputs share one journal and its lock)."""

    source: Input
    options: Options
    token: str | None
    _: KW_ONLY
    handle_signals: bool = False
    journal: Journal | None = None  # shared by several inputs; else the run opens its own
    writes_summary: bool = True  # False: the batch writes --summary-json
    control: RunControl | None = None
    started: float = field(default_factory=time.monotonic)
    stops: Interrupts = field(default_factory=lambda: Interrupts(DRAIN_SECONDS))

    def __post_init__(self) -> None:
        command = "dry-run" if self.options.dry_run else "upload"
        self.summary = RunSummary(input=self.source.name, command=command)

    @property
    def interrupts(self) -> int:
        return self.stops.count

    @property
    def stopped_by_run(self) -> bool:
        """The API, an error limit, an outage or the journal stopped it (exit 3)."""
        return self.summary.stopped_by_api

    def perform(self) -> RunSummary:
        """Run `execute()` in an event loop of its own."""
        try:
            return asyncio.run(self.execute())
        except asyncio.CancelledError:
            # A second Ctrl-C: the run stopped at once; journal, results, summary still written.
            return self.summary

    async def execute(self) -> RunSummary:
        prepared = self._prepared()
        options, summary = self.options, self.summary
        summary.sending = not options.dry_run
        # Every resource of the run is opened here and closed by the stack, in reverse: the
        # summary is computed, then the outputs put in place, the --summary-json written (it
        # states the exit code returned), the run recorded, and the journal closed last.
        async with contextlib.AsyncExitStack() as stack:
            journal = self._journal(stack)
            files = _kept_retry(RunFiles.planned(self.source, options), journal, summary)
            runlog = RunLog(options.log_file)
            stack.callback(runlog.close)
            stack.callback(summary.record, journal, runlog)
            if journal is not None:
                journal.start_run(self.source.name)
            if self.writes_summary:
                stack.callback(summary.write_json, options.summary_json)
            table = prepared.table
            outputs = Outputs.for_table(files.results, files.retry, table, dry_run=options.dry_run)
            stack.callback(summary.settle_retry, journal, outputs)
            stack.callback(summary.put_outputs, outputs)
            requests_file = RequestsFile(files.requests) if options.dry_run else None
            stack.callback(
                lambda: summary.finish(
                    prepared, outputs, requests_file, runlog, self.started, self.interrupts > 0
                )
            )
            if journal is not None:  # every answer written before the summary is made
                stack.callback(summary.flush_journal, journal)
            listener = self.control.update if self.control else None
            progress = Progress(
                table.estimated_rows, enabled=options.progress, what="rows", listener=listener
            )
            stack.callback(progress.close)
            await self._send(stack, prepared, journal, outputs, requests_file, runlog, progress)
        return self.summary

    def _prepared(self) -> Prepared:
        prepared = prepare(self.source, self.options)
        self.summary.warnings.extend(prepared.warnings)
        if self.options.strict and not self.options.dry_run:
            invalid = count_invalid(self.source, self.options)
            if invalid:
                self.summary.stopped = f"--strict: {invalid} invalid rows, nothing sent"
                self.options = Options.build(self.options, dry_run=True)
                prepared = prepare(self.source, self.options)
        return prepared

    def _journal(self, stack: contextlib.AsyncExitStack) -> Journal | None:
        if self.options.dry_run:
            return None
        if self.journal is not None:
            return self.journal
        journal = open_journal(self.options, self.token)  # the lock first: a refused run
        stack.callback(journal.close)  # touches no output
        return journal

    async def _send(  # type: ignore[no-untyped-def]
        self, stack, prepared, journal, outputs, requests_file, runlog, progress
    ):
        """Rows to the sender (or the requests file) until the file ends or the run is stopped."""
        from uploader.send.flow import ReorderWindow, open_sink

        window = ReorderWindow(outputs, runlog, self.options.chunk_size)

        def arrived(outcome: RowOutcome) -> None:
            progress.outcome(outcome)
            window.arrived(outcome)

        write_request = requests_file and requests_file.write
        sink = await stack.enter_async_context(
            open_sink(self.options, self.token, journal, write_request, arrived)
        )
        stack.push(self.summary.stop_noted(sink, lambda: self.interrupts))
        again = "press Ctrl-C again to stop at once" if self.handle_signals else ""
        interrupt = self.stops.interrupter(sink, again)
        if self.handle_signals:
            self.stops.install_signals(interrupt)
            stack.callback(self.stops.remove_signals)
        if self.control is not None:
            self.control.attach(interrupt)
            stack.callback(self.control.detach)
        await _feed(prepared, self.options.chunk_size, journal, sink, window, arrived, progress)


def _kept_retry(files: RunFiles, journal: Journal | None, summary: RunSummary) -> RunFiles:
    """The run's files, its retry file moved aside from one the analyst changed (said)."""
    retry, kept = unclobbered_retry(journal, files.retry)
    if not kept:
        return files
    summary.notes.append(kept)
    return dataclasses.replace(files, retry=retry)


async def _feed(
    prepared: Prepared,
    chunk_size: int,
    journal: Journal | None,
    sink: Any,  # a Sender or a DryRunSink (flow.Sink)
    window: ReorderWindow,
    arrived: Callable[[RowOutcome], None],
    progress: Progress,
) -> None:
    """Rows to the sink as they are read, outcomes back in input order (see uploader.send.flow);
    `arrived` takes the outcome of a row decided here (already delivered, left by a stop)."""
    from uploader.send.flow import LOOKUP_BATCH, what_to_send

    read = ReadCount(prepared.table)
    try:
        for chunk, checked in prepared.rows(chunk_size):
            outcomes = checked.settled(_ids(chunk, prepared))
            requests = list(call_requests(checked.valid))
            window.open(chunk, checked.errors, outcomes, requests)
            progress.advance(read.since(len(outcomes)))  # invalid, skipped, blank ones too
            for start in range(0, len(requests), LOOKUP_BATCH):
                batch = requests[start : start + LOOKUP_BATCH]
                known = _known(journal, batch, sink)
                for request in batch:
                    decision = what_to_send(
                        request, known.get(request.external_call_unique_id), sink.stop_reason
                    )
                    if isinstance(decision, RowOutcome):
                        arrived(decision)
                    else:
                        await sink.submit(decision)
            window.flush()
            await window.wait_for_room()
        await sink.drain()
    finally:  # a second Ctrl-C or an error: every row still gets its line
        window.close(sink.in_flight(), "not sent: the run was interrupted")


def _known(journal: Journal | None, batch: list[CallRequest], sink: Any) -> dict:
    """What the journal knows of these rows; a journal that cannot be read stops the run."""
    if journal is None:
        return {}
    try:
        return journal.lookup([r.external_call_unique_id for r in batch])
    except JournalFailure as error:
        sink.stop(str(error))
        return {}


def _ids(chunk: Chunk, prepared: Prepared) -> pd.Series:
    column = prepared.plan.column("external_call_unique_id") or None
    if column is None:
        return pd.Series(pd.NA, index=chunk.index)
    return chunk.text[column].astype("string").str.strip()


def open_journal(options: Options, token: str | None) -> Journal:
    return Journal(
        options.journal or default_journal_path(), endpoint=options.endpoint, token=token
    )

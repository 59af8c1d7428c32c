"""The pipeline: file -> sources -> profiles -> schema -> mapping -> flow (journal, client) ->
results.

`upload()` and `validate_file()` are what the CLI calls and what Python callers use; both return a
`RunSummary` whose `exit_code` follows the command-line contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from uploader.check.mapping import MAX_SIGNALS, CallRequest, call_requests
from uploader.check.plan import ColumnPlan, plan_columns
from uploader.check.profiles import load_profile
from uploader.check.schema import SeenIds, ValidatedChunk, validate
from uploader.check.times import DateOrder, MixedDateOrder, TimeOptions
from uploader.errors import (
    ExitCode,
    InputError,
    JournalFailure,
    OutputError,
    RowError,
    exit_code_for,
)
from uploader.outcome import (
    DELIVERED,
    INVALID,
    SKIPPED,
    STATUSES,
    RowOutcome,
)
from uploader.read.inputs import Input, location, single_input
from uploader.read.sources import open_table
from uploader.read.table import Chunk, Table
from uploader.report.paths import RunFiles
from uploader.report.progress import Progress
from uploader.report.results import ErrorsFile, Outputs, RequestsFile, write_summary_json
from uploader.report.runlog import RunLog
from uploader.send.control import Interrupts, RunControl
from uploader.send.journal import Journal, default_journal_path
from uploader.settings import Options, target_token

if TYPE_CHECKING:  # the client (and aiohttp) loads only when a run sends: validate starts faster
    from uploader.send.flow import ReorderWindow

log = logging.getLogger("uploader")
DRAIN_SECONDS = 30.0


@dataclass
class RunSummary:
    """What a run did; `as_dict()` is the --summary-json document."""

    input: str
    command: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    blank_rows: int = 0
    elapsed_seconds: float = 0.0
    files: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    stopped: str | None = None
    interrupted: bool = False
    exit_code: int = 0
    output_problems: list[str] = field(default_factory=list)
    problems: dict[str, Any] = field(default_factory=dict)
    sending: bool = True  # an upload (rows left unsent count against it), not a dry run
    stopped_by_api: bool = False  # the API, a limit, an outage or the journal stopped it (exit 3)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def count(self, outputs: Outputs) -> None:
        """The rows' outcomes, as the results file holds them, and the exit code they make."""
        self.counts = outputs.counts
        self.problems = outputs.problems.as_dict()
        self.files["results"] = str(outputs.results_path)
        if outputs.retry_rows:
            self.files["retry"] = str(outputs.retry_path)
        self.exit_code = self._exit_code()

    def put_outputs(self, outputs: Outputs) -> None:
        """Put the outputs in place; after sending, a failure there is exit 5 and the summary
        says so (the journal holds every answer)."""
        try:
            outputs.close(self.as_dict())
        except OutputError as error:
            self.output_failed(error)
            self.files.pop("results", None)
            self.files.pop("retry", None)

    def output_failed(self, error: OutputError) -> None:
        self.output_problems.append(str(error))
        self.exit_code = self._exit_code()

    def _exit_code(self) -> ExitCode:
        return exit_code_for(
            self.counts,
            interrupted=self.interrupted,
            stopped=self.stopped_by_api,
            output_failed=bool(self.output_problems),
            sending=self.sending,
        )

    def as_dict(self) -> dict:
        return {
            "command": self.command,
            "input": self.input,
            "rows": self.rows,
            "blank_rows": self.blank_rows,
            "counts": self.counts,
            "delivered": sum(self.counts.get(status, 0) for status in DELIVERED),
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "rows_per_second": round(self.rows / self.elapsed_seconds, 1)
            if self.elapsed_seconds
            else None,
            "files": self.files,
            "warnings": self.warnings,
            "stopped": self.stopped,
            "interrupted": self.interrupted,
            "output_problems": self.output_problems,
            "problems": self.problems,
            "exit_code": int(self.exit_code),
        }


@dataclass
class Prepared:
    """An input opened and resolved against its profile, ready to be read chunk by chunk."""

    table: Table
    plan: ColumnPlan
    time_options: TimeOptions
    warnings: list[str]
    zone_less: int = 0  # start times read so far that carry no zone (a warning at the end)

    def rows(self, chunk_size: int) -> Iterator[tuple[Chunk, ValidatedRows]]:
        """Each chunk with its verdicts. The next chunk is checked on a second thread meanwhile
        (Arrow's kernels run without the GIL); what depends on earlier chunks stays in order."""
        seen = SeenIds()
        with ThreadPoolExecutor(1, thread_name_prefix="validate") as pool:
            ahead: deque[tuple[Chunk, Future]] = deque()
            for chunk in self.table.chunks(chunk_size):
                ahead.append((chunk, pool.submit(self._check, chunk.text)))
                if len(ahead) > 1:
                    yield self._settle(*ahead.popleft(), seen)
            while ahead:
                yield self._settle(*ahead.popleft(), seen)

    def _check(self, chunk: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, str], ValidatedChunk]:
        canonical = self.plan.canonical(chunk)
        skipped = {int(row): str(reason) for row, reason in canonical.skips.dropna().items()}
        kept = canonical.rows[~canonical.rows.index.isin(list(skipped))]
        checked = validate(kept, self.time_options, self._columns())
        _name_cells(checked.errors, canonical.origin)
        return kept, skipped, checked

    def _settle(self, chunk: Chunk, checking: Future, seen: SeenIds) -> tuple[Chunk, ValidatedRows]:
        kept, skipped, checked = checking.result()
        errors = checked.errors
        for row, problem in chunk.broken.items():
            errors[row] = [RowError(row, "", "", problem, field="row")]
        for row, first in seen.repeats(kept["external_call_unique_id"]).items():
            identifier = str(kept.at[row, "external_call_unique_id"])
            if self.plan.profile.legs.same_id:
                errors.pop(row, None)
                skipped[row] = f"another leg of call {identifier} (row {first})"
                continue
            errors.setdefault(row, []).append(
                RowError(
                    row,
                    "external_call_unique_id",
                    identifier,
                    f"is the same external_call_unique_id as row {first}",
                    field="external_call_unique_id",
                    input_column=self.plan.column("external_call_unique_id"),
                )
            )
        valid = checked.rows[~checked.rows.index.isin([*errors, *skipped])]
        zone_less = int(valid["start_time"].str.endswith("M").sum())
        self.zone_less += zone_less
        return chunk, ValidatedRows(valid, errors, skipped, zone_less)

    def _columns(self) -> dict[str, str]:
        plan = self.plan
        named = {f: plan.column(f) for f in plan.fields}
        named.update({f"signal:{n}": c for n, c in plan.signals.items()})
        named.update({f"custom:{n}": c for n, c in plan.custom.items()})
        named.setdefault(
            "calling_phone_number", plan.column("from_number") or "calling_phone_number"
        )
        named.setdefault(
            "destination_phone_number", plan.column("to_number") or "destination_phone_number"
        )
        return named


def _name_cells(errors: dict[int, list[RowError]], origin: dict[str, pd.Series]) -> None:
    """Point each problem at the cell its value came from: after the from/to swap of an outbound
    call, or when a field takes its value from the second column a profile lists."""
    for row, problems in errors.items():
        for at, problem in enumerate(problems):
            source = origin.get(problem.field)
            if source is None or row not in source.index:
                continue
            column = str(source[row])
            label = problem.field if column == problem.field else f"{problem.field} ({column})"
            problems[at] = replace(problem, column=label, input_column=column)


@dataclass
class ValidatedRows:
    valid: pd.DataFrame
    errors: dict[int, list[RowError]]
    skipped: dict[int, str]
    zone_less: int

    def settled(self, ids: pd.Series) -> dict[int, RowOutcome]:
        """Outcomes of the rows that will not be sent: invalid and skipped ones."""
        outcomes: dict[int, RowOutcome] = {}
        for row, problems in self.errors.items():
            identifier = ids.get(row)
            outcomes[row] = RowOutcome(
                row,
                "" if pd.isna(identifier) else str(identifier),
                INVALID,
                error="; ".join(str(p) for p in problems),
            )
        for row, reason in self.skipped.items():
            identifier = ids.get(row)
            outcomes[row] = RowOutcome(
                row, "" if pd.isna(identifier) else str(identifier), SKIPPED, error=reason
            )
        return outcomes


def prepare(source: Input, options: Options) -> Prepared:
    profile = load_profile(options.profile)
    table = open_table(
        source, is_header=profile.is_header, sheet=options.sheet, encoding=options.encoding
    )
    plan = plan_columns(
        profile,
        table.headers,
        table.columns,
        campaign_id=options.campaign_id,
        recording_url_template=options.recording_url_template,
        source=source.name,
    )
    warnings = []
    used = plan.used_columns()
    ignored = [h for h, c in zip(table.headers, table.columns, strict=True) if c not in used and h]
    if ignored:
        warnings.append(f"columns not sent (kept in the results file): {', '.join(ignored)}")
    if len(plan.signals) > MAX_SIGNALS:
        warnings.append(
            f"{len(plan.signals)} signal columns: Invoca's Signal API takes at most "
            f"{MAX_SIGNALS} per call"
        )
    timezone = options.timezone or profile.timezone
    default_dayfirst = options.dayfirst or profile.dayfirst
    dayfirst = _survey(source, table, options, plan, default_dayfirst, warnings)
    time_options = TimeOptions(
        timezone=timezone,
        dayfirst=dayfirst,
        epoch1904=table.epoch1904,
        country=options.country or profile.country or "US",
    )
    return Prepared(table, plan, time_options, warnings)


def _survey(
    source: Input,
    table: Table,
    options: Options,
    plan: ColumnPlan,
    default_dayfirst: bool,
    warnings: list[str],
) -> bool:
    """What the whole file decides before any row is sent, in a first pass over the rows (the CSV
    read again, or the loaded Excel sheet walked again): the start time column's date order, and
    which legs of a multi-leg call hold the customer's number."""
    columns = plan.fields.get("start_time", []) if not options.dayfirst else []
    if not columns and not plan.profile.legs.parent:
        return default_dayfirst
    order = DateOrder.empty()
    for chunk in table.rewound().chunks(options.chunk_size):
        for column in columns:
            order.add(chunk.text[column].astype("string").str.strip())
        plan.survey(chunk.text)
    if not columns:
        return default_dayfirst
    try:
        dayfirst = order.decide(default_dayfirst)
    except MixedDateOrder as error:
        raise InputError(f"{source.name}: {error}") from None
    if order.ambiguous and not order.day_first_count and not order.month_first_count:
        way = "day first (5 March for 05/03)" if dayfirst else "month first (3 May for 05/03)"
        warnings.append(
            f"{order.ambiguous} start times like 05/03/2024 could be read either way: "
            "all were read "
            f"{way}; pass --dayfirst or fix the profile if that is wrong"
        )
    elif order.day_first_count and not default_dayfirst:
        warnings.append(
            "start times read day first: the column holds "
            f"{order.day_first_count} dates only valid "
            f"that way (row {next(iter(order.day_first))}: {next(iter(order.day_first.values()))})"
        )
    return dayfirst


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
    try:
        for chunk, checked in prepared.rows(options.chunk_size):
            for row in sorted(checked.errors):
                errors_file.write(checked.errors[row])
            if on_chunk is not None:
                on_chunk(chunk, checked)
            summary.counts[INVALID] += len(checked.errors)
            summary.counts[SKIPPED] += len(checked.skipped)
            summary.counts["valid"] += len(chunk) - len(checked.errors) - len(checked.skipped)
            progress.advance(len(chunk))
    finally:
        errors_file.close()
        progress.close()
    _zone_warning(summary, prepared.zone_less)
    summary.blank_rows = prepared.table.blank_rows
    summary.files["errors"] = str(errors_file.path)
    summary.problems = errors_file.problems.as_dict()
    summary.elapsed_seconds = time.monotonic() - started
    summary.exit_code = exit_code_for(summary.counts, sending=False)
    return summary


def _zone_warning(summary: RunSummary, zone_less: int) -> None:
    if zone_less:
        summary.warnings.append(
            f"{zone_less} start times carry no zone: "
            "sent in the form Invoca reads in the network's own "
            "zone; pass --timezone to send exact instants"
        )


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


class Run:
    """One upload run of one input: owns the sender and the output files for its duration, and
    the journal too unless it is given one (several inputs share one journal and its lock)."""

    def __init__(
        self,
        source: Input,
        options: Options,
        token: str | None,
        *,
        handle_signals: bool = False,
        journal: Journal | None = None,
        writes_summary: bool = True,
        control: RunControl | None = None,
    ) -> None:
        self.source = source
        self.control = control
        self.shared_journal = journal
        self.writes_summary = writes_summary  # False: the batch writes --summary-json
        self.handle_signals = handle_signals
        self.options = options
        self.token = token
        self.started = time.monotonic()
        self.summary = RunSummary(
            input=source.name, command="dry-run" if options.dry_run else "upload"
        )
        self.stops = Interrupts(DRAIN_SECONDS)

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
        prepared = prepare(self.source, self.options)
        self.summary.warnings.extend(prepared.warnings)
        if self.options.strict and not self.options.dry_run:
            invalid = _count_invalid(self.source, self.options)
            if invalid:
                self.summary.stopped = f"--strict: {invalid} invalid rows, nothing sent"
                self.options = Options.build(self.options, dry_run=True)
                prepared = prepare(self.source, self.options)
        options, summary = self.options, self.summary
        summary.sending = not options.dry_run
        # Every resource of the run is opened here and closed by the stack, in reverse: the
        # summary is computed, then the outputs put in place, the --summary-json written (it
        # states the exit code returned), the run recorded, and the journal closed last.
        async with contextlib.AsyncExitStack() as stack:
            journal = None
            if options.dry_run:
                pass
            elif self.shared_journal is not None:
                journal = self.shared_journal
            else:  # the lock first: a refused run touches no output
                journal = open_journal(options, self.token)
                stack.callback(journal.close)
            files = RunFiles.planned(self.source, options)
            runlog = RunLog(options.log_file)
            stack.callback(runlog.close)
            stack.callback(self._record_run, journal, runlog)
            if journal is not None:
                journal.start_run(self.source.name)
            stack.callback(self._write_summary_json)
            outputs = Outputs(
                files.results,
                files.retry,
                prepared.table.headers,
                prepared.table.columns,
                prepared.table.delimiter,
                dry_run=options.dry_run,
            )
            stack.callback(summary.put_outputs, outputs)
            requests_file = RequestsFile(files.requests) if options.dry_run else None
            stack.callback(self._finish, prepared, outputs, requests_file, runlog)
            if journal is not None:  # every answer written before the summary is made
                stack.callback(self._flush_journal, journal)
            progress = Progress(
                prepared.table.estimated_rows,
                enabled=options.progress,
                what="rows",
                listener=self.control.update if self.control else None,
            )
            stack.callback(progress.close)
            from uploader.send.flow import ReorderWindow, open_sink

            window = ReorderWindow(outputs, runlog, options.chunk_size)

            def arrived(outcome: RowOutcome) -> None:
                progress.outcome(outcome)
                window.arrived(outcome)

            sink = await stack.enter_async_context(
                open_sink(
                    options, self.token, journal, requests_file and requests_file.write, arrived
                )
            )
            stack.push(self._note_stop(sink))
            interrupt = self.stops.interrupter(sink)
            if self.handle_signals:
                self.stops.install_signals(interrupt)
                stack.callback(self.stops.remove_signals)
            if self.control is not None:
                self.control.attach(interrupt)
                stack.callback(self.control.detach)
            await _feed(prepared, options.chunk_size, journal, sink, window, arrived, progress)
        return self.summary

    def _note_stop(self, sink):  # type: ignore[no-untyped-def]
        """When the run ends: a stop the sink made itself (not an interrupt) is the API's."""

        def noted(*exc_info: object) -> None:
            if not self.interrupts and sink.stop_reason:
                self.summary.stopped = self.summary.stopped or sink.stop_reason
                self.summary.stopped_by_api = True

        return noted

    def _flush_journal(self, journal: Journal) -> None:
        """The answers still queued go to the journal; if it cannot take them, the run stopped on
        it (exit 3): a rerun posts those rows again and the API's 202 or 409 says delivered."""
        try:
            journal.commit()
        except JournalFailure as error:
            self.summary.stopped = self.summary.stopped or str(error)
            self.summary.stopped_by_api = True

    def _write_summary_json(self) -> None:
        if self.options.summary_json and self.writes_summary:
            try:
                write_summary_json(Path(self.options.summary_json), self.summary.as_dict())
            except OutputError as error:
                self.summary.output_failed(error)

    def _record_run(self, journal: Journal | None, runlog: RunLog) -> None:
        if journal is not None:
            journal.finish_run(self.summary.as_dict())
        runlog.run(self.summary.as_dict())

    def _finish(
        self,
        prepared: Prepared,
        outputs: Outputs,
        requests_file: RequestsFile | None,
        runlog: RunLog,
    ) -> None:
        summary = self.summary
        summary.blank_rows = prepared.table.blank_rows
        summary.elapsed_seconds = time.monotonic() - self.started
        if requests_file is not None:
            try:
                requests_file.close()
                summary.files["requests"] = str(requests_file.path)
            except OutputError as error:
                summary.output_problems.append(str(error))
        runlog.flush()
        if runlog.failure:
            summary.output_problems.append(runlog.failure)
        _zone_warning(summary, prepared.zone_less)
        summary.interrupted = self.interrupts > 0
        summary.count(outputs)


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

    try:
        for chunk, checked in prepared.rows(chunk_size):
            outcomes = checked.settled(_ids(chunk, prepared))
            requests = list(call_requests(checked.valid))
            window.open(chunk, checked.errors, outcomes, requests)
            progress.advance(len(outcomes))  # invalid and skipped rows count as done too
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


def _count_invalid(source: Input, options: Options) -> int:
    prepared = prepare(source, options)
    return sum(len(checked.errors) for _, checked in prepared.rows(options.chunk_size))

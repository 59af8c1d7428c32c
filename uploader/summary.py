"""What a run did: counts per status, files, warnings, why it stopped, and the exit code these make
(`as_dict()` is the --summary-json document)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uploader.check.prepare import Prepared
from uploader.errors import (
    ExitCode,
    JournalFailure,
    OutputError,
    exit_code_for,
)
from uploader.outcome import (
    DELIVERED,
    NOT_SENT,
    STATUSES,
)
from uploader.report.paths import settle_retry_file
from uploader.report.results import Outputs, RequestsFile, write_summary_json
from uploader.report.runlog import RunLog
from uploader.send.journal import Journal

if TYPE_CHECKING:  # the client (and aiohttp) loads only when a run sends: validate starts faster
    pass


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
    notes: list[str] = field(default_factory=list)  # what the run tidied, for the screen
    stopped: str | None = None
    interrupted: bool = False
    exit_code: int = 0
    output_problems: list[str] = field(default_factory=list)
    problems: dict[str, Any] = field(default_factory=dict)
    sending: bool = True  # an upload (rows left unsent count against it), not a dry run
    changed_since_delivered: int = 0  # already uploaded rows that differ from the delivered ones
    stopped_by_api: bool = False  # the API, a limit, an outage or the journal stopped it (exit 3)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def count(self, outputs: Outputs) -> None:
        """The rows' outcomes, as the results file holds them, and the exit code they make."""
        self.counts = outputs.counts
        self.changed_since_delivered = outputs.changed
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

    def stop_noted(self, sink: Any, interrupts: Callable[[], int]) -> Callable[..., None]:
        """When the run ends: a stop the sink made itself (not an interrupt) is the API's."""

        def noted(*exc_info: object) -> None:
            if not interrupts() and sink.stop_reason:
                self.stopped = self.stopped or sink.stop_reason
                self.stopped_by_api = True

        return noted

    def settle_retry(self, journal: Journal | None, outputs: Outputs) -> None:
        """Once the outputs are in place: the retry file remembered, or a stale one removed."""
        if journal is None or self.output_problems:
            return
        note = settle_retry_file(journal, outputs.retry_path, "retry" in self.files)
        if note:
            self.notes.append(note)

    def flush_journal(self, journal: Journal) -> None:
        """The answers still queued go to the journal; if it cannot take them, the run stopped on
        it (exit 3): a rerun posts those rows again and the API's 202 or 409 says delivered."""
        try:
            journal.commit()
        except JournalFailure as error:
            self.stopped = self.stopped or str(error)
            self.stopped_by_api = True

    def write_json(self, path: str | Path | None) -> None:
        if path:
            try:
                write_summary_json(Path(path), self.as_dict())
            except OutputError as error:
                self.output_failed(error)

    def record(self, journal: Journal | None, runlog: RunLog) -> None:
        if journal is not None:
            journal.finish_run(self.as_dict())
        runlog.run(self.as_dict())

    def finish(
        self,
        prepared: Prepared,
        outputs: Outputs,
        requests_file: RequestsFile | None,
        runlog: RunLog,
        started: float,
        interrupted: bool,
    ) -> None:
        """The run's last facts, once its rows are all written: blank rows, time, the requests
        file and the run log put in place, and the counts and exit code the outputs make."""
        self.blank_rows = prepared.table.blank_rows
        self.elapsed_seconds = time.monotonic() - started
        if requests_file is not None:
            try:
                requests_file.close()
                self.files["requests"] = str(requests_file.path)
            except OutputError as error:
                self.output_problems.append(str(error))
        runlog.flush()
        if runlog.failure:
            self.output_problems.append(runlog.failure)
        zone_warning(self, prepared.zone_less)
        recordings_note(self, prepared)
        self.interrupted = interrupted
        self.count(outputs)

    @property
    def rows_done(self) -> int:
        """The rows the run dealt with: when it sends, those left unsent by a stop are not."""
        if not self.sending:
            return self.rows
        return self.rows - self.counts.get(NOT_SENT, 0)

    def as_dict(self) -> dict:
        return {
            "command": self.command,
            "input": self.input,
            "rows": self.rows,
            "blank_rows": self.blank_rows,
            "counts": self.counts,
            "delivered": sum(self.counts.get(status, 0) for status in DELIVERED),
            "changed_since_delivered": self.changed_since_delivered,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "rows_per_second": round(self.rows_done / self.elapsed_seconds, 1)
            if self.elapsed_seconds
            else None,
            "files": self.files,
            "warnings": self.warnings,
            "notes": self.notes,
            "stopped": self.stopped,
            "interrupted": self.interrupted,
            "output_problems": self.output_problems,
            "problems": self.problems,
            "exit_code": int(self.exit_code),
        }


def recordings_note(summary: RunSummary, prepared: Prepared) -> None:
    """--check-recordings: how many links were fetched, and how many could not be;
    --presign-recordings: how many S3 locations were signed, for how long."""
    check = prepared.recordings
    if check is not None:
        summary.notes.append(
            f"recordings checked: {check.checked:,} links, {check.unreachable:,} not reachable"
        )
    signer = prepared.presigner
    if signer is not None:
        summary.notes.append(
            f"recordings signed: {signer.signed:,} S3 locations, links valid {signer.days} days"
        )


def zone_warning(summary: RunSummary, zone_less: int) -> None:
    if zone_less:
        summary.warnings.append(
            f"{zone_less} start times carry no zone: "
            "sent in the form Invoca reads in the network's own "
            "zone; pass --timezone to send exact instants"
        )

"""What a run leaves behind: the results file, the retry file, the requests file and the summary.

All writers stream chunk by chunk in input order. No cell in any of them can run as a formula: in
xlsx every text cell is a string cell; in CSV a risky cell gets a leading apostrophe (which the
reader strips again, so a retry file uploads as it is).
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from uploader.check.mapping import SENT_FIELDS
from uploader.errors import OutputError, RowError
from uploader.outcome import (
    ALREADY_UPLOADED,
    CHANGED_SINCE,
    FINE,
    INVALID,
    NOT_SENT,
    OUTCOME_COLUMNS,
    RETRY_COLUMNS,
    STATUSES,
    RowOutcome,
)
from uploader.read.arrowtext import arrow, prefixed
from uploader.read.inputs import Location
from uploader.report.cells import cell_value, python_cells
from uploader.report.files import AtomicFile, cannot_write, write_text
from uploader.settings import STDOUT
from uploader.textsafe import FORMULA_RISK, PLAIN_NUMBER, formula_safe

if TYPE_CHECKING:
    from uploader.read.table import Chunk, Table

RESULT_COLUMNS = (
    OUTCOME_COLUMNS  # spec/cli.md's order: row, id, status, cuid, http_status, attempts, error
)
# What was sent for the values the tool normalises (mapping.SENT_FIELDS), after the first seven.
SENT_COLUMNS = tuple(f"sent {name}" for name in SENT_FIELDS)
ERROR_COLUMNS = ("row", "column", "value", "error")
ROW_MENTION = re.compile(r"\brow (\d+)\b")
UNSENT = ("",) * len(SENT_COLUMNS)
GREEN, RED, AMBER, GREY = "C6EFCE", "FFC7CE", "FFEB9C", "EDEDED"
STATUS_FILL = {
    "created": GREEN,
    "already_received": GREEN,
    "already_uploaded": GREEN,
    "skipped": GREY,
    "invalid": RED,
    "rejected": RED,
    "conflict": RED,
    "failed": AMBER,
    "not_sent": GREY,
}


def own_headers(headers: list[str]) -> list[str]:
    """The input's headers as the results file shows them after its own columns: one that repeats
    a results column (an export's own `status` or `error`) gets " (input)" added, so that no two
    columns share a name. The retry file keeps the input's headers as they are."""
    taken = {name.casefold() for name in (*RESULT_COLUMNS, *SENT_COLUMNS)}
    return [
        f"{header} (input)" if header.strip().casefold() in taken else header for header in headers
    ]


class _CsvSink:
    """A CSV file; `cell`/`cells` make values ready for it (text, formula-safe); `row` writes."""

    keeps_types = False  # every cell is text

    def __init__(self, path: Location, header: list[str], delimiter: str = ",") -> None:
        self.target = AtomicFile(path)
        self.writer = csv.writer(
            self.target.open(newline="", encoding="utf-8-sig"), delimiter=delimiter
        )
        self.writer.writerow([formula_safe(name) for name in header])

    @staticmethod
    def cell(value: Any) -> Any:
        return formula_safe(cell_value(value))

    @staticmethod
    def cells(column: pd.Series) -> list[str]:
        """A whole column made ready at once: what `cell` does, on Arrow's kernels."""
        values = arrow(column)
        risky = pc.and_(
            pc.match_substring_regex(values, FORMULA_RISK.pattern),
            pc.invert(pc.match_substring_regex(values, PLAIN_NUMBER.pattern)),
        )
        safe = pc.if_else(risky, prefixed("'", values), values)
        return pc.fill_null(safe, pa.scalar("", safe.type)).to_pylist()

    def row(
        self,
        values: list[Any],
        fills: dict[int, str] | None = None,
        notes: dict[int, str] | None = None,
    ) -> None:
        self.writer.writerow(values)

    def close(self, summary: dict | None = None) -> None:
        self.target.commit()

    def discard(self) -> None:
        self.target.discard()


def _sink(
    path: Location, header: list[str], title: str, delimiter: str = ",", layout: list | None = None
):
    """A CSV or xlsx output; `layout`: the template's column per header (formats, drop-downs,
    header comments) for a workbook of the template's columns."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from uploader.report.workbook import XlsxSink  # openpyxl is loaded only for a workbook

        return XlsxSink(path, header, title, layout)
    return _CsvSink(path, header, "\t" if path.suffix.lower() == ".tsv" else delimiter)


@dataclass
class Outputs:
    """The results file, and the retry file once there is a row to retry."""

    results_path: Location
    retry_path: Location
    headers: list[str]
    columns: list[str]
    delimiter: str = ","
    dry_run: bool = False
    input_name: str = "the input"
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    retry_rows: int = 0
    changed: int = 0  # already uploaded rows that differ from what was delivered then
    failure: str | None = None  # the first write that failed; later chunks are only counted
    problems: ProblemSample = field(default_factory=lambda: ProblemSample())
    _retry: Any = None

    @classmethod
    def for_table(
        cls, results: Location, retry: Location, table: Table, *, dry_run: bool = False
    ) -> Outputs:
        return cls(
            results,
            retry,
            table.headers,
            table.columns,
            table.delimiter,
            dry_run=dry_run,
            input_name=table.source.name.rsplit("/", 1)[-1],
        )

    def __post_init__(self) -> None:
        from uploader.report.layout import layout_of

        self._layout = layout_of(self.headers)
        ours = [None] * (len(RESULT_COLUMNS) + len(SENT_COLUMNS))
        self._results = _sink(
            self.results_path,
            [*RESULT_COLUMNS, *SENT_COLUMNS, *own_headers(self.headers)],
            "Results",
            self.delimiter,
            [*ours, *self._layout] if self._layout else None,
        )
        self._offsets = {name: index for index, name in enumerate(self.columns)}
        self._retry_of: dict[int, int] = {}  # a row of the input -> its row in the retry file
        self._kept = [i for i, h in enumerate(self.headers) if h not in RETRY_COLUMNS]

    def write(
        self,
        chunk: Chunk,
        outcomes: dict[int, RowOutcome],
        errors: dict[int, list[RowError]],
        sent: dict[int, tuple[str, ...]] | None = None,
    ) -> None:
        """Write one chunk's rows in input order; every row of the chunk must have an outcome;
        `sent`: the normalised values of the rows whose request was built (SENT_COLUMNS).

        A write that fails (a full disk) does not stop the run: the journal holds the truth, the
        rows are still counted, each once, and `close()` reports the failure (exit 5)."""
        for row in chunk.index.tolist():
            outcome = outcomes[int(row)]
            self.counts[outcome.status] += 1
            self.changed += outcome.status == ALREADY_UPLOADED and outcome.error == CHANGED_SINCE
            self.problems.outcome(outcome, errors.get(int(row), []))
        if self.failure is None:
            try:
                self._write(chunk, outcomes, errors, sent or {})
            except OSError as error:
                self.failure = str(cannot_write(self.results_path, error))

    def _write(
        self,
        chunk: Chunk,
        outcomes: dict[int, RowOutcome],
        errors: dict[int, list[RowError]],
        sent: dict[int, tuple[str, ...]],
    ) -> None:
        # xlsx outputs give an xlsx input's cells back as they were typed (dates, numbers)
        typed = chunk.typed if self._results.keeps_types else None
        text = chunk.text
        source = typed.frame if typed is not None else text
        results = self._results
        columns = [results.cells(source[name]) for name in text.columns]
        raw: list[list[Any]] | None = None  # the cells as read, for retry rows
        cell = results.cell  # the row number, status and counts are ours: no formula risk
        for at, (row_number, cells) in enumerate(
            zip(chunk.index.tolist(), zip(*columns, strict=True), strict=True)
        ):
            outcome = outcomes[int(row_number)]
            fixed = [
                outcome.row,
                cell(outcome.external_call_unique_id),
                outcome.status,
                cell(outcome.cuid),
                outcome.http_status or "",
                outcome.attempts or "",
                cell(outcome.error),
            ]
            fills = {2: STATUS_FILL[outcome.status]}
            notes: dict[int, str] = {}
            for problem in errors.get(int(row_number), []):
                for column in (problem.input_column or problem.column, *problem.also):
                    offset = self._offsets.get(column)
                    if offset is not None:
                        place = len(RESULT_COLUMNS) + len(SENT_COLUMNS) + offset
                        fills[place] = RED
                        notes[place] = notes.get(place, "") + str(problem) + "\n"
            values = sent.get(int(row_number), UNSENT)
            results.row([*fixed, *(cell(value) for value in values), *cells], fills, notes)
            if outcome.status not in FINE and not (self.dry_run and outcome.status == NOT_SENT):
                if raw is None:
                    raw = [python_cells(source[name]) for name in text.columns]
                self._retry_row(int(row_number), [column[at] for column in raw], outcome.error)

    def _retry_row(self, source_row: int, cells: list[Any], error: str) -> None:
        """A row to fix or send again, with the row it came from and its reason, whose mentions of
        other rows name them as the analyst finds them: in this file, or in the input."""
        if self._retry is None:
            keep = self._kept
            header = [*(self.headers[i] for i in keep), *RETRY_COLUMNS]
            layout = [*(self._layout[i] for i in keep), None, None] if self._layout else None
            self._retry = _sink(self.retry_path, header, "Retry", self.delimiter, layout)
        cells = [cells[i] for i in self._kept]  # a retry file's own columns are made anew
        self.retry_rows += 1
        self._retry_of[source_row] = self.retry_rows + 1  # after the header
        reason = ROW_MENTION.sub(self._row_named, error)
        self._retry.row([self._retry.cell(v) for v in [*cells, source_row, reason]])

    def _row_named(self, found: re.Match) -> str:
        row = int(found.group(1))
        here = self._retry_of.get(row)
        if here is not None:
            return f"row {here} of this file"
        return f"row {row} of {self.input_name}"

    def close(self, summary: dict | None = None) -> None:
        """Put the files in place; raise OutputError when one could not be written."""
        sinks = [sink for sink in (self._results, self._retry) if sink is not None]
        if self.failure is not None:
            for sink in sinks:
                sink.discard()
            raise OutputError(self.failure)
        for sink in sinks:
            sink.close(summary if sink is self._results else None)


class ProblemSample:
    """What the screen shows of a run's problems: the first few in full, the rest counted, and
    the most frequent reasons the API gave."""

    SHOWN = 10

    def __init__(self) -> None:
        self.first: list[dict[str, Any]] = []
        self.count = 0
        self.reasons: Counter[str] = Counter()

    def outcome(self, outcome: RowOutcome, problems: list[RowError]) -> None:
        if outcome.status in FINE or outcome.status == NOT_SENT:
            return
        if problems:
            for problem in problems:
                self.problem(problem)
            return
        self.count += 1
        if outcome.status != INVALID:
            self.reasons[f"{outcome.status}: {outcome.error}"] += 1
        if len(self.first) < self.SHOWN:
            self.first.append(
                {
                    "row": outcome.row,
                    "column": "",
                    "value": outcome.external_call_unique_id,
                    "reason": f"{outcome.status}: {outcome.error}",
                }
            )

    def problem(self, problem: RowError) -> None:
        self.count += 1
        if len(self.first) < self.SHOWN:
            self.first.append(
                {
                    "row": problem.row,
                    "column": problem.column,
                    "value": problem.value,
                    "reason": problem.message,
                }
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "first": self.first,
            "count": self.count,
            "top_reasons": self.reasons.most_common(5),
        }


class RequestsFile:
    """`--dry-run`: each request body as one JSON line."""

    def __init__(self, path: Location) -> None:
        self.path = path
        self._sink = AtomicFile(path)
        self.stream = self._sink.open(encoding="utf-8")
        self.failure: OutputError | None = None  # a full disk: the rows go on, close() says so

    def write(self, payload: bytes) -> None:
        if self.failure is None:
            try:
                self.stream.write(payload.decode("utf-8") + "\n")
            except OSError as error:
                self.failure = self._sink.failed(error)

    def close(self) -> None:
        if self.failure is not None:
            self._sink.discard()
            raise self.failure
        self._sink.commit()


class ErrorsFile:
    """`validate`: one line per problem (row, column, value, error)."""

    def __init__(self, path: Location) -> None:
        self.path = path
        self._sink = _CsvSink(path, list(ERROR_COLUMNS))
        self.problems = ProblemSample()
        self._discarded = False

    def write(self, problems: list[RowError]) -> None:
        for problem in problems:
            self.problems.problem(problem)
            values = [problem.row, problem.column, problem.value, problem.message]
            try:
                self._sink.row([self._sink.cell(value) for value in values])
            except OSError as error:  # a full disk: the report is the point of the run: stop
                self._sink.discard()
                self._discarded = True
                raise self._sink.target.failed(error) from None

    @property
    def written(self) -> bool:
        return self.problems.count > 0 and not self._discarded

    def close(self) -> None:
        """Put the file in place when it holds a problem; a clean file leaves none behind."""
        if self.written:
            self._sink.close()
        elif not self._discarded:
            self._sink.discard()


def write_summary_json(path: Location, summary: dict) -> None:
    """The summary document; `-` puts it on standard output as one line (the line a scheduler
    such as Airflow keeps), the human summary then going to standard error."""
    if str(path) == STDOUT:
        sys.stdout.write(json.dumps(summary) + "\n")
        sys.stdout.flush()
        return
    write_text(path, json.dumps(summary, indent=2) + "\n")

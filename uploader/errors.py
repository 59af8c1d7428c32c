"""The uploader's exceptions, in one place.

    UploaderError                 base of everything raised on purpose; str() is a one-line message
    ├── InputError                the file cannot be read as a table (exit 2)
    ├── ConfigError               options, profile, token or config file are wrong (exit 2)
    ├── JournalBusy               another run holds the journal (exit 2)
    ├── TransportError            the request may succeed later (network, 5xx, 429); has retry_after
    ├── RunStopped                the API's answer or an error limit stops the run (exit 3)
    ├── JournalFailure            the journal cannot be written (a full disk): nothing more is sent
                                  (exit 3 once calls went out; before that: exit 2)
    └── OutputError               a results, retry, summary or log file cannot be written (exit 5
                                  once calls went out; before that the run cannot start: exit 2)

Row-level problems are not exceptions: they are `RowError` values collected per row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """The command-line contract's exit codes (spec/cli.md)."""

    OK = 0  # every row delivered (or skipped by the profile)
    ROW_PROBLEMS = 1  # finished, but some rows are invalid, rejected, conflict or failed
    CANNOT_START = 2  # usage, unreadable input, missing token, bad profile or config
    STOPPED = 3  # stopped by the API's answer, an error limit, an outage or the journal
    INTERRUPTED = 4  # SIGINT/SIGTERM
    OUTPUT_FAILED = 5  # every answer is in the journal, but an output could not be written


def exit_code_for(
    counts: dict[str, int],
    *,
    interrupted: bool = False,
    stopped: bool = False,
    sending: bool = True,
    output_failed: bool = False,
) -> ExitCode:
    """The one place a run's exit code is decided (validate and upload alike), from its row
    counts and why it stopped: interrupted, stopped by the API or a limit, then rows that did not
    go in (for a run that sends, rows left unsent count too), then outputs that failed."""
    from uploader.outcome import FINE, NOT_SENT

    unsent = counts.get(NOT_SENT, 0) if sending else 0
    bad = sum(count for status, count in counts.items() if status not in FINE | {NOT_SENT, "valid"})
    if interrupted:
        return ExitCode.INTERRUPTED
    if stopped:
        return ExitCode.STOPPED
    if output_failed:
        return ExitCode.OUTPUT_FAILED
    if bad or unsent:
        return ExitCode.ROW_PROBLEMS
    return ExitCode.OK


class UploaderError(Exception):
    """Base class: a problem we expected and can explain in one line."""

    exit_code = ExitCode.CANNOT_START


class InputError(UploaderError):
    """The input file cannot be read as a table of calls."""


class ConfigError(UploaderError):
    """An option, profile, config file or token is wrong."""


class JournalBusy(UploaderError):
    """Another run is using the same journal."""


class TransportError(UploaderError):
    """A request failed in a way that may succeed when tried again."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
        slow_down: bool = False,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.retry_after = retry_after
        self.slow_down = slow_down


class RunStopped(UploaderError):
    """The API said something that makes every further request pointless."""

    exit_code = ExitCode.STOPPED


class JournalFailure(UploaderError):
    """The journal cannot be written (a full disk, a folder gone): no request may go out unmarked,
    so the run stops."""


class OutputError(UploaderError):
    """An output file cannot be written (before sending: the run cannot start)."""


@dataclass(frozen=True)
class RowError:
    """One problem with one cell (or the whole row when column is empty)."""

    row: int
    column: str  # the label shown: the field, with the input's column when it differs
    value: str
    message: str
    field: str = ""  # the API field (or signal:/custom: name) the problem is about
    input_column: str = ""  # the input column that holds the value, for marking the cell
    also: tuple[str, ...] = ()  # further input columns the problem names (a "one of" pair)

    def __str__(self) -> str:
        """The reason in words, quoting at most QUOTED characters of the value (the cell itself
        is in the results file beside it)."""
        where = f"{self.column}: " if self.column else ""
        value = SIGNED_QUERY.sub("?[signature not repeated]", self.value)
        value = value if len(value) <= QUOTED else value[: QUOTED - 1] + "…"
        shown = f'"{value}" ' if value else ""
        return f"{where}{shown}{self.message}".strip()


QUOTED = 80  # characters of a value a reason quotes
# A presigned URL's query (S3 X-Amz-Signature, V2 Signature, Google X-Goog-Signature, Azure sig):
# a reason quoting the URL leaves it out, so that only the input's own cell holds it.
SIGNED_QUERY = re.compile(r"\?(?=\S*?(?:signature|sig)=)\S*", re.IGNORECASE)

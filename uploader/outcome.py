"""One row's outcome, the record every stage passes on and every output file is made from."""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum


class Status(StrEnum):
    """A row's status in the results file (spec/cli.md); each compares equal to its text."""

    CREATED = "created"
    ALREADY_RECEIVED = "already_received"
    ALREADY_UPLOADED = "already_uploaded"
    SKIPPED = "skipped"
    INVALID = "invalid"
    REJECTED = "rejected"
    CONFLICT = "conflict"
    FAILED = "failed"
    NOT_SENT = "not_sent"


CREATED = Status.CREATED
ALREADY_RECEIVED = Status.ALREADY_RECEIVED
ALREADY_UPLOADED = Status.ALREADY_UPLOADED
INVALID = Status.INVALID
REJECTED = Status.REJECTED
CONFLICT = Status.CONFLICT
FAILED = Status.FAILED
NOT_SENT = Status.NOT_SENT
SKIPPED = Status.SKIPPED

STATUSES = tuple(Status)  # the results file's order of statuses
DELIVERED = frozenset({CREATED, ALREADY_RECEIVED, ALREADY_UPLOADED})
# Rows that end the run well: delivered, or left out on purpose by the profile.
FINE = DELIVERED | {SKIPPED}
# Rows that count towards --max-errors.
ERRORS = frozenset({REJECTED, CONFLICT, FAILED})
# The note on an already uploaded row whose other fields changed since it was delivered.
CHANGED_SINCE = "changed since it was delivered; Invoca keeps the first version"


@dataclass
class RowOutcome:
    row: int
    external_call_unique_id: str
    status: str
    cuid: str | None = None
    http_status: int | None = None
    attempts: int = 0
    error: str = ""

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in OUTCOME_COLUMNS}


# A row's outcome as the results file (and the journal's export) lists it.
OUTCOME_COLUMNS = tuple(item.name for item in fields(RowOutcome))

# The retry file's own columns after the input's: where each row came from, and why it is there.
# A retry file given back to the tool has them too: they are the tool's, never a call's data.
RETRY_COLUMNS = ("source row", "error")

"""invoca-upload: load spreadsheets of phone calls into Invoca's Call Ingestion API, exactly once.

from uploader import upload
summary = upload("calls.xlsx", campaign_id="85", token="...")
print(summary.counts, summary.exit_code)
"""

from uploader.errors import (
    ConfigError,
    ExitCode,
    InputError,
    JournalBusy,
    OutputError,
    RowError,
    RunStopped,
    TransportError,
    UploaderError,
)
from uploader.outcome import RowOutcome
from uploader.pipeline import RunSummary, upload, validate_file
from uploader.settings import Options

__all__ = [
    "ConfigError",
    "ExitCode",
    "InputError",
    "JournalBusy",
    "Options",
    "OutputError",
    "RowError",
    "RowOutcome",
    "RunStopped",
    "RunSummary",
    "TransportError",
    "UploaderError",
    "upload",
    "validate_file",
]

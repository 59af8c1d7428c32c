"""invoca-upload: load spreadsheets of phone calls into Invoca's Call Ingestion API, exactly once.

from uploader import upload
summary = upload("calls.xlsx", campaign_id="85", token="...")
print(summary.counts, summary.exit_code)
"""

from uploader.batch import BatchSummary, upload_all
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
    "BatchSummary",
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
    "upload_all",
    "validate_file",
]

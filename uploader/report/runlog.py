"""`--log-file`: JSON lines for schedulers, one per row outcome and one per run."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

from uploader.outcome import RowOutcome
from uploader.report.files import append_no_follow, cannot_write

URL_QUERY = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://[^\s?#\"']+)\?[^\s\"'\u2026]*")


def redact(text: str) -> str:
    """Presigned recording URLs carry their signature in the query string: keep it out of logs,
    whatever the scheme (a refused `ftp://` URL is quoted in its row's reason)."""
    return URL_QUERY.sub(r"\1?[redacted]", text)


def _redacted(value: object) -> object:
    """Every text in a record redacted before it is encoded (JSON's escapes would cut a match)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


class RunLog:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self.stream = None
        self.failure: str | None = None  # a full disk: the log stops, the run goes on and says so
        if path:
            self.stream = append_no_follow(Path(path))

    def _write(self, record: dict) -> None:
        if self.stream is not None:
            record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **record}
            try:
                self.stream.write(json.dumps(_redacted(record), ensure_ascii=False) + "\n")
            except OSError as error:
                self._failed(error)

    def outcome(self, outcome: RowOutcome) -> None:
        if self.stream is not None:
            self._write({"event": "row", **outcome.as_dict()})

    def run(self, summary: dict) -> None:
        self._write({"event": "run", **summary})

    def flush(self) -> None:
        """Every line so far on disk (before the run's summary is made: a failure counts)."""
        if self.stream is not None:
            try:
                self.stream.flush()
            except OSError as error:
                self._failed(error)

    def close(self) -> None:
        if self.stream is not None:
            try:
                self.stream.close()
            except OSError as error:
                self._failed(error)

    def _failed(self, error: OSError) -> None:
        self.failure = self.failure or str(cannot_write(self.path, error))
        stream, self.stream = self.stream, None
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()

"""The journal: a SQLite file that remembers, per (endpoint, token fingerprint, id), what was sent and
what came back. It is what makes a crash, a Ctrl-C or tomorrow's overlapping export safe.

A row is marked `sending` (committed) before its request goes out; its outcome is committed before
the results file reports it. The token is never stored: only an HMAC of it under a per-journal salt.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

from uploader.errors import ConfigError, JournalBusy
from uploader.outcome import DELIVERED, RowOutcome

SENDING = "sending"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS calls (
    endpoint TEXT NOT NULL,
    token_fingerprint TEXT NOT NULL,
    external_call_unique_id TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    cuid TEXT,
    http_status INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    first_time TEXT NOT NULL,
    last_time TEXT NOT NULL,
    PRIMARY KEY (endpoint, token_fingerprint, external_call_unique_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    finished TEXT,
    input TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    pid INTEGER NOT NULL,
    summary TEXT
);
"""


def default_journal_path() -> Path:
    return Path(platformdirs.user_data_dir("invoca-upload")) / "journal.sqlite"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class JournalEntry:
    external_call_unique_id: str
    payload_hash: str
    status: str
    cuid: str | None
    attempts: int

    @property
    def delivered(self) -> bool:
        return self.status in DELIVERED

    @property
    def maybe_sent(self) -> bool:
        """A request for this id may have reached the API without us hearing the answer."""
        return self.status in (SENDING, "failed")


class Journal:
    """One run's connection to the journal, holding its lock."""

    def __init__(self, path: str | Path, *, endpoint: str, token: str | None) -> None:
        self.path = Path(path)
        self.endpoint = endpoint
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(
                f"journal {self.path}: cannot create its folder ({error.strerror})"
            ) from error
        self._lock = _acquire_lock(self.path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as error:
            self._lock.close()
            raise ConfigError(f"journal {self.path}: not a journal file ({error})") from error
        self.fingerprint = self._fingerprint(token or "")
        self.run_id: int | None = None

    def _fingerprint(self, token: str) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
        if row is None:
            salt = secrets.token_hex(16)
            self._db.execute("INSERT INTO meta VALUES ('salt', ?)", (salt,))
        else:
            salt = row[0]
        return hmac.new(salt.encode(), token.encode(), hashlib.sha256).hexdigest()[:32]

    def start_run(self, input_path: str) -> None:
        cursor = self._db.execute(
            "INSERT INTO runs (started, input, endpoint, pid) VALUES (?, ?, ?, ?)",
            (_now(), input_path, self.endpoint, os.getpid()),
        )
        self.run_id = cursor.lastrowid

    def finish_run(self, summary: dict) -> None:
        if self.run_id is not None:
            self._db.execute(
                "UPDATE runs SET finished = ?, summary = ? WHERE id = ?",
                (_now(), json.dumps(summary), self.run_id),
            )

    def lookup(self, ids: list[str]) -> dict[str, JournalEntry]:
        found: dict[str, JournalEntry] = {}
        for start in range(0, len(ids), 900):
            batch = ids[start : start + 900]
            marks = ",".join("?" * len(batch))
            query = (
                "SELECT external_call_unique_id, payload_hash, status, cuid, attempts FROM calls "  # noqa: S608
                f"WHERE endpoint = ? AND token_fingerprint = ? AND external_call_unique_id IN ({marks})"
            )
            for row in self._db.execute(query, [self.endpoint, self.fingerprint, *batch]):
                found[row[0]] = JournalEntry(*row)
        return found

    def mark_sending(self, requests: Iterable[tuple[str, str]]) -> None:
        """Record (id, payload hash) pairs as in flight, in one transaction, before they are sent."""
        now = _now()
        with self._transaction():
            self._db.executemany(
                "INSERT INTO calls (endpoint, token_fingerprint, external_call_unique_id, payload_hash,"
                " status, attempts, first_time, last_time) VALUES (?, ?, ?, ?, ?, 0, ?, ?)"
                " ON CONFLICT DO UPDATE SET payload_hash = excluded.payload_hash,"
                " status = excluded.status, last_time = excluded.last_time",
                [(self.endpoint, self.fingerprint, i, h, SENDING, now, now) for i, h in requests],
            )

    def record(self, outcomes: Iterable[RowOutcome]) -> None:
        """Commit the answers (one transaction); only what the API answered is recorded."""
        now = _now()
        rows = [
            (o.status, o.cuid, o.http_status, o.attempts, o.error, now, self.endpoint, self.fingerprint,
             o.external_call_unique_id)
            for o in outcomes
            if o.attempts > 0
        ]  # fmt: skip
        with self._transaction():
            self._db.executemany(
                "UPDATE calls SET status = ?, cuid = COALESCE(?, cuid), http_status = ?,"
                " attempts = attempts + ?, error = ?, last_time = ?"
                " WHERE endpoint = ? AND token_fingerprint = ? AND external_call_unique_id = ?",
                rows,
            )

    def release_unsent(self, ids: Iterable[str], before: dict[str, JournalEntry]) -> None:
        """Rows marked sending that never went out (the run stopped first) go back to what they were."""
        key = (self.endpoint, self.fingerprint)
        restore = [(before[i].status, before[i].payload_hash, *key, i) for i in ids if i in before]
        forget = [(*key, i) for i in ids if i not in before]
        with self._transaction():
            self._db.executemany(
                "UPDATE calls SET status = ?, payload_hash = ? WHERE endpoint = ?"
                " AND token_fingerprint = ? AND external_call_unique_id = ?",
                restore,
            )
            self._db.executemany(
                "DELETE FROM calls WHERE endpoint = ? AND token_fingerprint = ? AND external_call_unique_id = ?",
                forget,
            )

    def _transaction(self):
        return _Transaction(self._db)

    def close(self) -> None:
        self._db.close()
        self._lock.close()


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, traceback) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")


def _acquire_lock(path: Path):
    lock_path = path.with_name(path.name + ".lock")
    lock = lock_path.open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        raise JournalBusy(
            f"journal {path} is in use by {holder}; wait for it to finish or use another --journal"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"pid {os.getpid()} ({' '.join(Path(a).name for a in sys.argv[:2])})")
    lock.flush()
    return lock


# ---------------------------------------------------------------- inspection (invoca-upload journal)


def read_only(path: str | Path) -> sqlite3.Connection:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"journal {path}: no such file")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        db.execute("SELECT 1 FROM calls LIMIT 1")
    except sqlite3.DatabaseError as error:
        raise ConfigError(f"journal {path}: not a journal file ({error})") from error
    return db


def journal_report(path: str | Path, last_runs: int = 5) -> dict:
    db = read_only(path)
    counts = dict(db.execute("SELECT status, COUNT(*) FROM calls GROUP BY status ORDER BY status"))
    runs = [
        {"id": r[0], "started": r[1], "finished": r[2], "input": r[3], "endpoint": r[4],
         "summary": json.loads(r[5]) if r[5] else None}
        for r in db.execute(
            "SELECT id, started, finished, input, endpoint, summary FROM runs ORDER BY id DESC LIMIT ?",
            (last_runs,),
        )
    ]  # fmt: skip
    db.close()
    return {"journal": str(path), "calls": counts, "runs": runs}


def export_journal(path: str | Path, out: str | Path) -> int:
    db = read_only(path)
    columns = ["endpoint", "external_call_unique_id", "status", "cuid", "http_status", "attempts",
               "error", "first_time", "last_time"]  # fmt: skip
    count = 0
    with Path(out).open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(columns)
        for row in db.execute(f"SELECT {', '.join(columns)} FROM calls ORDER BY first_time"):  # noqa: S608
            writer.writerow(row)
            count += 1
    db.close()
    return count

"""The journal: a SQLite file that remembers, per (endpoint, id), what was sent and what came back.
It is what makes a crash, a Ctrl-C or tomorrow's overlapping export safe.

A row is marked `sending` (committed) just before its request goes out, and only then; its answer is
committed as it arrives, so a kill -9 forgets at most the answers of the requests in flight.
`reached` says whether any request for the id may have reached the API: only then does a later 409
mean "delivered by us" rather than "the id belongs to another call".

The key is the endpoint (base URL and API version), not the token: a new token for the same account
keeps what was delivered. Two networks reached through one base URL keep separate journals
(`--journal`). The token is never stored: only an HMAC of it, for the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import hmac
import itertools
import json
import logging
import os
import secrets
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

from uploader.errors import ConfigError, JournalBusy, JournalFailure
from uploader.outcome import DELIVERED, RowOutcome
from uploader.settings import canonical_endpoint

log = logging.getLogger("uploader")
SENDING = "sending"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
    endpoint TEXT NOT NULL,
    external_call_unique_id TEXT NOT NULL,
    payload_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    reached INTEGER NOT NULL DEFAULT 0,
    cuid TEXT,
    http_status INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    token_fingerprint TEXT,
    call_identity TEXT,
    first_time TEXT NOT NULL,
    last_time TEXT NOT NULL,
    PRIMARY KEY (endpoint, external_call_unique_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outputs (
    path TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    written TEXT NOT NULL
);
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
# Journals written before the key dropped the token: their rows move over once, delivered first.
MIGRATE_CALLS = """
INSERT OR IGNORE INTO deliveries (endpoint, external_call_unique_id, payload_hash, status, reached,
    cuid, http_status, attempts, error, token_fingerprint, first_time, last_time)
SELECT endpoint, external_call_unique_id, payload_hash, status,
    status NOT IN ('invalid', 'not_sent'), cuid, http_status, attempts, error, token_fingerprint,
    first_time, last_time
FROM calls ORDER BY status IN ('created', 'already_received', 'already_uploaded') DESC;
DROP TABLE calls;
"""


def default_journal_path() -> Path:
    return Path(platformdirs.user_data_dir("invoca-upload")) / "journal.sqlite"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# The moment as _now() gives it, stamped by SQLite as it writes a row (no formatting per row in
# Python); a constant expression, so the statements below that include it take no input.
NOW = "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"


@dataclass(frozen=True)
class JournalEntry:
    external_call_unique_id: str
    payload_hash: str
    status: str
    cuid: str | None
    attempts: int
    reached: bool = False
    identity: str = ""  # which call was sent under the id (CallRequest.identity); "" when unknown
    first_time: str = ""

    @property
    def delivered(self) -> bool:
        return self.status in DELIVERED

    @property
    def maybe_sent(self) -> bool:
        """A request for this id may have reached the API without us hearing the answer."""
        return self.reached or self.status == SENDING


class Journal:
    """One run's connection to the journal, holding its lock."""

    def __init__(self, path: str | Path, *, endpoint: str, token: str | None) -> None:
        self.path = Path(path)
        self.endpoint = canonical_endpoint(endpoint)
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
            if self._db.execute("SELECT 1 FROM sqlite_master WHERE name = 'calls'").fetchone():
                self._db.executescript(f"BEGIN IMMEDIATE; {MIGRATE_CALLS} COMMIT;")
            self._migrate()
            self.fingerprint = self._fingerprint(token or "")
        except sqlite3.OperationalError as error:  # a full disk, a read-only folder
            self._lock.close()
            raise self._cannot_start(error) from error
        except sqlite3.DatabaseError as error:
            self._lock.close()
            raise ConfigError(f"journal {self.path}: not a journal file ({error})") from error
        self.run_id: int | None = None
        self._writes = GroupedWrites(self._db)

    def _migrate(self) -> None:
        """Journals of earlier versions: the call's identity column added, and deliveries keyed by
        an endpoint as it was typed moved to its canonical spelling (a delivered entry wins)."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(deliveries)")}
        if "call_identity" not in columns:
            self._db.execute("ALTER TABLE deliveries ADD COLUMN call_identity TEXT")
        spelled = [row[0] for row in self._db.execute("SELECT DISTINCT endpoint FROM deliveries")]
        moves = [(old, new) for old in spelled if (new := canonical_endpoint(old)) != old]
        if not moves:
            return
        delivered = ", ".join(f"'{status}'" for status in sorted(DELIVERED))
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            for old, new in moves:
                self._db.execute(
                    f"DELETE FROM deliveries WHERE endpoint = ? AND status NOT IN ({delivered})"  # noqa: S608
                    " AND external_call_unique_id IN (SELECT external_call_unique_id FROM"
                    f" deliveries WHERE endpoint = ? AND status IN ({delivered}))",
                    (new, old),
                )
                self._db.execute(
                    "UPDATE OR IGNORE deliveries SET endpoint = ? WHERE endpoint = ?", (new, old)
                )
                self._db.execute("DELETE FROM deliveries WHERE endpoint = ?", (old,))

    def _fingerprint(self, token: str) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
        if row is None:
            salt = secrets.token_hex(16)
            self._db.execute("INSERT INTO meta VALUES ('salt', ?)", (salt,))
        else:
            salt = row[0]
        return hmac.new(salt.encode(), token.encode(), hashlib.sha256).hexdigest()[:32]

    def start_run(self, input_path: str) -> None:
        """Record the run's start; a journal that cannot take it stops the run before it starts."""
        try:
            cursor = self._db.execute(
                "INSERT INTO runs (started, input, endpoint, pid) VALUES (?, ?, ?, ?)",
                (_now(), input_path, self.endpoint, os.getpid()),
            )
        except sqlite3.Error as error:
            raise self._cannot_start(error) from None
        self.run_id = cursor.lastrowid

    def finish_run(self, summary: dict) -> None:
        """Record the run's end (its summary, for `invoca-upload journal`). Comes after the
        summary was given: a journal that fails here costs only this record, and says so."""
        try:
            self.commit()
            if self.run_id is not None:
                self._db.execute(
                    "UPDATE runs SET finished = ?, summary = ? WHERE id = ?",
                    (_now(), json.dumps(summary), self.run_id),
                )
        except (JournalFailure, sqlite3.Error) as error:
            log.warning("the run's end could not be recorded in the journal: %s", error)

    def lookup(self, ids: list[str]) -> dict[str, JournalEntry]:
        found: dict[str, JournalEntry] = {}
        self.commit()
        try:
            for start in range(0, len(ids), 900):
                batch = ids[start : start + 900]
                marks = ",".join("?" * len(batch))
                query = (
                    "SELECT external_call_unique_id, payload_hash, status, cuid, attempts, reached,"  # noqa: S608
                    " COALESCE(call_identity, ''), first_time FROM deliveries"
                    f" WHERE endpoint = ? AND external_call_unique_id IN ({marks})"
                )
                for row in self._db.execute(query, [self.endpoint, *batch]):
                    found[row[0]] = JournalEntry(
                        row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7]
                    )
        except sqlite3.Error as error:
            raise self._failure(error, "read") from None
        return found

    def _cannot_start(self, error: sqlite3.Error) -> ConfigError:
        """Before any call went out, a journal that cannot be written stops the run (exit 2)."""
        return ConfigError(f"journal {self.path}: cannot be written ({error})")

    def _failure(self, error: sqlite3.Error, doing: str = "written") -> JournalFailure:
        return JournalFailure(
            f"journal {self.path}: cannot be {doing} ({error}); nothing more is sent: "
            "make room and run the same command again (nothing is sent twice)"
        )

    async def mark_sending(
        self, external_call_unique_id: str, payload_hash: str, identity: str = ""
    ) -> None:
        """Committed just before the request goes out: a crash from here on leaves it maybe-sent.
        Raises JournalFailure when it cannot be committed: the request must not go out."""
        mark = (
            "INSERT INTO deliveries (endpoint, external_call_unique_id, payload_hash, status,"  # noqa: S608
            " token_fingerprint, call_identity, first_time, last_time)"
            f" VALUES (?, ?, ?, ?, ?, ?, {NOW}, {NOW})"
            " ON CONFLICT DO UPDATE SET payload_hash = excluded.payload_hash,"
            " call_identity = excluded.call_identity,"
            # a mark left by a killed run may have gone out: that stays known once this lands
            " reached = MAX(reached, status = 'sending'),"
            " status = excluded.status, token_fingerprint = excluded.token_fingerprint,"
            " last_time = excluded.last_time",
            (
                self.endpoint,
                external_call_unique_id,
                payload_hash,
                SENDING,
                self.fingerprint,
                identity,
            ),
        )
        try:
            await self._writes.committed(mark)
        except sqlite3.Error as error:
            raise self._failure(error) from None

    def unmark(self, external_call_unique_id: str) -> None:
        """The request did not go out after all (the connection was refused): not in flight."""
        self._writes.soon(
            f"UPDATE deliveries SET status = 'failed', error = 'not sent yet', last_time = {NOW}"  # noqa: S608
            " WHERE endpoint = ? AND external_call_unique_id = ? AND status = ?",
            (self.endpoint, external_call_unique_id, SENDING),
        )

    def record(self, outcome: RowOutcome, *, reached: bool) -> None:
        """Commit one answer as it arrives. `reached`: a request of this run may have reached the
        API (a refused connection cannot have); what was reached before stays reached."""
        self._writes.soon(
            "UPDATE deliveries SET status = ?, cuid = COALESCE(?, cuid), http_status = ?,"  # noqa: S608
            f" attempts = attempts + ?, error = ?, reached = MAX(reached, ?), last_time = {NOW}"
            " WHERE endpoint = ? AND external_call_unique_id = ?",
            (
                outcome.status,
                outcome.cuid,
                outcome.http_status,
                outcome.attempts,
                outcome.error,
                int(reached),
                self.endpoint,
                outcome.external_call_unique_id,
            ),
        )

    def remember_output(self, path: str, digest: str) -> None:
        """A file this tool wrote (a retry file), with its content's digest: later runs may replace
        or remove it only while it is as written, never once the user changed it."""
        self._output_write(
            f"INSERT OR REPLACE INTO outputs VALUES (?, ?, {NOW})",  # noqa: S608
            (path, digest),
        )

    def forget_output(self, path: str) -> None:
        self._output_write("DELETE FROM outputs WHERE path = ?", (path,))

    def output_digest(self, path: str) -> str | None:
        try:
            row = self._db.execute("SELECT digest FROM outputs WHERE path = ?", (path,)).fetchone()
        except sqlite3.Error:
            return None
        return row[0] if row else None

    def _output_write(self, statement: str, parameters: tuple) -> None:
        try:
            self._db.execute(statement, parameters)
        except sqlite3.Error as error:  # only tidying is lost: the deliveries are all committed
            log.warning("journal %s: the outputs could not be recorded (%s)", self.path, error)

    def commit(self) -> None:
        """Write what is queued now (before a lookup, at the end of a run)."""
        try:
            self._writes.commit()
        except sqlite3.Error as error:
            raise self._failure(error) from None

    def close(self) -> None:
        """Write what is left and let the journal go; a failure to write was already reported
        (the run stopped on it), so closing never raises."""
        try:
            self.commit()
        except JournalFailure as error:
            log.debug("closing the journal: %s", error)
        finally:
            self._db.close()
            self._lock.close()


class GroupedWrites:
    """The journal's writes, grouped: one transaction per event-loop tick, not one per row (a
    commit costs ~35 us, a statement inside one ~5 us). Order is kept: every write queued before a
    mark is committed with it. A mark is committed before `committed()` returns, so before its
    request goes out; answers (`soon()`) wait at most RECORD_DELAY (or the next mark), which is
    all a kill -9 can take from them."""

    RECORD_DELAY = 0.005

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._pending: list[tuple[str, tuple]] = []
        self._marks: list[tuple[str, tuple]] = []  # the marks waiting for this tick's commit
        self._tick: asyncio.Future | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def committed(self, write: tuple[str, tuple]) -> None:
        """Queue a write and return once it is committed (with the others of this tick)."""
        self._pending.append(write)
        self._marks.append(write)
        if self._tick is None:  # the first mark of this tick commits every one queued with it
            loop = asyncio.get_running_loop()
            self._tick = loop.create_future()
            loop.call_soon(self._commit_tick, self._tick)
        await asyncio.shield(self._tick)

    def soon(self, statement: str, parameters: tuple) -> None:
        """Queue a write, committed within RECORD_DELAY."""
        self._pending.append((statement, parameters))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(
                self.RECORD_DELAY, self._commit_late
            )

    def _commit_tick(self, tick: asyncio.Future) -> None:
        self._tick = None
        marks, self._marks = self._marks, []
        try:
            self.commit()
        except Exception as error:  # the waiting workers turn it into their rows' outcome
            # Their requests will not go out, so their marks must never be written by a later
            # commit; the answers queued with them stay queued.
            unsent = {id(mark) for mark in marks}
            self._pending = [write for write in self._pending if id(write) not in unsent]
            tick.set_exception(error)
        else:
            tick.set_result(None)

    def _commit_late(self) -> None:
        self._timer = None
        with contextlib.suppress(sqlite3.Error):  # kept queued: the next commit raises it
            self.commit()

    def commit(self) -> None:
        """Write what is queued, in order, in one transaction."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        writes, self._pending = self._pending, []
        try:
            self._db.execute("BEGIN IMMEDIATE")
            for statement, run in itertools.groupby(writes, key=lambda write: write[0]):
                self._db.executemany(statement, [parameters for _, parameters in run])
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._pending = writes + self._pending  # nothing written: all of it stays queued
            raise


def _acquire_lock(path: Path):
    lock_path = path.with_name(path.name + ".lock")
    try:  # never through a symlink: its target would be truncated below
        descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as error:
        raise ConfigError(
            f"journal lock {lock_path}: cannot be opened ({error.strerror})"
        ) from None
    lock = os.fdopen(descriptor, "r+")
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


# ---------------------------------------------------------------- inspection (`journal` command)


def read_only(path: str | Path) -> sqlite3.Connection:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"journal {path}: no such file")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        db.execute("SELECT 1 FROM deliveries LIMIT 1")
    except sqlite3.OperationalError as error:  # its index file cannot be made (a full disk)
        db.close()
        raise ConfigError(f"journal {path}: cannot be read ({error})") from error
    except sqlite3.DatabaseError as error:
        db.close()
        raise ConfigError(f"journal {path}: not a journal file ({error})") from error
    return db


def journal_report(path: str | Path, last_runs: int = 5) -> dict:
    db = read_only(path)
    counts = dict(
        db.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status ORDER BY status")
    )
    runs = [
        {
            "id": r[0],
            "started": r[1],
            "finished": r[2],
            "input": r[3],
            "endpoint": r[4],
            "summary": json.loads(r[5]) if r[5] else None,
        }
        for r in db.execute(
            "SELECT id, started, finished, input, endpoint, summary FROM runs"
            " ORDER BY id DESC LIMIT ?",
            (last_runs,),
        )
    ]
    db.close()
    return {"journal": str(path), "calls": counts, "runs": runs}

"""The journal's grouped writes: order kept, marks committed before they return, nothing lost when
a commit fails."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from uploader.errors import ConfigError, JournalFailure
from uploader.outcome import RowOutcome
from uploader.send.journal import GroupedWrites, Journal


def created(identifier: str) -> RowOutcome:
    return RowOutcome(2, identifier, "created", cuid="C-" + identifier, http_status=201, attempts=1)


async def test_writes_keep_their_order_within_one_commit(tmp_path):
    journal = Journal(tmp_path / "j.sqlite", endpoint="e", token="t")
    await journal.mark_sending("a", "h1")
    journal.unmark("a")  # refused: back to not in flight
    await journal.mark_sending("a", "h1")  # the retry goes out: in flight again
    entry = journal.lookup(["a"])["a"]
    assert entry.status == "sending" and entry.maybe_sent
    journal.record(created("a"), reached=True)
    journal.close()
    reopened = Journal(tmp_path / "j.sqlite", endpoint="e", token="t")
    assert reopened.lookup(["a"])["a"].cuid == "C-a"
    reopened.close()


async def test_a_failed_late_commit_keeps_its_writes_for_the_next(tmp_path):
    journal = Journal(tmp_path / "j.sqlite", endpoint="e", token="t")
    await journal.mark_sending("a", "h1")
    writes = journal._writes
    writable = writes._db
    writes._db = sqlite3.connect(f"file:{tmp_path / 'j.sqlite'}?mode=ro", uri=True)
    journal.record(created("a"), reached=True)
    await asyncio.sleep(GroupedWrites.RECORD_DELAY * 4)  # the timed commit fails quietly
    writes._db.close()
    writes._db = writable
    assert writable.execute("SELECT status FROM deliveries").fetchone() == ("sending",)
    journal.commit()
    assert journal.lookup(["a"])["a"].status == "created"
    journal.close()


async def test_a_mark_that_cannot_be_written_stops_its_row_and_is_never_written_later(tmp_path):
    journal = Journal(tmp_path / "j.sqlite", endpoint="e", token="t")
    await journal.mark_sending("a", "h1")
    journal.record(created("a"), reached=True)
    writes = journal._writes
    writable = writes._db
    writes._db = sqlite3.connect(f"file:{tmp_path / 'j.sqlite'}?mode=ro", uri=True)  # disk full
    with pytest.raises(JournalFailure, match=r"j\.sqlite: cannot be written"):
        await journal.mark_sending("b", "h2")  # so b's request must not go out
    writes._db.close()
    writes._db = writable
    journal.commit()  # room again: a's answer is written, b's mark is not (b was never sent)
    known = journal.lookup(["a", "b"])
    assert known["a"].status == "created" and "b" not in known
    journal.close()


def test_a_journal_that_cannot_be_read_mid_run_is_a_journal_failure(tmp_path):
    journal = Journal(tmp_path / "j.sqlite", endpoint="e", token="t")
    journal._db.close()  # as a disk that fails under the run
    with pytest.raises(JournalFailure, match=r"j\.sqlite: cannot be read"):
        journal.lookup(["a"])
    journal._lock.close()


def test_a_run_the_journal_cannot_record_does_not_start(tmp_path):
    journal = Journal(tmp_path / "j.sqlite", endpoint="e", token="t")
    writable = journal._db
    journal._db = sqlite3.connect(f"file:{tmp_path / 'j.sqlite'}?mode=ro", uri=True)  # disk full
    with pytest.raises(ConfigError, match=r"j\.sqlite: cannot be written"):
        journal.start_run("calls.csv")
    journal._db.close()
    journal._db = writable
    journal.close()


def test_a_runs_end_the_journal_cannot_record_is_a_warning_not_a_crash(tmp_path, caplog):
    journal = Journal(tmp_path / "j.sqlite", endpoint="e", token="t")
    journal.start_run("calls.csv")
    writable = journal._db
    journal._db = sqlite3.connect(f"file:{tmp_path / 'j.sqlite'}?mode=ro", uri=True)  # disk full
    journal.finish_run({"rows": 1})  # after the summary was given: it must not raise
    journal._db.close()
    journal._db = writable
    assert "could not be recorded in the journal" in caplog.text
    journal.close()
    started, finished = in_other_process(
        tmp_path / "j.sqlite", "SELECT started, finished FROM runs"
    )[0]
    assert started and finished is None


async def test_a_journal_that_fills_up_says_so_on_commit_and_still_closes(tmp_path):
    journal = Journal(tmp_path / "j.sqlite", endpoint="e", token="t")
    writable = journal._db
    readonly = sqlite3.connect(f"file:{tmp_path / 'j.sqlite'}?mode=ro", uri=True)  # disk full
    journal._db = journal._writes._db = readonly
    journal.unmark("a")  # an answer queued, never to be written
    with pytest.raises(JournalFailure, match=r"j\.sqlite: cannot be written"):
        journal.commit()
    journal.close()  # the failure was reported: closing never raises, and lets the lock go
    writable.close()
    Journal(tmp_path / "j.sqlite", endpoint="e", token="t").close()


# ---------------------------------------------------------------- what the journal promises


def journal_at(tmp_path, endpoint: str = "https://a.example/api", token: str = "t") -> Journal:
    return Journal(tmp_path / "j.sqlite", endpoint=endpoint, token=token)


def in_other_process(path, query: str):
    """What a second reader (a kill -9 survivor, `invoca-upload journal`) sees on disk."""
    db = sqlite3.connect(path)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


async def test_a_mark_is_on_disk_before_mark_sending_returns(tmp_path):
    journal = journal_at(tmp_path)
    await journal.mark_sending("a", "h1")
    assert in_other_process(
        tmp_path / "j.sqlite", "SELECT external_call_unique_id, status FROM deliveries"
    ) == [("a", "sending")]
    journal.close()


async def test_a_killed_runs_mark_is_maybe_sent_and_stays_so(tmp_path):
    journal = journal_at(tmp_path)
    await journal.mark_sending("a", "h1")
    journal._db.close()  # the process dies here: no answer, no close
    journal._lock.close()
    again = journal_at(tmp_path)
    entry = again.lookup(["a"])["a"]
    assert entry.status == "sending" and entry.maybe_sent and not entry.delivered
    await again.mark_sending("a", "h1")  # sent again: what was maybe sent stays known
    again.record(RowOutcome(2, "a", "failed", http_status=503, attempts=1), reached=False)
    again.commit()
    assert again.lookup(["a"])["a"].maybe_sent  # reached by the killed run, whatever came since
    again.close()


async def test_a_refused_connection_leaves_the_row_not_maybe_sent(tmp_path):
    journal = journal_at(tmp_path)
    await journal.mark_sending("a", "h1")
    journal.unmark("a")
    journal.record(RowOutcome(2, "a", "failed", attempts=1, error="cannot connect"), reached=False)
    entry = journal.lookup(["a"])["a"]
    assert entry.status == "failed" and not entry.maybe_sent and not entry.delivered
    journal.close()


async def test_unmark_touches_only_a_row_in_flight(tmp_path):
    journal = journal_at(tmp_path)
    await journal.mark_sending("a", "h1")
    journal.record(created("a"), reached=True)
    journal.unmark("a")  # a late unmark must not undo a delivery
    assert journal.lookup(["a"])["a"].delivered
    journal.close()


async def test_deliveries_are_per_endpoint_and_survive_a_new_token(tmp_path):
    journal = journal_at(tmp_path, endpoint="https://one.example/api")
    await journal.mark_sending("a", "h1")
    journal.record(created("a"), reached=True)
    journal.close()
    other = journal_at(tmp_path, endpoint="https://two.example/api")
    assert other.lookup(["a"]) == {}  # another network: not delivered there
    other.close()
    new_token = journal_at(tmp_path, endpoint="https://one.example/api", token="rotated")
    entry = new_token.lookup(["a"])["a"]
    assert entry.delivered and entry.cuid == "C-a" and entry.payload_hash == "h1"
    new_token.close()


async def test_attempts_add_up_and_a_cuid_is_never_lost(tmp_path):
    journal = journal_at(tmp_path)
    await journal.mark_sending("a", "h1")
    journal.record(created("a"), reached=True)
    journal.record(
        RowOutcome(2, "a", "already_received", http_status=202, attempts=2), reached=True
    )
    entry = journal.lookup(["a"])["a"]
    assert entry.attempts == 3 and entry.cuid == "C-a" and entry.status == "already_received"
    journal.close()


def test_the_token_is_kept_only_as_a_salted_fingerprint(tmp_path):
    journal = journal_at(tmp_path, token="secret-token-123")
    fingerprint = journal.fingerprint
    journal.close()
    raw = (tmp_path / "j.sqlite").read_bytes()
    assert b"secret-token-123" not in raw
    again = journal_at(tmp_path, token="secret-token-123")
    assert again.fingerprint == fingerprint and len(fingerprint) == 32
    assert journal_at_other_salt(tmp_path, "secret-token-123") != fingerprint
    again.close()


def journal_at_other_salt(tmp_path, token: str) -> str:
    other = tmp_path / "other"
    journal = Journal(other / "j.sqlite", endpoint="e", token=token)
    try:
        return journal.fingerprint
    finally:
        journal.close()


def test_one_run_per_journal_and_a_stale_lock_does_not_block(tmp_path):
    import pytest

    from uploader.errors import JournalBusy

    first = journal_at(tmp_path)
    with pytest.raises(JournalBusy, match="in use by pid"):
        journal_at(tmp_path)
    first.close()
    journal_at(tmp_path).close()  # the lock went with its holder
    (tmp_path / "j.sqlite.lock").write_text("pid 999999 (invoca-upload upload)")
    journal_at(tmp_path).close()  # a lock file left by a killed run holds no lock


def test_a_file_that_is_not_a_journal_is_refused(tmp_path):
    import pytest

    from uploader.errors import ConfigError

    (tmp_path / "j.sqlite").write_bytes(b"this is a spreadsheet, not a journal" * 100)
    with pytest.raises(ConfigError, match="not a journal file"):
        journal_at(tmp_path)


def test_lookups_of_many_ids_go_in_batches(tmp_path):
    async def fill() -> None:
        journal = journal_at(tmp_path)
        for index in range(2000):
            await journal.mark_sending(f"id-{index}", "h")
            journal.record(created(f"id-{index}"), reached=True)
        journal.close()

    asyncio.run(fill())
    journal = journal_at(tmp_path)
    found = journal.lookup([f"id-{index}" for index in range(2500)])
    assert len(found) == 2000 and all(entry.delivered for entry in found.values())
    journal.close()


async def test_times_are_stamped_in_utc_with_milliseconds_and_the_first_stays(tmp_path):
    import datetime as dt
    import re

    journal = journal_at(tmp_path)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await journal.mark_sending("a", "h1")
    await asyncio.sleep(0.02)
    journal.record(created("a"), reached=True)
    journal.close()
    [(first, last)] = in_other_process(
        tmp_path / "j.sqlite", "SELECT first_time, last_time FROM deliveries"
    )
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00"
    assert re.fullmatch(stamp, first) and re.fullmatch(stamp, last), (first, last)
    after = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    assert before < dt.datetime.fromisoformat(first) < dt.datetime.fromisoformat(last) < after


async def test_an_older_journal_keyed_by_a_typed_address_moves_to_its_canonical_spelling(tmp_path):
    """Journals before #30 keyed deliveries by the address as typed and had no identity column:
    opened now, their deliveries are found under any spelling of the same address."""
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE deliveries (endpoint TEXT NOT NULL, external_call_unique_id TEXT NOT NULL,"
        " payload_hash TEXT NOT NULL, status TEXT NOT NULL, reached INTEGER NOT NULL DEFAULT 0,"
        " cuid TEXT, http_status INTEGER, attempts INTEGER NOT NULL DEFAULT 0, error TEXT,"
        " token_fingerprint TEXT, first_time TEXT NOT NULL, last_time TEXT NOT NULL,"
        " PRIMARY KEY (endpoint, external_call_unique_id)) WITHOUT ROWID;"
    )
    rows = [
        ("HTTP://LOCALHOST:8765/./api/2022-03-01/calls.json", "a", "created", "C-a"),
        ("http://127.0.0.1:8765/api/2022-03-01/calls.json", "a", "failed", None),
        ("http://localhost:8765//api/2022-03-01/calls.json/", "b", "already_received", "C-b"),
    ]
    db.executemany(
        "INSERT INTO deliveries (endpoint, external_call_unique_id, payload_hash, status, cuid,"
        " first_time, last_time) VALUES (?, ?, 'h', ?, ?, '2024', '2024')",
        rows,
    )
    db.commit()
    db.close()
    journal = Journal(path, endpoint="http://[::1]:8765/api/2022-03-01/calls.json", token="t")
    found = journal.lookup(["a", "b"])
    journal.close()
    assert {k: (v.status, v.cuid) for k, v in found.items()} == {
        "a": ("created", "C-a"),  # the delivered entry wins over the failed one
        "b": ("already_received", "C-b"),
    }


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("http://localhost:80/api", "http://127.0.0.1/api"),
        ("HTTPS://Invoca.NET:443/api/./x/../calls.json", "https://invoca.net/api/calls.json"),
        ("https://invoca.net:8443//api//", "https://invoca.net:8443/api"),
        ("http://[::1]:9/a", "http://127.0.0.1:9/a"),
        ("http://127.0.0.2:9/a", "http://127.0.0.1:9/a"),
    ],
)
def test_an_endpoint_has_one_spelling(spelling, canonical):
    from uploader.settings import canonical_endpoint

    assert canonical_endpoint(spelling) == canonical


def test_a_journal_whose_folder_cannot_be_made_is_a_clear_refusal(tmp_path):
    """--journal under a path where a file stands: one sentence naming the journal, exit 2."""
    import pytest

    from uploader.errors import ConfigError
    from uploader.send.journal import Journal

    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(ConfigError, match="taken/j.sqlite: cannot create its folder"):
        Journal(tmp_path / "taken" / "j.sqlite", endpoint="http://127.0.0.1:1/api", token="t")

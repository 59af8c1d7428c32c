"""The journal's grouped writes: order kept, marks committed before they return, nothing lost when
a commit fails."""

from __future__ import annotations

import asyncio
import sqlite3

from uploader.journal import Journal
from uploader.outcome import RowOutcome


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
    writable = journal._db
    journal._db = sqlite3.connect(f"file:{tmp_path / 'j.sqlite'}?mode=ro", uri=True)
    journal.record(created("a"), reached=True)
    await asyncio.sleep(Journal.RECORD_DELAY * 4)  # the timed commit fails quietly
    journal._db.close()
    journal._db = writable
    assert writable.execute("SELECT status FROM deliveries").fetchone() == ("sending",)
    journal.commit()
    assert journal.lookup(["a"])["a"].status == "created"
    journal.close()

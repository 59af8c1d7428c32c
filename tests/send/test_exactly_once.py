"""The promise the product sells, checked at the wire: every call posted once (or again only after
an answer that was lost), every row an outcome, under the faults a real network and a killed run
make.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import (
    TOKEN,
    call_row,
    kill_when,
    library_upload,
    upload_args,
    wait_for,
    write_csv,
)
from tests.test_upload import assert_exactly_once, read_results, run_cli, subprocess_upload
from uploader.send.journal import Journal


def test_a_row_never_sent_by_a_killed_run_is_a_conflict_not_delivered(tmp_path, make_sandbox):
    """Marks go on one request at a time: a kill leaves only the requests in flight maybe-sent."""
    box = make_sandbox()
    ids = [f"c{i}" for i in range(40)]
    path = write_csv(tmp_path / "paced.csv", [call_row(i) for i in ids])
    journal = tmp_path / "j.sqlite"
    first = subprocess_upload(path, box.url, journal, "--rate", "10", "--concurrency", "2")
    kill_when(first, lambda: len(box.requests()) >= 5)
    # Another call now holds an id the killed run never sent.
    foreign = {
        **call_row("c39"),
        "start_time": "2024-03-05T14:03:27Z",
        "calling_phone_number": "+13125550199",
        "destination_phone_number": "+18885551212",
        "advertiser_campaign_id_from_network": "85",
    }
    urllib.request.urlopen(  # noqa: S310 - the loopback sandbox
        urllib.request.Request(
            box.url + "/api/2022-03-01/calls.json",
            data=json.dumps({"call": foreign}).encode(),
            headers={"Authorization": TOKEN, "Content-Type": "application/json"},
        ),
        timeout=10,
    )
    result = run_cli(*upload_args(path, box.url, journal), "--rate", "0")
    results = {
        r["external_call_unique_id"]: r for r in read_results(tmp_path / "paced.results.csv")
    }
    assert results["c39"]["status"] == "conflict", results["c39"]
    assert result.exit_code == 1


def test_a_refused_connection_is_not_maybe_sent(tmp_path, calls):
    path = calls(3)
    summary = library_upload(path, "http://127.0.0.1:9", tmp_path / "j.sqlite", max_retries=0)
    assert summary.counts["failed"] == 3
    journal = Journal(
        tmp_path / "j.sqlite", endpoint="http://127.0.0.1:9/api/2022-03-01/calls.json", token=TOKEN
    )
    entries = journal.lookup(["call-0", "call-1", "call-2"])
    journal.close()
    assert entries and not any(entry.maybe_sent for entry in entries.values())


def test_answers_are_committed_as_they_arrive(tmp_path, make_sandbox):
    """kill -9 in the middle of a batch: every answer that arrived before it is in the journal."""
    box = make_sandbox(latency_ms=5)
    ids = [f"a{i}" for i in range(400)]
    path = write_csv(tmp_path / "long.csv", [call_row(i) for i in ids])
    journal = tmp_path / "j.sqlite"
    process = subprocess_upload(path, box.url, journal, "--rate", "100", "--concurrency", "4")
    kill_when(process, lambda: len(box.requests()) >= 60)
    answered = {r["id"] for r in box.requests() if r["status"] == 201}
    with sqlite3.connect(journal) as db:
        delivered = {
            row[0]
            for row in db.execute(
                "SELECT external_call_unique_id FROM deliveries WHERE status = 'created'"
            )
        }
    # at most the answers of the requests in flight at the kill are missing
    assert len(answered - delivered) <= 4, answered - delivered
    rerun = subprocess_upload(path, box.url, journal, "--rate", "0")
    rerun.communicate(timeout=120)
    assert rerun.returncode == 0
    assert_exactly_once(box, ids, resent_after_answer=4)


def test_a_201_split_across_packets_keeps_its_cuid(tmp_path, make_sandbox, calls):
    box = make_sandbox(answer_fault="split")
    result = run_cli(*upload_args(calls(4), box.url, tmp_path / "j.sqlite"), "--rate", "0")
    assert result.exit_code == 0, result.output
    stored = {c["id"]: c["cuid"] for c in box.calls()}
    results = read_results(tmp_path / "calls.results.csv")
    assert {r["external_call_unique_id"]: r["cuid"] for r in results} == stored


def test_a_201_cut_mid_body_is_asked_again_and_delivered_once(tmp_path, make_sandbox, calls):
    """The answer's connection drops half-way through its body: the call is stored but the client
    cannot know; it asks again, the replay is known (202, or 409 where the API answers replays
    so) and the row is delivered, never stored twice."""
    for replay_conflict in (False, True):
        box = make_sandbox(
            answer_fault="cut", answer_fault_rate=0.5, seed=3, replay_conflict=replay_conflict
        )
        path = calls(12)
        journal = tmp_path / f"j{replay_conflict}.sqlite"
        result = run_cli(*upload_args(path, box.url, journal), "--rate", "0")
        assert result.exit_code == 0, result.output
        results = read_results(tmp_path / "calls.results.csv")
        assert {r["status"] for r in results} <= {"created", "already_received"}
        assert "already_received" in {r["status"] for r in results}
        assert_exactly_once(box, [f"call-{i}" for i in range(12)], replays_409=replay_conflict)


def test_a_network_outage_of_resets_is_waited_out_within_the_budget(tmp_path, make_sandbox, calls):
    """Every connection reset for the first 1.5 s: the rows wait it out (an outage, not their
    fault) and are each delivered once; the same outage longer than the budget stops the run
    (exit 3) with nothing stored twice and every row told."""
    box = make_sandbox(reset_seconds=1.5)
    summary = library_upload(
        calls(8), box.url, tmp_path / "j.sqlite", rate=0, max_retries=50, outage_budget=20.0
    )
    assert summary.exit_code == 0, summary.stopped
    assert_exactly_once(box, [f"call-{i}" for i in range(8)])
    assert any(seen["status"] is None for seen in box.requests())  # the resets did happen

    down = make_sandbox(reset_seconds=600)
    summary = library_upload(
        calls(8, name="down.csv"),
        down.url,
        tmp_path / "j2.sqlite",
        rate=0,
        max_retries=50,
        outage_budget=1.0,
    )
    assert summary.exit_code == 3 and "outage budget" in summary.stopped
    assert down.calls() == []
    results = read_results(tmp_path / "down.results.csv")
    assert len(results) == 8 and {r["status"] for r in results} <= {"failed", "not_sent"}


@pytest.mark.parametrize("fault", ["html", "no-cuid"])
def test_a_201_that_is_not_the_apis_stops_the_run_and_stays_maybe_sent(
    tmp_path, make_sandbox, calls, fault
):
    box = make_sandbox(answer_fault=fault)
    path = calls(3)
    journal = tmp_path / "j.sqlite"
    result = run_cli(*upload_args(path, box.url, journal), "--rate", "0", "--concurrency", "1")
    assert result.exit_code == 3, result.output
    results = read_results(tmp_path / "calls.results.csv")
    assert len(results) == 3 and "created" not in {r["status"] for r in results}
    assert results[0]["status"] == "failed"
    # the call was stored behind that answer: the journal keeps it maybe-sent
    entries = Journal(journal, endpoint=box.url + "/api/2022-03-01/calls.json", token=TOKEN)
    first = entries.lookup([results[0]["external_call_unique_id"]])
    entries.close()
    assert first and all(entry.maybe_sent for entry in first.values())


def test_a_row_over_the_size_limit_is_rejected_alone(tmp_path, make_sandbox):
    box = make_sandbox(max_body=600)
    rows = [
        call_row("small-1"),
        call_row("big", recording_url="https://rec.example.com/" + "x" * 700),
        call_row("small-2"),
    ]
    path = write_csv(tmp_path / "sizes.csv", rows)
    result = run_cli(*upload_args(path, box.url, tmp_path / "j.sqlite"), "--rate", "0")
    statuses = {
        r["external_call_unique_id"]: r["status"]
        for r in read_results(tmp_path / "sizes.results.csv")
    }
    assert statuses == {"small-1": "created", "big": "rejected", "small-2": "created"}
    assert result.exit_code == 1


def test_a_new_token_keeps_what_was_delivered(tmp_path, make_sandbox, calls):
    box = make_sandbox()
    path = calls(3)
    journal = tmp_path / "j.sqlite"
    assert run_cli(*upload_args(path, box.url, journal)).exit_code == 0
    before = len(box.requests())
    rotated = run_cli(
        *upload_args(path, box.url, journal), env={"INVOCA_OAUTH_TOKEN": "rotated-token"}
    )
    assert rotated.exit_code == 0, rotated.output
    assert len(box.requests()) == before
    results = read_results(tmp_path / "calls.results.csv")
    assert {r["status"] for r in results} == {"already_uploaded"} and all(
        r["cuid"] for r in results
    )


@pytest.mark.parametrize("alias", ["path", "symlink", "hardlink", "dotted"])
@pytest.mark.parametrize("option", ["--results", "--retry-file", "--summary-json", "--log-file"])
def test_an_output_naming_the_input_is_refused_and_the_input_kept(
    tmp_path, sandbox, calls, option, alias
):
    """Under any of its names: the path itself, a symlink, a hard link (another name for the same
    inode, which no path comparison sees), a path through `..`."""
    path = calls(3)
    before = path.read_bytes()
    other = {
        "path": lambda: path,
        "symlink": lambda: (tmp_path / "link.csv").symlink_to(path) or tmp_path / "link.csv",
        "hardlink": lambda: (tmp_path / "hard.csv").hardlink_to(path) or tmp_path / "hard.csv",
        "dotted": lambda: tmp_path / ".." / tmp_path.name / path.name,
    }[alias]()
    result = run_cli(*upload_args(path, sandbox.url, tmp_path / "j.sqlite"), option, str(other))
    assert result.exit_code == 2 and "same file" in result.output
    assert path.read_bytes() == before and sandbox.requests() == []


def test_a_refused_second_run_touches_no_output(tmp_path, sandbox, calls):
    path = calls(3)
    results = tmp_path / "calls.results.csv"
    results.write_text("the first run's results\n")
    holder = Journal(tmp_path / "j.sqlite", endpoint="x", token=None)
    try:
        result = run_cli(*upload_args(path, sandbox.url, tmp_path / "j.sqlite"))
    finally:
        holder.close()
    assert result.exit_code == 2 and "in use" in result.output
    assert results.read_text() == "the first run's results\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_outputs_replace_a_symlink_instead_of_writing_through_it(tmp_path, sandbox, calls):
    path = calls(2)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (tmp_path / "calls.results.csv").symlink_to(victim)
    log = tmp_path / "run.log"
    log.symlink_to(victim)
    result = run_cli(*upload_args(path, sandbox.url, tmp_path / "j.sqlite"))
    assert result.exit_code == 0
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "calls.results.csv").is_symlink()
    refused = run_cli(
        *upload_args(path, sandbox.url, tmp_path / "j2.sqlite"), "--log-file", str(log)
    )
    assert refused.exit_code == 2 and victim.read_text() == "precious\n"
    assert f"{log}: cannot be written (is a symlink)" in refused.output
    (tmp_path / "j3.sqlite.lock").symlink_to(victim)
    locked = run_cli(*upload_args(path, sandbox.url, tmp_path / "j3.sqlite"))
    assert locked.exit_code == 2 and victim.read_text() == "precious\n"


def test_an_output_failing_after_sending_is_exit_5(tmp_path, sandbox, calls):
    path = calls(3)
    missing = tmp_path / "no-such-folder" / "summary.json"
    result = run_cli(
        *upload_args(path, sandbox.url, tmp_path / "j.sqlite"), "--summary-json", str(missing)
    )
    assert result.exit_code == 5, result.output
    assert len(sandbox.calls()) == 3
    assert {r["status"] for r in read_results(tmp_path / "calls.results.csv")} == {"created"}


def test_a_dead_server_stops_within_the_outage_budget(tmp_path, make_sandbox, calls):
    box = make_sandbox(fail_rate=1.0, seed=1)
    started = time.monotonic()
    summary = library_upload(
        calls(20),
        box.url,
        tmp_path / "j.sqlite",
        rate=0,
        max_retries=50,
        outage_budget=1.0,
    )
    assert summary.exit_code == 3 and "outage budget" in summary.stopped
    assert time.monotonic() - started < 30
    assert summary.rows == 20 and summary.counts["created"] == 0


def files_of_at_most(size: int):
    """For a child process: no file it writes may grow past `size` bytes, as on a full disk."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def test_a_journal_that_fills_its_disk_stops_the_run_and_nothing_is_sent_twice(tmp_path, sandbox):
    ids = [f"d{i}" for i in range(300)]
    path = write_csv(tmp_path / "calls.csv", [call_row(i) for i in ids])
    journal = tmp_path / "j.sqlite"
    done = subprocess.run(
        [sys.executable, "-m", "uploader", *upload_args(path, sandbox.url, journal)]
        + ["--no-progress", "--rate", "0", "--summary-json", str(tmp_path / "s.json")],
        capture_output=True,
        text=True,
        env={**os.environ, "INVOCA_OAUTH_TOKEN": TOKEN},
        preexec_fn=files_of_at_most(150_000),  # the journal's log passes it; results do not
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["exit_code"] == 3 and "journal" in summary["stopped"]
    statuses = [r["status"] for r in read_results(tmp_path / "calls.results.csv")]
    assert len(statuses) == 300 and "created" in statuses and "not_sent" in statuses
    delivered = len(sandbox.calls())

    again = run_cli(*upload_args(path, sandbox.url, journal))  # room again: the rest goes in
    assert again.exit_code == 0, again.output
    # posted again: at most the rows answered after the journal stopped taking answers
    assert_exactly_once(sandbox, ids, resent_after_answer=16)
    assert delivered >= statuses.count("created")


def test_a_journal_on_a_full_disk_stops_the_run_before_it_starts(tmp_path, calls):
    done = subprocess.run(
        [sys.executable, "-m", "uploader", *upload_args(calls(3), "http://127.0.0.1:9", "j")],
        capture_output=True,
        text=True,
        env={**os.environ, "INVOCA_OAUTH_TOKEN": TOKEN},
        preexec_fn=files_of_at_most(1000),
        timeout=60,
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("invoca-upload: error: journal j: cannot be written")


def test_a_journal_that_cannot_be_read_stops_the_sender_and_nothing_is_sent(
    tmp_path, sandbox, monkeypatch
):
    """Once the journal cannot say what was delivered, no row may go out (it might be a repeat):
    the rows looked up after the failure are not_sent with the reason, and the sandbox receives
    none of them (those looked up before may have gone out, or be stopped too)."""
    from tests.conftest import library_upload

    reads = []
    real_lookup = Journal.lookup

    def failing_lookup(self, ids):
        reads.append(ids)
        if len(reads) > 1:  # the disk fails under the run, after the first batch
            raise self._failure(sqlite3.OperationalError("disk I/O error"), "read")
        return real_lookup(self, ids)

    monkeypatch.setattr(Journal, "lookup", failing_lookup)
    ids = [f"jr{i}" for i in range(6)]
    path = write_csv(tmp_path / "c.csv", [call_row(i) for i in ids])
    summary = library_upload(path, sandbox.url, tmp_path / "j.sqlite", chunk_size=2)
    results = read_results(tmp_path / "c.results.csv")
    assert len(reads) >= 2, reads
    sent = {c["id"] for c in sandbox.calls()}
    assert sent == {r["external_call_unique_id"] for r in results if r["status"] == "created"}
    assert sent <= set(ids[:2]), reads
    later = [r for r in results if r["external_call_unique_id"] not in sent]
    assert [r["status"] for r in later] == ["not_sent"] * len(later) and len(later) >= 4
    assert all("cannot be read" in r["error"] for r in later[-4:])
    assert summary.exit_code != 0


def test_sigterm_during_a_long_retry_after_writes_every_row(tmp_path, make_sandbox):
    box = make_sandbox(rate_limit=1, retry_after=90)
    ids = [f"r{i}" for i in range(30)]
    path = write_csv(tmp_path / "wait.csv", [call_row(i) for i in ids])
    process = subprocess_upload(
        path, box.url, tmp_path / "j.sqlite", "--rate", "0", "--concurrency", "4"
    )
    wait_for(lambda: any(r["status"] == 429 for r in box.requests()))
    asked = time.monotonic()
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert time.monotonic() - asked < 30  # the 90 s waits ended at once
    assert process.returncode == 4, err
    results = read_results(tmp_path / "wait.results.csv")
    assert [r["external_call_unique_id"] for r in results] == ids
    created = {r["external_call_unique_id"] for r in results if r["status"] == "created"}
    assert created == {c["id"] for c in box.calls()}


def test_server_text_cannot_put_escape_codes_on_the_terminal():
    from uploader.send.answers import classify

    answer = classify(
        403,
        {"errors": {"class": "RecordInvalid", "invalid_data": "bad\x1b[2J\x1b]0;pwned\x07"}},
        {},
        sent_before=False,
    )
    assert "\x1b" not in answer.error and "\x07" not in answer.error


@pytest.mark.parametrize("value", ["²", "١٢", "1e3", "-5"])
def test_odd_retry_after_values_are_ignored(value):
    from uploader.send.pacing import parse_retry_after

    assert parse_retry_after(value) is None


@pytest.mark.parametrize(
    ("option", "value"), [("--timeout", "inf"), ("--timeout", "nan"), ("--rate", "1e-300")]
)
def test_non_finite_and_absurd_pace_values_are_refused_at_start(tmp_path, calls, option, value):
    result = run_cli(
        *upload_args(calls(1), "http://127.0.0.1:9", tmp_path / "j.sqlite"), option, value
    )
    assert result.exit_code == 2 and "Traceback" not in result.output


@pytest.mark.parametrize("token", ["secret\x1bdef0", "secret\r\nX-Evil: 1", "secret\x07tail"])
def test_a_token_with_control_characters_is_refused_at_start(tmp_path, calls, token):
    """Refused before anything is read or sent, and the message never repeats the token (an
    escape sequence would drive the terminal, a line break forge a header or a log line)."""
    result = run_cli(
        *upload_args(calls(1), "http://127.0.0.1:9", tmp_path / "j.sqlite"),
        env={"INVOCA_OAUTH_TOKEN": token},
    )
    assert result.exit_code == 2 and "control" in result.output
    assert "secret" not in result.output and "X-Evil" not in result.output
    assert not (tmp_path / "j.sqlite").exists() and not (tmp_path / "calls.results.csv").exists()


def test_journal_export_is_formula_safe(tmp_path, sandbox):
    path = write_csv(tmp_path / "f.csv", [call_row('=HYPERLINK("x")')])
    run_cli(*upload_args(path, sandbox.url, tmp_path / "j.sqlite"))
    result = run_cli(
        "journal", "--journal", str(tmp_path / "j.sqlite"), "--export", str(tmp_path / "all.csv")
    )
    assert result.exit_code == 0
    assert (
        "\n=" not in (tmp_path / "all.csv").read_text()
        and "'=HYPERLINK" in (tmp_path / "all.csv").read_text()
    )


def test_a_library_call_in_a_thread_runs_without_signals(tmp_path, sandbox, calls):
    import threading

    box: dict = {}
    thread = threading.Thread(
        target=lambda: box.update(s=library_upload(calls(2), sandbox.url, tmp_path / "j.sqlite"))
    )
    thread.start()
    thread.join(60)
    assert box["s"].exit_code == 0


async def test_each_request_is_marked_in_the_journal_before_it_arrives(aiohttp_server, tmp_path):
    """Read at the server, from another connection: the mark is committed before the request
    goes out, and every answer is in the journal once the rows are done."""
    from aiohttp import web

    from tests.send.test_client import request
    from uploader.send.client import Pending, Sender, send_all
    from uploader.send.pacing import Pace

    path = tmp_path / "j.sqlite"
    at_arrival: dict[str, str | None] = {}

    async def answer(incoming: web.Request) -> web.Response:
        identifier = (await incoming.json())["call"]["external_call_unique_id"]
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            row = db.execute(
                "SELECT status FROM deliveries WHERE external_call_unique_id = ?", (identifier,)
            ).fetchone()
        at_arrival[identifier] = row[0] if row else None
        return web.json_response({"cuid": "C-" + identifier}, status=201)

    class SlowJournal(Journal):
        """A mark that takes a while to commit (a busy disk): a request that does not wait for
        its mark arrives before it, which the server then sees."""

        async def mark_sending(self, *args, **kwargs) -> None:
            await asyncio.sleep(0.05)
            await super().mark_sending(*args, **kwargs)

    app = web.Application()
    app.router.add_post("/api/2022-03-01/calls.json", answer)
    server = await aiohttp_server(app)
    endpoint = str(server.make_url("/api/2022-03-01/calls.json"))
    journal = SlowJournal(path, endpoint=endpoint, token=TOKEN)
    async with Sender(endpoint, TOKEN, Pace(rate=0, concurrency=4), ledger=journal) as sender:
        outcomes = await send_all(sender, [Pending(request(i), False) for i in range(20)])
    entries = journal.lookup([f"c{i}" for i in range(20)])
    journal.close()
    assert len(at_arrival) == 20 and set(at_arrival.values()) == {"sending"}
    assert {o.status for o in outcomes.values()} == {"created"}
    assert {i: e.cuid for i, e in entries.items()} == {f"c{i}": f"C-c{i}" for i in range(20)}


# ---------------------------------------------------------------- identity, not bytes (#29, #30)


def test_a_reused_id_for_another_call_is_a_conflict_and_an_update_is_noted(tmp_path, sandbox):
    """The journal keys by id; an id delivered for another call (another start or customer) is
    that other call's, so this row is a conflict (exit 1), never silently 'already uploaded'."""
    journal = tmp_path / "j.sqlite"
    first = write_csv(
        tmp_path / "march5.csv",
        [call_row("Y1"), call_row("Y2"), call_row("Y3"), call_row("Y4"), call_row("Y5")],
    )
    assert run_cli(*upload_args(first, sandbox.url, journal)).exit_code == 0
    other_call = call_row(
        "Y1", start_time="2024-03-07T09:00:00Z", calling_phone_number="3125550999"
    )
    updated = call_row("Y2", recording_url="https://rec.example.com/new.wav")
    other_caller = call_row("Y3", calling_phone_number="3125550777")  # same start, another customer
    rerouted = call_row("Y4", destination_phone_number="8885550000")  # the same call, another line
    earlier_call = call_row("Y5", start_time="2024-03-01T09:00:00Z")  # compares lower, as text
    second = write_csv(
        tmp_path / "march7.csv", [other_call, updated, other_caller, rerouted, earlier_call]
    )
    result = run_cli(*upload_args(second, sandbox.url, journal))
    assert result.exit_code == 1, result.output
    rows = {r["external_call_unique_id"]: r for r in read_results(tmp_path / "march7.results.csv")}
    assert rows["Y1"]["status"] == "conflict"
    assert "delivered for another call" in rows["Y1"]["error"]
    assert "2024-03-05T14:03:27+00:00" in rows["Y1"]["error"] and "own id" in rows["Y1"]["error"]
    assert rows["Y3"]["status"] == "conflict" and "+13125550143" in rows["Y3"]["error"]
    assert rows["Y5"]["status"] == "conflict"
    assert rows["Y2"]["status"] == "already_uploaded"
    assert "Invoca keeps the first version" in rows["Y2"]["error"]
    # the identity is the start and the customer: the business line is an update, not a new call
    assert rows["Y4"]["status"] == "already_uploaded" and "first version" in rows["Y4"]["error"]
    assert re.search(r"conflict\s+3\n", result.output) and "changed since" in result.output
    assert len(sandbox.calls()) == 5  # nothing posted by the second run


@pytest.mark.parametrize("invisible", ["\u200b", "\ufeff", "\u200f", "\u2060", "\u00ad"])
def test_ids_that_differ_only_by_invisible_characters_are_one_call(tmp_path, sandbox, invisible):
    journal = tmp_path / "j.sqlite"
    rows = [call_row("CALL-1"), call_row(f"CALL{invisible}-1"), call_row(f"CALL-1{invisible}")]
    path = write_csv(tmp_path / "c.csv", rows)
    result = run_cli(*upload_args(path, sandbox.url, journal))
    assert result.exit_code == 1, result.output  # the repeats are invalid, named as such
    assert [c["id"] for c in sandbox.calls()] == ["CALL-1"]
    statuses = [r["status"] for r in read_results(tmp_path / "c.results.csv")]
    assert statuses == ["created", "invalid", "invalid"]
    again = write_csv(tmp_path / "again.csv", [call_row(f"{invisible}CALL-1")])
    assert run_cli(*upload_args(again, sandbox.url, journal)).exit_code == 0
    assert [r["status"] for r in read_results(tmp_path / "again.results.csv")] == [
        "already_uploaded"
    ]
    assert len(sandbox.calls()) == 1


def test_the_id_sent_is_the_cleaned_one_and_the_results_say_so(tmp_path, sandbox):
    rows = [call_row("CALL\u200b-7"), call_row("ＣＡＬＬ-8"), call_row("plain-9")]
    path = write_csv(tmp_path / "c.csv", rows)
    assert run_cli(*upload_args(path, sandbox.url, tmp_path / "j.sqlite")).exit_code == 0
    assert sorted(c["id"] for c in sandbox.calls()) == ["CALL-7", "CALL-8", "plain-9"]
    seven, eight, nine = read_results(tmp_path / "c.results.csv")
    assert seven["external_call_unique_id"] == "CALL-7" and "invisible" in seven["error"]
    assert eight["external_call_unique_id"] == "CALL-8" and "full-width" in eight["error"]
    assert nine["error"] == ""


def test_another_spelling_of_the_same_api_address_posts_nothing_again(tmp_path, sandbox):
    journal = tmp_path / "j.sqlite"
    path = write_csv(tmp_path / "c.csv", [call_row("A1"), call_row("A2")])
    assert run_cli(*upload_args(path, sandbox.url, journal)).exit_code == 0
    port = sandbox.url.rsplit(":", 1)[1].strip("/")
    for spelling in (
        f"http://localhost:{port}",
        f"HTTP://127.0.0.1:{port}/",
        f"http://127.0.0.1:{port}/.",
        f"http://LOCALHOST:{port}//",
    ):
        result = run_cli(*upload_args(path, spelling, journal))
        assert result.exit_code == 0, (spelling, result.output)
        statuses = {r["status"] for r in read_results(tmp_path / "c.results.csv")}
        assert statuses == {"already_uploaded"}, spelling
    assert len(sandbox.requests()) == 2


def test_every_row_of_a_chunk_is_looked_up_and_sent_whatever_the_lookup_batch(
    tmp_path, sandbox, monkeypatch
):
    """The journal is asked about a chunk's ids in batches: every batch, the last one short."""
    from uploader.send import flow

    monkeypatch.setattr(flow, "LOOKUP_BATCH", 2)
    path = write_csv(tmp_path / "b.csv", [call_row(f"lb{i}") for i in range(7)])
    summary = library_upload(path, sandbox.url, tmp_path / "j.sqlite")
    assert summary.exit_code == 0 and summary.counts["created"] == 7
    assert sorted(c["id"] for c in sandbox.calls()) == [f"lb{i}" for i in range(7)]

"""The send flow: no barriers, a fault costs only its own row, results still in input order."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace

import pandas as pd
import pytest
from aiohttp import web

from tests.conftest import TOKEN, call_row, library_upload, write_csv
from uploader.check.mapping import CallRequest
from uploader.outcome import ALREADY_UPLOADED, CREATED, NOT_SENT, RowOutcome
from uploader.report.runlog import RunLog
from uploader.send.client import Pending, Sender, send_all
from uploader.send.flow import MAX_OPEN, DryRunSink, ReorderWindow, what_to_send
from uploader.send.journal import SENDING, JournalEntry
from uploader.send.pacing import Pace


def request(row: int, identifier: str | None = None) -> CallRequest:
    identifier = identifier or f"id-{row}"
    payload = json.dumps({"call": {"external_call_unique_id": identifier}}).encode()
    return CallRequest(row, identifier, payload, f"hash-{identifier}")


# ---------------------------------------------------------------- the journal's decision


def test_what_to_send_follows_the_journal():
    fresh = what_to_send(request(2), None, None)
    assert isinstance(fresh, Pending) and not fresh.sent_before
    delivered = JournalEntry("id-2", "hash-id-2", CREATED, "CU1", 1)
    same = what_to_send(request(2), delivered, None)
    assert isinstance(same, RowOutcome) and same.status == ALREADY_UPLOADED
    assert same.cuid == "CU1" and same.error == ""
    changed = what_to_send(request(2), JournalEntry("id-2", "other", CREATED, "CU1", 1), None)
    assert changed.status == ALREADY_UPLOADED and "Invoca keeps the first version" in changed.error
    # a request that may have arrived (a killed run's mark, or an answer lost after it reached)
    marked = what_to_send(request(2), JournalEntry("id-2", "h", SENDING, None, 1), None)
    assert isinstance(marked, Pending) and marked.sent_before
    reached = what_to_send(
        request(2), JournalEntry("id-2", "h", "failed", None, 3, reached=True), None
    )
    assert reached.sent_before
    unreached = what_to_send(request(2), JournalEntry("id-2", "h", "failed", None, 3), None)
    assert not unreached.sent_before
    stopped = what_to_send(request(2), None, "interrupted")
    assert stopped.status == NOT_SENT and stopped.error == "not sent: interrupted"
    assert what_to_send(request(2), delivered, "interrupted").status == ALREADY_UPLOADED


@pytest.mark.parametrize("delivered", [CREATED, "already_received", ALREADY_UPLOADED])
def test_no_delivered_status_is_ever_sent_again(delivered):
    """Whatever status said delivered (a 201, a 202, an earlier run's already_uploaded), the id is
    not sent again: the same call is already_uploaded, another call under the id a conflict."""
    identity = "2024-03-05T14:03:27+00:00 +13125550143"
    entry = JournalEntry("id-2", "hash-id-2", delivered, "CU1", 1, identity=identity)
    same = what_to_send(replace(request(2), sent=tuple(identity.split())), entry, None)
    assert same.status == ALREADY_UPLOADED and same.cuid == "CU1"
    other = what_to_send(replace(request(2), sent=("2024-03-07T09:00:00+00:00", "+1")), entry, None)
    assert other.status == "conflict" and "+13125550143" in other.error


# ---------------------------------------------------------------- the reorder window


class Written:
    """Stands for the results and retry files: what the window writes, chunk by chunk."""

    def __init__(self) -> None:
        self.chunks: list[list[int]] = []
        self.outcomes: dict[int, RowOutcome] = {}

    def write(self, chunk, outcomes, errors, sent) -> None:
        self.chunks.append(sorted(outcomes))
        self.outcomes.update(outcomes)


async def test_chunks_are_written_in_input_order_whatever_order_answers_come_in():
    written = Written()
    window = ReorderWindow(written, RunLog(None), chunk_size=2)
    first, second = [request(2), request(3)], [request(4), request(5)]
    window.open(pd.DataFrame(index=[2, 3]), {}, {}, first)
    window.open(pd.DataFrame(index=[4, 5]), {}, {}, second)
    for row in (5, 4, 3):
        window.arrived(RowOutcome(row, f"id-{row}", CREATED))
        window.flush()
    assert written.chunks == []  # row 2 is still out: nothing can be written before it
    window.arrived(RowOutcome(2, "id-2", CREATED))
    window.flush()
    assert written.chunks == [[2, 3], [4, 5]]


@pytest.mark.parametrize("sizes", [[300] * MAX_OPEN, [100, *[300] * MAX_OPEN]])
async def test_the_window_holds_at_most_max_open_chunks_worth_of_rows(sizes):
    """Counted in rows, past the room too (a small first chunk makes the count jump over it),
    for any room (not only the small numbers Python keeps one object of)."""
    window = ReorderWindow(Written(), RunLog(None), chunk_size=300)
    start = 0
    for size in sizes:
        rows = list(range(start, start + size))
        window.open(pd.DataFrame(index=rows), {}, {}, [request(row) for row in rows])
        start += size
    waiting = asyncio.ensure_future(window.wait_for_room())
    for _ in range(20):
        await asyncio.sleep(0)  # the waiter has every chance to run
    assert not waiting.done()  # full: the reader waits for the oldest chunk
    for row in range(sum(sizes[:-1])):  # all but the newest chunk answered and written
        window.arrived(RowOutcome(row, f"id-{row}", CREATED))
    await asyncio.wait_for(waiting, 5)


async def test_chunks_smaller_than_the_size_asked_do_not_shrink_the_window():
    """The window counts rows: chunks smaller than the size asked (the first one holds 1,000 rows)
    leave room for more, so a row of the first one in a long retry does not stop the reading."""
    window = ReorderWindow(Written(), RunLog(None), chunk_size=8)
    for start in (0, 2, 4):  # three chunks of two rows, the first one's row 0 still out
        rows = [start, start + 1]
        window.open(pd.DataFrame(index=rows), {}, {}, [request(r) for r in rows])
        for row in rows[1 if start == 0 else 0 :]:
            window.arrived(RowOutcome(row, f"id-{row}", CREATED))
        await asyncio.wait_for(window.wait_for_room(), 1)  # 6 rows open, room for 16


async def test_a_stop_gives_every_row_left_an_outcome():
    outputs = Written()
    window = ReorderWindow(outputs, RunLog(None), chunk_size=3)
    window.open(pd.DataFrame(index=[2, 3, 4]), {}, {}, [request(2), request(3), request(4)])
    window.arrived(RowOutcome(2, "id-2", CREATED))
    window.close([Pending(request(3), False)], "not sent: the run was interrupted")
    written = outputs.outcomes
    assert written[2].status == CREATED
    assert written[3].status == "failed" and "interrupted before the answer" in written[3].error
    assert written[4].status == NOT_SENT and written[4].external_call_unique_id == "id-4"


async def test_a_dry_run_is_a_sink_like_the_sender():
    bodies, seen = [], []
    sink = DryRunSink(bodies.append, seen.append)
    await sink.submit(Pending(request(7), False))
    await sink.drain()
    assert bodies == [request(7).payload] and seen[0].status == NOT_SENT and sink.in_flight() == []


# ---------------------------------------------------------------- a fault costs only its own row


@pytest.fixture
async def slow_first(aiohttp_server):
    """A real server on loopback: the first request for id 'slow' is a 503 with Retry-After 1."""
    arrivals: list[tuple[str, float]] = []

    async def calls(request: web.Request) -> web.Response:
        identifier = (await request.json())["call"]["external_call_unique_id"]
        arrivals.append((identifier, time.monotonic()))
        if identifier == "slow" and sum(1 for i, _ in arrivals if i == "slow") == 1:
            return web.json_response({}, status=503, headers={"Retry-After": "1"})
        return web.json_response({"cuid": f"CU-{identifier}"}, status=201)

    app = web.Application()
    app.router.add_post("/api/2022-03-01/calls.json", calls)
    server = await aiohttp_server(app)
    return str(server.make_url("/api/2022-03-01/calls.json")), arrivals


async def test_a_row_waiting_for_its_retry_holds_no_other_row(slow_first):
    url, arrivals = slow_first
    done: list[tuple[str, float]] = []
    async with Sender(
        url,
        TOKEN,
        Pace(rate=0, concurrency=1, max_retries=2),
        on_outcome=lambda o: done.append((o.external_call_unique_id, time.monotonic())),
    ) as sender:
        await sender.submit(Pending(request(2, "slow"), False))
        for row in range(3, 23):
            await sender.submit(Pending(request(row), False))
        await sender.drain()
    order = [identifier for identifier, _ in done]
    assert order[-1] == "slow" and len(order) == 21
    arrived = [identifier for identifier, _ in arrivals]
    assert arrived.count("slow") == 2
    first, second = (at for at, identifier in enumerate(arrived) if identifier == "slow")
    # while "slow" waited its 1 s, the one slot kept sending: told by the order rows arrived in,
    # not by a clock (a loaded machine may take longer than 1 s for the twenty)
    assert second - first > 1, arrived


async def test_isolated_503s_do_not_slow_the_rest_of_the_run(slow_first):
    url, _ = slow_first
    async with Sender(url, TOKEN, Pace(rate=50, concurrency=4, max_retries=2)) as sender:
        outcomes = await send_all(
            sender,
            [Pending(request(2, "slow"), False)]
            + [Pending(request(row), False) for row in range(3, 13)],
        )
        assert sender.pacer.rate == 50  # one 503 with a Retry-After is that row's business
    assert {o.status for o in outcomes.values()} == {CREATED}


# ---------------------------------------------------------------- the run


def test_a_library_run_leaves_the_process_signals_alone(tmp_path, sandbox, monkeypatch):
    installed = []
    loop_type = type(asyncio.new_event_loop())
    monkeypatch.setattr(loop_type, "add_signal_handler", lambda self, *a: installed.append(a))
    path = write_csv(tmp_path / "c.csv", [call_row("a"), call_row("b")])
    summary = library_upload(path, sandbox.url, tmp_path / "j.sqlite")
    assert summary.exit_code == 0 and installed == []
    library_upload(path, sandbox.url, tmp_path / "j.sqlite", handle_signals=True)
    assert len(installed) == 2  # SIGINT and SIGTERM, when the command line asks


def test_progress_counts_every_row_whatever_its_fate(tmp_path, sandbox, monkeypatch):
    from uploader import upload
    from uploader.report import progress

    counted = []
    monkeypatch.setattr(
        progress.Progress, "close", lambda self: counted.append((self.done, self.total))
    )
    rows = [call_row(f"p{i}") for i in range(6)] + [call_row("bad", calling_phone_number="12")]
    path = write_csv(tmp_path / "c.csv", rows)
    options = dict(
        base_url=sandbox.url,
        campaign_id="85",
        token=TOKEN,
        journal=tmp_path / "j.sqlite",
        chunk_size=2,
    )
    upload(path, progress=True, **options)  # 6 created, 1 invalid
    upload(path, progress=True, **options)  # 6 already uploaded (from the journal), 1 invalid
    upload(path, progress=True, dry_run=True, campaign_id="85", chunk_size=2)
    assert [done for done, _ in counted] == [7, 7, 7]


def test_rows_of_later_chunks_go_out_while_a_row_waits_for_its_retry(tmp_path, make_sandbox):
    """No barrier per chunk: between a row's 503 and its retry (1 s later), rows of the next
    chunks are sent; the results file still lists every row in input order."""
    box = make_sandbox(unavailable_rate=0.15, retry_after=1, seed=4)
    ids = [f"r{i:02d}" for i in range(40)]
    path = write_csv(tmp_path / "c.csv", [call_row(i) for i in ids])
    summary = library_upload(
        path, box.url, tmp_path / "j.sqlite", chunk_size=4, concurrency=4, rate=0
    )
    assert summary.exit_code == 0
    chunk_of = {identifier: index // 4 for index, identifier in enumerate(ids)}
    log = [(seen["id"], seen["status"]) for seen in box.requests()]
    overtaken = 0
    for at, (identifier, status) in enumerate(log):
        if status != 503:
            continue
        retry = next(i for i in range(at + 1, len(log)) if log[i][0] == identifier)
        later = {
            other for other, _ in log[at + 1 : retry] if chunk_of[other] > chunk_of[identifier]
        }
        overtaken += bool(later)
    assert overtaken >= 1, log
    results = (tmp_path / "c.results.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    assert [line.split(",")[1] for line in results] == ids


def test_the_eta_follows_the_current_rate_not_the_average():
    from uploader.report.progress import Progress

    bar = Progress(20_000, enabled=False)
    bar._marks.clear()
    bar._marks.append((0.0, 0))
    bar.done = 6000
    bar.line(60.0)  # a fast first minute: 100 rows/s
    for minute in range(2, 9):  # then 10 rows/s for seven minutes
        bar.done += 600
        text = bar.line(60.0 * minute)
    # 9,800 rows left at the current 10 rows/s; the average since the start (21/s) would say 7m
    assert "10.0 rows/s" in text and "ETA 16m20s" in text

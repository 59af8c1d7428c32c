"""The worker pool against the sandbox on loopback: statuses, retries, pacing, concurrency and
stops."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from email.utils import formatdate

import pytest
from aiohttp import web

from uploader.check.mapping import CallRequest, encode
from uploader.errors import RunStopped, TransportError
from uploader.sandbox import SandboxConfig, create_app
from uploader.sandbox.server import STATE
from uploader.send.answers import classify
from uploader.send.client import Pending, Sender, send_all
from uploader.send.pacing import Pace, Pacer, parse_retry_after

TOKEN = "tok"
BODY = {
    "call": {
        "external_call_unique_id": "c0",
        "start_time": "2016-04-11T13:00:00-07:00",
        "calling_phone_number": "+13125550143",
        "destination_phone_number": "+18885551212",
        "advertiser_campaign_id_from_network": "85",
        "call_direction": "inbound",
        "recording_url": "https://rec.example.com/1.wav",
    }
}


def request(index: int, **call) -> CallRequest:
    body = copy.deepcopy(BODY)
    body["call"]["external_call_unique_id"] = f"c{index}"
    body["call"].update(call)
    payload = encode(body)
    return CallRequest(index + 2, f"c{index}", payload, str(hash(payload)))


async def no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
def server_for(aiohttp_server):
    async def make(**settings):
        settings.setdefault("token", TOKEN)
        app = create_app(SandboxConfig(**settings))
        server = await aiohttp_server(app)
        return server, app[STATE]

    return make


def endpoint(server) -> str:
    return str(server.make_url("/api/2022-03-01/calls.json"))


async def send(server, requests, pace=Pace(rate=0, concurrency=4), **kwargs):
    kwargs.setdefault("sleep", no_sleep)
    async with Sender(endpoint(server), kwargs.pop("token", TOKEN), pace, **kwargs) as sender:
        outcomes = await send_all(sender, [Pending(r, False) for r in requests])
    return outcomes, sender


# ---------------------------------------------------------------- classification (pure)


def test_classify_every_status():
    assert classify(201, {"cuid": "X1"}, {}, sent_before=False).status == "created"
    assert classify(201, {"cuid": "X1"}, {}, sent_before=False).cuid == "X1"
    assert classify(202, None, {}, sent_before=False).status == "already_received"
    assert classify(409, None, {}, sent_before=False).status == "conflict"
    assert classify(409, None, {}, sent_before=True).status == "already_received"
    refused = classify(
        403,
        {"errors": {"class": "RecordInvalid", "invalid_data": "Validation failed: x"}},
        {},
        sent_before=False,
    )
    assert refused.status == "rejected" and refused.error == "RecordInvalid: Validation failed: x"
    for status in (401, 400, 404, 301):
        with pytest.raises(RunStopped):
            classify(status, None, {}, sent_before=False)
    with pytest.raises(RunStopped):
        classify(
            403,
            {"errors": {"class": "UnauthorizedOperation", "invalid_data": ""}},
            {},
            sent_before=False,
        )
    with pytest.raises(TransportError) as slow:
        classify(429, None, {"Retry-After": "7"}, sent_before=False)
    assert slow.value.slow_down and slow.value.retry_after == 7
    with pytest.raises(TransportError) as trouble:
        classify(
            500,
            {
                "errors": {
                    "class": "InternalServiceError",
                    "invalid_data": "refer to error handle 1",
                }
            },
            {},
            sent_before=False,
        )
    assert not trouble.value.slow_down


def test_retry_after_in_seconds_and_as_http_date():
    assert parse_retry_after("3") == 3
    assert parse_retry_after("100000") == 120  # capped
    now = time.time()
    assert 9 <= parse_retry_after(formatdate(now + 10, usegmt=True), now=now) <= 10
    assert parse_retry_after(formatdate(now - 10, usegmt=True), now=now) == 0
    assert parse_retry_after("soon") is None and parse_retry_after("") is None


def test_pacer_spaces_requests_evenly_and_a_retry_after_holds_every_worker():
    clock = {"now": 0.0}
    slept = []

    def wait() -> None:  # what a worker does: book a slot, sleep until it
        delay = pacer.reserve()
        if delay > 0:
            slept.append(delay)
            clock["now"] += delay

    pacer = Pacer(10, clock=lambda: clock["now"])
    for _ in range(5):
        wait()
    assert slept == pytest.approx([0.1, 0.1, 0.1, 0.1])
    pacer.slow_down(retry_after=2.0)
    slept.clear()
    wait()
    assert slept[0] >= 2.0


def test_a_429_finds_the_limit_between_accepted_and_attempted_and_probes_up():
    clock = {"now": 10.0}
    pacer = Pacer(0, clock=lambda: clock["now"])  # unlimited: as fast as the slots go
    for index in range(130):  # 130 requests in the last second, of which 100 were accepted
        clock["now"] = 10.0 + index / 130
        pacer.reserve()
        if index < 100:
            pacer.answered(failed=False)
    pacer.slow_down(retry_after=None)
    pacer.slow_down(retry_after=None)  # at most once a second
    assert pacer.ceiling == pytest.approx(0.97 * (100 + 130) / 2, rel=0.02)
    assert pacer.rate == pacer.ceiling
    ceiling = pacer.ceiling
    for _ in range(int(ceiling) * 4):  # four seconds at the ceiling without a 429
        pacer.answered(failed=False)
    assert pacer.ceiling == pytest.approx(ceiling + 4 * 0.25, rel=0.01)  # probing, slowly


def test_isolated_503s_cost_only_their_row_an_outage_slows_everyone():
    clock = {"now": 0.0}
    pacer = Pacer(50, clock=lambda: clock["now"])
    for second in range(60):  # 2% of answers fail, spread out: the rate never moves
        clock["now"] = float(second)
        for index in range(50):
            pacer.answered(failed=index == 25)
    assert pacer.rate == 50 and pacer.ceiling == 50
    for index in range(20):  # then most answers fail: the run slows down together
        clock["now"] = 60.0 + index
        pacer.answered(failed=True)
    assert pacer.rate < 50 * 0.7
    assert pacer.ceiling == 50  # not a limit the API set: won back with successes
    for _ in range(200):
        pacer.answered(failed=False)
    assert pacer.rate == 50


# ---------------------------------------------------------------- against the sandbox


async def test_created_with_cuids_and_token_in_header_only(server_for):
    server, state = await server_for()
    outcomes, _ = await send(server, [request(i) for i in range(10)])
    assert {o.status for o in outcomes.values()} == {"created"}
    assert {o.cuid for o in outcomes.values()} == {c.cuid for c in state.calls.values()}
    # as each request arrived, not as stored: the token travels in the header and nowhere else
    assert len(state.requests) == 10
    for seen in state.requests:
        assert seen["headers"]["Authorization"] == TOKEN
        assert TOKEN not in json.dumps(seen["body"]) and TOKEN not in seen["query"]


async def test_concurrency_bound_is_never_exceeded(server_for):
    server, state = await server_for(latency_ms=30, seed=2)
    outcomes, _ = await send(server, [request(i) for i in range(40)], Pace(rate=0, concurrency=3))
    assert len(outcomes) == 40
    assert state.max_in_flight == 3


async def test_rate_is_kept_as_measured_at_the_server(server_for):
    server, state = await server_for()
    outcomes, _ = await send(
        server, [request(i) for i in range(25)], Pace(rate=50, concurrency=8), sleep=asyncio.sleep
    )
    times = [r["time"] for r in state.requests]
    span = max(times) - min(times)
    assert span >= 24 / 50 * 0.9, span  # 25 requests at 50/s take at least ~0.48 s
    # that the pace is no slower than asked is told by the pacer's own clock (the test above),
    # not by the wall clock here, which a loaded machine stretches


@pytest.mark.parametrize("as_date", [False, True])
async def test_429_is_retried_after_retry_after(server_for, as_date):
    server, state = await server_for(rate_limit=2, retry_after_date=as_date)
    waits = []

    async def sleep(seconds):
        waits.append(seconds)

    outcomes, sender = await send(
        server,
        [request(i) for i in range(6)],
        Pace(rate=0, concurrency=6, max_retries=50),
        sleep=sleep,
    )
    # the fake sleep does not really wait, so the sandbox keeps limiting; what matters is the path
    statuses = [r["status"] for r in state.requests]
    assert 429 in statuses
    # the sandbox asks for 1 s (seconds) or about 2 s (an HTTP date): the wait is what it asked for,
    # not the much shorter first backoff (at most 1 s) that ignoring Retry-After would give
    if as_date:
        assert any(1.0 < w <= 2.0 for w in waits), waits
    else:
        assert waits.count(1.0) >= 0.9 * statuses.count(429), waits
    assert sender.pacer.rate > 0  # unlimited became a measured, lowered rate


@pytest.mark.parametrize("as_date", [False, True])
async def test_a_503_asking_for_longer_than_any_backoff_is_waited_in_full(server_for, as_date):
    """Retry-After: 7 (or a date 8 s ahead) is longer than every backoff the client would pick
    itself (at most a few seconds): the waits asked for are at least what the API said."""
    server, state = await server_for(unavailable_rate=1.0, retry_after=7, retry_after_date=as_date)
    waits: list[float] = []

    async def sleep(seconds):
        waits.append(seconds)

    outcomes, _ = await send(
        server, [request(0)], Pace(rate=0, concurrency=1, max_retries=3), sleep=sleep
    )
    assert [r["status"] for r in state.requests] == [503] * 4
    assert waits and all(wait >= 6.5 for wait in waits[:3]), waits  # a date: whole seconds
    assert [o.status for o in outcomes.values()] == ["failed"]


async def test_5xx_and_lost_answers_are_retried_and_delivered_once(server_for):
    server, state = await server_for(fail_rate=0.3, drop_rate=0.3, seed=7)
    outcomes, sender = await send(
        server, [request(i) for i in range(60)], Pace(rate=0, concurrency=4, max_retries=20)
    )
    assert {o.status for o in outcomes.values()} <= {"created", "already_received"}
    assert len(state.calls) == 60
    statuses = [r["status"] for r in state.requests]
    assert {500, 503, None} <= set(statuses) and 202 in statuses and 409 not in statuses
    assert sender.stop_reason is None  # lost answers among answered ones are no absent API


async def test_retries_exhausted_is_failed(server_for):
    server, _ = await server_for(fail_rate=1.0, seed=1)
    outcomes, _ = await send(server, [request(0)], Pace(rate=0, concurrency=1, max_retries=2))
    outcome = outcomes[2]
    assert outcome.status == "failed" and outcome.attempts == 3 and "gave up" in outcome.error


async def test_unreachable_host_fails_every_row_without_hanging():
    started = time.monotonic()
    async with Sender(
        "http://127.0.0.1:9/api/2022-03-01/calls.json",
        TOKEN,
        Pace(rate=0, concurrency=2, max_retries=1),
        sleep=no_sleep,
    ) as sender:
        outcomes = await send_all(sender, [Pending(request(i), False) for i in range(4)])
    assert {o.status for o in outcomes.values()} == {"failed"}
    assert time.monotonic() - started < 10


async def test_401_stops_the_run_and_leaves_the_rest_unsent(server_for):
    server, state = await server_for()
    outcomes, sender = await send(
        server, [request(i) for i in range(30)], Pace(rate=0, concurrency=1), token="bad"
    )
    assert sender.stop_reason and "401" in sender.stop_reason
    assert sum(o.status == "not_sent" for o in outcomes.values()) >= 28
    assert len(state.requests) <= 2


async def test_unauthorized_operation_stops_the_run(server_for):
    server, _ = await server_for(ingestion_disabled=True)
    outcomes, sender = await send(
        server, [request(i) for i in range(10)], Pace(rate=0, concurrency=1)
    )
    assert "UnauthorizedOperation" in sender.stop_reason
    assert list(outcomes.values())[-1].status == "not_sent"


async def test_twenty_identical_rejections_stop_the_run(server_for):
    server, state = await server_for(campaigns=("1",))
    outcomes, sender = await send(
        server, [request(i) for i in range(40)], Pace(rate=0, concurrency=1)
    )
    assert "same refusal to 20 rows" in sender.stop_reason
    assert sum(o.status == "rejected" for o in outcomes.values()) == 20


async def test_max_errors_stops_the_run(server_for):
    server, _ = await server_for()
    bad = [request(i, calling_phone_number=f"bad{i}") for i in range(10)]
    outcomes, sender = await send(server, bad, Pace(rate=0, concurrency=1), max_errors=3)
    assert "--max-errors 3" in sender.stop_reason
    assert sum(o.status == "rejected" for o in outcomes.values()) == 3


async def test_redirects_are_not_followed(aiohttp_server):
    async def redirect(request):
        raise web.HTTPFound("http://127.0.0.1:9/elsewhere")

    app = web.Application()
    app.router.add_post("/api/2022-03-01/calls.json", redirect)
    server = await aiohttp_server(app)
    outcomes, sender = await send(server, [request(0)])
    assert "redirect" in sender.stop_reason


async def test_response_bodies_are_read_with_a_cap(aiohttp_server):
    async def huge(request):
        return web.Response(status=201, body=json.dumps({"cuid": "A" * 200_000}).encode())

    app = web.Application()
    app.router.add_post("/api/2022-03-01/calls.json", huge)
    server = await aiohttp_server(app)
    outcomes, sender = await send(server, [request(0)])
    # not an answer the API gives: the row stays maybe-sent and the run stops
    assert outcomes[2].status == "failed" and outcomes[2].cuid is None
    assert "KiB" in sender.stop_reason


async def test_tls_is_verified_and_ca_bundle_trusts_a_proxy(aiohttp_server, self_signed):
    import ssl

    key, cert = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = await aiohttp_server(create_app(SandboxConfig(token=TOKEN)), ssl=context)
    url = f"https://127.0.0.1:{server.port}/api/2022-03-01/calls.json"
    async with Sender(url, TOKEN, Pace(rate=0, concurrency=1), sleep=no_sleep) as sender:
        outcomes = await send_all(sender, [Pending(request(0), False)])
    assert "--ca-bundle" in sender.stop_reason and outcomes[2].status == "failed"
    async with Sender(
        url, TOKEN, Pace(rate=0, concurrency=1), ca_bundle=str(cert), sleep=no_sleep
    ) as sender:
        outcomes = await send_all(sender, [Pending(request(1), False)])
    assert outcomes[3].status == "created"


class FailingLedger:
    """A journal whose mark fails on the given attempts (1 = the first request's)."""

    def __init__(self, failing: set[int]) -> None:
        self.failing, self.marks, self.recorded = failing, 0, []

    async def mark_sending(self, identifier: str, payload_hash: str, identity: str = "") -> None:
        from uploader.errors import JournalFailure

        self.marks += 1
        if self.marks in self.failing:
            raise JournalFailure("journal j.sqlite: cannot be written (disk full)")

    def unmark(self, identifier: str) -> None:
        pass

    def record(self, outcome, *, reached: bool) -> None:
        self.recorded.append((outcome.status, reached))


async def test_a_mark_that_fails_before_the_first_request_leaves_the_row_unsent(server_for):
    """Unmarked, a request never goes out: the row is `not_sent` (run again to send it), not
    `failed`, which would claim it may have arrived."""
    server, state = await server_for()
    ledger = FailingLedger({1})
    outcomes, sender = await send(server, [request(0)], Pace(rate=0, concurrency=1), ledger=ledger)
    assert outcomes[2].status == "not_sent" and outcomes[2].attempts == 0
    assert state.requests == [] and "cannot be written" in sender.stop_reason


async def test_a_mark_that_fails_before_a_retry_says_the_first_may_have_arrived(server_for):
    server, state = await server_for(fail_rate=1.0, seed=1)
    ledger = FailingLedger({2})
    outcomes, _ = await send(
        server, [request(0)], Pace(rate=0, concurrency=1, max_retries=3), ledger=ledger
    )
    assert outcomes[2].status == "failed" and "cannot be written" in outcomes[2].error
    assert len(state.requests) == 1 and ledger.recorded == [("failed", True)]


def test_the_watchdog_stops_on_limits_not_on_ordinary_failures():
    from uploader.outcome import RowOutcome
    from uploader.send.client import IDENTICAL_REJECTIONS, Watchdog

    clock = {"now": 0.0}
    dog = Watchdog(max_errors=3, outage_seconds=300, clock=lambda: clock["now"])
    refused = RowOutcome(2, "a", "rejected", error="RecordInvalid: bad number")
    assert dog.outcome(refused) is None and dog.outcome(RowOutcome(3, "b", "created")) is None
    assert dog.outcome(RowOutcome(4, "c", "failed")) is None
    assert "--max-errors 3" in dog.outcome(RowOutcome(5, "d", "conflict"))
    same = Watchdog(max_errors=None, outage_seconds=300, clock=lambda: clock["now"])
    reasons = [same.outcome(refused) for _ in range(IDENTICAL_REJECTIONS)]
    assert reasons[:-1] == [None] * (IDENTICAL_REJECTIONS - 1)
    assert "same refusal" in reasons[-1] and "RecordInvalid" in reasons[-1]
    broken = Watchdog(max_errors=None, outage_seconds=300, clock=lambda: clock["now"])
    for _ in range(IDENTICAL_REJECTIONS - 1):
        broken.outcome(refused)
    assert broken.outcome(RowOutcome(9, "z", "created")) is None  # a success ends the streak
    assert {broken.outcome(refused) for _ in range(IDENTICAL_REJECTIONS - 1)} == {None}
    held = Watchdog(max_errors=None, outage_seconds=300, clock=lambda: clock["now"])
    for _ in range(IDENTICAL_REJECTIONS - 1):
        held.outcome(refused)
    assert held.outcome(RowOutcome(9, "z", "not_sent")) is None  # an unsent row is no answer
    assert "same refusal" in held.outcome(refused)
    clock["now"] = 299.0
    assert same.failed("api.example") is None
    same.succeeded()
    clock["now"] = 598.0
    assert same.failed("api.example") is None  # 299 s since the last success
    clock["now"] = 600.0
    assert "outage budget 300 s" in same.failed("api.example")


async def test_answers_that_succeed_never_slow_the_pace(server_for):
    """Only failures count towards an overload: a run of successes keeps --rate."""
    server, state = await server_for()
    outcomes, sender = await send(
        server, [request(i) for i in range(40)], Pace(rate=200, concurrency=4)
    )
    assert {o.status for o in outcomes.values()} == {"created"}
    assert sender.pacer.rate == 200


@pytest.mark.parametrize(("seconds", "said"), [(7, False), (12, True)])
async def test_only_a_long_retry_after_is_said_on_the_screen(server_for, caplog, seconds, said):
    server, _ = await server_for(unavailable_rate=1.0, retry_after=seconds)
    await send(server, [request(0)], Pace(rate=0, concurrency=1, max_retries=1))
    assert ("the API asked to wait" in caplog.text) is said, caplog.text


async def test_an_api_answering_only_with_errors_is_not_an_absent_one(server_for):
    """5xx answers among lost ones: the API is there (exit 1 for the rows), not 'no answer'."""
    server, state = await server_for(fail_rate=0.5, drop_rate=1.0, seed=5)
    _, sender = await send(
        server, [request(i) for i in range(6)], Pace(rate=0, concurrency=2, max_retries=1)
    )
    statuses = [r["status"] for r in state.requests]
    assert 500 in statuses and None in statuses, statuses
    assert "no answer from the API at all" not in (sender.stop_reason or "")

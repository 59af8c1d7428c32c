"""The sandbox over real loopback HTTP: every status code, envelope and fault switch."""

from __future__ import annotations

import copy
import json
import time
from email.utils import parsedate_to_datetime

import pytest

from uploader.sandbox import SandboxConfig, create_app

ROUTE = "/api/2022-03-01/calls.json"
TOKEN = "t0k3n"
BODY = {
    "call": {
        "external_call_unique_id": "call-1",
        "start_time": "2016-04-11T13:00:00-07:00",
        "calling_phone_number": "+13125550143",
        "destination_phone_number": "8885551212",
        "advertiser_campaign_id_from_network": "85",
        "call_direction": "inbound",
        "recording_url": "https://rec.example.com/1.wav",
    },
    "signals": [{"name": "Sale", "value": True}],
    "custom_data": [{"name": "channel", "value": "web"}],
}


@pytest.fixture
def client_for(aiohttp_client):
    async def make(**settings):
        settings.setdefault("token", TOKEN)
        return await aiohttp_client(create_app(SandboxConfig(**settings)))

    return make


async def post(client, body, token=TOKEN, route=ROUTE, method="post"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    headers = {"Authorization": token} if token is not None else {}
    response = await getattr(client, method)(route, data=data, headers=headers)
    text = await response.text()
    return response.status, (json.loads(text) if text else None), response


def assert_envelope(body, error_class):
    assert set(body) == {"errors"} and set(body["errors"]) == {"class", "invalid_data"}
    assert body["errors"]["class"] == error_class


async def test_created_then_replay_then_conflict(client_for):
    client = await client_for()
    status, body, _ = await post(client, BODY)
    assert status == 201 and len(body["cuid"]) >= 16
    assert (await post(client, BODY))[0] == 202
    changed = copy.deepcopy(BODY)
    changed["call"]["calling_phone_number"] = "+13125550199"
    status, body, _ = await post(client, changed)
    assert status == 409
    stored = await (await client.get("/_sandbox/calls")).json()
    assert len(stored) == 1 and stored[0]["body"] == BODY


async def test_put_and_every_documented_time_form(client_for):
    client = await client_for()
    forms = [
        "1460404800",
        "1460404800000",
        "20160411200000000",
        "2016/04/11T13:00:00.000-07:00",
        "2016/04/11T20:00:00Z",
        "2016/04/11 13:00:00 PM",
        "2016-02-03 09:30:00 AM",
        "2016-08-08 11:03:31 -0700",
        "2022-03-25 09:31:29",
        1460404800,
    ]
    for index, form in enumerate(forms):
        body = copy.deepcopy(BODY)
        body["call"]["external_call_unique_id"] = f"t{index}"
        body["call"]["start_time"] = form
        status, answer, _ = await post(client, body, method="put")
        assert status == 201, (form, answer)


async def test_auth_header_body_token_and_bearer(client_for):
    client = await client_for()
    with_body_token = {**BODY, "oauth_token": TOKEN}
    assert (await post(client, with_body_token, token=None))[0] == 201
    status, body, _ = await post(client, BODY, token=f"Bearer {TOKEN}")
    assert status == 401 and body["errors"]["class"] == "Unauthorized"
    assert (await post(client, BODY, token=None))[0] == 401
    assert (await post(client, BODY, token="wrong"))[0] == 401


async def test_other_api_version_is_400(client_for):
    client = await client_for()
    status, body, _ = await post(client, BODY, route="/api/2020-10-01/calls.json")
    assert status == 400
    assert_envelope(body, "InvalidApiVersion")


async def test_every_problem_is_listed_in_one_403(client_for):
    client = await client_for(signals=("sale",), custom=("channel",))
    bad = {
        "call": {
            "external_call_unique_id": "x",
            "start_time": "yesterday",
            "calling_phone_number": "555",
            "destination_phone_number": True,
            "advertiser_campaign_id_from_network": "85",
            "call_direction": "sideways",
            "language_code": "de-DE",
            "colour": "blue",
        },
        "signals": [{"name": "Sale", "value": "perhaps"}, {"name": "sale"}, {"name": "nope"}],
        "custom_data": [{"name": "channel"}, {"name": "unknown", "value": "x"}],
        "extra": 1,
    }
    status, body, _ = await post(client, bad)
    assert status == 403
    assert_envelope(body, "RecordInvalid")
    message = body["errors"]["invalid_data"]
    for fragment in [
        "extra is not a known field",
        "call.colour is not a known field",
        "call.start_time",
        "call.calling_phone_number",
        "call.destination_phone_number",
        "call.call_direction",
        "recording_url or call.recording_filename",
        "call.language_code",
        "signals[0].value",
        "signals[1].name sale is given twice",
        "signals[2].name nope",
        "custom_data[0].value",
        "custom_data[1].name unknown",
    ]:
        assert fragment in message, fragment


async def test_unknown_campaign_is_unauthorized_advertiser(client_for):
    client = await client_for(campaigns=("85",))
    body = copy.deepcopy(BODY)
    body["call"]["advertiser_campaign_id_from_network"] = "99"
    status, answer, _ = await post(client, body)
    assert status == 403
    assert_envelope(answer, "UnauthorizedAdvertiser")


async def test_ingestion_disabled_is_unauthorized_operation(client_for):
    client = await client_for(ingestion_disabled=True)
    status, answer, _ = await post(client, BODY)
    assert status == 403
    assert_envelope(answer, "UnauthorizedOperation")


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe", b'"a string"', b"null"])
async def test_malformed_bodies_get_the_envelope(client_for, raw):
    client = await client_for()
    status, answer, _ = await post(client, raw)
    assert status == 403
    assert_envelope(answer, "RecordInvalid")


async def test_wrong_types_everywhere_never_crash(client_for):
    client = await client_for()
    for value in [None, 1.5, [], {}, True, "", "x" * 5000]:
        body = {
            "call": {key: value for key in BODY["call"]},
            "signals": value,
            "custom_data": value,
        }
        status, answer, _ = await post(client, body)
        assert status == 403, value
        assert_envelope(answer, "RecordInvalid")


async def test_huge_body_is_413(client_for):
    client = await client_for()
    body = copy.deepcopy(BODY)
    body["custom_data"] = [{"name": "blob", "value": "x" * (1024 * 1024 + 10)}]
    status, answer, _ = await post(client, body)
    assert status == 413
    assert_envelope(answer, "RequestTooLarge")


@pytest.mark.parametrize("as_date", [False, True])
async def test_rate_limit_answers_429_with_retry_after(client_for, as_date):
    client = await client_for(rate_limit=3, retry_after_date=as_date)
    statuses = []
    for index in range(6):
        body = copy.deepcopy(BODY)
        body["call"]["external_call_unique_id"] = f"r{index}"
        status, answer, response = await post(client, body)
        statuses.append(status)
        if status == 429:
            assert_envelope(answer, "TooManyRequests")
            retry_after = response.headers["Retry-After"]
            if as_date:
                assert parsedate_to_datetime(retry_after).timestamp() > time.time() - 2
            else:
                assert retry_after == "1"
    assert statuses[:3] == [201, 201, 201] and 429 in statuses[3:]


async def test_fail_rate_answers_500_and_503_and_stores_nothing(client_for):
    client = await client_for(fail_rate=1.0, seed=1)
    seen = set()
    for _ in range(12):
        status, answer, _ = await post(client, BODY)
        seen.add(status)
        if status == 500:
            assert_envelope(answer, "InternalServiceError")
            assert answer["errors"]["invalid_data"].startswith("refer to error handle")
    assert seen == {500, 503}
    assert await (await client.get("/_sandbox/calls")).json() == []


async def test_drop_rate_stores_the_call_but_loses_the_answer(client_for):
    import aiohttp

    client = await client_for(drop_rate=1.0, seed=1)
    with pytest.raises(aiohttp.ClientError):
        await post(client, BODY)
    stored = await (await client.get("/_sandbox/calls")).json()
    assert [c["id"] for c in stored] == ["call-1"]


async def test_latency_delays_answers(client_for):
    client = await client_for(latency_ms=200, seed=3)
    started = time.monotonic()
    for index in range(5):
        body = copy.deepcopy(BODY)
        body["call"]["external_call_unique_id"] = f"l{index}"
        await post(client, body)
    assert time.monotonic() - started > 0.1


async def test_clear_and_stats(client_for):
    client = await client_for()
    await post(client, BODY)
    stats = await (await client.get("/_sandbox/stats")).json()
    assert (
        stats["calls"] == 1
        and stats["max_in_flight"] == 1
        and stats["requests"][0]["status"] == 201
    )
    await client.delete("/_sandbox/calls")
    assert await (await client.get("/_sandbox/calls")).json() == []


def test_a_client_gone_before_its_body_arrived_is_not_a_traceback(make_sandbox, caplog):
    """A killed upload leaves requests cut in the middle: the sandbox stores nothing for them and
    says nothing alarming (it printed a traceback for each)."""
    import socket
    import struct

    sandbox = make_sandbox(latency_ms=300)  # the body is read after the answer's delay
    host, port = sandbox.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
        client.sendall(
            b"POST /api/2022-03-01/calls.json HTTP/1.1\r\nHost: x\r\nAuthorization: t\r\n"
            b'Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{"call": {'
        )
        time.sleep(0.05)  # the sandbox holds the request; the client is killed meanwhile
    time.sleep(0.6)  # past the longest delay (300 ms): the handler has met the cut and ended
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    assert sandbox.calls() == []

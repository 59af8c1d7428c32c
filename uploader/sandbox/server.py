"""The sandbox: a local emulator of Invoca's Call Ingestion API on aiohttp's server.

Same route, authentication, validation, status codes and bodies as spec/invoca-call-ingestion.md,
plus switches for what a real server (or a proxy in front of it) shows rarely: 429, 5xx, lost
answers, latency, bodies over a size limit (413), answers split across packets, HTML pages and 201s
without a cuid. Inspection routes: GET/DELETE /_sandbox/calls, GET /_sandbox/stats and
GET /_sandbox/requests, which lists every request as it arrived (headers, body, answer), so that a
test can count the posts per id rather than the calls stored.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from aiohttp import web

from uploader.sandbox.config import MAX_BODY, SandboxConfig
from uploader.sandbox.validation import check_body

API_VERSION = "2022-03-01"


@dataclass
class StoredCall:
    external_call_unique_id: str
    cuid: str
    body: dict[str, Any]
    received: float


@dataclass
class SandboxState:
    config: SandboxConfig
    calls: dict[str, StoredCall] = field(default_factory=dict)
    recent: deque[float] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    random: random.Random = field(default_factory=random.Random)
    first_request: float | None = None  # monotonic time, for the reset window


STATE = web.AppKey("sandbox_state", SandboxState)


def errors(
    status: int, error_class: str, invalid_data: str, headers: dict | None = None
) -> web.Response:
    return web.json_response(
        {"errors": {"class": error_class, "invalid_data": invalid_data}},
        status=status,
        headers=headers,
    )


async def ingest(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    state.in_flight += 1
    state.max_in_flight = max(state.max_in_flight, state.in_flight)
    seen: dict[str, Any] = {
        "time": time.time(),
        "method": request.method,
        "path": request.path,
        "query": request.query_string,
        "headers": {name: value for name, value in request.headers.items()},
    }
    if _in_reset_window(state):  # the connection drops before a byte is read: nothing stored
        seen["status"] = None
        state.requests.append(seen)
        state.in_flight -= 1
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError
    try:
        response = await _answer(request, state, seen)
    except ConnectionResetError:  # the client went before its body was whole: nothing stored
        raise asyncio.CancelledError from None
    finally:
        state.in_flight -= 1
    seen["status"] = response.status if response else None
    state.requests.append(seen)
    if response is not None and response.status == 201 and _mangled(state):
        if state.config.answer_fault == "cut":
            seen["status"] = None  # the answer never arrives whole: as good as lost
        return await _mangle(request, response, state.config.answer_fault or "")
    if response is None:
        # The call is stored but its answer is lost: close the connection without a word.
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError
    return response


def _in_reset_window(state: SandboxState) -> bool:
    """The first `reset_seconds` from the first request: an outage of the network in front."""
    now = time.monotonic()
    if state.first_request is None:
        state.first_request = now
    return now - state.first_request < state.config.reset_seconds


def _retry_after(config: SandboxConfig) -> dict[str, str]:
    """Retry-After for a 429 or 503: seconds, or an HTTP date that many seconds ahead (whole
    seconds, so one more that the wait is never shorter than asked)."""
    if config.retry_after_date:
        return {"Retry-After": formatdate(time.time() + config.retry_after + 1, usegmt=True)}
    return {"Retry-After": str(config.retry_after)}


def _mangled(state: SandboxState) -> bool:
    config = state.config
    return bool(config.answer_fault) and state.random.random() < config.answer_fault_rate


async def _mangle(
    request: web.Request, response: web.StreamResponse, fault: str
) -> web.StreamResponse:
    """A stored call whose 201 reaches the client damaged, as proxies and slow links do: split
    across packets, cut mid-body, an HTML page, or without its cuid."""
    if fault == "html":
        return web.Response(
            status=201, text="<html><body>Request accepted</body></html>", content_type="text/html"
        )
    if fault == "no-cuid":
        return web.json_response({}, status=201)
    body = (
        response.body
        if isinstance(response, web.Response) and isinstance(response.body, bytes)
        else b""
    )
    split = web.StreamResponse(status=201, headers={"Content-Type": "application/json"})
    split.content_length = len(body)
    await split.prepare(request)
    await split.write(body[: len(body) // 2])  # two TCP segments, some time apart
    if fault == "cut":  # the second never comes: the connection drops mid-body
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError
    await asyncio.sleep(0.05)
    await split.write(body[len(body) // 2 :])
    await split.write_eof()
    return split


async def _answer(
    request: web.Request, state: SandboxState, seen: dict[str, Any]
) -> web.StreamResponse | None:
    config = state.config
    limited = _over_rate(state)  # a gateway counts requests as they arrive; the work takes time
    if config.latency_ms:
        await asyncio.sleep(state.random.uniform(0, config.latency_ms) / 1000)
    if request.match_info["version"] != API_VERSION:
        return errors(400, "InvalidApiVersion", f"the route takes API version {API_VERSION}")
    if limited:
        return errors(429, "TooManyRequests", "slow down", _retry_after(config))
    limit = config.max_body
    if request.content_length is not None and request.content_length > limit:
        return errors(413, "RequestTooLarge", f"the body is over {limit} bytes")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > limit:
        return errors(413, "RequestTooLarge", f"the body is over {limit} bytes")
    try:
        body: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        body = None
    seen["body"] = body
    if isinstance(body, dict) and isinstance(body.get("call"), dict):
        seen["id"] = str(body["call"].get("external_call_unique_id"))
    token = request.headers.get("Authorization")
    if token is None and isinstance(body, dict) and isinstance(body.get("oauth_token"), str):
        token = body["oauth_token"]
    if token != config.token:
        return errors(401, "Unauthorized", "invalid or missing token")
    if body is None:
        return errors(403, "RecordInvalid", "Validation failed: the body is not valid JSON")
    if config.ingestion_disabled:
        return errors(
            403, "UnauthorizedOperation", "call ingestion is not enabled for this network"
        )
    if state.random.random() < config.fail_rate:
        return _server_trouble(state)
    if config.unavailable_rate and state.random.random() < config.unavailable_rate:
        return errors(503, "ServiceUnavailable", "try again later", _retry_after(config))
    problems = check_body(
        body,
        campaigns=set(config.campaigns),
        signals={name.lower() for name in config.signals},
        custom={name.lower() for name in config.custom},
        direct_access=config.direct_access,
    )
    if problems.invalid:
        return errors(403, "RecordInvalid", "Validation failed: " + ", ".join(problems.invalid))
    if problems.unauthorized_advertiser:
        return errors(403, "UnauthorizedAdvertiser", "no access to this campaign")
    return _store(state, body)


def _over_rate(state: SandboxState) -> bool:
    limit = state.config.rate_limit
    if not limit:
        return False
    now = time.monotonic()
    while state.recent and state.recent[0] <= now - 1.0:
        state.recent.popleft()
    if len(state.recent) >= limit:
        return True
    state.recent.append(now)
    return False


def _server_trouble(state: SandboxState) -> web.Response:
    if state.random.random() < 0.5:
        handle = state.random.randint(100000, 999999)
        return errors(500, "InternalServiceError", f"refer to error handle {handle}")
    return errors(503, "ServiceUnavailable", "try again later")


def _store(state: SandboxState, body: dict[str, Any]) -> web.Response | None:
    content = {key: value for key, value in body.items() if key != "oauth_token"}
    identifier = str(body["call"]["external_call_unique_id"])
    existing = state.calls.get(identifier)
    if existing is not None:
        if existing.body == content and not state.config.replay_conflict:
            return web.Response(status=202)
        return errors(409, "Conflict", "external_call_unique_id has already been used")
    stored = StoredCall(identifier, uuid.uuid4().hex.upper(), content, time.time())
    state.calls[identifier] = stored
    if state.random.random() < state.config.drop_rate:
        return None
    return web.json_response({"cuid": stored.cuid}, status=201)


async def list_calls(request: web.Request) -> web.Response:
    calls = request.app[STATE].calls.values()
    return web.json_response(
        [
            {
                "id": c.external_call_unique_id,
                "cuid": c.cuid,
                "body": c.body,
                "received": c.received,
            }
            for c in calls
        ]
    )


async def clear_calls(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.calls.clear()
    state.requests.clear()
    state.max_in_flight = 0
    return web.json_response({"cleared": True})


async def list_requests(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].requests)


async def stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return web.json_response(
        {
            "calls": len(state.calls),
            "max_in_flight": state.max_in_flight,
            "requests": [
                {"time": r["time"], "status": r.get("status"), "id": r.get("id")}
                for r in state.requests
            ],
        }
    )


def create_app(config: SandboxConfig | None = None) -> web.Application:
    config = config or SandboxConfig()
    app = web.Application(client_max_size=MAX_BODY * 2)
    app[STATE] = SandboxState(config=config, random=random.Random(config.seed))
    route = "/api/{version}/calls.json"
    app.router.add_post(route, ingest)
    app.router.add_put(route, ingest)
    app.router.add_get("/_sandbox/calls", list_calls)
    app.router.add_delete("/_sandbox/calls", clear_calls)
    app.router.add_get("/_sandbox/stats", stats)
    app.router.add_get("/_sandbox/requests", list_requests)
    return app


async def serve(config: SandboxConfig, host: str, port: int, announce) -> None:
    """Run the sandbox until cancelled; `announce` gets the base URL once it listens."""
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    shown_host = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    announce(f"http://{shown_host}:{bound[1]}")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()

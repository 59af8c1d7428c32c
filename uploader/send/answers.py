"""What an answer means: `classify` turns an HTTP status and body into an `Answer` (delivered,
retry, refused, stop the run), and `outcome_of` into the row's outcome (spec/cli.md's statuses)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from uploader.check.mapping import CallRequest
from uploader.errors import RunStopped, TransportError
from uploader.outcome import (
    ALREADY_RECEIVED,
    CONFLICT,
    CREATED,
    REJECTED,
    RowOutcome,
)
from uploader.send.pacing import parse_retry_after
from uploader.textsafe import printable


@dataclass(frozen=True)
class Answer:
    """What the API said, as far as an outcome is concerned."""

    status: str
    http_status: int
    cuid: str | None = None
    error: str = ""


NOT_JSON = object()  # a body that is there but is not JSON (a proxy's HTML page, say)


def classify(http_status: int, body: Any, headers: dict[str, str], *, sent_before: bool) -> Answer:
    """Turn one HTTP answer into a row status; raise for answers that retry or stop the run.

    `body` is the decoded JSON, None when the body was empty, NOT_JSON when it was not JSON."""
    errors = body.get("errors") if isinstance(body, dict) else None
    error_class = str(errors.get("class", "")) if isinstance(errors, dict) else ""
    detail = str(errors.get("invalid_data", "")) if isinstance(errors, dict) else ""
    message = printable(f"{error_class}: {detail}".strip(": "))
    if 200 <= http_status < 300 and (
        body is NOT_JSON or (body is not None and not isinstance(body, dict))
    ):
        raise RunStopped(
            f"HTTP {http_status} with a body that is not the API's JSON: a proxy or a wrong "
            "--base-url answered; the call may have been stored, so it is kept as maybe-sent"
        )
    if http_status == 201:
        cuid = body.get("cuid") if isinstance(body, dict) else None
        if not isinstance(cuid, str | int) or not str(cuid).strip():
            raise RunStopped(
                "HTTP 201 without a cuid: not an answer the API gives (a proxy or a wrong "
                "--base-url?); the call may have been stored, so it is kept as maybe-sent"
            )
        return Answer(CREATED, 201, printable(str(cuid).strip(), 200))
    if 200 <= http_status < 300 and http_status != 202:
        raise RunStopped(
            f"HTTP {http_status}: not an answer the Call Ingestion API gives; check --base-url"
        )
    if http_status == 202:
        return Answer(ALREADY_RECEIVED, 202, error="the API had already received this call")
    if http_status == 409:
        if sent_before:
            return Answer(
                ALREADY_RECEIVED, 409, error="delivered by an earlier attempt whose answer was lost"
            )
        return Answer(
            CONFLICT, 409, error="external_call_unique_id is already used by another call"
        )
    if http_status in (429, 503):  # a 429 slows the whole run; a 503's Retry-After is its own
        retry_after = parse_retry_after(headers.get("Retry-After"))
        raise TransportError(
            f"HTTP {http_status}",
            http_status=http_status,
            retry_after=retry_after,
            slow_down=http_status == 429,
        )
    if http_status >= 500:
        raise TransportError(f"HTTP {http_status} {message}".strip(), http_status=http_status)
    if http_status == 401:
        raise RunStopped(
            "the API refused the token (401): check INVOCA_OAUTH_TOKEN or --token-file"
        )
    if http_status == 400:
        raise RunStopped(
            f"the API refused the API version (400) {message}: check --api-version".strip()
        )
    if http_status == 403 and error_class == "UnauthorizedOperation":
        raise RunStopped(f"the API refused the network (403 {message}): is call ingestion enabled?")
    if http_status in (403, 413):
        return Answer(REJECTED, http_status, error=message or f"HTTP {http_status}")
    if 300 <= http_status < 400:
        raise RunStopped(f"the API answered {http_status} (a redirect): check --base-url")
    raise RunStopped(
        f"the API answered {http_status} {message}: check --base-url and --api-version".strip()
    )


def naming_campaign(answer: Answer, request: CallRequest) -> Answer:
    """A refused campaign is named: a wrong --campaign-id is the usual cause."""
    try:
        campaign = orjson.loads(request.payload)["call"]["advertiser_campaign_id_from_network"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return answer
    return Answer(
        answer.status,
        answer.http_status,
        answer.cuid,
        f"{answer.error} (campaign {printable(str(campaign), 80)}: check --campaign-id)",
    )


def outcome_of(request: CallRequest, answer: Answer, attempts: int) -> RowOutcome:
    return RowOutcome(
        row=request.row,
        external_call_unique_id=request.external_call_unique_id,
        status=answer.status,
        cuid=answer.cuid,
        http_status=answer.http_status or None,
        attempts=attempts,
        error="; ".join(note for note in (answer.error, request.note) if note),
    )

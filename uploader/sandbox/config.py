"""The sandbox's switches, apart from its server: the command line reads their defaults here
without loading aiohttp."""

from __future__ import annotations

from dataclasses import dataclass

MAX_BODY = 1024 * 1024
DEFAULT_TOKEN = "sandbox-token"  # noqa: S105
DEFAULT_CAMPAIGNS = ("85", "86")


@dataclass
class SandboxConfig:
    token: str = DEFAULT_TOKEN
    campaigns: tuple[str, ...] = DEFAULT_CAMPAIGNS
    signals: tuple[str, ...] = ()
    custom: tuple[str, ...] = ()
    rate_limit: float | None = None
    fail_rate: float = 0.0
    unavailable_rate: float = 0.0  # 503 with Retry-After: retry_after seconds
    drop_rate: float = 0.0
    direct_access: bool = False  # the network reads recordings by call id: none needed in a call
    replay_conflict: bool = False  # an exact replay of a stored call answers 409, not 202
    reset_seconds: float = 0.0  # connections reset, unanswered and unstored, for this long
    latency_ms: int = 0
    seed: int | None = None
    retry_after_date: bool = False
    retry_after: int = 1  # seconds a 429 asks for
    ingestion_disabled: bool = False
    max_body: int = MAX_BODY  # bodies over this answer 413
    answer_fault: str | None = None  # "split", "cut", "html" or "no-cuid": how a 201 is mangled
    answer_fault_rate: float = 1.0

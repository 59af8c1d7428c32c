"""Every option of a run in one value object, shared by the CLI and Python callers."""

from __future__ import annotations

import ipaddress
import math
import os
import stat
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from uploader.errors import ConfigError

TOKEN_VARIABLE = "INVOCA_OAUTH_TOKEN"  # noqa: S105
API_VERSION = "2022-03-01"
MIN_RATE = 0.01  # one request in 100 s; below that a run would wait for ever between requests


@dataclass
class Options:
    # input
    sheet: str | None = None
    profile: str = "invoca"
    campaign_id: str | None = None
    recording_url_template: str | None = None
    timezone: str | None = None
    dayfirst: bool = False
    country: str | None = None  # region of national phone numbers; default: the profile's, else US
    encoding: str | None = None
    # target
    base_url: str = "https://invoca.net"
    api_version: str = API_VERSION
    token: str | None = None  # Python callers only: the CLI reads the environment or --token-file
    token_file: str | None = None
    ca_bundle: str | None = None
    # pace
    rate: float = 10.0
    concurrency: int = 8
    max_retries: int = 6
    timeout: float = 60.0
    outage_budget: float = 300.0  # seconds without one successful answer before the run stops
    # output
    results: str | None = None
    retry_file: str | None = None
    summary_json: str | None = None
    journal: str | None = None
    log_file: str | None = None
    progress: bool = True
    # modes
    dry_run: bool = False
    strict: bool = False
    max_errors: int | None = None
    chunk_size: int = 50_000

    @classmethod
    def build(cls, options: Options | None = None, **overrides: object) -> Options:
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown option(s): {', '.join(sorted(unknown))}")
        values = {f.name: getattr(options, f.name) for f in fields(cls)} if options else {}
        values.update({k: v for k, v in overrides.items() if v is not None})
        built = cls(**values)  # type: ignore[arg-type]
        built.check()
        return built

    def check(self) -> None:
        if self.timezone:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ConfigError(
                    f"--timezone {self.timezone}: not an IANA time zone (e.g. America/New_York)"
                ) from None
        if self.country is not None:
            import phonenumbers

            if self.country.upper() not in phonenumbers.SUPPORTED_REGIONS:
                raise ConfigError(f"--country {self.country}: not a region code (e.g. US, GB, ES)")
            self.country = self.country.upper()
        for name in ("rate", "timeout", "outage_budget"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"--{name.replace('_', '-')} must be a finite number")
        if self.rate < 0 or 0 < self.rate < MIN_RATE:
            raise ConfigError(f"--rate must be 0 (unlimited) or at least {MIN_RATE:g}")
        if self.outage_budget < 1:
            raise ConfigError("--outage-budget must be at least 1 second")
        if not 1 <= self.concurrency <= 256:
            raise ConfigError("--concurrency must be between 1 and 256")
        if self.max_retries < 0 or self.timeout <= 0:
            raise ConfigError("--max-retries must be 0 or more and --timeout above 0")
        if self.max_errors is not None and self.max_errors < 1:
            raise ConfigError("--max-errors must be 1 or more")
        if self.chunk_size < 1:
            raise ConfigError("chunk_size must be 1 or more")

    @property
    def endpoint(self) -> str:
        return f"{self.base_url.rstrip('/')}/api/{self.api_version}/calls.json"

    def check_target(self) -> None:
        """HTTPS only, except loopback addresses used for testing."""
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"--base-url {self.base_url}: not an http(s) URL")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ConfigError("--base-url must not carry credentials, a query or a fragment")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ConfigError(
                f"--base-url {self.base_url}: HTTPS is required except for loopback addresses"
            )

    def resolve_token(self) -> str:
        """The token from the caller, --token-file or INVOCA_OAUTH_TOKEN; never echoed."""
        if self.token:
            return _checked_token(self.token.strip(), "the token")
        if self.token_file:
            return _checked_token(read_token_file(Path(self.token_file)), "--token-file")
        token = os.environ.get(TOKEN_VARIABLE, "").strip()
        if not token:
            raise ConfigError(
                f"no API token: set {TOKEN_VARIABLE} or pass --token-file (or use --dry-run)"
            )
        return _checked_token(token, TOKEN_VARIABLE)


def _checked_token(token: str, where: str) -> str:
    """A token goes into an HTTP header: printable ASCII only (never echoed in the message)."""
    if not token.isascii() or not token.isprintable():
        raise ConfigError(f"{where}: the token holds control or non-ASCII characters")
    return token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        token = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(f"--token-file {path}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--token-file {path}: is not a text file") from None
    if not token:
        raise ConfigError(f"--token-file {path}: is empty")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        import logging

        logging.getLogger("uploader").warning(
            "--token-file %s can be read by other users; chmod 600 it", path
        )
    return token

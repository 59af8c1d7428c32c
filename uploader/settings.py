"""Every option of a run in one value object, shared by the CLI and Python callers."""

from __future__ import annotations

import ipaddress
import math
import os
import stat
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from uploader.errors import ConfigError

TOKEN_VARIABLE = "INVOCA_OAUTH_TOKEN"  # noqa: S105
API_VERSION = "2022-03-01"
MIN_RATE = 0.01  # one request in 100 s; below that a run would wait for ever between requests
STDOUT = "-"  # --summary-json -: the document on standard output


@dataclass(frozen=True)
class Setting:
    """What the command line and the checks need to know of one option: its group in --help,
    its help text, and its range or kind. The click options are made from these."""

    group: str  # input, target, pace, output, run; "" for Python callers only
    help: str = ""
    metavar: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    path: bool = False  # a file name (must_exist: and the file must be there)
    must_exist: bool = False
    flag: str | None = None  # a boolean shown as this negative flag (--no-progress)
    bare: float | None = None  # the value of the option given without one (--presign-recordings)


def setting(default: object, group: str, help: str = "", **details: object):  # noqa: A002
    return field(default=default, metadata={"setting": Setting(group, help, **details)})  # type: ignore[arg-type]


@dataclass
class Options:
    """Every setting of a run, with its default, range and help: the one source the command
    line's options, the environment variables (INVOCA_<NAME>), the config file's keys and the
    checks of Python callers' values are all made from."""

    # input
    sheet: str | None = setting(
        None,
        "input",
        "Excel sheet by name or position (1 = first). "
        "Default: the first sheet with the expected header.",
        metavar="NAME|INDEX",
    )
    header_row: int | None = setting(
        None,
        "input",
        "Row of the header (1 = first); the rows above it, a report's title, are not read. "
        "Default: the first of the first 20 rows with the profile's id and start columns.",
        metavar="N",
        minimum=1,
    )
    profile: str = setting(
        "invoca",
        "input",
        "Column profile: a built-in name (see `invoca-upload profiles`) or a TOML file.",
        metavar="NAME|PATH",
    )
    campaign_id: str | None = setting(
        None, "input", "Campaign for rows whose file gives none.", metavar="ID"
    )
    recording_url_template: str | None = setting(
        None,
        "input",
        "Recording URL from row values, e.g. https://rec.example.com/{Sid}.wav",
        metavar="TEMPLATE",
    )
    check_recordings: bool = setting(
        False,
        "input",
        "Fetch each recording link before its row is sent (a HEAD or a one-byte GET, never the "
        "token): a dead link, a web page or an empty file makes the row invalid.",
    )
    presign_recordings: int | None = setting(
        None,
        "input",
        "Send S3 locations (s3://bucket/key, or Connect's bucket/key) as links signed with your "
        "AWS credentials, valid DAYS days (2 to 7; alone: 7). Needs the s3 extra.",
        metavar="[DAYS]",
        minimum=2,
        maximum=7,
        bare=7,
    )
    recording_by_id: bool = setting(
        False,
        "input",
        "Invoca has direct access to your recording store and finds each recording by the "
        "call's id: rows need no recording column (a row that has one still sends it).",
    )
    timezone: str | None = setting(
        None,
        "input",
        "IANA zone for start times that carry none, e.g. America/New_York.",
        metavar="ZONE",
    )
    dayfirst: bool = setting(
        False,
        "input",
        "Read ambiguous dates like 05/03/2024 as 5 March. "
        "Without it the order is decided from the whole column (31/03/2024 "
        "makes it day-first).",
    )
    country: str | None = setting(
        None,
        "input",
        "Region of national phone numbers, e.g. GB for "
        "020 7183 8750. Default: the profile's, else US.",
        metavar="CC",
    )
    encoding: str | None = setting(
        None,
        "input",
        "Text encoding of a CSV file. Default: detected (UTF-8, UTF-16, cp1252).",
        metavar="NAME",
    )
    # target
    base_url: str = setting(
        "https://invoca.net", "target", "Invoca (or sandbox) address; HTTPS unless loopback."
    )
    api_version: str = setting(API_VERSION, "target", "Version in the API route.")
    token: str | None = setting(None, "")  # Python callers only: the CLI never takes a token
    token_file: str | None = setting(
        None,
        "target",
        "File holding the API token (chmod 600). Default: $INVOCA_OAUTH_TOKEN.",
        path=True,
    )
    ca_bundle: str | None = setting(
        None,
        "target",
        "CA certificates for a corporate TLS proxy (the proxy: $HTTPS_PROXY, $NO_PROXY).",
        path=True,
        must_exist=True,
    )
    # pace
    rate: float = setting(10.0, "pace", "Requests per second (0 = unlimited).", minimum=0)
    concurrency: int = setting(8, "pace", "Requests in flight.", minimum=1, maximum=256)
    max_retries: int = setting(6, "pace", "Retries for network errors, 5xx and 429.", minimum=0)
    timeout: float = setting(60.0, "pace", "Seconds to wait for one answer.", minimum=0.1)
    outage_budget: float = setting(
        300.0,
        "pace",
        "Stop (exit 3) when no request has succeeded for this many seconds.",
        minimum=1,
    )
    # output
    results: str | None = setting(
        None,
        "output",
        "Results file (.csv or .xlsx; a path or URL). "
        "Default: <input stem>.results.csv|xlsx beside the input.",
        path=True,
    )
    retry_file: str | None = setting(
        None,
        "output",
        "File of the rows not delivered. Default: <input stem>.retry.<ext>.",
        path=True,
    )
    out_dir: str | None = setting(
        None,
        "output",
        "Folder or URL (s3://...) for each input's results, retry and requests files. "
        "Default: beside the input.",
        metavar="DIR|URL",
    )
    summary_json: str | None = setting(
        None,
        "output",
        "Write the run's counts as JSON, for schedulers ('-': one line on standard output, "
        "the rest of the summary on standard error).",
        path=True,
    )
    journal: str | None = setting(
        None, "output", "Journal SQLite file. Default: in the user's data folder.", path=True
    )
    log_file: str | None = setting(
        None, "output", "JSON lines: one per row outcome and one per run.", path=True
    )
    progress: bool = setting(
        True, "output", "No progress bar or progress lines.", flag="--no-progress"
    )
    # modes
    dry_run: bool = setting(
        False, "run", "Validate and map only; write <stem>.requests.jsonl; send nothing."
    )
    strict: bool = setting(False, "run", "Send nothing at all if any row is invalid.")
    fail_fast: bool = setting(
        False, "run", "With several inputs: stop at the first that cannot be read."
    )
    max_errors: int | None = setting(
        None, "run", "Stop (exit 3) once N rows are rejected, conflict or failed.", minimum=1
    )
    chunk_size: int = setting(50_000, "", minimum=1)  # most rows read and checked at a time

    @classmethod
    def build(cls, options: Options | None = None, **overrides: object) -> Options:
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(f"unknown option(s): {', '.join(sorted(unknown))}")
        values = {f.name: getattr(options, f.name) for f in fields(cls)} if options else {}
        values.update({k: v for k, v in overrides.items() if v is not None})
        built = cls(**values)  # type: ignore[arg-type]
        _check(built)
        return built

    @property
    def endpoint(self) -> str:
        return f"{self.base_url.rstrip('/')}/api/{self.api_version}/calls.json"


def _check(options: Options) -> None:
    """Every value in its range and of its kind (the click options check the same ranges)."""
    if options.timezone:
        try:
            ZoneInfo(options.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"--timezone {options.timezone}: not an IANA time zone (e.g. America/New_York)"
            ) from None
    if options.country is not None:
        import phonenumbers

        if options.country.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(f"--country {options.country}: not a region code (e.g. US, GB, ES)")
        options.country = options.country.upper()
    for item in fields(options):
        rule: Setting = item.metadata["setting"]
        value = getattr(options, item.name)
        if value is None or (rule.minimum is None and rule.maximum is None):
            continue
        name = "--" + item.name.replace("_", "-")
        if not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number")
        if rule.minimum is not None and value < rule.minimum:
            raise ConfigError(f"{name} must be at least {rule.minimum:g}")
        if rule.maximum is not None and value > rule.maximum:
            raise ConfigError(f"{name} must be at most {rule.maximum:g}")
    if 0 < options.rate < MIN_RATE:
        raise ConfigError(f"--rate must be 0 (unlimited) or at least {MIN_RATE:g}")


def check_target(options: Options) -> None:
    """HTTPS only, except loopback addresses used for testing."""
    parts = urlsplit(options.base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--base-url {options.base_url}: not an http(s) URL")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError("--base-url must not carry credentials, a query or a fragment")
    if parts.path.rstrip("/") == "/api" or parts.path.startswith("/api/"):  # the endpoint pasted
        raise ConfigError(
            f"--base-url {options.base_url}: give the site alone "
            f"({parts.scheme}://{parts.netloc}); /api/<version>/calls.json is added to it "
            "(--api-version)"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"--base-url {options.base_url}: HTTPS is required except for loopback addresses"
        )


def resolve_token(options: Options) -> str:
    """The token from the caller, --token-file or INVOCA_OAUTH_TOKEN; never echoed."""
    if options.token:
        return _checked_token(options.token.strip(), "the token")
    if options.token_file:
        return _checked_token(read_token_file(Path(options.token_file)), "--token-file")
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise ConfigError(
            f"no API token: set {TOKEN_VARIABLE} or pass --token-file (or use --dry-run)"
        )
    return _checked_token(token, TOKEN_VARIABLE)


def target_token(options: Options) -> str | None:
    """The API token a sending run needs (None for a dry run), after checking the target."""
    if options.dry_run:
        return None
    check_target(options)
    return resolve_token(options)


def read_toml(source, label: str) -> dict:  # type: ignore[no-untyped-def]
    """A TOML file (a path, or a profile shipped in the package), or one line naming `label`."""
    import tomllib

    try:
        return tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{label}: cannot be read ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{label}: not valid TOML ({error})") from None
    except RecursionError:  # thousands of nested arrays or tables: a file from elsewhere
        raise ConfigError(f"{label}: nested too deeply to be a settings file") from None


def _checked_token(token: str, where: str) -> str:
    """A token goes into an HTTP header: printable ASCII only (never echoed in the message)."""
    if not token.isascii() or not token.isprintable():
        raise ConfigError(f"{where}: the token holds control or non-ASCII characters")
    return token


def canonical_endpoint(url: str) -> str:
    """One spelling of an API address, as the journal keys deliveries by it: scheme and host in
    lower case, every loopback name as 127.0.0.1, no default port, dot segments and repeated or
    trailing slashes resolved. Two spellings of one address never make two endpoints."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.hostname:
        return url  # not an address (a test's label): kept as it is
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if is_loopback(host):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and port != {"http": 80, "https": 443}.get(scheme):
        host = f"{host}:{port}"
    segments: list[str] = []
    for segment in parts.path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    return f"{scheme}://{host}/{'/'.join(segments)}"


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

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path

import openpyxl
import pytest

from uploader.sandbox import SandboxConfig
from uploader.sandbox.background import running_sandbox

TOKEN = "test-token-7f3a9c"  # noqa: S105
AWS_SECRET = "presign-secret-key-0451"  # noqa: S105
HEADER = [
    "external_call_unique_id",
    "start_time",
    "calling_phone_number",
    "destination_phone_number",
    "call_direction",
    "recording_url",
]


def call_row(identifier: str, **overrides: str) -> dict[str, str]:
    row = {
        "external_call_unique_id": identifier,
        "start_time": "2024-03-05T14:03:27Z",
        "calling_phone_number": "(312) 555-0143",
        "destination_phone_number": "888-555-1212",
        "call_direction": "inbound",
        "recording_url": f"https://rec.example.com/{identifier}.wav",
    }
    row.update(overrides)
    return row


def write_csv(
    path: Path, rows: list[dict[str, str]], header: list[str] | None = None, **kw
) -> Path:
    import csv

    header = header or (list(rows[0]) if rows else HEADER)
    with path.open("w", newline="", encoding=kw.get("encoding", "utf-8")) as stream:
        writer = csv.writer(stream, delimiter=kw.get("delimiter", ","))
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(name, "") for name in header])
    return path


def write_xlsx(path: Path, rows: list[list], sheets_before: int = 0) -> Path:
    book = openpyxl.Workbook()
    first = book.active
    for index in range(sheets_before):
        sheet = first if index == 0 else book.create_sheet(f"Summary{index}")
        sheet.title = f"Summary{index}"
        sheet["A1"] = "Monthly call report"
        sheet["B3"] = 42
    data = first if sheets_before == 0 else book.create_sheet("Calls")
    for row in rows:
        data.append(row)
    book.save(path)
    return path


@pytest.fixture
def calls(tmp_path: Path):
    """Write a CSV of n valid calls and return its path."""

    def make(n: int = 5, name: str = "calls.csv", prefix: str = "call-", **overrides: str) -> Path:
        return write_csv(tmp_path / name, [call_row(f"{prefix}{i}", **overrides) for i in range(n)])

    return make


@pytest.fixture(scope="session")
def shared_sandbox():
    """One default sandbox for the whole session (a test with its own settings: make_sandbox)."""
    with running_sandbox(SandboxConfig(token=TOKEN)) as running:
        yield running


@pytest.fixture
def sandbox(shared_sandbox):
    """The session's sandbox, emptied of calls and recorded requests for each test."""
    shared_sandbox.clear()
    return shared_sandbox


@pytest.fixture
def make_sandbox():
    """Start sandboxes with their own settings; all stop at the end of the test."""
    from contextlib import ExitStack

    with ExitStack() as stack:

        def make(**settings) -> object:
            settings.setdefault("token", TOKEN)
            return stack.enter_context(running_sandbox(SandboxConfig(**settings)))

        yield make


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto's) on loopback, for the whole session."""
    pytest.importorskip("s3fs")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(s3_server, monkeypatch, tmp_path):
    """The AWS chain as a night job has it: keys in the environment, nothing else to find."""
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPRESIGNTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    import botocore.session

    s3 = botocore.session.get_session().create_client("s3")
    for bucket, region in (("connect-recs", None), ("eu-recs", "eu-west-1")):
        try:
            if region:
                s3.create_bucket(
                    Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region}
                )
            else:
                s3.create_bucket(Bucket=bucket)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
    return s3


@pytest.fixture
def self_signed(tmp_path):
    import subprocess

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:api.invoca.test",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


@pytest.fixture
def token_env(monkeypatch):
    monkeypatch.setenv("INVOCA_OAUTH_TOKEN", TOKEN)
    return TOKEN


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch):
    """No test reads a user's config, journal, token or proxy settings."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INVOCA_OAUTH_TOKEN", raising=False)
    for key in list(os.environ):
        if key.startswith("INVOCA_") or key.lower().endswith("_proxy"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))


def library_upload(path, url: str, journal, **options):
    """The library call the tests make: the file, the sandbox's URL, campaign 85, the test
    token, a journal and no progress bar; `options` adds or overrides any of them."""
    from uploader import upload

    settings = dict(
        base_url=url, token=TOKEN, campaign_id="85", journal=str(journal), progress=False
    )
    return upload(path, **{**settings, **options})


def upload_args(path: Path, url: str, journal: Path | str) -> list[str]:
    """What every upload test starts with: the file, the sandbox, campaign 85, a journal."""
    return [
        "upload",
        str(path),
        "--base-url",
        url,
        "--campaign-id",
        "85",
        "--journal",
        str(journal),
    ]


class Lines:
    """A subprocess stream read on a thread, so that a test waits for a line with a time bound
    (a bare readline() on a hung process would hang the suite)."""

    def __init__(self, stream) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, wanted, seconds: float = 30.0) -> str:
        """The first line for which `wanted(line)` holds; fails after `seconds` or at the end."""
        import time

        deadline = time.monotonic() + seconds
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no such line within {seconds} s: {self.seen[-5:]}") from None
            if line is None:
                raise AssertionError(f"the stream ended first: {self.seen[-5:]}")
            self.seen.append(line)
            if wanted(line):
                return line

    def rest(self, seconds: float = 60.0) -> str:
        """Everything after what was read, once the stream ends."""
        import time

        deadline = time.monotonic() + seconds
        out = []
        while (line := self._lines.get(timeout=max(0.0, deadline - time.monotonic()))) is not None:
            out.append(line)
        return "".join(out)


def wait_for(condition, seconds: float = 30.0) -> None:
    """Poll an event (a request count at the sandbox), bounded; no fixed sleeps."""
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def kill_when(process, condition, seconds: float = 30.0) -> int:
    """kill -9 a running upload once `condition()` holds (a bounded wait); its return code."""
    wait_for(condition, seconds)
    process.kill()
    return process.wait(10)

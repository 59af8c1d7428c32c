"""What one launch of the page holds in memory (the files it was given, its runs, the token typed
into it) and the helpers every route uses to find them in a request."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from uploader.errors import UploaderError
from uploader.pipeline import RunSummary
from uploader.send.control import RunControl
from uploader.settings import Options

COOKIE = "invoca_upload_session"


MAX_UPLOAD_BYTES = 200 * 1024**2


MAX_PROBLEM_ROWS = 5_000  # rows with problems kept for the page (the errors file has them all)


PAGE_ROWS = 50


MAX_FAILED_ROWS = 1_000


# What the page may set; the target, pace and journal come from the command line that started it.
PAGE_SETTINGS = {
    "profile": str,
    "campaign_id": str,
    "timezone": str,
    "dayfirst": bool,
    "country": str,
    "sheet": str,
    "header_row": int,
    "recording_by_id": bool,
    "check_recordings": bool,
    "presign_recordings": int,
    "recording_url_template": str,
}


@dataclass
class Upload:
    """A file the page was given: kept in its own folder, where its outputs are written too."""

    id: str
    path: Path
    name: str
    problems: list[dict] = field(default_factory=list)
    problems_total: int = 0


@dataclass
class PageRun:
    """An upload the page started, on a thread of its own."""

    id: str
    upload: Upload
    control: RunControl
    summary: RunSummary | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class Workbench:
    """What one launch holds in memory."""

    options: Options
    work_dir: Path
    key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    session: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    key_used: bool = False  # the key is exchanged for the session cookie once
    port: int = 0
    max_upload: int = MAX_UPLOAD_BYTES
    token: str | None = None  # typed into the page: memory only
    uploads: dict[str, Upload] = field(default_factory=dict)
    runs: dict[str, PageRun] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}/?key={self.key}"

    def hosts(self) -> set[str]:
        return {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}

    def origins(self) -> set[str]:
        return {f"http://{host}" for host in self.hosts()}

    def run_options(self, settings: dict[str, Any]) -> Options:
        """The launch's options with the page's settings (only those the page may set)."""
        chosen: dict[str, Any] = {"progress": False}
        for name, kind in PAGE_SETTINGS.items():
            value = settings.get(name)
            if value in (None, ""):
                continue
            if not isinstance(value, kind):
                raise web.HTTPBadRequest(text=f"{name} must be a {kind.__name__}")
            chosen[name] = value.strip() if isinstance(value, str) else value
        return Options.build(self.options, **chosen)


def bench_of(request: web.Request) -> Workbench:
    return request.app["bench"]


def upload_of(request: web.Request) -> Upload:
    found = bench_of(request).uploads.get(request.match_info["id"])
    if found is None:
        raise web.HTTPNotFound(text="no such file: give it to the page again")
    return found


def run_of(request: web.Request) -> PageRun:
    found = bench_of(request).runs.get(request.match_info["id"])
    if found is None:
        raise web.HTTPNotFound(text="no such run")
    return found


async def read_json(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send JSON")
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="send a JSON object")
    return body


def problem(error: UploaderError) -> web.Response:
    return web.json_response({"error": str(error)}, status=422)

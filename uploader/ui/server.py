"""The analyst's workbench: a local web page over the same library as the command line.

Everything the page does is a library call the CLI makes too: `validate_file` checks (its
`on_chunk` gives the page the rows to fix), `upload` sends (with a `RunControl` for the live
progress and the Stop button), the journal keeps exactly-once across the page and the CLI, and
`save_profile` keeps a column mapping for next time. The page keeps nothing of its own but the
files it was given (in its work folder) and the API token typed into it (in this process's memory
only: never written, never logged, never sent back to the browser).

Security, for a server that can post calls with the analyst's token:
- it listens on 127.0.0.1 only;
- the printed address carries a per-launch key, exchanged once for a session cookie (HttpOnly,
  SameSite=Strict); every other request needs that cookie;
- the Host header must name this server (no DNS rebinding), and a request that changes anything
  must come from this page's own Origin (no cross-site form posts);
- uploads are bounded in size; the pages forbid framing and any other origin's scripts.
"""

from __future__ import annotations

import asyncio
import csv
import hmac
import itertools
import logging
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
from aiohttp import BodyPartReader, web

from uploader.control import RunControl
from uploader.errors import UploaderError
from uploader.inputs import SPREADSHEET_SUFFIXES
from uploader.outcome import FINE
from uploader.pipeline import RunSummary, upload, validate_file
from uploader.settings import Options, resolve_token, target_token

log = logging.getLogger("uploader")

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


# ---------------------------------------------------------------- security


def guard(bench: Workbench):  # type: ignore[no-untyped-def]
    @web.middleware
    async def middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
        if request.headers.get("Host") not in bench.hosts():
            return _refused("unknown host: open the address printed by invoca-upload ui")
        origin = request.headers.get("Origin")
        if origin is not None and origin not in bench.origins():
            return _refused("request from another site")
        if request.method not in ("GET", "HEAD") and origin is None:
            return _refused("a change must come from the page itself")
        if request.headers.get("Sec-Fetch-Site") not in (None, "same-origin", "none"):
            return _refused("request from another site")
        key = request.query.get("key")
        if request.path == "/" and key is not None:
            if not hmac.compare_digest(key, bench.key):
                return _refused("wrong key: open the address printed by invoca-upload ui")
            response: web.StreamResponse = web.HTTPFound("/")
            response.set_cookie(COOKIE, bench.session, httponly=True, samesite="Strict", path="/")
            return _hardened(response)
        cookie = request.cookies.get(COOKIE, "")
        if not hmac.compare_digest(cookie, bench.session):
            return _refused("open the address printed by invoca-upload ui (it carries the key)")
        try:
            response = await handler(request)
        except web.HTTPException as error:
            response = error
        return _hardened(response)

    return middleware


def _refused(reason: str) -> web.StreamResponse:
    return _hardened(web.Response(status=403, text=f"Forbidden: {reason}\n"))


def _hardened(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


# ---------------------------------------------------------------- the app


def make_app(bench: Workbench) -> web.Application:
    app = web.Application(middlewares=[guard(bench)], client_max_size=1024**2)
    app["bench"] = bench
    static = resources.files("uploader.ui") / "static"
    routes = [
        web.get("/", lambda request: _static(static, "index.html")),
        web.get("/static/{name}", lambda request: _static(static, request.match_info["name"])),
        web.get("/api/state", state),
        web.post("/api/token", set_token),
        web.delete("/api/token", forget_token),
        web.get("/api/template", template),
        web.post("/api/files", receive_file),
        web.get("/api/files/{id}/mapping", mapping),
        web.post("/api/profiles", save_mapping),
        web.post("/api/files/{id}/check", check),
        web.get("/api/files/{id}/problems", problems),
        web.post("/api/files/{id}/edit", edit),
        web.post("/api/files/{id}/upload", start_upload),
        web.get("/api/runs/{id}", run_state),
        web.post("/api/runs/{id}/stop", stop_run),
        web.get("/api/runs/{id}/failed", failed_rows),
        web.get("/api/runs/{id}/files/{kind}", download),
        web.get("/api/history", history),
    ]
    app.add_routes(routes)
    return app


async def _static(folder, name: str) -> web.Response:  # type: ignore[no-untyped-def]
    types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
    suffix = Path(name).suffix
    entry = folder / name
    if "/" in name or suffix not in types or not entry.is_file():
        raise web.HTTPNotFound()
    return web.Response(body=entry.read_bytes(), content_type=types[suffix], charset="utf-8")


def _bench(request: web.Request) -> Workbench:
    return request.app["bench"]


def _upload_of(request: web.Request) -> Upload:
    found = _bench(request).uploads.get(request.match_info["id"])
    if found is None:
        raise web.HTTPNotFound(text="no such file: give it to the page again")
    return found


def _run_of(request: web.Request) -> PageRun:
    found = _bench(request).runs.get(request.match_info["id"])
    if found is None:
        raise web.HTTPNotFound(text="no such run")
    return found


async def _json(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send JSON")
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="send a JSON object")
    return body


def _problem(error: UploaderError) -> web.Response:
    return web.json_response({"error": str(error)}, status=422)


# ---------------------------------------------------------------- state and token


async def state(request: web.Request) -> web.Response:
    from uploader.profiles import builtin_profiles, saved_profiles

    bench = _bench(request)
    return web.json_response(
        {
            "token": _token_source(bench),
            "base_url": bench.options.base_url,
            "profiles": list(builtin_profiles()),
            "saved_profiles": list(saved_profiles()),
            "max_upload_bytes": bench.max_upload,
        }
    )


def _token_source(bench: Workbench) -> str:
    if bench.token:
        return "typed into this page"
    try:
        resolve_token(bench.options)
    except UploaderError:
        return ""
    return "from --token-file" if bench.options.token_file else "from INVOCA_OAUTH_TOKEN"


async def set_token(request: web.Request) -> web.Response:
    from uploader.settings import _checked_token

    bench = _bench(request)
    token = str((await _json(request)).get("token", "")).strip()
    if not token:
        raise web.HTTPBadRequest(text="the token is empty")
    try:
        bench.token = _checked_token(token, "the token")
    except UploaderError as error:
        return _problem(error)
    return web.json_response({"token": _token_source(bench)})


async def forget_token(request: web.Request) -> web.Response:
    bench = _bench(request)
    bench.token = None
    return web.json_response({"token": _token_source(bench)})


async def template(request: web.Request) -> web.FileResponse:
    from uploader.template import write_template

    path = _bench(request).work_dir / "template" / "calls-template.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(write_template, path, signals=[], custom=[])
    return _attachment(path)


# ---------------------------------------------------------------- files


async def receive_file(request: web.Request) -> web.Response:
    """A file dropped or chosen in the page, streamed into its own folder (bounded in size)."""
    bench = _bench(request)
    reader = await request.multipart()
    part = await reader.next()
    while part is not None and not (isinstance(part, BodyPartReader) and part.name == "file"):
        part = await reader.next()
    if not isinstance(part, BodyPartReader) or not part.filename:
        raise web.HTTPBadRequest(text="no file in the request")
    name = _safe_name(part.filename)
    if not name.lower().endswith(SPREADSHEET_SUFFIXES):
        raise web.HTTPBadRequest(text=f"{name}: not a .csv, .tsv, .txt, .xlsx or .xlsm file")
    ident = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
    folder = bench.work_dir / ident
    folder.mkdir(parents=True)
    path = folder / name
    size = 0
    with path.open("wb") as stream:
        while chunk := await part.read_chunk(1 << 20):
            size += len(chunk)
            if size > bench.max_upload:
                stream.close()
                shutil.rmtree(folder)
                raise web.HTTPRequestEntityTooLarge(
                    max_size=bench.max_upload,
                    actual_size=size,
                    text=f"the file is larger than {bench.max_upload // 1024**2} MB",
                )
            stream.write(chunk)
    upload = Upload(ident, path, name)
    bench.uploads[ident] = upload
    headers, suggested = await asyncio.to_thread(_headers_and_profile, path)
    return web.json_response(
        {"id": ident, "name": name, "bytes": size, "headers": headers, "suggested": suggested}
    )


def _safe_name(name: str) -> str:
    """The file's own name, without folders or characters a file system could take badly."""
    base = re.split(r"[\\/]", name)[-1].strip().lstrip(".")
    return re.sub(r"[^\w.\- ()]+", "_", base)[:120] or "upload.csv"


def _headers_and_profile(path: Path) -> tuple[list[str], str | None]:
    from uploader.profiles import builtin_profiles, load_profile, suggest_profile
    from uploader.sources import open_table

    profiles = [load_profile(name) for name in builtin_profiles()]
    try:
        table = open_table(
            path, is_header=lambda headers: any(p.is_header(headers) for p in profiles)
        )
    except UploaderError:
        try:
            table = open_table(path, is_header=lambda headers: True)
        except UploaderError:
            return [], None
    return table.headers, suggest_profile(table.headers)


async def mapping(request: web.Request) -> web.Response:
    """The call fields, the file's headers and which header each field reads now."""
    from uploader.profiles import field_matches, load_profile

    upload = _upload_of(request)
    try:
        profile = load_profile(request.query.get("profile") or "invoca")
    except UploaderError as error:
        return _problem(error)
    headers, _ = await asyncio.to_thread(_headers_and_profile, upload.path)
    return web.json_response({"headers": headers, "fields": field_matches(profile, headers)})


async def save_mapping(request: web.Request) -> web.Response:
    from uploader.profiles import save_profile

    body = await _json(request)
    chosen = body.get("mapping")
    if not isinstance(chosen, dict) or not all(isinstance(v, str) for v in chosen.values()):
        raise web.HTTPBadRequest(text="mapping: field -> header")
    try:
        path = save_profile(str(body.get("name", "")), str(body.get("base", "invoca")), chosen)
    except UploaderError as error:
        return _problem(error)
    return web.json_response({"name": path.stem})


# ---------------------------------------------------------------- check and fix


async def check(request: web.Request) -> web.Response:
    bench, upload = _bench(request), _upload_of(request)
    settings = await _json(request)
    return await _checked(bench, upload, settings)


async def _checked(bench: Workbench, upload: Upload, settings: dict) -> web.Response:
    try:
        options = bench.run_options(settings)
    except UploaderError as error:
        return _problem(error)
    rows: list[dict] = []
    total = itertools.count()

    def collect(chunk, checked) -> None:  # type: ignore[no-untyped-def]
        for row in sorted(checked.errors):
            next(total)
            if len(rows) < MAX_PROBLEM_ROWS:
                rows.append(_problem_row(chunk.text, row, checked.errors[row]))

    try:
        summary = await asyncio.to_thread(validate_file, upload.path, options, on_chunk=collect)
    except UploaderError as error:
        return _problem(error)
    upload.problems, upload.problems_total = rows, next(total)
    return web.json_response(
        {
            "counts": summary.counts,
            "warnings": summary.warnings,
            "blank_rows": summary.blank_rows,
            "problems_total": upload.problems_total,
            "columns": _columns(rows),
            "page": _page(upload, 0),
        }
    )


def _problem_row(cells, row: int, errors: list) -> dict:  # type: ignore[no-untyped-def]
    values = cells.loc[row]
    return {
        "row": row,
        "cells": {
            column: (None if pd.isna(value) else str(value)) for column, value in values.items()
        },
        "problems": [
            {
                "columns": [c for c in (error.input_column, *error.also) if c],
                "label": error.column,
                "reason": error.message,
            }
            for error in errors
        ],
    }


def _columns(rows: list[dict]) -> list[str]:
    return list(rows[0]["cells"]) if rows else []


def _page(upload: Upload, page: int) -> dict:
    pages = max(1, -(-len(upload.problems) // PAGE_ROWS))
    page = min(max(page, 0), pages - 1)
    return {
        "number": page,
        "pages": pages,
        "rows": upload.problems[page * PAGE_ROWS : (page + 1) * PAGE_ROWS],
        "kept": len(upload.problems),
    }


async def problems(request: web.Request) -> web.Response:
    upload = _upload_of(request)
    try:
        page = int(request.query.get("page", "0"))
    except ValueError:
        raise web.HTTPBadRequest(text="page must be a number") from None
    return web.json_response({"columns": _columns(upload.problems), "page": _page(upload, page)})


async def edit(request: web.Request) -> web.Response:
    """Change one cell of the page's copy of the file, then check it again."""
    from uploader.ui.cells import edit_cell

    bench, upload = _bench(request), _upload_of(request)
    body = await _json(request)
    settings = body.get("settings") or {}
    try:
        row, column, value = int(body["row"]), str(body["column"]), str(body["value"])
    except (KeyError, TypeError, ValueError):
        raise web.HTTPBadRequest(text="row, column and value") from None
    if any(run.upload is upload and not run.done.is_set() for run in bench.runs.values()):
        raise web.HTTPConflict(text="the file is being uploaded")
    try:
        options = bench.run_options(settings)
        await asyncio.to_thread(edit_cell, upload.path, options, row, column, value)
    except UploaderError as error:
        return _problem(error)
    return await _checked(bench, upload, settings)


# ---------------------------------------------------------------- upload


async def start_upload(request: web.Request) -> web.Response:
    bench, upload = _bench(request), _upload_of(request)
    settings = await _json(request)
    try:
        options = bench.run_options(settings)
        if bench.token:
            options = Options.build(options, token=bench.token)
        target_token(options)
    except UploaderError as error:
        return _problem(error)
    if any(not run.done.is_set() for run in bench.runs.values()):
        raise web.HTTPConflict(text="an upload is running: wait for it or stop it")
    run = PageRun(secrets.token_hex(6), upload, RunControl())
    bench.runs[run.id] = run
    threading.Thread(target=_perform, args=(run, options), daemon=True).start()
    return web.json_response({"run": run.id})


def _perform(run: PageRun, options: Options) -> None:
    try:
        run.summary = upload(run.upload.path, options, control=run.control)
    except UploaderError as error:
        run.error = str(error)
    except Exception as error:  # the page must hear of it: the thread has no one else to tell
        log.exception("the upload failed")
        run.error = f"internal error: {type(error).__name__}: {error}"
    finally:
        run.done.set()


async def run_state(request: web.Request) -> web.Response:
    run = _run_of(request)
    body: dict[str, Any] = {
        "id": run.id,
        "file": run.upload.name,
        "finished": run.done.is_set(),
        "progress": run.control.snapshot(),
        "error": run.error,
    }
    if run.summary is not None:
        summary = run.summary.as_dict()
        summary["files"] = {kind: Path(path).name for kind, path in summary["files"].items()}
        body["summary"] = summary
    return web.json_response(body)


async def stop_run(request: web.Request) -> web.Response:
    run = _run_of(request)
    run.control.stop()
    return web.json_response({"stopping": True})


def _output(run: PageRun, kind: str) -> Path:
    files = run.summary.files if run.summary is not None else {}
    if kind not in ("results", "retry") or kind not in files:
        raise web.HTTPNotFound(text=f"no {kind} file")
    return Path(files[kind])


async def download(request: web.Request) -> web.FileResponse:
    run = _run_of(request)
    return _attachment(_output(run, request.match_info["kind"]))


def _attachment(path: Path) -> web.FileResponse:
    response = web.FileResponse(path)
    response.headers["Content-Disposition"] = f'attachment; filename="{path.name}"'
    return response


async def failed_rows(request: web.Request) -> web.Response:
    """The rows of the results file that did not go in, with their reasons."""
    run = _run_of(request)
    path = _output(run, "results")
    rows = await asyncio.to_thread(_not_delivered, path)
    return web.json_response({"rows": rows[:MAX_FAILED_ROWS], "total": len(rows)})


def _not_delivered(path: Path) -> list[dict]:
    keep = ("row", "external_call_unique_id", "status", "http_status", "error")

    def picked(records) -> list[dict]:  # type: ignore[no-untyped-def]
        return [
            {name: record.get(name, "") for name in keep}
            for record in records
            if record.get("status") not in FINE
        ]

    if path.suffix == ".xlsx":
        from python_calamine import CalamineWorkbook

        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
        header = [str(cell) for cell in sheet[0]]
        return picked(dict(zip(header, map(_cell_text, row), strict=False)) for row in sheet[1:])
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return picked(csv.DictReader(stream))


def _cell_text(cell: object) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return "" if cell is None else str(cell)


async def history(request: web.Request) -> web.Response:
    from uploader.journal import default_journal_path, journal_report

    bench = _bench(request)
    path = Path(bench.options.journal or default_journal_path())
    if not path.exists():
        return web.json_response({"runs": []})
    report = await asyncio.to_thread(journal_report, path, 20)
    runs = [
        {
            "started": run["started"],
            "finished": run["finished"],
            "input": Path(run["input"] or "").name,
            "counts": {k: v for k, v in ((run["summary"] or {}).get("counts") or {}).items() if v},
            "exit_code": (run["summary"] or {}).get("exit_code"),
        }
        for run in report["runs"]
    ]
    return web.json_response({"runs": runs})


# ---------------------------------------------------------------- serving


async def serve(bench: Workbench, *, announce, port: int = 0) -> None:  # type: ignore[no-untyped-def]
    """Listen on 127.0.0.1 until cancelled; `announce(address)` once the port is known."""
    runner = web.AppRunner(make_app(bench), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bench.port = runner.addresses[0][1]
    announce(bench.address)
    try:
        await asyncio.Event().wait()
    finally:
        for run in bench.runs.values():
            run.control.stop()
        await runner.cleanup()

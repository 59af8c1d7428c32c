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
  SameSite=Strict), then refused (the address stays in the browser's history); every other
  request needs that cookie;
- the Host header must name this server (no DNS rebinding), and a request that changes anything
  must come from this page's own Origin (no cross-site form posts);
- uploads are bounded in size; the pages forbid framing and any other origin's scripts.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from importlib import resources
from pathlib import Path

from aiohttp import web

from uploader.errors import UploaderError
from uploader.settings import resolve_token
from uploader.ui.bench import COOKIE, Workbench, bench_of, problem, read_json
from uploader.ui.fixing import check, edit, problems
from uploader.ui.mapping import mapping, preview, receive_file, save_mapping
from uploader.ui.runs import (
    _attachment,
    download,
    failed_rows,
    history,
    past_download,
    run_state,
    sent_rows,
    start_upload,
    stop_run,
)
from uploader.ui.words import worded

log = logging.getLogger("uploader")


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
        cookie = request.cookies.get(COOKIE, "")
        has_session = hmac.compare_digest(cookie, bench.session)
        if request.path == "/" and key is not None:
            response: web.StreamResponse = web.HTTPFound("/")  # the key leaves the address bar
            if has_session:  # the same browser, the address from its history
                return _hardened(response)
            if not hmac.compare_digest(key, bench.key):
                return _refused("wrong key: open the address printed by invoca-upload ui")
            if bench.key_used:  # the address stays in history: it opens one session only
                return _refused(
                    "this address was opened already; restart invoca-upload ui for a new one"
                )
            bench.key_used = True
            response.set_cookie(COOKIE, bench.session, httponly=True, samesite="Strict", path="/")
            return _hardened(response)
        if not has_session:
            return _refused("open the address printed by invoca-upload ui (it carries the key)")
        try:
            response = await handler(request)
        except web.HTTPException as error:
            response = error
        if isinstance(response, web.Response) and response.content_type == "application/json":
            document = worded(json.loads(response.body or b"null"), bench.work_dir)  # type: ignore[arg-type]
            response.body = json.dumps(document).encode()
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
        web.post("/api/files/{id}/preview", preview),
        web.post("/api/profiles", save_mapping),
        web.post("/api/files/{id}/check", check),
        web.get("/api/files/{id}/problems", problems),
        web.post("/api/files/{id}/edit", edit),
        web.post("/api/files/{id}/upload", start_upload),
        web.get("/api/runs/{id}", run_state),
        web.post("/api/runs/{id}/stop", stop_run),
        web.get("/api/runs/{id}/failed", failed_rows),
        web.get("/api/runs/{id}/sent", sent_rows),
        web.get("/api/runs/{id}/files/{kind}", download),
        web.get("/api/history", history),
        web.get("/api/history/{id}/files/{kind}", past_download),
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


# ---------------------------------------------------------------- state and token


async def state(request: web.Request) -> web.Response:
    from uploader.check.profiles import builtin_profiles, saved_profiles

    bench = bench_of(request)
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
    # where `invoca-upload ui` was started from: a file, or its environment (the page's words)
    return "from the token file" if bench.options.token_file else "from the environment"


async def set_token(request: web.Request) -> web.Response:
    from uploader.settings import _checked_token

    bench = bench_of(request)
    token = str((await read_json(request)).get("token", "")).strip()
    if not token:
        raise web.HTTPBadRequest(text="the token is empty")
    try:
        bench.token = _checked_token(token, "the token")
    except UploaderError as error:
        return problem(error)
    return web.json_response({"token": _token_source(bench)})


async def forget_token(request: web.Request) -> web.Response:
    bench = bench_of(request)
    bench.token = None
    return web.json_response({"token": _token_source(bench)})


async def template(request: web.Request) -> web.StreamResponse:
    """The template, with the signal and custom columns asked for (`?signal=sale&custom=agent`),
    its instructions speaking of the page's steps."""
    from uploader.template import write_template

    signals, custom = request.query.getall("signal", []), request.query.getall("custom", [])
    path = bench_of(request).work_dir / "template" / "calls-template.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        await asyncio.to_thread(
            write_template, path, signals=signals, custom=custom, force=True, for_page=True
        )
    except UploaderError as error:
        return problem(error)
    return _attachment(path)


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

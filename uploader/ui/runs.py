"""The page's uploads: started on a thread of their own, followed, stopped, downloaded, and the
past runs the journal remembers."""

from __future__ import annotations

import asyncio
import csv
import logging
import secrets
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

from uploader.errors import UploaderError
from uploader.outcome import FINE
from uploader.pipeline import upload
from uploader.send.control import RunControl
from uploader.settings import Options, target_token
from uploader.ui.bench import (
    MAX_FAILED_ROWS,
    PageRun,
    bench_of,
    problem,
    read_json,
    run_of,
    upload_of,
)

log = logging.getLogger("uploader")


async def start_upload(request: web.Request) -> web.Response:
    bench, upload = bench_of(request), upload_of(request)
    settings = await read_json(request)
    try:
        options = bench.run_options(settings)
        if bench.token:
            options = Options.build(options, token=bench.token)
        target_token(options)
    except UploaderError as error:
        return problem(error)
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
    run = run_of(request)
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
    run = run_of(request)
    run.control.stop()
    return web.json_response({"stopping": True})


def _output(run: PageRun, kind: str) -> Path:
    files = run.summary.files if run.summary is not None else {}
    if kind not in ("results", "retry") or kind not in files:
        raise web.HTTPNotFound(text=f"no {kind} file")
    return Path(files[kind])


async def download(request: web.Request) -> web.FileResponse:
    run = run_of(request)
    return _attachment(_output(run, request.match_info["kind"]))


def _attachment(path: Path) -> web.FileResponse:
    response = web.FileResponse(path)
    response.headers["Content-Disposition"] = f'attachment; filename="{path.name}"'
    return response


async def failed_rows(request: web.Request) -> web.Response:
    """The rows of the results file that did not go in, with their reasons."""
    rows = await _results_rows(request, delivered=False)
    return web.json_response({"rows": rows[:MAX_FAILED_ROWS], "total": len(rows)})


async def sent_rows(request: web.Request) -> web.Response:
    """The rows that went in, each with its cuid and the start and numbers exactly as sent, so
    that a reinterpreted value shows on the page, not only in the download."""
    rows = await _results_rows(request, delivered=True)
    return web.json_response({"rows": rows[:MAX_FAILED_ROWS], "total": len(rows)})


FAILED_COLUMNS = ("row", "external_call_unique_id", "status", "http_status", "error")
SENT_COLUMNS = (
    "row",
    "external_call_unique_id",
    "status",
    "cuid",
    "sent start_time",
    "sent calling_phone_number",
    "sent destination_phone_number",
    "error",
)


async def _results_rows(request: web.Request, *, delivered: bool) -> list[dict]:
    path = _output(run_of(request), "results")
    return await asyncio.to_thread(_picked_rows, path, delivered)


def _picked_rows(path: Path, delivered: bool) -> list[dict]:
    keep = SENT_COLUMNS if delivered else FAILED_COLUMNS

    def picked(records) -> list[dict]:  # type: ignore[no-untyped-def]
        return [
            {name: record.get(name, "") for name in keep}
            for record in records
            if (record.get("status") in FINE) == delivered
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


def _journal_path(bench) -> Path:  # type: ignore[no-untyped-def]
    from uploader.send.journal import default_journal_path

    return Path(bench.options.journal or default_journal_path())


def _past_files(summary: dict) -> dict[str, Path]:
    """The results and retry files a past run wrote that are still there."""
    files = summary.get("files") or {}
    found = {kind: Path(str(files[kind])) for kind in ("results", "retry") if kind in files}
    return {kind: path for kind, path in found.items() if path.is_file()}


async def history(request: web.Request) -> web.Response:
    """The journal's last runs (the command line's too): when, which file, their counts, how
    they ended, and their results and retry files while those exist."""
    from uploader.send.journal import journal_report

    path = _journal_path(bench_of(request))
    if not path.exists():
        return web.json_response({"runs": []})
    report = await asyncio.to_thread(journal_report, path, 20)
    runs = []
    for run in report["runs"]:
        summary = run["summary"] or {}
        runs.append(
            {
                "id": run["id"],
                "started": run["started"],
                "finished": run["finished"],
                "input": Path(run["input"] or "").name,
                "counts": {k: v for k, v in (summary.get("counts") or {}).items() if v},
                "exit_code": summary.get("exit_code"),
                "interrupted": bool(summary.get("interrupted")),
                "stopped": summary.get("stopped"),
                "files": {kind: p.name for kind, p in _past_files(summary).items()},
            }
        )
    return web.json_response({"runs": runs})


async def past_download(request: web.Request) -> web.FileResponse:
    """A past run's results or retry file, as the journal recorded it, while it exists."""
    from uploader.send.journal import journal_report

    path = _journal_path(bench_of(request))
    if not path.exists():
        raise web.HTTPNotFound(text="no past runs")
    report = await asyncio.to_thread(journal_report, path, 20)
    wanted = request.match_info["id"]
    run = next((r for r in report["runs"] if str(r["id"]) == wanted), None)
    files = _past_files(run["summary"] or {}) if run else {}
    kind = request.match_info["kind"]
    if kind not in files:
        raise web.HTTPNotFound(text=f"no {kind} file for that run (moved or deleted?)")
    return _attachment(files[kind])

"""The page's files: received into the work folder, their headers matched to a profile, and a
column mapping saved as a profile the command line reads too."""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
import time
from pathlib import Path

import aiohttp
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from uploader.errors import UploaderError
from uploader.read.inputs import SPREADSHEET_SUFFIXES
from uploader.read.table import Table
from uploader.ui.bench import Upload, bench_of, problem, read_json, upload_of


async def receive_file(request: web.Request) -> web.Response:
    """A file dropped or chosen in the page, streamed into its own folder (bounded in size)."""
    bench = bench_of(request)
    try:
        reader = await request.multipart()
        part = await reader.next()
        while part is not None and not (isinstance(part, BodyPartReader) and part.name == "file"):
            part = await reader.next()
    except (ValueError, aiohttp.ClientError, HttpProcessingError) as error:  # malformed or cut
        kind = "a header is not valid" if isinstance(error, HttpProcessingError) else "it was cut"
        raise web.HTTPBadRequest(text=f"the upload could not be read: {kind}") from None
    if not isinstance(part, BodyPartReader) or not part.filename:
        raise web.HTTPBadRequest(text="no file in the request")
    name = _safe_name(part.filename)
    if not name.lower().endswith(SPREADSHEET_SUFFIXES):
        raise web.HTTPBadRequest(text=f"{name}: not a .csv, .tsv, .txt, .xlsx or .xlsm file")
    ident = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
    folder = bench.work_dir / ident
    path = folder / name
    try:
        folder.mkdir(parents=True)
        size = await _received(part, path, bench.max_upload)
    except BaseException:  # refused, cut, or the disk: nothing half-received is kept
        shutil.rmtree(folder, ignore_errors=True)
        raise
    upload = Upload(ident, path, name)
    bench.uploads[ident] = upload
    headers, found = await asyncio.to_thread(_headers_and_profile, path)
    suggested, evidence = found or (None, [])
    return web.json_response(
        {
            "id": ident,
            "name": name,
            "bytes": size,
            "headers": headers,
            "suggested": suggested,
            "evidence": evidence,  # the headers that make the suggestion: "has From, To, ..."
        }
    )


async def _received(part: BodyPartReader, path: Path, limit: int) -> int:
    """The file streamed to `path`, bounded in size; its size."""
    size = 0
    try:
        with path.open("wb") as stream:
            while chunk := await part.read_chunk(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise web.HTTPRequestEntityTooLarge(
                        max_size=limit,
                        actual_size=size,
                        text=f"the file is larger than {limit // 1024**2} MB",
                    )
                stream.write(chunk)
    except OSError as error:
        raise web.HTTPBadRequest(text=f"the file could not be kept ({error.strerror})") from None
    return size


MAX_NAME_BYTES = 200  # of a kept file's name, within every file system's 255


def _safe_name(name: str) -> str:
    """The file's own name, without folders or characters a file system could take badly, cut to
    MAX_NAME_BYTES with its suffix kept."""
    base = re.split(r"[\\/]", name)[-1].strip().lstrip(".")
    base = re.sub(r"[^\w.\- ()]+", "_", base) or "upload.csv"
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = suffix[:8]
    budget = MAX_NAME_BYTES - len(suffix.encode()) - 1
    stem = stem.encode()[:budget].decode("utf-8", "ignore") or "upload"
    return f"{stem}.{suffix}" if dot else stem


def _opened(path: Path) -> Table | None:
    """The file opened at the header a built-in profile knows, else at the first row that looks
    like a header; None when it cannot be read."""
    from uploader.check.profiles import builtin_profiles, load_profile
    from uploader.read.sources import open_table
    from uploader.read.table import looks_like_header

    profiles = [load_profile(name) for name in builtin_profiles()]
    for is_header in (
        lambda headers: any(p.is_header(headers) for p in profiles),
        looks_like_header,
    ):
        try:
            return open_table(path, is_header=is_header)
        except UploaderError:
            continue
    return None


def _headers_and_profile(path: Path) -> tuple[list[str], tuple[str, list[str]] | None]:
    from uploader.check.profiles import suggestion

    table = _opened(path)
    return (table.headers, suggestion(table.headers)) if table is not None else ([], None)


async def mapping(request: web.Request) -> web.Response:
    """What the mapping form shows: the call fields and the header each reads under the chosen
    profile (none: nothing is preselected but the closest headers), the file's headers with
    sample values, and the distinct values of the few-valued columns (for value maps)."""
    from uploader.check.profiles import field_matches, load_profile
    from uploader.check.starter import guess_columns

    upload = upload_of(request)
    base = request.query.get("profile") or ""
    try:
        profile = load_profile(base) if base else None
    except UploaderError as error:
        return problem(error)
    headers, samples, distinct = await asyncio.to_thread(_samples, upload.path)
    guessed = guess_columns(headers)
    fields = field_matches(profile, headers) if profile else {}
    for field_name, header in guessed.items():  # the closest headers, where the base has none
        if not fields.get(field_name):
            fields[field_name] = header
    return web.json_response(
        {"headers": headers, "fields": fields, "samples": samples, "distinct": distinct}
    )


SAMPLE_ROWS = 500  # rows read for samples and distinct values
FEW_VALUES = 12  # a column with at most this many distinct values offers a value map


def _samples(path: Path) -> tuple[list[str], dict, dict]:
    """The file's headers, a few sample values of each, and the few-valued columns' values,
    read at the same header row the page shows."""
    table = _opened(path)
    if table is None:
        return [], {}, {}
    try:
        chunk = next(iter(table.chunks(SAMPLE_ROWS)), None)
    except UploaderError:
        chunk = None
    if chunk is None:
        return table.headers, {}, {}
    samples, distinct = {}, {}
    for header, column in zip(table.headers, table.columns, strict=True):
        values = chunk.text[column].dropna().astype(str).str.strip()
        values = values[values != ""]
        samples[header] = [value[:60] for value in values.head(3).tolist()]
        unique = values.unique().tolist()
        if 0 < len(unique) <= FEW_VALUES:
            distinct[header] = [value[:60] for value in unique]
    return table.headers, samples, distinct


def save_profile(name: str, spec: dict) -> Path:
    """The profile composed from the page's mapping (see uploader.check.compose), saved under
    `name` among the user's profiles (`--profile NAME` finds it too)."""
    from uploader.check.compose import compose_profile
    from uploader.check.profiles import user_profiles_dir
    from uploader.report.files import write_text

    text = compose_profile(name, spec)
    folder = user_profiles_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    write_text(path, text)
    return path


def _spec(body: dict) -> dict:
    spec = body.get("mapping")
    if not isinstance(spec, dict):
        raise web.HTTPBadRequest(text="mapping: the profile's parts (columns, values, ...)")
    return spec


async def save_mapping(request: web.Request) -> web.Response:
    body = await read_json(request)
    try:
        path = save_profile(str(body.get("name", "")), _spec(body))
    except UploaderError as error:
        return problem(error)
    return web.json_response({"name": path.stem})


PREVIEW_BODIES = 3


async def preview(request: web.Request) -> web.Response:
    """The first request bodies the mapping would send for this file, with the counts and first
    problems of a check: the mapping is tried before it is saved."""
    import json

    from uploader.check.compose import compose_profile
    from uploader.check.mapping import call_requests
    from uploader.pipeline import validate_file
    from uploader.report.files import write_text
    from uploader.settings import Options

    bench, upload = bench_of(request), upload_of(request)
    body = await read_json(request)
    given = body.get("settings")
    settings: dict = given if isinstance(given, dict) else {}
    bodies: list[dict] = []
    problems: list[str] = []

    def collect(chunk, checked) -> None:  # type: ignore[no-untyped-def]
        for sent in call_requests(checked.valid.head(PREVIEW_BODIES - len(bodies))):
            bodies.append(json.loads(sent.payload))
        for row in sorted(checked.errors)[: 5 - len(problems)]:
            first = checked.errors[row][0]
            problems.append(f"row {row}, {first.column or first.field}: {first.message}")

    try:
        text = compose_profile("draft", _spec(body))
        draft = upload.path.parent / "draft-profile.toml"
        write_text(draft, text)
        options = Options.build(bench.run_options(settings), profile=str(draft))
        report = upload.path.parent / "draft.errors.csv"
        summary = await asyncio.to_thread(
            validate_file, upload.path, options, on_chunk=collect, report=report
        )
    except UploaderError as error:
        return problem(error)
    return web.json_response(
        {
            "bodies": bodies,
            "counts": summary.counts,
            "problems": problems,
            "warnings": summary.warnings,
            "profile": text,
        }
    )

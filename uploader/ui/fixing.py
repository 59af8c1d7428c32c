"""Check and fix: the page checks a file with the same `validate_file` the CLI runs, keeps the rows
with problems, and writes an analyst's correction back into the file."""

from __future__ import annotations

import asyncio
import itertools

import pandas as pd
from aiohttp import web

from uploader.errors import UploaderError
from uploader.pipeline import validate_file
from uploader.ui.bench import (
    MAX_PROBLEM_ROWS,
    PAGE_ROWS,
    Upload,
    Workbench,
    bench_of,
    problem,
    read_json,
    upload_of,
)


async def check(request: web.Request) -> web.Response:
    bench, upload = bench_of(request), upload_of(request)
    settings = await read_json(request)
    return await _checked(bench, upload, settings)


async def _checked(bench: Workbench, upload: Upload, settings: dict) -> web.Response:
    try:
        options = bench.run_options(settings)
    except UploaderError as error:
        return problem(error)
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
        return problem(error)
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
    upload = upload_of(request)
    try:
        page = int(request.query.get("page", "0"))
    except ValueError:
        raise web.HTTPBadRequest(text="page must be a number") from None
    return web.json_response({"columns": _columns(upload.problems), "page": _page(upload, page)})


async def edit(request: web.Request) -> web.Response:
    """Change one cell of the page's copy of the file, then check it again."""
    from uploader.ui.cells import edit_cell

    bench, upload = bench_of(request), upload_of(request)
    body = await read_json(request)
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
        return problem(error)
    return await _checked(bench, upload, settings)

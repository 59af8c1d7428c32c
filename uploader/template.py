"""`invoca-upload template`: a workbook an analyst fills in, hard to fill in wrongly."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from uploader.errors import ConfigError
from uploader.report.files import written
from uploader.report.layout import (
    TemplateColumn,
    custom_column,
    drop_downs,
    profile_columns,
    signal_column,
    style_header,
)
from uploader.report.workbook import fit_to_width

TIME_FORMS = (
    "A date cell (the column is formatted as a date and time)",
    "2024-03-05 14:03:27 or 2024/03/05 02:03:27 PM (your network's zone, or --timezone)",
    "2024-03-05T14:03:27-05:00 or 2024-03-05T19:03:27Z (exact instant)",
    "3/5/2024 2:03 PM (month first; use --dayfirst for 5/3/2024)",
    "Tue, 05 Mar 2024 14:03:27 +0000",
    "1709647407 (epoch seconds) or 1709647407000 (milliseconds)",
)


def write_template(
    out: Path,
    *,
    signals: list[str],
    custom: list[str],
    profile: str = "invoca",
    force: bool = False,
    for_page: bool = False,
) -> Path:
    """Write an .xlsx (or a header-only .csv) template with the asked signal and custom columns;
    its Instructions sheet speaks of the web page's steps when `for_page`, else of commands.

    With another profile than `invoca`, the columns carry that system's header names, so an
    analyst can paste its export straight in. An existing file (perhaps filled in) is refused
    unless `force`.
    """
    if not force and (out.exists() or out.is_symlink()):
        raise ConfigError(f"{out}: already exists (a filled template?); pass --force to replace it")
    _check_names(signals, "signal")
    _check_names(custom, "custom")
    extra = [signal_column(name) for name in signals] + [custom_column(name) for name in custom]
    columns = [*profile_columns(profile), *extra]
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ConfigError(f"{out}: a template is .xlsx or .csv")
    if suffix == ".csv":
        with written(out, newline="", encoding="utf-8-sig") as stream:
            csv.writer(stream).writerow([c.name for c in columns])
    else:
        with written(out, "wb") as stream:
            # built in memory (a few KB): a full disk then fails our write or openpyxl's own
            # scratch files, never its zip writer (which would complain again when collected)
            book = io.BytesIO()
            _workbook(columns, for_page).save(book)
            stream.write(book.getvalue())
    return out


def _check_names(names: list[str], kind: str) -> None:
    lowered = [name.strip().lower() for name in names]
    if any(not name for name in lowered):
        raise ConfigError(f"--{kind} needs a name")
    if len(set(lowered)) != len(lowered):
        raise ConfigError(f"--{kind} names repeat: {', '.join(names)}")


def _workbook(columns: list[TemplateColumn], for_page: bool = False) -> Workbook:
    book = Workbook()
    sheet = book.active
    sheet.title = "Calls"
    sheet.freeze_panes = "A2"
    fit_to_width(sheet)
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        style_header(sheet.cell(row=1, column=index, value=column.name), column)
        dimension = sheet.column_dimensions[letter]
        dimension.width = column.width
        dimension.number_format = column.number_format
    for validation in drop_downs(list(columns)):
        sheet.add_data_validation(validation)
    _instructions(book, columns, for_page)
    return book


PAGE_STEPS = [
    (
        "2.",
        "Save it, then drop it on the invoca-upload page (or choose it there), fill in the "
        "Campaign id box and press “Check the file”: every problem is marked on its cell, and you "
        "can fix it right there.",
    ),
    ("3.", "Press “Upload the valid rows”: the page shows how far it got and what went in."),
    (
        "4.",
        "Download the results: each row's status and Invoca call id (cuid), or what was "
        "wrong. Download the rows that did not go in, fix them in Excel and drop that file on the "
        "page again: nothing is ever sent twice.",
    ),
]
COMMAND_STEPS = [
    ("2.", "Check it: invoca-upload validate THIS_FILE.xlsx --campaign-id 85"),
    ("3.", "Upload it: invoca-upload upload THIS_FILE.xlsx --campaign-id 85"),
    (
        "4.",
        "Open THIS_FILE.results.xlsx: each row's status and Invoca call id (cuid), "
        "or what was wrong. Fix the rows in THIS_FILE.retry.xlsx and upload that file.",
    ),
]


def _instructions(book: Workbook, columns: list[TemplateColumn], for_page: bool) -> None:
    sheet = book.create_sheet("Instructions")
    sheet.column_dimensions["A"].width = 38
    sheet.column_dimensions["B"].width = 90
    lines: list[tuple[str, str]] = [
        ("How to use this template", ""),
        (
            "1.",
            "Fill one row per call on the Calls sheet: red headers are required; of the orange "
            "ones (recording_url, recording_filename) each row needs one.",
        ),
        *(PAGE_STEPS if for_page else COMMAND_STEPS),
        ("", ""),
        ("Columns", ""),
        *[(c.name, c.need + c.help) for c in columns],
        ("", ""),
        ("Accepted start_time forms", ""),
        *[("", form) for form in TIME_FORMS],
        ("", ""),
        ("Worked example row", ""),
        *[(c.name, c.example) for c in columns if c.example],
    ]
    for row in lines:
        sheet.append(list(row))
        if row[0] and not row[1] and not row[0].endswith("."):
            sheet.cell(row=sheet.max_row, column=1).font = Font(bold=True, size=12)
    for cell in sheet["B"]:
        cell.alignment = Alignment(wrap_text=True, vertical="top")

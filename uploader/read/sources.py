"""Read a spreadsheet as chunks of text cells, each row tagged with the row number Excel shows.

A chunk is a DataFrame whose index is the spreadsheet row number (header = row 1 in a CSV) and whose
columns are the input's headers (made unique); every cell is text or None, exactly as the analyst
saw it: typed Excel cells are rendered without float noise, nothing is parsed or guessed here.
"""

from __future__ import annotations

from pathlib import Path

from uploader.errors import InputError
from uploader.read.delimited import open_csv
from uploader.read.expand import single_input
from uploader.read.inputs import Input
from uploader.read.table import HeaderTest, Table
from uploader.read.workbook import open_workbook

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}


def open_table(
    source: Input | str | Path,
    *,
    is_header: HeaderTest,
    sheet: str | None = None,
    encoding: str | None = None,
    header_row: int | None = None,
) -> Table:
    """Open a spreadsheet for reading: an `Input` (see uploader.read.inputs) or a path or URL
    naming one CSV/TSV/TXT or XLSX/XLSM file, compressed or not. The header is row `header_row`,
    else the first of the first rows `is_header` accepts (title rows above it are not read)."""
    if not isinstance(source, Input):
        source = single_input(str(source))
    try:
        if source.suffix in CSV_SUFFIXES:
            return open_csv(source, encoding, is_header, header_row)
        if source.suffix in EXCEL_SUFFIXES:
            return open_workbook(source, sheet, is_header, header_row)
    except OSError as error:
        raise InputError(f"{source.name}: cannot be read ({error.strerror or error})") from error
    if source.suffix == ".xls":
        raise InputError(
            f"{source.name}: old .xls workbooks are not read; save it as .xlsx or .csv"
        )
    raise InputError(
        f"{source.name}: unknown file type {source.suffix or '(none)'}; "
        "use .csv, .tsv, .txt or .xlsx (compressed or in a .zip too)"
    )

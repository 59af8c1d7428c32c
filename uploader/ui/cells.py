"""A cell fixed in the page, written into the page's own copy of the file: the row numbers and
column names are the ones the checks report (sources.py), so the edit lands where the problem was.
A CSV keeps its encoding and delimiter; a workbook keeps its other sheets, styles and formulas."""

from __future__ import annotations

import csv
from pathlib import Path

from uploader.check.profiles import load_profile
from uploader.errors import InputError
from uploader.read.sources import open_table
from uploader.report.files import AtomicFile
from uploader.settings import Options


def edit_cell(path: Path, options: Options, row: int, column: str, value: str) -> None:
    profile = load_profile(options.profile)
    table = open_table(
        path, is_header=profile.is_header, sheet=options.sheet, encoding=options.encoding
    )
    if column not in table.columns:
        raise InputError(f"{path.name}: no column {column!r}")
    index = table.columns.index(column)
    if row < 2:
        raise InputError(f"{path.name}: row {row} is not a data row")
    if table.sheet is not None:
        _edit_workbook(path, table.sheet, row, table.first_column + index + 1, value)
    else:
        assert table.encoding is not None
        _edit_csv(path, table.encoding, table.delimiter, row, index, value)


def _edit_csv(path: Path, encoding: str, delimiter: str, row: int, index: int, value: str) -> None:
    target = AtomicFile(path)
    found = False
    try:
        with path.open(encoding=encoding, newline="") as source:
            out = target.open(encoding=encoding, newline="")
            writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
            for number, record in enumerate(csv.reader(source, delimiter=delimiter), start=1):
                if number == row:
                    record += [""] * (index + 1 - len(record))
                    record[index] = value
                    found = True
                writer.writerow(record)
    except BaseException:
        target.discard()
        raise
    if not found:
        target.discard()
        raise InputError(f"{path.name}: has no row {row}")
    target.commit()


def _edit_workbook(path: Path, sheet: str, row: int, column: int, value: str) -> None:
    import openpyxl

    book = openpyxl.load_workbook(path, keep_vba=path.suffix.lower() == ".xlsm")
    cell = book[sheet].cell(row=row, column=column)
    cell.value = value
    cell.number_format = "@"  # kept as the text typed, as the template's own text columns are
    target = AtomicFile(path)
    try:
        book.save(target.temporary)
    except BaseException:
        target.discard()
        raise
    target.commit()

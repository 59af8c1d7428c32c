"""The XLSX/XLSM reader (calamine): the sheet with the expected header, cached formula values,
typed cells rendered as the analyst saw them, and a hostile workbook bounded before it is
loaded (its XML sizes and the extent its cell references claim)."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import math
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from uploader.errors import InputError
from uploader.read.inputs import Input
from uploader.read.table import (
    HEADER_SEARCH_ROWS,
    HINTS,
    SPARE_COLUMNS,
    XLSX,
    HeaderTest,
    Table,
    TypedCells,
    kind_of,
    new_table,
    next_chunk,
    with_spares,
)

# Bounds checked before calamine allocates a sheet (it builds the dense range of the used cells):
# Excel's own limits, a dense size that fits this tool's memory, and the compression ratio of a
# zip bomb (real sheets compress 5-30x; an entry past 100x and 32 MiB is not a spreadsheet).
EXCEL_MAX_ROWS = 1_048_576


EXCEL_MAX_COLUMNS = 16_384


MAX_DENSE_CELLS = 40_000_000


MAX_XML_BYTES = 2 * 1024**3


BOMB_RATIO = 100


BOMB_MIN_BYTES = 32 * 1024**2


def _ref_patterns(attribute: bytes) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """The row numbers of every `r` attribute (cells `r="XFD9"`, rows `r="9"`), and the letters of
    the cells past column Z: a sheet of at most 26 columns cannot reach the dense limit within
    Excel's rows, so narrow sheets (most) have almost no letters to read."""
    return (
        re.compile(attribute + rb"[A-Z]{0,4}([0-9]{1,8})[\"']"),
        re.compile(attribute + rb"([A-Z]{2,4})[0-9]"),
    )


# Excel writes ` r="`: that literal lets the scan run at memory speed. XML also allows whitespace
# around `=` and before the name, single quotes, and character references (`&#88;` is X), all of
# which calamine honours: a sheet holding any of them is read by an XML parser instead.
_EXCEL_REFS = _ref_patterns(rb' r="')
_UNUSUAL_REF = re.compile(rb"\sr\s+=|\sr=\s|\sr\s*=\s*'|[\t\n\r]r\s*=|&#")
_CELL_REF = re.compile(r"([A-Za-z]{0,4})([0-9]{1,9})")


def _check_bounds(path: Path, name: str) -> None:
    """Refuse a workbook whose sheets would take the machine, before any sheet is loaded."""
    import zipfile

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        with contextlib.suppress(OSError), path.open("rb") as stream:
            kind = kind_of(stream.read(4096))
            if kind not in (None, XLSX):
                raise InputError(
                    f"{name}: is {kind}, not an Excel workbook: {HINTS[kind]}"
                ) from None
        raise InputError(f"{name}: cannot be opened as an Excel workbook ({error})") from error
    with archive:
        entries = archive.infolist()
        if sum(entry.file_size for entry in entries) > MAX_XML_BYTES:
            raise InputError(f"{name}: unpacks to more than {MAX_XML_BYTES // 1024**3} GiB")
        for entry in entries:
            ratio = entry.file_size / max(entry.compress_size, 1)
            if entry.file_size > BOMB_MIN_BYTES and ratio > BOMB_RATIO:
                raise InputError(
                    f"{name}: {entry.filename} unpacks {ratio:.0f} times larger than it is stored "
                    f"(limit {BOMB_RATIO}x): not read"
                )
        for entry in entries:
            if entry.filename.startswith("xl/worksheets/") and entry.filename.endswith(".xml"):
                _check_sheet_extent(name, archive, entry)


def _check_sheet_extent(name: str, archive, entry) -> None:  # type: ignore[no-untyped-def]
    sheet = entry.filename.rsplit("/", 1)[-1]
    try:
        rows, columns = _extent(archive, entry)
    except ValueError as error:
        raise InputError(f"{name}: {sheet} {error}") from None
    if rows > EXCEL_MAX_ROWS:
        raise InputError(
            f"{name}: {sheet} reaches row {rows:,}, past Excel's last ({EXCEL_MAX_ROWS:,})"
        )
    if columns > EXCEL_MAX_COLUMNS:
        raise InputError(
            f"{name}: {sheet} reaches column {columns:,}, past Excel's last ({EXCEL_MAX_COLUMNS:,})"
        )
    if rows * columns > MAX_DENSE_CELLS:
        raise InputError(
            f"{name}: {sheet} spans {rows:,} rows by {columns:,} columns "
            f"({rows * columns:,} cells; "
            f"at most {MAX_DENSE_CELLS:,} are read): delete the stray cells far from the data"
        )


def _extent(archive, entry) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """The last row and the widest column past Z (0 when every cell is in A-Z) that the sheet's
    cell and row references claim."""
    rows = columns = 0
    tail = b""
    with archive.open(entry) as stream:
        while block := stream.read(1024 * 1024):
            text = tail + block
            if _UNUSUAL_REF.search(text):
                return _parsed_extent(archive, entry)
            numbers, wide = _EXCEL_REFS
            if found := numbers.findall(text):
                rows = max(rows, max(map(int, found)))
            if found := wide.findall(text):
                columns = max(columns, max(map(_column_number, set(found))))
            tail = text[-200:]
    return rows, columns


def _parsed_extent(archive, entry) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """The same, read by an XML parser: every `r` of a row or cell as XML reads it."""
    from xml.parsers import expat

    extent = [0, 0]

    def start(tag: str, attributes: dict[str, str]) -> None:
        if tag.rsplit(":", 1)[-1] in ("c", "row") and (
            found := _CELL_REF.fullmatch(attributes.get("r", "").strip())
        ):
            letters, number = found.groups()
            extent[0] = max(extent[0], int(number))
            if len(letters) > 1:
                extent[1] = max(extent[1], _column_number(letters.upper().encode()))

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    with archive.open(entry) as stream:
        try:
            parser.ParseFile(stream)
        except expat.ExpatError as error:  # what is past the error could claim any extent
            raise ValueError(f"is not well-formed XML ({error})") from None
    return extent[0], extent[1]


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def open_workbook(
    source: Input, sheet: str | None, is_header: HeaderTest, header_row: int | None = None
) -> Table:
    from python_calamine import CalamineError, CalamineWorkbook

    path, label = source.local_file(), source.name
    _check_bounds(path, label)
    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except (CalamineError, OSError, ValueError) as error:
        raise InputError(f"{label}: cannot be opened as an Excel workbook ({error})") from error
    visible = [
        meta.name for meta in workbook.sheets_metadata if str(meta.visible).endswith("Visible")
    ]
    for name in _sheet_candidates(label, visible, workbook.sheet_names, sheet):
        loaded = _load_sheet(label, workbook, name)  # parses the whole sheet: once
        found = _find_header(_excel_rows(label, loaded, name), header_row, is_header, sheet)
        if found is not None:
            number, header, above = found
            table = new_table(source, header)
            table.rows_above = above
            table.epoch1904 = _uses_1904(path)
            table.sheet, table.first_column = name, loaded.start[1]
            table.estimated_rows = max(loaded.height - number, 0)
            table._frames = functools.partial(
                _sheet_frames, label, loaded, name, number, table.columns
            )
            return table
    if header_row is not None:
        raise InputError(f"{label}: row {header_row} (--header-row) is blank or missing")
    if sheet is not None:
        raise InputError(f"{label}: sheet {sheet!r} has no header row")
    raise InputError(
        f"{label}: no sheet has a recognisable header in its first {HEADER_SEARCH_ROWS} rows "
        f"(sheets: {', '.join(visible)}); pick one with --sheet"
    )


def _find_header(
    rows: Iterator, header_row: int | None, is_header: HeaderTest, sheet: str | None
) -> tuple[int, list[str], int] | None:
    """The header's row number, cells and the non-blank rows above it: row `header_row`; else
    the first of the first rows `is_header` accepts; else, on a sheet named by --sheet, its first
    non-blank row."""
    first: tuple[int, list[str], int] | None = None
    above = 0
    for number, cells in rows:
        if number > (header_row or HEADER_SEARCH_ROWS):
            break
        header = [_excel_text(cell) or "" for cell in cells]
        if not any(header):
            continue
        if header_row is not None and number == header_row:
            return number, header, above
        if header_row is None and is_header(header):
            return number, header, above
        if first is None:
            first = (number, header, 0)
        above += 1
    return first if sheet is not None and header_row is None else None


def _sheet_candidates(
    label: str, visible: list[str], every: list[str], sheet: str | None
) -> list[str]:
    if sheet is None:
        return visible
    if sheet in every:
        return [sheet]
    if sheet.isdigit() and 1 <= int(sheet) <= len(every):
        return [every[int(sheet) - 1]]
    raise InputError(f"{label}: no sheet {sheet!r} (sheets: {', '.join(every)})")


def _load_sheet(label: str, workbook, name: str):
    try:
        return workbook.get_sheet_by_name(name)
    except Exception as error:  # calamine raises its own errors for damaged sheets
        raise InputError(f"{label}: sheet {name!r} cannot be read ({error})") from error


def _excel_rows(label: str, loaded, name: str) -> Iterator[tuple[int, list]]:
    try:
        for number, cells in enumerate(loaded.iter_rows(), start=1):
            yield number, list(cells)
    except Exception as error:  # calamine raises its own errors for damaged sheets
        raise InputError(f"{label}: sheet {name!r} cannot be read ({error})") from error


def _sheet_frames(
    label: str, loaded, name: str, header_row: int, columns: list[str], size: int
) -> Iterator[pd.DataFrame]:  # type: ignore[no-untyped-def]
    """The data rows of a loaded sheet, from the row after its header (each call from there)."""
    rows = itertools.islice(_excel_rows(label, loaded, name), header_row, None)
    return _excel_frames(rows, columns, size)


def _excel_frames(
    rows: Iterator[tuple[int, list]], columns: list[str], size: int
) -> Iterator[tuple[pd.DataFrame, TypedCells]]:
    """Text frames, each with its typed cells for xlsx outputs."""
    width = len(columns)
    names = with_spares(columns)
    numbers: list[int] = []
    batch: list[list] = []
    done = 0
    for number, cells in rows:
        numbers.append(number)
        kept = (cells + [None] * (width - len(cells)))[: width + SPARE_COLUMNS]
        if len(cells) > len(kept) and any(c not in (None, "") for c in cells[len(kept) :]):
            kept[-1] = kept[-1] if kept[-1] not in (None, "") else "(cell far right of the header)"
        batch.append(kept)
        if len(batch) >= next_chunk(done, size):
            yield _typed_frame(batch, numbers, names)
            numbers, batch, done = [], [], done + len(batch)
    if batch:
        yield _typed_frame(batch, numbers, names)


def _typed_frame(
    batch: list[list], numbers: list[int], names: list[str]
) -> tuple[pd.DataFrame, TypedCells]:
    text = _frame([[_excel_text(cell) for cell in cells] for cells in batch], numbers, names)
    typed = TypedCells(
        lambda: _frame([[None if c == "" else c for c in cells] for cells in batch], numbers, names)
    )
    return text, typed


def _frame(batch: list[list], numbers: list[int], names: list[str]) -> pd.DataFrame:
    widest = max(len(cells) for cells in batch)
    return pd.DataFrame(
        batch, columns=names[:widest], index=pd.Index(numbers, name="row"), dtype=object
    )


def _excel_text(cell: object) -> str | None:
    """A typed cell as the text the analyst saw, without float noise."""
    if type(cell) is str:  # most cells: first, and cheap
        return cell or None
    if cell is None:
        return None
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float):
        if math.isfinite(cell) and cell.is_integer() and abs(cell) < 1e15:
            return str(int(cell))
        return format(cell, ".15g")
    if isinstance(cell, dt.datetime):
        return cell.isoformat(sep=" ", timespec="milliseconds" if cell.microsecond else "seconds")
    if isinstance(cell, dt.date | dt.time):
        return cell.isoformat()
    if isinstance(cell, dt.timedelta):
        return str(cell)
    return str(cell)


def _uses_1904(path: Path) -> bool:
    """Whether the workbook counts dates from 1904 (old Mac Excel), for bare serial numbers."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            workbook_xml = archive.read("xl/workbook.xml").decode("utf-8", "replace")
    except (KeyError, zipfile.BadZipFile, OSError):
        return False
    return 'date1904="1"' in workbook_xml or 'date1904="true"' in workbook_xml

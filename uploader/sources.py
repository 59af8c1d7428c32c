"""Read a spreadsheet as chunks of text cells, each row tagged with the row number Excel shows.

A chunk is a DataFrame whose index is the spreadsheet row number (header = row 1 in a CSV) and whose
columns are the input's headers (made unique); every cell is text or None, exactly as the analyst
saw it: typed Excel cells are rendered without float noise, nothing is parsed or guessed here.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import datetime as dt
import functools
import io
import itertools
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as arrow_csv

from uploader.arrowtext import arrow, flags
from uploader.arrowtext import lengths as lengths_of
from uploader.errors import InputError
from uploader.inputs import Input, single_input

CSV_SUFFIXES = {".csv", ".tsv", ".txt"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
MAX_CELL = 64 * 1024
MAX_ROW = 1024 * 1024
MAX_COLUMNS = 1000
HEADER_SEARCH_ROWS = 20
DEFAULT_CHUNK = 10_000
FIRST_CHUNK = 1_000  # rows in the first chunk; every later one holds the size asked

HeaderTest = Callable[[list[str]], bool]


class TypedCells:
    """An Excel chunk's cells as typed in the workbook, for xlsx outputs. Built only when asked
    for (`frame`): validating never needs it."""

    def __init__(self, build: Callable[[], pd.DataFrame]) -> None:
        self._build = build
        self._frame: pd.DataFrame | None = None

    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame = self._build()
        return self._frame

    def narrowed(self, rows: pd.Index, columns: pd.Index) -> TypedCells:
        return TypedCells(lambda: self.frame.loc[rows, columns])


_STRING_TYPES = {
    pa.string(): pd.StringDtype("pyarrow"),
    pa.large_string(): pd.StringDtype("pyarrow"),
}
SPARE = "\x00spare"  # columns past the header, to catch rows with more cells than the header
SPARE_COLUMNS = 16


@dataclass
class Chunk:
    """Some data rows of an input, as read: the cells as text (indexed by the row number a
    spreadsheet shows), the workbook's typed cells for xlsx outputs, and the rows that could not be
    read whole (more cells than the header, a cell too long), blanked, with their problem."""

    text: pd.DataFrame
    typed: TypedCells | None = None
    broken: dict[int, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.text)

    @property
    def index(self) -> pd.Index:
        return self.text.index


@dataclass
class Table:
    """An opened input: its headers, how it was read, and its rows in chunks."""

    source: Input
    headers: list[str]
    columns: list[str]
    epoch1904: bool = False
    delimiter: str = ","
    encoding: str | None = None  # a CSV's, as given or detected
    sheet: str | None = None  # a workbook's sheet read, and its first column (0 = A)
    first_column: int = 0
    estimated_rows: int | None = None
    blank_rows: int = 0
    # text frames, or (text, typed cells) pairs for a workbook
    _frames: Callable[[int], Iterator[pd.DataFrame | tuple[pd.DataFrame, TypedCells]]] | None = None

    def rewound(self) -> Table:
        """The same input from its first data row, for a pass before the real read (the date
        order); it reuses what opening did: the sniffed CSV dialect, the loaded Excel sheet."""
        assert self._frames is not None, "rewind a Table before reading it"
        return dataclasses.replace(self, blank_rows=0)

    def chunks(self, size: int = DEFAULT_CHUNK) -> Iterator[Chunk]:
        """Yield the data rows; all-blank rows are counted in `blank_rows` and left out.

        A row with more cells than the header, or with a cell too large, is yielded blank and its
        problem recorded in the chunk's `broken`, so that it still gets a line in the results.
        """
        assert self._frames is not None, "a Table is read once"
        frames, self._frames = self._frames, None
        try:
            yield from self._chunks(frames(size))
        except OSError as error:  # a disk, a network store or a codec failing half-way
            reason = error.strerror or str(error)
            raise InputError(f"{self.source.name}: cannot be read ({reason})") from error

    def _chunks(self, frames: Iterator) -> Iterator[Chunk]:  # type: ignore[type-arg]
        for item in frames:
            pa.default_memory_pool().release_unused()  # keeps a long file's peak near a short one's
            frame, typed = item if isinstance(item, tuple) else (item, None)
            frame = frame.astype("string")
            present = np.column_stack(
                [flags(pc.not_equal(arrow(frame[c]), "")) for c in frame.columns]
            )
            blank = ~present.any(axis=1)
            if blank.any():
                self.blank_rows += int(blank.sum())
                frame, present = frame[~blank], present[~blank]
            spare = [i for i, column in enumerate(frame.columns) if column.startswith(SPARE)]
            data = frame.drop(columns=frame.columns[spare])
            broken = self._broken(
                data, pd.DataFrame(present[:, spare], index=frame.index) if spare else None
            )
            if typed is not None:
                typed = typed.narrowed(data.index, data.columns)
            yield Chunk(data, typed, broken)

    def _broken(self, data: pd.DataFrame, spare: pd.DataFrame | None) -> dict[int, str]:
        """Rows too wide or too long to read, blanked in `data`, with their problem."""
        width = len(self.columns)
        problems = pd.Series("", index=data.index, dtype=object)
        widest = [pc.max(pc.binary_length(arrow(data[c]))).as_py() or 0 for c in data.columns]
        if max(widest, default=0) > MAX_CELL or sum(widest) > MAX_ROW:  # bytes: >= characters
            lengths = pd.DataFrame({c: lengths_of(data[c]) for c in data.columns}, index=data.index)
            problems[lengths.sum(axis=1) > MAX_ROW] = (
                f"is longer than {MAX_ROW // 1024 // 1024} MiB"
            )
            problems[lengths.max(axis=1) > MAX_CELL] = (
                f"has a cell longer than {MAX_CELL // 1024} KiB"
            )
        if spare is not None:
            for row, filled in spare[spare.any(axis=1)].iterrows():
                cells = width + max(i for i, value in enumerate(filled) if value) + 1
                problems[row] = f"has {cells} cells but the header has {width}"
        broken = {int(row): str(problem) for row, problem in problems[problems != ""].items()}
        for row in broken:
            data.loc[row] = None
        return broken


def next_chunk(done: int, size: int) -> int:
    """How many rows the next chunk holds once `done` rows are read: FIRST_CHUNK at first, so that
    the first rows are checked and on their way at once, then `size`. Straight to `size`, not
    growing by steps: steps would make a short file's chunks, and so its peak memory, smaller
    than a long one's, and memory that stays flat from 100k to 1M rows is a measured promise."""
    return min(FIRST_CHUNK if done == 0 else size, size)


def _sized(read: Callable[[int], pd.DataFrame], size: int) -> Iterator[pd.DataFrame]:
    """Frames from a reader that takes a row count (pandas' get_chunk), sized by next_chunk."""
    done = 0
    while True:
        try:
            frame = read(next_chunk(done, size))
        except StopIteration:
            return
        done += len(frame)
        yield frame


def open_table(
    source: Input | str | Path,
    *,
    is_header: HeaderTest,
    sheet: str | None = None,
    encoding: str | None = None,
) -> Table:
    """Open a spreadsheet for reading: an `Input` (see uploader.inputs) or a path or URL naming one
    CSV/TSV/TXT or XLSX/XLSM file, compressed or not."""
    if not isinstance(source, Input):
        source = single_input(str(source))
    try:
        if source.suffix in CSV_SUFFIXES:
            return _open_csv(source, encoding, is_header)
        if source.suffix in EXCEL_SUFFIXES:
            return _open_excel(source, sheet, is_header)
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


# ---------------------------------------------------------------- CSV


@dataclass
class _Scan:
    """What one pass over a CSV's bytes tells: its encoding, its line count (an estimate of its rows
    for progress), its size and its last bytes (for a quote left open at the end)."""

    encoding: str
    lines: int
    size: int
    tail: bytes


TAIL_BYTES = 2 * MAX_CELL


def _scan(source: Input, encoding: str | None) -> _Scan:
    """BOMs first; then UTF-8 if the whole file decodes; else the best single-byte guess. One pass,
    which also counts the lines and keeps the tail (a compressed file is decompressed once for all
    three)."""
    lines = size = 0
    tail = b""
    utf8 = codecs.getincrementaldecoder("utf-8")()
    found = encoding
    guessing = False  # no encoding given and no BOM: the whole file decides
    with source.open() as stream:
        while block := stream.read(1 << 20):
            if size == 0 and found is None:
                if block.startswith(codecs.BOM_UTF8):
                    found = "utf-8-sig"
                elif block.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    found = "utf-16"
                else:
                    found, guessing = "utf-8", True
            if guessing:
                if b"\x00" in block:
                    kind = _kind_of(block) if size == 0 else None
                    if kind in (XLSX, XLS):
                        raise InputError(f"{source.name}: is {kind}, not a CSV file: {HINTS[kind]}")
                    raise InputError(
                        f"{source.name}: contains NUL bytes; "
                        "is it a binary file or UTF-16 without a BOM?"
                    )
                found = _narrow(found or "utf-8", block, utf8)
            size += len(block)
            lines += block.count(b"\n")
            tail = (tail + block)[-TAIL_BYTES:]
    if guessing and found == "utf-8":
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            found = "cp1252"
    return _Scan(found or "utf-8", max(lines, 1), size, tail)


XLSX, XLS, HTML, TEXT = (
    "an Excel workbook (.xlsx)",
    "an old .xls workbook",
    "a web page (HTML)",
    "a text file (a CSV?)",
)
HINTS = {
    XLSX: "give it the .xlsx suffix",
    XLS: "open it in Excel and save it as .xlsx or .csv",
    HTML: "some systems save a web table under an Excel name; open it in Excel and save it as "
    ".xlsx or .csv",
    TEXT: "give it the .csv suffix (or .tsv, .txt)",
}


def _kind_of(head: bytes) -> str | None:
    """What a file is by its first bytes, for a file whose name says otherwise: a zip holding a
    workbook, an OLE2 compound file (.xls), a web page, or text."""
    if head.startswith(b"PK\x03\x04"):
        return XLSX if b"[Content_Types].xml" in head or b"xl/" in head else None
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return XLS
    start = head.lstrip(codecs.BOM_UTF8 + b" \t\r\n").lower()
    if start.startswith((b"<html", b"<!doctype html", b"<table", b"<meta", b"<head")):
        return HTML
    text = head.decode("utf-8", errors="replace")  # cp1252's letters become U+FFFD: printable
    if text and sum(c.isprintable() or c in "\t\r\n" for c in text) >= 0.95 * len(text):
        return TEXT
    return None


def detect_encoding(path: Path) -> str:
    """The encoding of a local CSV file (see `_scan`)."""
    return _scan(Input.file(path), None).encoding


def _narrow(encoding: str, block: bytes, utf8: codecs.IncrementalDecoder) -> str:
    """The encodings still possible after this block: UTF-8, else cp1252 (Excel's "CSV (Comma
    delimited)" in the West), else latin-1 (cp1252 leaves five bytes undefined)."""
    if encoding == "utf-8":
        try:
            utf8.decode(block)
            return "utf-8"
        except UnicodeDecodeError:
            encoding = "cp1252"
    if encoding == "cp1252":
        try:
            block.decode("cp1252")  # single-byte: a block boundary never splits a character
        except UnicodeDecodeError:
            return "latin-1"
    return encoding


def _text(source: Input, encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(source.open(), encoding=encoding, newline="")


def _open_csv(source: Input, encoding: str | None, is_header: HeaderTest) -> Table:
    scan = _scan(source, encoding)
    if scan.size == 0:
        raise InputError(f"{source.name}: the file is empty")
    encoding = scan.encoding
    try:
        codecs.lookup(encoding)
        with _text(source, encoding) as stream:
            sample = stream.read(65536)
    except LookupError as error:
        raise InputError(f"{source.name}: unknown encoding {encoding}") from error
    except UnicodeDecodeError as error:
        raise InputError(f"{source.name}: cannot be read as {encoding}; try --encoding") from error
    if "\x00" in sample:
        raise InputError(f"{source.name}: contains NUL bytes; is it a binary file?")
    delimiter = _delimiter(sample, source.suffix)
    header, header_row, header_lines = _csv_header(source, encoding, delimiter)
    table = _table(source, header)
    table.delimiter, table.encoding = delimiter, encoding
    table.estimated_rows = max(scan.lines - header_lines, 0)

    def frames(size: int) -> Iterator[pd.DataFrame]:
        done = 0
        if encoding != "utf-16" and header_lines == header_row:
            try:
                for frame in _arrow_frames(
                    source, encoding, delimiter, table.columns, header_row, size, scan.tail
                ):
                    done += len(frame)
                    yield frame
                return
            except _Irregular:
                pass  # the exact reader below takes over where the fast one stopped
        yield from _pandas_frames(
            source, encoding, delimiter, table.columns, header_row, header_lines, size, skip=done
        )

    table._frames = frames
    return table


def _pandas_frames(
    source: Input,
    encoding: str,
    delimiter: str,
    columns: list[str],
    header_row: int,
    header_lines: int,
    size: int,
    skip: int = 0,
) -> Iterator[pd.DataFrame]:
    """The exact reader, for every CSV: pandas' C parser, with spare columns for ragged rows.

    `skip` leaves out the first records, which the fast reader already yielded.
    """
    spares = [f"{SPARE}{i}" for i in range(SPARE_COLUMNS)]
    try:
        with source.open() as stream:
            reader = pd.read_csv(
                stream,
                sep=delimiter,
                encoding=encoding,
                header=None,
                skiprows=header_lines,
                names=[*columns, *spares],
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=False,
                iterator=True,
                engine="c",
                index_col=False,
            )
            with reader:
                for frame in _sized(reader.get_chunk, size):
                    frame = frame[frame.index >= skip]
                    if len(frame):
                        frame.index = frame.index + header_row + 1
                        frame.index.name = "row"
                        yield frame
    except pd.errors.ParserError as error:
        raise InputError(f"{source.name}: {_parser_problem(str(error), header_row)}") from error
    except UnicodeDecodeError as error:
        raise InputError(
            f"{source.name}: cannot be decoded as {encoding}; try --encoding"
        ) from error


class _Irregular(Exception):
    """A CSV the fast reader cannot read exactly like the pandas one (ragged rows, bad quoting,
    undecodable bytes): the pandas reader takes over, and its messages name the problem."""


def _arrow_frames(
    source: Input,
    encoding: str,
    delimiter: str,
    columns: list[str],
    header_row: int,
    size: int,
    tail: bytes,
) -> Iterator[pd.DataFrame]:
    """The fast path: Arrow's multi-threaded CSV reader, its text kept as Arrow strings.

    It yields only what it read exactly: a row it would have to skip (a ragged one) or any parse
    or decoding error raises `_Irregular` before the chunk holding it is yielded.
    """
    skipped: list[str] = []

    def ragged(row) -> str:
        skipped.append(row.text)
        return "skip"

    with contextlib.ExitStack() as stack:
        # a plain file is read by Arrow's own threads; other content through its Python stream
        raw = str(source.local) if source.local else stack.enter_context(source.open())
        try:
            reader = arrow_csv.open_csv(
                raw,
                read_options=arrow_csv.ReadOptions(
                    skip_rows=header_row,
                    column_names=columns,
                    encoding="utf8" if encoding in ("utf-8", "utf-8-sig") else encoding,
                ),
                parse_options=arrow_csv.ParseOptions(
                    delimiter=delimiter,
                    newlines_in_values=True,
                    ignore_empty_lines=False,
                    invalid_row_handler=ragged,
                ),
                convert_options=arrow_csv.ConvertOptions(
                    column_types=dict.fromkeys(columns, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except (pa.ArrowException, UnicodeDecodeError) as error:
            raise _Irregular from error
        stack.enter_context(contextlib.closing(reader))  # stops its read-ahead threads
        try:
            whole = pa.Table.from_batches([], schema=reader.schema)
            start = header_row + 1
            for batch in itertools.chain(reader, [None]):
                if batch is not None:
                    whole = pa.concat_tables([whole, pa.Table.from_batches([batch])])
                elif len(whole) and _ends_in_open_quote(tail, encoding, delimiter, whole):
                    raise _Irregular
                # the last row waits for the end of the file: only then can it be checked
                while len(whole) > (wanted := next_chunk(start - header_row - 1, size)) or (
                    batch is None and len(whole)
                ):
                    if skipped:
                        raise _Irregular
                    taken, whole = whole.slice(0, wanted), whole.slice(wanted)
                    frame = taken.to_pandas(types_mapper=_STRING_TYPES.get)
                    frame.index = pd.RangeIndex(start, start + len(frame), name="row")
                    start += len(frame)
                    yield frame
            if skipped:
                raise _Irregular
        except (pa.ArrowException, UnicodeDecodeError) as error:
            raise _Irregular from error


def _ends_in_open_quote(tail: bytes, encoding: str, delimiter: str, rows: pa.Table) -> bool:
    """Whether the file ends inside a quoted field: Arrow reads that field as running to the end
    of the file, where pandas (the exact reader) refuses the file. Then the file's last bytes are
    the opening quote, after a delimiter or a line break, and the last value, its quotes doubled.
    A last value longer than the kept tail cannot be checked: the exact reader decides."""
    last = rows.column(rows.num_columns - 1)[-1].as_py() or ""
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    opened = ('"' + last.replace('"', '""')).encode(codec)
    if len(opened) + 1 > len(tail):
        return len(tail) >= TAIL_BYTES
    end = tail[-len(opened) - 1 :]
    return end[1:] == opened and end[:1] in (delimiter.encode(codec), b"\n", b"\r")


def _csv_header(source: Input, encoding: str, delimiter: str) -> tuple[list[str], int, int]:
    """The first non-blank record: its cells, its row number and the lines it took up."""
    with _text(source, encoding) as stream:
        reader = csv.reader(stream, delimiter=delimiter)
        try:
            for number, cells in enumerate(reader, start=1):
                if any(cell.strip() for cell in cells):
                    return cells, number, reader.line_num
        except csv.Error as error:
            raise InputError(f"{source.name}: the header row cannot be read ({error})") from error
    raise InputError(f"{source.name}: has no header row")


def _parser_problem(message: str, header_row: int) -> str:
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if found:
        expected, line, saw = (int(part) for part in found.groups())
        return f"line {line} has {saw} cells, far more than the header's {expected - SPARE_COLUMNS}"
    quote = re.search(r"EOF inside string starting at row (\d+)", message)
    if quote:
        return f"row {int(quote.group(1)) + header_row}: a quote is opened and never closed"
    return message.strip().splitlines()[-1].replace("Error tokenizing data. C error: ", "")


def _delimiter(sample: str, suffix: str) -> str:
    if suffix == ".tsv":
        return "\t"
    first_line = next((line for line in sample.splitlines() if line.strip()), "")
    counts = {delimiter: first_line.count(delimiter) for delimiter in (",", ";", "\t", "|")}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


# ---------------------------------------------------------------- Excel


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


# Excel writes ` r="`: that literal lets the scan run at memory speed; a block with another spelling
# (other whitespace before `r`, single quotes) is read with the general patterns.
_EXCEL_REFS = _ref_patterns(rb' r="')
_ANY_REFS = _ref_patterns(rb"\sr=[\"']")
_UNUSUAL_REF = (b"\tr=", b"\nr=", b"\rr=", b"r='")


def _check_bounds(path: Path, name: str) -> None:
    """Refuse a workbook whose sheets would take the machine, before any sheet is loaded."""
    import zipfile

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        with contextlib.suppress(OSError), path.open("rb") as stream:
            kind = _kind_of(stream.read(4096))
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
    rows = columns = 0  # columns: the widest past Z, 0 when every cell is in A-Z
    tail = b""
    with archive.open(entry) as stream:
        while block := stream.read(1024 * 1024):
            text = tail + block
            unusual = any(spelling in text for spelling in _UNUSUAL_REF)
            numbers, wide = _ANY_REFS if unusual else _EXCEL_REFS
            if found := numbers.findall(text):
                rows = max(rows, max(map(int, found)))
            if found := wide.findall(text):
                columns = max(columns, max(map(_column_number, set(found))))
            tail = text[-200:]
    sheet = entry.filename.rsplit("/", 1)[-1]
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


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _open_excel(source: Input, sheet: str | None, is_header: HeaderTest) -> Table:
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
        rows = _excel_rows(label, loaded, name)
        for number, cells in rows:
            if number > HEADER_SEARCH_ROWS:
                break
            header = [_excel_text(cell) or "" for cell in cells]
            if any(header) and (sheet is not None or is_header(header)):
                table = _table(source, header)
                table.epoch1904 = _uses_1904(path)
                table.sheet, table.first_column = name, loaded.start[1]
                table.estimated_rows = max(loaded.height - number, 0)
                table._frames = functools.partial(
                    _sheet_frames, label, loaded, name, number, table.columns
                )
                return table
    if sheet is not None:
        raise InputError(f"{label}: sheet {sheet!r} has no header row")
    raise InputError(
        f"{label}: no sheet has a recognisable header in its first {HEADER_SEARCH_ROWS} rows "
        f"(sheets: {', '.join(visible)}); pick one with --sheet"
    )


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
    names = [*columns, *(f"{SPARE}{i}" for i in range(SPARE_COLUMNS))]
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


# ---------------------------------------------------------------- shared


def _table(source: Input, header: list) -> Table:
    header = [(cell or "").strip().lstrip("\ufeff").strip() for cell in header]
    while header and not header[-1]:
        header.pop()
    if len(header) > MAX_COLUMNS:
        raise InputError(
            f"{source.name}: has {len(header)} columns; at most {MAX_COLUMNS} are read"
        )
    columns = _unique([name or f"(column {index + 1})" for index, name in enumerate(header)])
    return Table(source=source, headers=header, columns=columns)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        unique.append(name if count == 0 else f"{name}.{count}")
    return unique

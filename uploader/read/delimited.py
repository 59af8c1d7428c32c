"""The CSV/TSV/TXT reader: the encoding found in one pass over the bytes (which also counts the
lines, bounds their length and blank runs, and keeps the tail), the delimiter from a sample, then
Arrow's reader for regular files and pandas' exact one from the first ragged or unusual row on."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
from pyarrow import csv as arrow_csv

from uploader.errors import InputError
from uploader.read.inputs import Input
from uploader.read.table import (
    HEADER_SEARCH_ROWS,
    HINTS,
    MAX_CELL,
    MAX_ROW,
    SPARE_COLUMNS,
    STRING_TYPES,
    WIDER_ROW,
    XLS,
    XLSX,
    HeaderTest,
    Table,
    kind_of,
    new_table,
    next_chunk,
    sized,
    with_spares,
)


@dataclass
class _Scan:
    """What one pass over a CSV's bytes tells: its encoding, its line count (an estimate of its rows
    for progress), its size and its last bytes (for a quote left open at the end)."""

    encoding: str
    lines: int
    size: int
    tail: bytes


TAIL_BYTES = 2 * MAX_CELL
# Bounds met while the bytes stream past, before any reader holds them: one line longer than any
# row may be (a row over MAX_ROW is a row error; a line four times as long cannot be a call log's),
# and a run of blank lines no export writes (a tiny .bz2 can hold a billion of them).
MAX_LINE = 4 * MAX_ROW
MAX_BLANK_BYTES = 64 * 1024**2


@dataclass
class _Bounds:
    """The length of the line being read and of the blank lines before it, block by block."""

    name: str
    line: int = 0  # bytes since the last line break
    blank: int = 0  # bytes of consecutive blocks holding nothing but line breaks
    blank_from: int = 0  # the last line with something on it before the blank run
    last_filled: int = 0  # the same, as of the last block read

    def check(self, block: bytes, lines: int) -> None:
        last = block.rfind(b"\n")
        first = block.find(b"\n")
        if last < 0:
            self.line += len(block)
        elif self.line + first > MAX_LINE:
            self._too_long(lines)
        else:
            self.line = len(block) - last - 1
        if self.line > MAX_LINE:
            self._too_long(lines)
        if block.translate(None, b"\r\n"):
            self.blank = 0
            breaks = block[len(block.rstrip(b"\r\n")) :].count(b"\n")
            self.last_filled = lines + block.count(b"\n") - breaks + 1
            return
        if not self.blank:
            self.blank_from = self.last_filled
        self.blank += len(block)
        if self.blank > MAX_BLANK_BYTES:
            raise InputError(
                f"{self.name}: more than {MAX_BLANK_BYTES // 2 // 10**6} million blank lines in a "
                f"row after line {self.blank_from:,}: is it a call log? (nothing was read)"
            )

    def _too_long(self, lines: int) -> None:
        raise InputError(
            f"{self.name}: line {lines + 1:,} is longer than {MAX_LINE // 1024**2} MiB, more than "
            "any row may be: is it a CSV file? (nothing was read)"
        )


def _scan(source: Input, encoding: str | None) -> _Scan:
    """BOMs first; then UTF-8 if the whole file decodes; else the best single-byte guess. One pass,
    which also counts the lines and keeps the tail (a compressed file is decompressed once for all
    three)."""
    lines = size = 0
    tail = b""
    utf8 = codecs.getincrementaldecoder("utf-8")()
    found = encoding
    guessing = False  # no encoding given and no BOM: the whole file decides
    bounds = _Bounds(source.name)
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
                    kind = kind_of(block) if size == 0 else None
                    if kind in (XLSX, XLS):
                        raise InputError(f"{source.name}: is {kind}, not a CSV file: {HINTS[kind]}")
                    raise InputError(
                        f"{source.name}: contains NUL bytes; "
                        "is it a binary file or UTF-16 without a BOM?"
                    )
                found = _narrow(found or "utf-8", block, utf8)
            bounds.check(block, lines)
            size += len(block)
            lines += block.count(b"\n")
            tail = (tail + block)[-TAIL_BYTES:]
    if guessing and found == "utf-8":
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            found = "cp1252"
    return _Scan(found or "utf-8", max(lines, 1), size, tail)


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


def open_csv(
    source: Input, encoding: str | None, is_header: HeaderTest, header_row: int | None = None
) -> Table:
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
    directive = SEP_LINE.match(sample)
    delimiter = directive.group(1) if directive else _delimiter(sample, source.suffix)
    header, header_row, header_lines, above = _csv_header(
        source, encoding, delimiter, is_header, header_row
    )
    table = new_table(source, header)
    table.rows_above = above
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
    done = skip  # records yielded (or skipped) so far
    try:
        with source.open() as stream:
            reader = pd.read_csv(
                stream,
                sep=delimiter,
                encoding=encoding,
                header=None,
                skiprows=header_lines,
                names=with_spares(columns),
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=False,
                iterator=True,
                engine="c",
                index_col=False,
            )
            with reader:
                for frame in sized(reader.get_chunk, size):
                    frame = frame[frame.index >= skip]
                    if len(frame):
                        done = int(frame.index[-1]) + 1
                        frame.index = frame.index + header_row + 1
                        frame.index.name = "row"
                        yield frame
    except pd.errors.ParserError as error:
        if not WIDER.search(str(error)):
            raise InputError(f"{source.name}: {_parser_problem(str(error), header_row)}") from error
        # A row wider than the spare columns: the rest is read record by record, each such row
        # cut to the spare columns' width (so that it is a row error, not the file's).
        yield from _record_frames(
            source, encoding, delimiter, columns, header_row, header_lines, size, done
        )
    except UnicodeDecodeError as error:
        raise InputError(
            f"{source.name}: cannot be decoded as {encoding}; try --encoding"
        ) from error


WIDER = re.compile(r"Expected \d+ fields in line \d+, saw \d+")


def _record_frames(
    source: Input,
    encoding: str,
    delimiter: str,
    columns: list[str],
    header_row: int,
    header_lines: int,
    size: int,
    skip: int,
) -> Iterator[pd.DataFrame]:
    """The exact reader's records, read by Python's csv module from record `skip` on."""
    names = with_spares(columns)
    width = len(names)
    batch: list[list[str | None]] = []
    numbers: list[int] = []

    def frame() -> pd.DataFrame:
        built = pd.DataFrame(
            batch, columns=names, index=pd.Index(numbers, name="row"), dtype=object
        )
        batch.clear()
        numbers.clear()
        return built

    try:
        with _text(source, encoding) as stream:
            reader = csv.reader(stream, delimiter=delimiter)
            for _ in range(header_lines):
                if reader.line_num >= header_lines:
                    break
                next(reader, None)
            for record, cells in enumerate(reader):
                if record < skip:
                    continue
                if len(cells) > width:
                    cells = [*cells[: width - 1], f"{WIDER_ROW}{len(cells)}"]
                batch.append([*cells, *[None] * (width - len(cells))])
                numbers.append(record + header_row + 1)
                if len(batch) >= size:
                    yield frame()
            if batch:
                yield frame()
    except csv.Error as error:
        raise InputError(f"{source.name}: cannot be read as CSV ({error})") from error


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
                    frame = taken.to_pandas(types_mapper=STRING_TYPES.get)
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


# Excel's "sep=;" first line: the file's delimiter, said outright; it is not a row of the table.
SEP_LINE = re.compile(r"\ufeff?sep=(.)\r?\n")


def _csv_header(
    source: Input,
    encoding: str,
    delimiter: str,
    is_header: HeaderTest,
    wanted: int | None,
) -> tuple[list[str], int, int, int]:
    """The header record: row `wanted`, else the first of the first HEADER_SEARCH_ROWS that
    `is_header` accepts, else the first non-blank one. Its cells, its row number, the lines it
    and the rows above took up, and how many of those rows held something (a report's title)."""
    with _text(source, encoding) as stream:
        reader = csv.reader(stream, delimiter=delimiter)
        first: tuple[list[str], int, int] | None = None
        filled = 0  # non-blank rows above the one looked at
        try:
            for number, cells in enumerate(reader, start=1):
                if number == 1 and SEP_LINE.match(delimiter.join(cells) + "\n"):
                    continue  # Excel's sep= line
                blank = not any(cell.strip() for cell in cells)
                if wanted is not None:
                    if number == wanted:
                        if blank:
                            raise InputError(f"{source.name}: row {wanted} (--header-row) is blank")
                        return cells, number, reader.line_num, filled
                elif not blank:
                    if first is None:
                        first = (cells, number, reader.line_num)
                    if is_header(cells):
                        return cells, number, reader.line_num, filled
                    if number >= HEADER_SEARCH_ROWS:
                        break
                filled += not blank
        except csv.Error as error:
            raise InputError(f"{source.name}: the header row cannot be read ({error})") from error
    if wanted is not None:
        raise InputError(f"{source.name}: has no row {wanted} (--header-row)")
    if first is None:
        raise InputError(f"{source.name}: has no header row")
    return *first, 0


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
    """The delimiter the table uses: the one most of the first rows hold the same number of times
    (the header and its rows agree; a report's title above them, or a cell full of semicolons in
    a comma file, does not)."""
    if suffix == ".tsv":
        return "\t"
    lines = [line for line in sample.splitlines() if line.strip()][:HEADER_SEARCH_ROWS]
    best, best_score = ",", (0, 0)
    for delimiter in (",", ";", "\t", "|"):
        counts = Counter(line.count(delimiter) for line in lines if delimiter in line)
        if counts:
            per_line, rows = counts.most_common(1)[0]
            if (rows, per_line) > best_score:
                best, best_score = delimiter, (rows, per_line)
    return best

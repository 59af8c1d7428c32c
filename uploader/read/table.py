"""What every reader yields and shares: the `Table` of a spreadsheet, read as `Chunk`s of text
cells whose index is the row number a spreadsheet shows, and the bounds every reader keeps.

A chunk is a DataFrame whose columns are the input's headers (made unique); every cell is text or
None, exactly as the analyst saw it: nothing is parsed or guessed here.
"""

from __future__ import annotations

import codecs
import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from uploader.errors import InputError
from uploader.read.arrowtext import arrow, flags
from uploader.read.arrowtext import lengths as lengths_of
from uploader.read.inputs import Input

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


STRING_TYPES = {
    pa.string(): pd.StringDtype("pyarrow"),
    pa.large_string(): pd.StringDtype("pyarrow"),
}


SPARE = "\x00spare"  # columns past the header, to catch rows with more cells than the header


SPARE_COLUMNS = 16


def with_spares(columns: list[str]) -> list[str]:
    """The columns a reader fills: the header's, then the spare ones that catch wider rows."""
    return [*columns, *(f"{SPARE}{i}" for i in range(SPARE_COLUMNS))]


# A row wider than the spare columns is cut to them, its last spare cell saying how many it had.
WIDER_ROW = "\x00cells:"


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
    rows_above: int = 0  # non-blank rows above the header (a report's title), not read
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
            wider: pd.Series | None = None
            if spare:
                last = frame[frame.columns[spare[-1]]]
                marked = last[last.str.startswith(WIDER_ROW, na=False)]
                wider = marked.str.removeprefix(WIDER_ROW).astype(int)
            broken = self._broken(
                data, pd.DataFrame(present[:, spare], index=frame.index) if spare else None, wider
            )
            if typed is not None:
                typed = typed.narrowed(data.index, data.columns)
            yield Chunk(data, typed, broken)

    def _broken(
        self, data: pd.DataFrame, spare: pd.DataFrame | None, wider: pd.Series | None = None
    ) -> dict[int, str]:
        """Rows too wide or too long to read, blanked in `data`, with their problem; `wider`:
        the cells of the rows cut to the spare columns' width."""
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
                if wider is not None and row in wider.index:
                    cells = int(wider[row])
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


def sized(read: Callable[[int], pd.DataFrame], size: int) -> Iterator[pd.DataFrame]:
    """Frames from a reader that takes a row count (pandas' get_chunk), sized by next_chunk."""
    done = 0
    while True:
        try:
            frame = read(next_chunk(done, size))
        except StopIteration:
            return
        done += len(frame)
        yield frame


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


def kind_of(head: bytes) -> str | None:
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


def new_table(source: Input, header: list) -> Table:
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


@dataclass
class ReadCount:
    """The rows read since the last look, the blank ones left out of the chunks included: what a
    progress bar sized by the file's lines advances by."""

    table: Table
    blank: int = 0

    def since(self, rows: int) -> int:
        blank, self.blank = self.table.blank_rows - self.blank, self.table.blank_rows
        return rows + blank


def looks_like_header(cells: list[str]) -> bool:
    """A header row of an export no profile knows: three or more names (or both cells of a
    two-column file), none of them a number or a date. A report's title above it is one cell."""
    filled = [cell.strip() for cell in cells if cell and cell.strip()]
    if len(filled) < 2 or (len(filled) < 3 and len(filled) < len(cells)):
        return False
    return not any(re.fullmatch(r"[\d\s.,:/+\-$%()]+", cell) for cell in filled)

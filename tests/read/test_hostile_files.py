"""Workbooks and paths built to hurt: bounded before anything large is allocated, one clear line."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import HEADER, call_row
from uploader.check.profiles import load_profile
from uploader.errors import InputError
from uploader.read.sources import open_table


def _open(path: Path):
    return open_table(path, is_header=load_profile("invoca").is_header)


def _workbook(path: Path, far_cell: str | None = None) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(list(call_row("a1").values()))
    if far_cell:
        sheet[far_cell] = "x"
    book.save(path)
    return path


@pytest.mark.parametrize("far_cell", ["XFD1048576", "XFD6000"])
def test_a_tiny_workbook_with_a_far_cell_is_refused_before_loading(tmp_path, far_cell):
    path = _workbook(tmp_path / "far.xlsx", far_cell)
    assert path.stat().st_size < 20_000
    with pytest.raises(InputError, match="cells|limits"):
        _open(path)


def test_a_far_cell_spelled_unusually_is_still_found(tmp_path):
    """XML allows any whitespace before an attribute and single quotes around its value."""
    path = _workbook(tmp_path / "odd.xlsx", "XFD6000")

    def unusual(sheet: bytes) -> bytes:
        assert b' r="XFD6000"' in sheet
        return sheet.replace(b' r="XFD6000"', b"\tr='XFD6000'")

    _rewrite_sheet(path, unusual)
    with pytest.raises(InputError, match="cells"):
        _open(path)


def _rewrite_sheet(path, change) -> None:
    """The workbook with its first sheet's XML changed (what a hand-edited file could hold)."""
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    parts["xl/worksheets/sheet1.xml"] = change(parts["xl/worksheets/sheet1.xml"])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)


def test_a_sheet_past_excels_last_row_is_refused(tmp_path):
    path = _workbook(tmp_path / "rows.xlsx")
    past = b'<row r="1048577"><c r="A1048577" t="inlineStr"><is><t>x</t></is></c></row>'
    _rewrite_sheet(path, lambda sheet: sheet.replace(b"</sheetData>", past + b"</sheetData>"))
    with pytest.raises(InputError, match="1,048,577"):
        _open(path)


def test_a_zip_bomb_is_refused_by_its_ratio(tmp_path):
    path = _workbook(tmp_path / "bomb.xlsx")
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/media/padding.bin", b"\0" * (64 * 1024 * 1024))
    assert path.stat().st_size < 1_000_000
    with pytest.raises(InputError, match="times larger"):
        _open(path)


def test_cells_far_right_of_the_header_are_reported_not_dropped(tmp_path):
    path = _workbook(tmp_path / "wide.xlsx", "AZ2")
    table = _open(path)
    (chunk,) = table.chunks()
    assert 2 in chunk.broken and "header" in chunk.broken[2]


def test_a_fifo_is_refused_instead_of_waited_on(tmp_path):
    fifo = tmp_path / "calls.xlsx"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        _open(fifo)


@pytest.mark.parametrize(
    "spelling",
    [
        b' r = "XFD1048576"',
        b' r= "XFD1048576"',
        b" r =\n'XFD1048576'",
        b' r="&#88;FD1048576"',
        b' r="XFD&#49;048576"',
    ],
)
def test_a_far_cell_in_any_spelling_xml_allows_is_refused_not_an_abort(tmp_path, spelling):
    """Spaces around `=`, newlines and character references are legal XML; calamine honours them
    and asks for 512 GiB (the process aborts). Run in a process of its own: an abort is a failure
    of this test, not of the suite."""
    import subprocess
    import sys

    path = _workbook(tmp_path / "spelled.xlsx", "XFD6000")
    _rewrite_sheet(path, lambda sheet: sheet.replace(b' r="XFD6000"', spelling))
    assert path.stat().st_size < 20_000
    done = subprocess.run(
        [sys.executable, "-m", "uploader", "validate", str(path), "--campaign-id", "85"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, (done.returncode, done.stderr[-500:])
    assert "spelled.xlsx" in done.stderr and "cells" in done.stderr


def _bz2(path: Path, *parts: bytes) -> Path:
    import bz2

    compressor = bz2.BZ2Compressor()
    with path.open("wb") as stream:
        for part in parts:
            stream.write(compressor.compress(part))
        stream.write(compressor.flush())
    return path


def test_one_line_longer_than_any_row_is_refused_while_streaming(tmp_path):
    """A .bz2 of a few hundred bytes holding one 64 MiB line: refused from the scan, which holds
    one block at a time, naming the line, instead of a reader holding the line whole (GBs)."""
    header = (",".join(HEADER) + "\n").encode()
    line = b"a" * (64 * 1024**2)
    path = _bz2(tmp_path / "one-line.csv.bz2", header, b"c0,", line, b"\nc1,x\n")
    with pytest.raises(InputError, match=r"one-line.csv.bz2: line 2 is longer than 4 MiB"):
        _open(path)


def test_a_blank_line_bomb_is_refused_from_where_the_blank_lines_start(tmp_path):
    """70 million blank lines (a .bz2 of a few KB) are no call log: refused after reading 64 MiB of
    them, naming the line they start after, not read one by one for a quarter of an hour."""
    header = (",".join(HEADER) + "\n").encode()
    row = ",".join(call_row("c1").values()).encode() + b"\n"
    path = _bz2(tmp_path / "blank.csv.bz2", header, row, *[b"\n" * 10**7] * 7, row)
    with pytest.raises(InputError, match=r"blank lines in a row after line 2: is it a call log"):
        _open(path)


def test_blank_lines_count_as_progress(tmp_path):
    """A file of many blank lines advances the progress as far as its lines go (the bar is sized
    by lines: counting only the calls left it at 1 of 200,001 for the whole read)."""
    from uploader import upload
    from uploader.send.control import RunControl

    header = ",".join(HEADER) + "\n"
    row = ",".join(call_row("c1").values()) + "\n"
    path = tmp_path / "blanks.csv"
    path.write_text(header + "\n" * 200_000 + row)
    control = RunControl()
    summary = upload(path, dry_run=True, campaign_id="85", progress=False, control=control)
    assert summary.blank_rows == 200_000
    assert control.snapshot()["done"] == 200_001

"""Reading real files: encodings, delimiters, Excel traps and every bad input."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import os
import re
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import HEADER, call_row, write_csv, write_xlsx
from uploader.check.profiles import load_profile
from uploader.cli import cli
from uploader.errors import InputError, UploaderError
from uploader.pipeline import validate_file
from uploader.read.delimited import _csv_header, _pandas_frames, detect_encoding
from uploader.read.inputs import Input
from uploader.read.sources import open_table

PROFILE = load_profile("invoca")


def rows_of(path: Path, **kwargs) -> tuple[list[int], list[list]]:
    table = open_table(path, is_header=PROFILE.is_header, **kwargs)
    numbers, cells = [], []
    for chunk in table.chunks(2):
        numbers += [int(n) for n in chunk.index]
        cells += chunk.text.values.tolist()
    return numbers, cells


def validate(path: Path, *args: str):
    return CliRunner().invoke(
        cli, ["validate", str(path), "--campaign-id", "85", "--no-progress", *args]
    )


def checked(path: Path):
    """Validate through the library: a documented refusal of the whole file is fine (None), any
    other exception fails the test (the CLI runner would have turned it into exit 1)."""
    try:
        summary = validate_file(path, campaign_id="85", progress=False)
    except UploaderError as error:
        assert str(error) and "Traceback" not in str(error)
        return None
    assert summary.exit_code in (0, 1)
    return summary


def read_errors(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.mark.parametrize(
    "encoding,delimiter",
    [
        ("utf-8", ","),
        ("utf-8-sig", ","),
        ("cp1252", ";"),
        ("utf-16", "\t"),
        ("utf-8", "\t"),
        ("utf-8", ";"),
    ],
)
def test_encodings_and_delimiters_are_detected(tmp_path, encoding, delimiter):
    rows = [call_row("é-1", **{"custom:agent": "José Muñoz"}), call_row("2")]
    path = write_csv(tmp_path / "calls.csv", rows, encoding=encoding, delimiter=delimiter)
    numbers, cells = rows_of(path)
    assert numbers == [2, 3]
    assert cells[0][0] == "é-1" and cells[0][-1] == "José Muñoz"


def test_excel_re_saved_cp1252_csv_with_month_first_dates_validates(tmp_path):
    rows = [call_row("1", start_time="3/5/2024 14:03", **{"custom:agent": "Zoë"})]
    path = write_csv(tmp_path / "excel.csv", rows, encoding="cp1252")
    result = validate(path, "--timezone", "America/Chicago")
    assert result.exit_code == 0, result.output


def test_blank_rows_and_ragged_rows(tmp_path):
    path = tmp_path / "ragged.csv"
    lines = [
        ",".join(HEADER),
        ",".join(call_row("a").values()),
        ",,,,,",
        "",
        ",".join(call_row("b").values()) + ",extra,cells",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = validate(path)
    assert result.exit_code == 1
    errors = read_errors(tmp_path / "ragged.errors.csv")
    assert [e["row"] for e in errors] == ["5"] and "cells but the header has" in errors[0]["error"]
    assert re.search(r"blank rows skipped +\d+\n", result.output)  # the count apart from its label


def test_xlsx_data_sheet_behind_a_summary_sheet_with_typed_cells(tmp_path):
    rows = [
        HEADER + ["signal:sale"],
        [
            "1001",
            dt.datetime(2024, 3, 5, 14, 3, 27),
            3125550143,
            8885551212,
            "Inbound",
            "https://rec.example.com/1.wav",
            True,
        ],
    ]
    path = write_xlsx(tmp_path / "book.xlsx", rows, sheets_before=2)
    numbers, cells = rows_of(path)
    assert numbers == [2]
    assert cells[0][:4] == ["1001", "2024-03-05 14:03:27", "3125550143", "8885551212"]
    assert cells[0][-1] == "TRUE"
    result = CliRunner().invoke(
        cli,
        ["upload", str(path), "--dry-run", "--campaign-id", "85", "--timezone", "America/New_York"],
    )
    assert result.exit_code == 0, result.output
    body = (tmp_path / "book.requests.jsonl").read_text()
    assert (
        '"start_time":"2024-03-05T14:03:27-05:00"' in body
        and '"calling_phone_number":"+13125550143"' in body
    )


def test_xlsx_traps_hidden_sheet_formulas_empty_formatted_rows_and_row_numbers(tmp_path):
    book = openpyxl.Workbook()
    hidden = book.active
    hidden.title = "Old"
    hidden.append(HEADER)
    hidden.sheet_state = "hidden"
    data = book.create_sheet("Calls")
    data.append(["Report exported 2024-03-06"])
    data.append([])
    data.append(HEADER)
    data.append(
        [
            "a",
            "2024-03-05T14:03:27Z",
            "3125550143",
            "8885551212",
            "inbound",
            "https://r.example.com/a",
        ]
    )
    data.append(
        [
            "b",
            "2024-03-05T14:03:27Z",
            "3125550143",
            "8885551212",
            "inbound",
            "https://r.example.com/b",
        ]
    )
    for row in range(6, 40):
        data.cell(row=row, column=1).number_format = "@"
    book.save(tmp_path / "traps.xlsx")
    numbers, cells = rows_of(tmp_path / "traps.xlsx")
    assert numbers == [4, 5]


def test_1904_workbook_dates(tmp_path):
    book = openpyxl.Workbook()
    book.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    sheet = book.active
    sheet.append(HEADER)
    sheet.append(
        [
            "a",
            dt.datetime(2024, 3, 5, 14, 3, 27),
            "3125550143",
            "8885551212",
            "inbound",
            "https://r.example.com/a",
        ]
    )
    book.save(tmp_path / "mac.xlsx")
    _, cells = rows_of(tmp_path / "mac.xlsx")
    assert cells[0][1] == "2024-03-05 14:03:27"


def test_long_ids_and_phones_damaged_by_excel_are_reported(tmp_path):
    rows = [
        HEADER,
        [
            7012345678901234567,
            "2024-03-05T14:03:27Z",
            3.13e9,
            "8885551212",
            "inbound",
            "https://r/a",
        ],
        ["00123", "2024-03-05T14:03:27Z", "3125550143", "8885551212", "inbound", "https://r/b"],
    ]
    path = write_xlsx(tmp_path / "damaged.xlsx", rows)
    result = validate(path)
    assert result.exit_code == 1
    errors = read_errors(tmp_path / "damaged.errors.csv")
    assert {e["column"] for e in errors} == {"external_call_unique_id", "calling_phone_number"}
    assert all(e["row"] == "2" for e in errors)


def test_missing_columns_are_named_with_the_closest_header(tmp_path):
    path = tmp_path / "typo.csv"
    path.write_text(
        "external_call_unique_id,start_tme,calling_phone_number,destination_phone_number,call_direction,recording_url\n"
        "a,1460404800,3125550143,8885551212,inbound,https://r/a\n"
    )
    result = validate(path)
    assert result.exit_code == 2
    assert (
        "missing column" in result.output
        and "start_tme" in result.output
        and str(path) in result.output
    )


def put(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


BAD_FILES = {
    "folder": lambda p: (p / "folder.csv").mkdir() or p / "folder.csv",
    "missing": lambda p: p / "nope.csv",
    "empty": lambda p: put(p, "empty.csv", b""),
    "unknown extension": lambda p: put(p, "calls.pdf", b"%PDF-1.4"),
    "xls": lambda p: put(p, "old.xls", b"\xd0\xcf\x11\xe0"),
    "binary garbage csv": lambda p: put(p, "garbage.csv", os.urandom(4096) + b"\x00"),
    "garbage xlsx": lambda p: put(p, "garbage.xlsx", os.urandom(4096)),
    "nul bytes": lambda p: put(p, "nul.csv", b"external_call_unique_id,start_time\na\x00b,1\n"),
    "utf-16 without bom": lambda p: put(p, "u16.csv", ",".join(HEADER).encode("utf-16-le")),
    "header only garbage": lambda p: put(p, "h.csv", "foo,bar\n1,2\n"),
    "no header sheet": lambda p: write_xlsx(p / "nohead.xlsx", [["just", "numbers"], [1, 2]]),
    "too many columns": lambda p: put(p, "wide.csv", ",".join(f"c{i}" for i in range(1500)) + "\n"),
    "blank lines only": lambda p: put(p, "blank.csv", "\n\n\n"),
    "unclosed quote": lambda p: put(
        p, "quote.csv", ",".join(HEADER) + '\na,"2024-03-05,3125550143\n'
    ),
    "csv in xlsx clothing": lambda p: put(p, "text.xlsx", ",".join(HEADER) + "\na,b\n"),
    "giant first line": lambda p: put(p, "long.csv", "x" * 2_000_000),
    "duplicate signal": lambda p: write_csv(
        p / "dup.csv", [dict(call_row("a"), **{"signal:Sale": "1", "signal:sale": "0"})]
    ),
    "bad encoding option": lambda p: write_csv(p / "enc.csv", [call_row("a")]),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_files_end_in_one_line_and_exit_2(tmp_path, name):
    path = BAD_FILES[name](tmp_path)
    args = ["--encoding", "klingon"] if name == "bad encoding option" else []
    result = validate(path, *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    error_lines = [
        line for line in result.output.splitlines() if line.startswith("invoca-upload: error:")
    ]
    assert len(error_lines) == 1 and path.name in error_lines[0]


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("calls.csv", None, "is an Excel workbook (.xlsx), not a CSV file: give it the .xlsx"),
        ("calls.xlsx", ",".join(HEADER) + "\n", "is a text file (a CSV?), not an Excel workbook"),
        ("calls.xlsx", "<html><table><tr><td>1</td></tr></table>", "is a web page (HTML)"),
        ("calls.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "old .xls workbook"),
    ],
)
def test_a_file_named_for_another_kind_is_told_what_it_is(tmp_path, name, content, said):
    if content is None:  # a real workbook under a CSV name
        write_xlsx(tmp_path / "book.xlsx", [HEADER, list(call_row("a").values())])
        (tmp_path / "book.xlsx").rename(tmp_path / name)
    else:
        put(tmp_path, name, content)
    result = validate(tmp_path / name)
    assert result.exit_code == 2 and said in result.output, result.output


def test_a_several_megabyte_cell_is_a_row_error_and_the_other_rows_go_on(tmp_path):
    path = put(
        tmp_path,
        "huge.csv",
        ",".join(HEADER)
        + "\n"
        + "x" * (3 * 1024 * 1024)
        + ",1\n"
        + ",".join(call_row("ok").values())
        + "\n",
    )
    result = validate(path, "--campaign-id", "85")
    assert result.exit_code == 1
    errors = read_errors(tmp_path / "huge.errors.csv")
    assert [e["row"] for e in errors] == ["2"] and "longer than" in errors[0]["error"]


def test_a_multi_megabyte_cell_is_a_row_error(tmp_path):
    rows = [
        call_row("a", **{"custom:notes": "short"}),
        call_row("b", **{"custom:notes": "x" * 100_000}),
    ]
    result = validate(write_csv(tmp_path / "big.csv", rows))
    assert result.exit_code == 1
    assert read_errors(tmp_path / "big.errors.csv")[0]["row"] == "3"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=2000))
def test_random_bytes_give_rows_or_a_clear_input_error(tmp_path, data):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(",".join(HEADER).encode() + b"\n" + data)
    try:
        numbers, cells = rows_of(path)
    except InputError as error:
        assert str(error).startswith(str(path))
        return
    # every row read is answered for: checked (valid, invalid or skipped), nothing lost or added
    assert numbers == sorted(set(numbers)) and all(len(row) == len(HEADER) for row in cells)
    summary = checked(path)
    if summary is not None:
        assert sum(summary.counts.values()) == len(numbers)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cells=st.lists(st.lists(st.text(max_size=12), min_size=1, max_size=8), max_size=6),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
)
def test_random_csv_dialects_never_raise_anything_else(tmp_path, cells, delimiter, quoting):
    path = tmp_path / "dialect.csv"
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, delimiter=delimiter, quoting=quoting)
        writer.writerow(HEADER)
        writer.writerows(cells)
    checked(path)


def _exact_chunks(path: Path, size: int) -> list[pd.DataFrame]:
    """The chunks the exact (pandas) reader gives, through the same post-processing."""
    table = open_table(path, is_header=PROFILE.is_header)
    encoding = detect_encoding(path)
    source = Input.file(path)
    header, header_row, header_lines, _ = _csv_header(
        source, encoding, table.delimiter, PROFILE.is_header, None
    )
    exact = functools.partial(
        _pandas_frames, source, encoding, table.delimiter, table.columns, header_row, header_lines
    )
    table._frames = exact
    return [chunk.text for chunk in table.chunks(size)]


CELL_TEXT = st.text(alphabet=st.sampled_from(list("ab1 ,;\"\n\r'é\t")), max_size=6)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.one_of(
            st.lists(CELL_TEXT, min_size=len(HEADER), max_size=len(HEADER)).map(
                lambda cells: ("csv", cells)
            ),
            st.lists(CELL_TEXT, min_size=1, max_size=len(HEADER) + 3).map(
                lambda cells: ("raw", cells)
            ),
        ),
        max_size=8,
    ),
    size=st.integers(1, 4),
)
def test_the_fast_csv_reader_reads_exactly_what_the_pandas_reader_reads(tmp_path, rows, size):
    """Arrow reads regular files; anything it would read differently makes it hand over."""
    path = tmp_path / "same.csv"
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADER)
        for kind, cells in rows:
            if kind == "csv":
                writer.writerow(cells)
            else:
                stream.write(",".join(cells) + "\n")
    try:
        exact = _exact_chunks(path, size)
    except InputError as error:
        with pytest.raises(InputError) as fast_error:
            rows_of(path)
        assert str(fast_error.value) == str(error)
        return
    fast = [chunk.text for chunk in open_table(path, is_header=PROFILE.is_header).chunks(size)]
    assert len(fast) == len(exact)
    for ours, theirs in zip(fast, exact, strict=True):
        pd.testing.assert_frame_equal(ours, theirs)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cells=st.lists(
        st.lists(
            st.one_of(
                st.none(),
                st.text(max_size=10),
                st.integers(),
                st.floats(allow_nan=False),
                st.booleans(),
                st.datetimes(),
            ),
            min_size=1,
            max_size=7,
        ),
        max_size=5,
    )
)
def test_random_workbooks_never_raise_anything_else(tmp_path, cells):
    path = tmp_path / "random.xlsx"
    clean = [[c.replace("=", "") if isinstance(c, str) else c for c in row] for row in cells]
    clean = [
        [c for c in row if not (isinstance(c, str) and any(ord(ch) < 32 for ch in c))]
        for row in clean
    ]
    write_xlsx(path, [HEADER, *clean])
    checked(path)


def test_repeated_ids_are_found_across_chunks_and_within_one():
    import pandas as pd

    from uploader.check.schema import SeenIds

    seen = SeenIds()
    first = pd.Series(
        ["a", "b", "a"], index=pd.Index([2, 3, 4], name="row"), name="external_call_unique_id"
    )
    second = pd.Series(
        ["c", "b", None, "c"],
        index=pd.Index([5, 6, 7, 8], name="row"),
        name="external_call_unique_id",
    )
    assert seen.repeats(first) == {4: 2}
    assert seen.repeats(second) == {6: 3, 8: 5}


def test_repeated_ids_are_found_in_every_run_of_hashes(monkeypatch):
    import pandas as pd

    from uploader.check.schema import SeenIds

    monkeypatch.setattr(SeenIds, "RUN", 4)  # at most 4 ids a run: chunks of 3 make 4 runs
    seen = SeenIds()
    for start in range(0, 12, 3):
        chunk = pd.Series(
            [f"id-{n}" for n in range(start, start + 3)],
            dtype="string",
            index=range(start + 2, start + 5),
        )
        assert seen.repeats(chunk) == {}
    assert len(seen._runs) == 4 and all(len(hashes) <= 4 for hashes, _ in seen._runs)
    again = pd.Series(["id-0", "id-5", "id-11", "new"], dtype="string", index=range(14, 18))
    assert seen.repeats(again) == {14: 2, 15: 7, 16: 13}


def test_duplicates_in_a_file_bigger_than_a_chunk(tmp_path):
    rows = [call_row(f"id-{i}") for i in range(30)] + [call_row("id-3")]
    path = write_csv(tmp_path / "dups.csv", rows)
    from uploader import validate_file

    summary = validate_file(path, campaign_id="85", chunk_size=7, progress=False)
    assert summary.counts["invalid"] == 1
    errors = read_errors(tmp_path / "dups.errors.csv")
    assert errors[0]["row"] == "32" and "as row 5" in errors[0]["error"]


def test_encoding_is_decided_over_the_whole_file_before_any_row(tmp_path):
    from uploader.read.delimited import detect_encoding

    rows = [call_row(f"id-{i}") for i in range(15_000)] + [
        call_row("late", **{"custom:agent": "Zoë"})
    ]
    for row in rows:
        row.setdefault("custom:agent", "Ann")
    path = write_csv(tmp_path / "late.csv", rows, encoding="cp1252")
    assert path.stat().st_size > 1024 * 1024  # past the first block read
    assert detect_encoding(path) == "cp1252"
    last = list(open_table(path, is_header=PROFILE.is_header).chunks(50_000))[-1]
    assert last.text.iloc[-1, -1] == "Zoë"
    (tmp_path / "undefined.csv").write_bytes(b"a,b\n\x81\x8d,x\n")
    assert detect_encoding(tmp_path / "undefined.csv") == "latin-1"


def test_a_file_read_in_many_blocks_and_chunks_keeps_every_row_and_its_number(tmp_path):
    """Over a megabyte: Arrow reads it in several blocks, the pipeline checks it in several
    chunks on two threads; every row is counted once and each mistake keeps its row number."""
    rows = [
        call_row(
            f"id-{i}",
            calling_phone_number=["(312) 555-0143", "+13125550143"][i % 2],
            start_time=["2024-03-05T14:03:27Z", "2024-03-05 14:03:27"][i % 2],
            **{"custom:note": "x" * 60},
        )
        for i in range(15_000)
    ]
    rows[4_321]["calling_phone_number"] = "555-01"
    rows[14_998]["start_time"] = "2024-02-30T10:00:00Z"
    rows[14_999]["external_call_unique_id"] = "id-7"
    path = write_csv(tmp_path / "big.csv", rows)
    assert path.stat().st_size > 2 << 20
    from uploader import validate_file

    summary = validate_file(path, campaign_id="85", chunk_size=4_000, progress=False)
    assert summary.counts == {"valid": 14_997, "invalid": 3, "skipped": 0}
    errors = read_errors(tmp_path / "big.errors.csv")
    assert [(e["row"], e["column"]) for e in errors] == [
        ("4323", "calling_phone_number"),
        ("15000", "start_time"),
        ("15001", "external_call_unique_id"),
    ]
    assert "as row 9" in errors[2]["error"]


@pytest.mark.parametrize("last_line", [',,",",,,"\n', 'a,b,c,d,e,"open', 'a"b,c,d,e,f,"g\nh,i\n'])
def test_a_quote_left_open_at_the_end_is_refused_not_read_to_the_end(tmp_path, last_line):
    """Arrow reads an open quote as a value running to the end of the file; the file is refused."""
    path = tmp_path / "open.csv"
    path.write_text(",".join(HEADER) + "\n" + last_line, encoding="utf-8")
    with pytest.raises(InputError, match="quote is opened and never closed"):
        rows_of(path)


@pytest.mark.parametrize("form", ["csv", "ragged csv", "xlsx"])
def test_the_first_chunk_is_small_so_the_first_rows_go_out_at_once(tmp_path, form):
    """1,000 rows, then the size asked: a 50,000-row first chunk would be read and checked whole
    before its first row could be sent."""
    rows = [call_row(f"c{i}") for i in range(7_500)]
    if form == "xlsx":
        path = write_xlsx(tmp_path / "c.xlsx", [HEADER, *[list(r.values()) for r in rows]])
    else:
        path = write_csv(tmp_path / "c.csv", rows)
        if form == "ragged csv":  # the exact (pandas) reader takes over
            with path.open("a", encoding="utf-8") as stream:
                stream.write("late,2024-03-05T10:00:00Z,3125550143,8885551212,inbound,,spare\n")

    def sizes(largest: int) -> list[int]:
        table = open_table(path, is_header=PROFILE.is_header)
        return [len(chunk.text) for chunk in table.chunks(largest)]

    last = 1 if form == "ragged csv" else 0
    assert sizes(50_000) == [1_000, 6_500 + last]
    assert sizes(1_500) == [1_000, 1_500, 1_500, 1_500, 1_500, 500 + last]
    assert sizes(600) == [600] * 12 + [300 + last]


def test_the_exact_reader_resumes_where_the_fast_one_stopped(tmp_path, monkeypatch):
    """A ragged row past Arrow's read-ahead makes the exact reader take over at the row after the
    last one yielded: every row once, numbered as in the file, in chunks of the size asked."""
    from uploader.read import delimited

    took_over_at = []

    def exact(*args, skip=0, **kwargs):
        took_over_at.append(skip)
        return _pandas_frames(*args, skip=skip, **kwargs)

    monkeypatch.setattr(delimited, "_pandas_frames", exact)
    path = write_csv(tmp_path / "big.csv", [call_row(f"r{i:05d}") for i in range(50_000)])
    with path.open("a", encoding="utf-8") as stream:
        stream.write("late,2024-03-05T10:00:00Z,3125550143,8885551212,inbound,,spare\n")
        stream.write("last,2024-03-05T10:00:00Z,3125550143,8885551212,inbound,\n")
    table = open_table(path, is_header=PROFILE.is_header)
    numbers, ids, broken, sizes = [], [], {}, []
    for chunk in table.chunks(8_000):
        numbers += [int(n) for n in chunk.index]
        ids += chunk.text["external_call_unique_id"].tolist()
        broken.update(chunk.broken)
        sizes.append(len(chunk.index))
    assert len(took_over_at) == 1 and took_over_at[0] > 0  # after the fast reader had yielded
    assert sizes == [1_000, *[8_000] * 6, 1_002]
    assert numbers == list(range(2, 50_004))
    assert ids[:50_000] == [f"r{i:05d}" for i in range(50_000)] and ids[-1] == "last"
    assert list(broken) == [50_002] and "cells" in broken[50_002]


@pytest.mark.parametrize("extra", [1, 16, 17, 40, 2000])
def test_a_row_with_extra_cells_is_a_row_error_whatever_their_number(tmp_path, extra):
    """Up to 16 extra cells fit the exact reader's spare columns; more used to refuse the whole
    file. Now every such row is invalid on its own and the rows around it go on."""
    from uploader import validate_file

    path = tmp_path / "ragged.csv"
    rows = [call_row(f"r{i}") for i in range(6)]
    write_csv(path, rows)
    lines = path.read_text().splitlines()
    lines[3] += "," * extra + "spare"
    path.write_text("\n".join(lines) + "\n")
    summary = validate_file(path, campaign_id="85")
    assert summary.counts["valid"] == 5 and summary.counts["invalid"] == 1
    errors = (tmp_path / "ragged.errors.csv").read_text()
    assert f"4,,,has {6 + extra} cells but the header has 6" in errors


def test_the_delimiter_is_the_tables_not_a_titles_or_a_cells(tmp_path):
    """A semicolon export under a title line (with a comma, or none) is read as semicolons; a
    comma file whose cells hold many semicolons stays a comma file."""
    titled = tmp_path / "titled.csv"
    titled.write_text(
        "Call export, all sites\n\n"
        + ";".join(HEADER)
        + "\n"
        + ";".join(["a"] * len(HEADER))
        + "\n"
    )
    assert open_table(titled, is_header=PROFILE.is_header).headers == HEADER
    noisy = tmp_path / "noisy.csv"
    cells = ["n", "x;y;z;w;v;u;t;s;r;q", *["c"] * (len(HEADER) - 2)]
    noisy.write_text(",".join(HEADER) + "\n" + (",".join(cells) + "\n") * 3)
    table = open_table(noisy, is_header=PROFILE.is_header)
    assert table.headers == HEADER and table.delimiter == ","

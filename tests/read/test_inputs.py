"""What the command line can name as input: folders, globs, zip archives, compressed files. Each is
read exactly as the same spreadsheet stored plainly: same cells, row numbers, encoding and
messages, with the message naming the input as the user named it."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import HEADER, call_row, write_csv, write_xlsx
from uploader.check.profiles import load_profile
from uploader.errors import InputError
from uploader.read.expand import expand, single_input
from uploader.read.inputs import Input, Remote, Unreadable, filesystem
from uploader.read.sources import open_table

PROFILE = load_profile("invoca")
COMPRESS = {
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
}


def _zstd(data: bytes) -> bytes:
    import pyarrow as pa

    return pa.Codec("zstd").compress(data, asbytes=True)  # a standard frame, as `zstd` writes


COMPRESS[".zst"] = _zstd


def cells(source) -> pd.DataFrame:
    table = open_table(source, is_header=PROFILE.is_header)
    return pd.concat([chunk.text for chunk in table.chunks(3)])


def names(items) -> list[str]:
    return [Path(item.name).name if not item.name.endswith("]") else item.name for item in items]


@pytest.mark.parametrize("suffix", sorted(COMPRESS))
def test_a_compressed_csv_reads_exactly_as_the_plain_one(tmp_path, suffix):
    rows = [call_row(f"c{i}", calling_phone_number="Café 312 555 0143") for i in range(8)]
    plain = write_csv(tmp_path / "calls.csv", rows, encoding="cp1252")
    packed = tmp_path / f"calls.csv{suffix}"
    packed.write_bytes(COMPRESS[suffix](plain.read_bytes()))
    source = single_input(str(packed))
    assert (source.suffix, source.stem, source.home) == (".csv", "calls", tmp_path)
    assert source.local is None and source.origin == packed
    pd.testing.assert_frame_equal(cells(source), cells(plain))
    assert cells(source).index.tolist() == list(range(2, 10))


@pytest.mark.parametrize("suffix", sorted(COMPRESS))
def test_a_compressed_file_cut_short_is_unreadable_with_its_name(tmp_path, suffix):
    plain = write_csv(tmp_path / "calls.csv", [call_row(f"c{i}") for i in range(2000)])
    packed = COMPRESS[suffix](plain.read_bytes())
    (tmp_path / f"cut.csv{suffix}").write_bytes(packed[: len(packed) // 2])
    # (fsspec's own zstd reader returned half a file as if whole: Arrow's is used instead)
    with pytest.raises(
        InputError, match=rf"cut\.csv\{suffix}: cannot be read \(.*(cut short|Truncated)"
    ):
        cells(str(tmp_path / f"cut.csv{suffix}"))


def test_a_problem_in_a_compressed_file_names_it(tmp_path):
    text = ",".join(HEADER) + '\nid-1,"2024-03-05\n'
    (tmp_path / "broken.csv.gz").write_bytes(gzip.compress(text.encode()))
    with pytest.raises(InputError, match=r"^\S*broken\.csv\.gz: row 2: a quote is opened"):
        cells(str(tmp_path / "broken.csv.gz"))


def test_a_zip_holds_one_input_per_spreadsheet_named_after_archive_and_member(tmp_path):
    write_csv(tmp_path / "a.csv", [call_row("z1")])
    write_xlsx(tmp_path / "b.xlsx", [HEADER, list(call_row("z2").values())])
    with zipfile.ZipFile(tmp_path / "night.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(tmp_path / "a.csv", "exports/a.csv")
        archive.write(tmp_path / "b.xlsx", "b.xlsx")
        archive.writestr("__MACOSX/._a.csv", b"junk")
        archive.writestr("README.md", b"not a spreadsheet")
    found = expand([str(tmp_path / "night.zip")])
    assert [item.name for item in found] == [
        f"{tmp_path}/night.zip[exports/a.csv]",
        f"{tmp_path}/night.zip[b.xlsx]",
        f"{tmp_path}/night.zip[README.md]",  # met, so reported: never skipped in silence
    ]
    first, second, readme = found
    assert isinstance(readme, Unreadable) and "not a CSV or Excel file" in readme.problem
    assert isinstance(first, Input) and isinstance(second, Input)
    assert first.output(".results.csv") == tmp_path / "night.a.results.csv"
    assert second.output(".results.xlsx") == tmp_path / "night.b.results.xlsx"
    assert cells(first)["external_call_unique_id"].tolist() == ["z1"]
    assert cells(second)["external_call_unique_id"].tolist() == ["z2"]


def test_members_of_one_name_in_two_folders_keep_their_folders_in_their_outputs(tmp_path):
    write_csv(tmp_path / "calls.csv", [call_row("z1")])
    with zipfile.ZipFile(tmp_path / "night.zip", "w") as archive:
        archive.write(tmp_path / "calls.csv", "jan/calls.csv")
        archive.write(tmp_path / "calls.csv", "feb/calls.csv.gz")  # not really gzip: not read here
        archive.write(tmp_path / "calls.csv", "other.csv")
    found = expand([str(tmp_path / "night.zip")])
    assert [item.output(".results.csv").name for item in found] == [
        "night.jan.calls.results.csv",
        "night.feb.calls.results.csv",
        "night.other.results.csv",
    ]


def test_a_zip_of_one_spreadsheet_writes_outputs_under_the_archives_name(tmp_path):
    write_csv(tmp_path / "export-2026-11-25.csv", [call_row("z1")])
    with zipfile.ZipFile(tmp_path / "night.zip", "w") as archive:
        archive.write(tmp_path / "export-2026-11-25.csv", "export-2026-11-25.csv")
    (source,) = expand([str(tmp_path / "night.zip")])
    assert isinstance(source, Input)
    assert source.output(".results.csv") == tmp_path / "night.results.csv"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"PK\x03\x04 not really", "cannot be opened as a zip archive"),
        (None, "notes.pdf]: not a CSV or Excel file (.pdf)"),
    ],
)
def test_a_zip_without_spreadsheets_is_unreadable_with_a_reason(tmp_path, content, problem):
    path = tmp_path / "night.zip"
    if content is None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes.pdf", b"%PDF")
    else:
        path.write_bytes(content)
    (item,) = expand([str(path)])
    assert isinstance(item, Unreadable) and problem in item.problem and str(path) in item.problem


def test_a_folder_gives_its_spreadsheets_in_name_order_without_our_own_outputs(tmp_path):
    folder = tmp_path / "2026-11-25"
    folder.mkdir()
    for name in ("b.csv", "a.csv.gz", "c.xlsx"):
        (folder / name).write_bytes(b"x")
    for name in ("a.results.csv", "b.retry.csv", "a.errors.csv", "x.requests.jsonl", ".hidden.csv"):
        (folder / name).write_bytes(b"x")
    (folder / "notes.pdf").write_bytes(b"x")
    (folder / "sub").mkdir()
    found = expand([str(folder)])
    assert names(found) == ["a.csv.gz", "b.csv", "c.xlsx", "notes.pdf"]
    assert isinstance(found[-1], Unreadable) and "not read" in found[-1].problem
    assert names(expand([str(folder / "*.csv*")])) == ["a.csv.gz", "b.csv"]


def test_inputs_named_twice_are_read_once_and_missing_ones_reported(tmp_path):
    plain = write_csv(tmp_path / "calls.csv", [call_row("a")])
    (tmp_path / "link.csv").symlink_to(plain)
    again = [f"{tmp_path}/./calls.csv", str(tmp_path / "link.csv")]  # the same file, other names
    found = expand([str(plain), str(tmp_path / "missing.csv"), *again, str(tmp_path / "*.nope")])
    assert [type(item).__name__ for item in found] == ["Input", "Unreadable", "Unreadable"]
    assert "no such file" in found[1].problem
    assert "holds no CSV or Excel file" in found[2].problem


def test_a_compressed_workbook_is_read_through_a_private_copy(tmp_path):
    book = write_xlsx(tmp_path / "calls.xlsx", [HEADER, list(call_row("w1").values())])
    packed = tmp_path / "calls.xlsx.gz"
    packed.write_bytes(gzip.compress(book.read_bytes()))
    source = single_input(str(packed))
    assert cells(source)["external_call_unique_id"].tolist() == ["w1"]
    copy = source.local_file()
    assert copy.exists() and copy != book
    del source
    import gc

    gc.collect()
    assert not copy.exists()


def test_a_protocol_without_its_extra_names_the_package_to_install():
    pytest.importorskip("fsspec")
    try:
        import gcsfs  # noqa: F401

        pytest.skip("gcsfs is installed here")
    except ImportError:
        pass
    with pytest.raises(InputError, match=r"pip install 'invoca-upload\[gcs\]'"):
        filesystem("gs://bucket/calls.csv")


def test_a_remote_location_keeps_its_url_through_path_operations():
    results = Remote("s3://bucket/night/calls.csv").with_name("calls.results.csv")
    assert str(results) == "s3://bucket/night/calls.results.csv"
    assert (results.suffix, results.stem) == (".csv", "calls.results")
    assert str(Remote("s3://bucket/out/") / "a.csv") == "s3://bucket/out/a.csv"


def test_every_file_met_in_a_folder_or_zip_is_read_or_reported(tmp_path, sandbox):
    """A nightly folder with old and foreign spreadsheets and a zip holding a zip and an .xls: the
    CSVs are sent, every other file is listed with its reason, and the exit says so (1)."""
    from tests.conftest import upload_args
    from tests.test_upload import run_cli

    folder = tmp_path / "night"
    folder.mkdir()
    write_csv(folder / "a.csv", [call_row("a1")])
    for name in ("old.xls", "calc.ods", "binary.xlsb", "notes.pdf"):
        (folder / name).write_bytes(b"\xd0\xcf\x11\xe0 not read")
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("deep.csv", "x")
    with zipfile.ZipFile(folder / "bundle.zip", "w") as archive:
        archive.write(inner, "inner.zip")
        archive.writestr("legacy.xls", b"\xd0\xcf\x11\xe0")
        archive.writestr("b.csv", (folder / "a.csv").read_text().replace("a1", "b1"))
    found = expand([str(folder)])
    unread = {
        item.name.rsplit("/", 1)[-1]: item.problem for item in found if isinstance(item, Unreadable)
    }
    assert set(unread) == {
        "old.xls", "calc.ods", "binary.xlsb", "notes.pdf", "bundle.zip[inner.zip]",
        "bundle.zip[legacy.xls]",
    }  # fmt: skip
    assert ".xls" in unread["old.xls"] and "save it as .xlsx or .csv" in unread["old.xls"]
    assert "zip inside a zip" in unread["bundle.zip[inner.zip]"]
    result = run_cli(*upload_args(folder, sandbox.url, tmp_path / "j.sqlite"))
    assert result.exit_code == 1, result.output
    assert "6 not read" in result.output
    assert sorted(call["id"] for call in sandbox.calls()) == ["a1", "b1"]


def test_a_zip_is_opened_once_for_all_its_members(tmp_path, monkeypatch):
    """Each member opened the archive (and read its list of members) again: 10,000 members took
    quadratic time. Now the list is read once to expand and once for every member's reading."""
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(50):
            archive.writestr(f"m{i}.csv", "external_call_unique_id\n" + f"z{i}\n")
    opened = []
    real = zipfile.ZipFile.__init__

    def counting(self, *args, **kwargs):
        opened.append(1)
        real(self, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "__init__", counting)
    found = expand([str(path)])
    for item in found:
        for _ in range(3):
            with item.open() as stream:
                assert stream.read().startswith(b"external_call_unique_id")
    assert len(found) == 50 and len(opened) == 2

"""What the user names becomes `Input`s: files, folders and globs (in name order), zip archives'
members, compressed files and object-storage URLs. Every file met is read or reported with its
reason (`Unreadable`); only hidden files, Excel's lock files and this tool's outputs are passed
over."""

from __future__ import annotations

import collections
import glob
import posixpath
import weakref
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, cast

from uploader.errors import InputError
from uploader.read.inputs import (
    OTHER_SPREADSHEETS,
    OUTPUT_MARKS,
    SPREADSHEET_SUFFIXES,
    Input,
    Location,
    Owned,
    Remote,
    Unreadable,
    compressed_input,
    filesystem,
    inside_input,
    is_url,
    reason_of,
    split_compression,
)


def expand(specs: list[str]) -> list[Input | Unreadable]:
    """The spreadsheets the command line names, in its order; a folder or glob in name order. An
    input named twice is read once."""
    found: list[Input | Unreadable] = []
    for spec in specs:
        try:
            found.extend(_expand(spec))
        except InputError as error:
            found.append(Unreadable(spec, str(error)))
    seen: set[str] = set()
    unique = []
    for item in found:
        key = item.identity if isinstance(item, Input) else item.name
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique


def _expand(spec: str) -> Iterator[Input | Unreadable]:
    if is_url(spec):
        yield from _expand_remote(spec)
        return
    path = Path(spec.removeprefix("file://")).expanduser()
    if path.is_dir():
        children = sorted(child for child in path.iterdir() if child.is_file())
        yield from _listed([str(child) for child in children], spec, _local_entry)
    elif not path.exists() and glob.has_magic(spec):
        yield from _listed(sorted(glob.glob(str(path))), spec, _local_entry)
    else:
        yield from _local_entry(str(path))


def _expand_remote(url: str) -> Iterator[Input | Unreadable]:
    fs, key = filesystem(url)

    def entry(name: str) -> Iterator[Input | Unreadable]:
        yield from _remote_entry(fs, name, fs.unstrip_protocol(name))

    try:
        if glob.has_magic(key):
            yield from _listed(sorted(fs.glob(key)), url, entry)
        elif fs.isdir(key):
            listing = fs.ls(key, detail=True)
            children = sorted(item["name"] for item in listing if item.get("type") == "file")
            yield from _listed(children, url, entry)
        else:
            yield from _remote_entry(fs, key, url)
    except InputError:
        raise
    except Exception as error:  # the filesystem's own errors: credentials, network, missing bucket
        raise InputError(f"{url}: cannot be read ({reason_of(error)})") from error


def _listed(
    names: list[str], spec: str, entry: Callable[[str], Iterator[Input | Unreadable]]
) -> Iterator[Input | Unreadable]:
    """A folder's or a glob's files: each spreadsheet read, every other file reported with its
    reason (only hidden files, Excel's lock files and this tool's own outputs are passed over)."""
    met = [name for name in names if not _passed_over(posixpath.basename(name))]
    if not met:
        raise InputError(f"{spec}: holds no CSV or Excel file")
    for name in met:
        base = posixpath.basename(name)
        if _is_spreadsheet_name(base):
            yield from entry(name)
        else:
            yield Unreadable(name, f"{name}: {unsupported(base)}")


def _passed_over(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith((".", "~$")) or any(mark in lowered for mark in OUTPUT_MARKS)


def _is_spreadsheet_name(name: str) -> bool:
    lowered = name.lower()
    if _passed_over(lowered):
        return False
    inner, _ = split_compression(lowered)
    return inner.endswith(SPREADSHEET_SUFFIXES) or lowered.endswith(".zip")


def unsupported(name: str) -> str:
    """Why a file met in a folder or an archive is not read, and what to do."""
    inner, _ = split_compression(name.lower())
    suffix = posixpath.splitext(inner)[1]
    if suffix == ".xls":
        return "an old .xls workbook is not read; save it as .xlsx or .csv"
    if suffix in OTHER_SPREADSHEETS:
        return f"a {suffix} spreadsheet is not read; save it as .xlsx or .csv"
    if suffix == ".zip":
        return "a zip inside a zip is not read; unpack it and name the inner archive"
    return f"not a CSV or Excel file ({suffix or 'no suffix'}); not read"


def _local_entry(name: str) -> Iterator[Input | Unreadable]:
    path = Path(name)
    if path.is_dir():
        raise InputError(f"{path}: is a folder inside a folder; name it on its own")
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():  # a FIFO or a device would block or never end
        raise InputError(f"{path}: is not a regular file")
    inner, compression = split_compression(path.name)
    opened = lambda: path.open("rb")  # noqa: E731
    if path.suffix.lower() == ".zip":
        yield from _members(str(path), opened, path, path.stem)
    elif compression:
        yield compressed_input(str(path), inner, opened, path, compression)
    else:
        yield Input.file(path)


def _remote_entry(fs, key: str, url: str) -> Iterator[Input | Unreadable]:  # type: ignore[no-untyped-def]
    if not fs.exists(key):
        raise InputError(f"{url}: no such object")
    name = posixpath.basename(key)
    inner, compression = split_compression(name)

    def raw() -> IO[bytes]:
        try:
            return cast(IO[bytes], Owned(fs.open(key, "rb")))
        except Exception as error:
            raise InputError(f"{url}: cannot be read ({reason_of(error)})") from error

    origin = Remote(url)
    if name.lower().endswith(".zip"):
        yield from _members(url, raw, origin, posixpath.splitext(name)[0])
    elif compression:
        yield compressed_input(url, inner, raw, origin, compression)
    else:
        yield inside_input(url, name, raw, origin, None)


def _members(
    name: str, raw: Callable[[], IO[bytes]], origin: Location, stem: str
) -> Iterator[Input | Unreadable]:
    """The spreadsheets in a zip archive, in the archive's order; each is read from the archive
    (streamed, decompressed on the fly). Outputs: `<zip stem>.<member stem>.results.csv` (with
    the member's folders when two members share a name), or `<zip stem>.results.csv` when the
    archive holds one spreadsheet."""
    try:
        with raw() as stream, zipfile.ZipFile(stream) as archive:
            met = [
                entry
                for entry in archive.infolist()
                if not entry.is_dir()
                and not entry.filename.startswith("__MACOSX/")
                and not _passed_over(posixpath.basename(entry.filename))
            ]
    except (zipfile.BadZipFile, OSError) as error:
        raise InputError(
            f"{name}: cannot be opened as a zip archive ({reason_of(error)})"
        ) from error
    if not met:
        raise InputError(f"{name}: the zip archive holds no CSV or Excel file")
    entries, reports = [], []
    for entry in met:
        base = posixpath.basename(entry.filename)
        if _is_spreadsheet_name(base) and not base.lower().endswith(".zip"):
            entries.append(entry)
        else:
            label = f"{name}[{entry.filename}]"
            reports.append(Unreadable(label, f"{label}: {unsupported(base)}"))
    yield from _member_inputs(name, raw, origin, stem, entries)
    yield from reports


def _member_inputs(
    name: str, raw: Callable[[], IO[bytes]], origin: Location, stem: str, entries: list
) -> Iterator[Input | Unreadable]:
    """Each spreadsheet member as an input read out of the archive, which is opened (its list of
    members read) once for them all: a zip of 10,000 members is read in linear time."""
    stems = collections.Counter(_member_stem(entry.filename) for entry in entries)
    archive = _Archive(raw)
    for entry in entries:
        member = entry.filename
        inner, compression = split_compression(posixpath.basename(member))
        member_stem = _member_stem(member)
        if stems[member_stem] > 1:  # jan/calls.csv and feb/calls.csv: their folders too
            member_stem = _member_stem(member, folders=True)
        label = f"{name}[{member}]"
        if entry.flag_bits & 0x1:
            yield Unreadable(label, f"{label}: is encrypted; unpack it first")
            continue

        def opened(entry: zipfile.ZipInfo = entry) -> IO[bytes]:
            return cast(IO[bytes], Owned(archive.open(entry)))

        output_stem = stem if len(entries) == 1 else f"{stem}.{member_stem}"
        if compression:
            yield compressed_input(label, inner, opened, origin, compression, output_stem, member)
            continue
        yield inside_input(label, inner, opened, origin, output_stem, member)


class _Archive:
    """A zip archive opened on first use and kept open for its members (closed with them)."""

    def __init__(self, raw: Callable[[], IO[bytes]]) -> None:
        self._raw = raw
        self._zip: zipfile.ZipFile | None = None

    def open(self, entry: zipfile.ZipInfo) -> IO[bytes]:
        if self._zip is None:
            stream = self._raw()
            self._zip = zipfile.ZipFile(stream)
            weakref.finalize(self, _close, self._zip, stream)
        return self._zip.open(entry)


def _close(archive: zipfile.ZipFile, stream: IO[bytes]) -> None:
    archive.close()
    stream.close()


def _member_stem(member: str, *, folders: bool = False) -> str:
    """A member's name without suffixes (`calls` for `exports/calls.csv.gz`), with its folders
    when asked (`exports.calls`)."""
    path = member.replace("\\", "/").strip("/")
    inner, _ = split_compression(path if folders else posixpath.basename(path))
    return posixpath.splitext(inner)[0].replace("/", ".")


def single_input(spec: str) -> Input:
    """The one spreadsheet a path or URL names (for `validate` and the single-file API)."""
    found = list(_expand_one(spec))
    for item in found:
        if isinstance(item, Unreadable):
            raise InputError(item.problem)
    if len(found) != 1:
        names = ", ".join(item.name for item in found[:5])
        raise InputError(f"{spec}: holds {len(found)} spreadsheets ({names}); name one")
    item = found[0]
    assert isinstance(item, Input)
    return item


def _expand_one(spec: str) -> Iterator[Input | Unreadable]:
    if is_url(spec):  # a prefix or a glob of several objects is refused by the caller
        yield from _expand_remote(spec)
        return
    path = Path(spec)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a spreadsheet")
    yield from _local_entry(spec)

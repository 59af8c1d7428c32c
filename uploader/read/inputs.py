"""What the command line names, as the spreadsheets to read: local files, folders and globs, zip
archives, compressed files (`.gz`, `.bz2`, `.xz`, `.zst`) and objects at fsspec URLs
(`s3://bucket/key`, `gs://`, `az://`, ...).

Every spreadsheet becomes an `Input`: a name for messages (`night.zip[calls.csv]`), the format of
its content, a way to open that content as a fresh binary stream (decompressed on the fly: a CSV is
never copied whole; a workbook, which a reader must seek in, is copied once into a private
temporary file when it is not a plain local file), and the folder its outputs go to by default.

Object storage goes through fsspec and the vendor's filesystem, installed as an extra
(`invoca-upload[s3]`); credentials come only from that library's usual chain (environment, shared
files, instance roles), never from options, and are never written anywhere.
"""

from __future__ import annotations

import collections
import contextlib
import glob
import io
import os
import posixpath
import shutil
import tempfile
import weakref
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

from uploader.errors import InputError

SPREADSHEET_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm")
# fsspec's names for the codecs (fsspec.compression.compr); `.zip` is an archive, read below.
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}
# What this tool writes beside an input: a folder or a glob of last night's exports must not take
# yesterday's results back in as input.
OUTPUT_MARKS = (".results.", ".retry.", ".errors.", ".requests.")
# Spreadsheets of other programs, met in folders and archives: named so the reason can say so.
OTHER_SPREADSHEETS = (".ods", ".xlsb", ".numbers", ".xltx", ".xltm", ".fods")
# The extra that brings each protocol's fsspec filesystem.
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure"}


@dataclass(frozen=True)
class Remote:
    """An object-storage location (`s3://bucket/folder/name.csv`), with the few path operations the
    outputs need."""

    url: str

    def __str__(self) -> str:
        return self.url

    @property
    def name(self) -> str:
        return posixpath.basename(self.url.rstrip("/"))

    @property
    def suffix(self) -> str:
        return posixpath.splitext(self.name)[1]

    @property
    def stem(self) -> str:
        return posixpath.splitext(self.name)[0]

    def __truediv__(self, name: str) -> Remote:
        return Remote(self.url.rstrip("/") + "/" + name)

    def with_name(self, name: str) -> Remote:
        return Remote(posixpath.dirname(self.url.rstrip("/")) + "/" + name)


Location = Path | Remote


def is_url(text: str) -> bool:
    protocol, separator, _ = text.partition("://")
    return bool(separator) and protocol.isidentifier() and protocol.lower() != "file"


def location(text: str | Path) -> Location:
    """A place the user named for an output: a local path or an fsspec URL."""
    if isinstance(text, str) and is_url(text):
        return Remote(text)
    if isinstance(text, str) and text.startswith("file://"):
        return Path(text.removeprefix("file://"))
    return Path(text)


def filesystem(url: str):  # type: ignore[no-untyped-def]
    """The fsspec filesystem for a URL and the path within it; a missing extra is named."""
    import fsspec

    protocol = url.partition("://")[0].lower()
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError:
        extra = EXTRAS.get(protocol)
        hint = f"pip install 'invoca-upload[{extra}]'" if extra else "install its fsspec filesystem"
        raise InputError(f"{url}: reading {protocol}:// needs an extra package: {hint}") from None
    except ValueError as error:
        raise InputError(f"{url}: {error}") from None


class _Owned(io.BufferedIOBase):
    """A readable stream that closes what it was read through (the archive, the raw file) too."""

    def __init__(self, stream: IO[bytes], *owners: IO[bytes] | zipfile.ZipFile) -> None:
        super().__init__()
        self._stream = stream
        self._owners = owners

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            return self._stream.read() if size is None or size < 0 else self._stream.read(size)
        except OSError:
            raise
        except Exception as error:  # a codec's or a store's own: EOFError (cut short), zlib, ...
            reason = str(error) or type(error).__name__
            raise OSError(f"the data is damaged or cut short: {reason}") from error

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def seekable(self) -> bool:  # a zip archive in object storage is read by seeking
        return bool(getattr(self._stream, "seekable", lambda: False)())

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()

    def close(self) -> None:
        if not self.closed:
            for item in (self._stream, *self._owners):
                with contextlib.suppress(Exception):
                    item.close()
        super().close()


@dataclass
class Input:
    """One spreadsheet to read.

    `name` is how messages name it; `suffix` is its content's format; `open()` gives its content
    from the start, decompressed; `origin` is the file or object it is read from (an archive for
    a member), `local` the plain file itself when it is one; `home` is the folder its outputs go to
    by default, `stem` the start of their names."""

    name: str
    suffix: str
    open: Callable[[], IO[bytes]]
    origin: Location
    home: Location
    stem: str
    local: Path | None = None
    member: str = ""  # the member of a zip archive it is
    _copy: Path | None = field(default=None, repr=False)

    @property
    def identity(self) -> str:
        """The same for every name of one spreadsheet (`./a.csv`, `a.csv`, a symlink to it)."""
        where = os.path.realpath(self.origin) if isinstance(self.origin, Path) else str(self.origin)
        return f"{where}[{self.member}]"

    @classmethod
    def file(cls, path: str | Path) -> Input:
        """A plain local file, as the single-file callers name it."""
        path = Path(path)
        return cls(
            name=str(path),
            suffix=path.suffix.lower(),
            open=lambda: path.open("rb"),
            origin=path,
            home=path.parent,
            stem=path.stem,
            local=path,
        )

    def local_file(self) -> Path:
        """A local file holding the content, for readers that seek (a workbook is a zip archive):
        the file itself, or a private copy removed when this Input is collected."""
        if self.local is not None:
            return self.local
        if self._copy is None:
            folder = tempfile.mkdtemp(prefix="invoca-upload-")
            weakref.finalize(self, shutil.rmtree, folder, ignore_errors=True)
            copy = Path(folder) / f"content{self.suffix}"
            try:
                with self.open() as source, copy.open("wb") as target:
                    shutil.copyfileobj(source, target, 1 << 20)
            except OSError as error:
                raise InputError(f"{self.name}: cannot be read ({_reason(error)})") from error
            self._copy = copy
        return self._copy

    def output(self, suffix: str, folder: Location | None = None) -> Location:
        """Where an output of this input goes: `<stem><suffix>` in `folder`, else in its home."""
        return (folder or self.home) / (self.stem + suffix)


@dataclass
class Unreadable:
    """A named input that holds nothing to read, and why."""

    name: str
    problem: str


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
        raise InputError(f"{url}: cannot be read ({_reason(error)})") from error


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
    inner, _ = _split_compression(lowered)
    return inner.endswith(SPREADSHEET_SUFFIXES) or lowered.endswith(".zip")


def unsupported(name: str) -> str:
    """Why a file met in a folder or an archive is not read, and what to do."""
    inner, _ = _split_compression(name.lower())
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
    inner, compression = _split_compression(path.name)
    opened = lambda: path.open("rb")  # noqa: E731
    if path.suffix.lower() == ".zip":
        yield from _members(str(path), opened, path, path.stem)
    elif compression:
        yield _compressed(str(path), inner, opened, path, compression)
    else:
        yield Input.file(path)


def _remote_entry(fs, key: str, url: str) -> Iterator[Input | Unreadable]:  # type: ignore[no-untyped-def]
    if not fs.exists(key):
        raise InputError(f"{url}: no such object")
    name = posixpath.basename(key)
    inner, compression = _split_compression(name)

    def raw() -> IO[bytes]:
        try:
            return cast(IO[bytes], _Owned(fs.open(key, "rb")))
        except Exception as error:
            raise InputError(f"{url}: cannot be read ({_reason(error)})") from error

    origin = Remote(url)
    if name.lower().endswith(".zip"):
        yield from _members(url, raw, origin, posixpath.splitext(name)[0])
    elif compression:
        yield _compressed(url, inner, raw, origin, compression)
    else:
        yield _inside(url, name, raw, origin, None)


def _split_compression(name: str) -> tuple[str, str | None]:
    """`calls.csv.gz` -> (`calls.csv`, "gzip")."""
    stem, suffix = posixpath.splitext(name)
    compression = COMPRESSIONS.get(suffix.lower())
    return (stem, compression) if compression else (name, None)


def _compressed(
    name: str,
    inner: str,
    raw: Callable[[], IO[bytes]],
    origin: Location,
    compression: str,
    stem: str | None = None,
    member: str = "",
) -> Input:
    def opened() -> IO[bytes]:
        stream = raw()
        return cast(IO[bytes], _Owned(_decompressing(stream, compression), stream))

    return _inside(name, inner, opened, origin, stem, member)


def _decompressing(stream: IO[bytes], compression: str):  # type: ignore[no-untyped-def]
    """A reader of the decompressed bytes. gzip, bz2 and xz through the standard library (as
    fsspec registers them), which raise on a stream cut short; Zstandard through Arrow, which does
    too (the `zstandard` stream reader fsspec uses returns a cut stream's bytes as if whole)."""
    if compression == "zstd":
        import pyarrow as pa

        return pa.CompressedInputStream(pa.PythonFile(stream, mode="r"), "zstd")
    from fsspec.compression import compr

    return compr[compression](stream, mode="rb")


def _inside(
    name: str,
    inner: str,
    opened: Callable[[], IO[bytes]],
    origin: Location,
    stem: str | None,
    member: str = "",
) -> Input:
    """An input read out of `origin` (compressed, or an archive's member), its outputs beside it."""
    inner_stem, suffix = posixpath.splitext(inner)
    return Input(
        name=name,
        suffix=suffix.lower(),
        open=opened,
        origin=origin,
        home=_parent(origin),
        stem=stem or inner_stem,
        member=member,
    )


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
        raise InputError(f"{name}: cannot be opened as a zip archive ({_reason(error)})") from error
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
    """Each spreadsheet member as an input read out of the archive."""
    stems = collections.Counter(_member_stem(entry.filename) for entry in entries)
    for entry in entries:
        member = entry.filename
        inner, compression = _split_compression(posixpath.basename(member))
        member_stem = _member_stem(member)
        if stems[member_stem] > 1:  # jan/calls.csv and feb/calls.csv: their folders too
            member_stem = _member_stem(member, folders=True)
        label = f"{name}[{member}]"
        if entry.flag_bits & 0x1:
            yield Unreadable(label, f"{label}: is encrypted; unpack it first")
            continue

        def opened(member: str = member) -> IO[bytes]:
            stream = raw()
            archive = zipfile.ZipFile(stream)
            return cast(IO[bytes], _Owned(archive.open(member), archive, stream))

        output_stem = stem if len(entries) == 1 else f"{stem}.{member_stem}"
        if compression:
            yield _compressed(label, inner, opened, origin, compression, output_stem, member)
            continue
        yield _inside(label, inner, opened, origin, output_stem, member)


def _member_stem(member: str, *, folders: bool = False) -> str:
    """A member's name without suffixes (`calls` for `exports/calls.csv.gz`), with its folders
    when asked (`exports.calls`)."""
    path = member.replace("\\", "/").strip("/")
    inner, _ = _split_compression(path if folders else posixpath.basename(path))
    return posixpath.splitext(inner)[0].replace("/", ".")


def _parent(origin: Location) -> Location:
    return Remote(posixpath.dirname(origin.url)) if isinstance(origin, Remote) else origin.parent


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


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

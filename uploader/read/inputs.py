"""The spreadsheets to read, wherever they are: local files, zip archives' members, compressed
files (`.gz`, `.bz2`, `.xz`, `.zst`) and objects at fsspec URLs (`s3://bucket/key`, `gs://`,
`az://`, ...); `expand` finds them in what the command line names.

Every spreadsheet becomes an `Input`: a name for messages (`night.zip[calls.csv]`), the format of
its content, a way to open that content as a fresh binary stream (decompressed on the fly: a CSV is
never copied whole; a workbook, which a reader must seek in, is copied once into a private
temporary file when it is not a plain local file), and the folder its outputs go to by default.

Object storage goes through fsspec and the vendor's filesystem, installed as an extra
(`invoca-upload[s3]`); credentials come only from that library's usual chain (environment, shared
files, instance roles), never from options, and are never written anywhere.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import shutil
import tempfile
import weakref
import zipfile
from collections.abc import Callable
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


class Owned(io.BufferedIOBase):
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
                raise InputError(f"{self.name}: cannot be read ({reason_of(error)})") from error
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


def split_compression(name: str) -> tuple[str, str | None]:
    """`calls.csv.gz` -> (`calls.csv`, "gzip")."""
    stem, suffix = posixpath.splitext(name)
    compression = COMPRESSIONS.get(suffix.lower())
    return (stem, compression) if compression else (name, None)


def compressed_input(
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
        return cast(IO[bytes], Owned(_decompressing(stream, compression), stream))

    return inside_input(name, inner, opened, origin, stem, member)


def _decompressing(stream: IO[bytes], compression: str):  # type: ignore[no-untyped-def]
    """A reader of the decompressed bytes. gzip, bz2 and xz through the standard library (as
    fsspec registers them), which raise on a stream cut short; Zstandard through Arrow, which does
    too (the `zstandard` stream reader fsspec uses returns a cut stream's bytes as if whole)."""
    if compression == "zstd":
        import pyarrow as pa

        return pa.CompressedInputStream(pa.PythonFile(stream, mode="r"), "zstd")
    from fsspec.compression import compr

    return compr[compression](stream, mode="rb")


def inside_input(
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
        home=parent_of(origin),
        stem=stem or inner_stem,
        member=member,
    )


def parent_of(origin: Location) -> Location:
    return Remote(posixpath.dirname(origin.url)) if isinstance(origin, Remote) else origin.parent


def reason_of(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__

"""Output files written safely: into a temporary file beside the target, renamed over it when
complete. A rename replaces a symlink rather than writing through it, a killed run never leaves a
half-written results file, and a run that was refused never touched the outputs.

A target in object storage (an `inputs.Remote`) is written to a local temporary file and put in
place whole when complete: object stores replace an object in one step, so the same holds there."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from uploader.errors import InputError, OutputError
from uploader.read.inputs import Location, Remote, filesystem


class AtomicFile:
    """A new file at `path`, visible there only after `commit()`. Write to `temporary` (a path) or
    to the stream `open()` returns, which `commit()` and `discard()` close."""

    def __init__(self, path: Location) -> None:
        self.path = path
        self.stream: IO[Any] | None = None
        folder = None if isinstance(path, Remote) else (path.parent or Path("."))
        try:
            descriptor, temporary = tempfile.mkstemp(
                prefix=f".{path.name}.", suffix=".partial", dir=folder
            )
        except OSError as error:
            raise self.failed(error) from None
        os.close(descriptor)
        self.temporary = Path(temporary)

    def open(self, mode: str = "w", **text_options: str) -> IO[Any]:
        self.stream = self.temporary.open(mode, **text_options)  # type: ignore[call-overload]
        return self.stream

    def failed(self, error: OSError) -> OutputError:
        return cannot_write(self.path, error)

    def commit(self) -> None:
        try:
            if self.stream is not None:
                self.stream.close()
            if isinstance(self.path, Remote):
                self._put(self.path)
                return
            os.chmod(self.temporary, 0o666 & ~_umask())
            os.replace(self.temporary, self.path)
        except OSError as error:
            self.discard()
            raise self.failed(error) from None

    def _put(self, target: Remote) -> None:
        try:
            fs, key = filesystem(target.url)
            fs.put_file(str(self.temporary), key)
        except InputError as error:  # the missing extra, named
            raise OutputError(str(error)) from None
        except Exception as error:  # the filesystem's own: credentials, network, missing bucket
            raise OutputError(f"{target}: cannot be written ({error})") from None
        finally:
            self.discard()

    def discard(self) -> None:
        if self.stream is not None:
            with contextlib.suppress(OSError):
                self.stream.close()
        self.temporary.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def append_no_follow(path: Path):  # type: ignore[no-untyped-def]
    """A text stream appending to `path`, refusing a symlink there (its target is not ours)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        reason = "is a symlink" if os.path.islink(path) else error.strerror
        raise OutputError(f"{path}: cannot be written ({reason})") from None
    return os.fdopen(descriptor, "a", encoding="utf-8")


def cannot_write(path: object, error: OSError) -> OutputError:
    """The one way a file that cannot be written (a full disk, a folder gone) is reported."""
    return OutputError(f"{path}: cannot be written ({error.strerror})")


@contextlib.contextmanager
def written(path: Location, mode: str = "w", **text_options: str) -> Iterator[IO[Any]]:
    """A stream to a new file at `path`, put in place whole when the block ends; if the block
    fails, nothing is left (a write that fails, a full disk, raises OutputError)."""
    target = AtomicFile(path)
    try:
        yield target.open(mode, **text_options)
    except OSError as error:
        target.discard()
        raise target.failed(error) from None
    except BaseException:
        target.discard()
        raise
    target.commit()


def write_text(path: Location, text: str) -> None:
    with written(path, encoding="utf-8") as stream:
        stream.write(text)


def same_file(a: Location, b: Location) -> bool:
    """Whether two paths name one file (through symlinks, `..` or hard links)."""
    if isinstance(a, Remote) or isinstance(b, Remote):
        return str(a) == str(b)
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False

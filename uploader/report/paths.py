"""Where a run's files go, decided and checked before anything is written: the results and retry
files (named, else beside the input or in --out-dir), the dry run's requests file. No output may be
the input, the journal or another output: a typo must not destroy a file."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from uploader.errors import ConfigError, OutputError
from uploader.read.inputs import Input, Location, location
from uploader.report.files import same_file
from uploader.send.journal import Journal
from uploader.settings import STDOUT, Options


@dataclass(frozen=True)
class RunFiles:
    results: Location
    retry: Location
    requests: Location

    @classmethod
    def planned(cls, source: Input, options: Options) -> RunFiles:
        """The run's files, checked against each other, the input and the journal; a local
        --out-dir is made."""
        results, retry = output_paths(source, options)
        files = cls(results, retry, source.output(".requests.jsonl", out_dir(options)))
        named: dict[str, Location] = {
            "the input": source.origin,
            "--results": results,
            "--retry-file": retry,
        }
        if options.dry_run:
            named["the requests file"] = files.requests
        if options.summary_json and options.summary_json != STDOUT:
            named["--summary-json"] = Path(options.summary_json)
        if options.log_file:
            named["--log-file"] = Path(options.log_file)
        if options.journal and not options.dry_run:
            named["--journal"] = Path(options.journal)
        _distinct(named)
        folder = out_dir(options)
        if isinstance(folder, Path):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                problem = f"--out-dir {folder}: cannot be made ({error.strerror})"
                raise OutputError(problem) from None
        return files


def output_paths(source: Input, options: Options) -> tuple[Location, Location]:
    """Where an input's results and retry files go: as named, else `<stem>.results.csv|xlsx` and
    `<stem>.retry.<ext>` beside the input or in --out-dir."""
    excel = source.suffix in (".xlsx", ".xlsm")
    folder = out_dir(options)
    results = (
        location(options.results)
        if options.results
        else source.output(".results" + (".xlsx" if excel else ".csv"), folder)
    )
    retry_suffix = ".xlsx" if source.suffix == ".xlsm" else source.suffix
    retry = (
        location(options.retry_file)
        if options.retry_file
        else source.output(".retry" + retry_suffix, folder)
    )
    return results, retry


def out_dir(options: Options) -> Location | None:
    return location(options.out_dir) if options.out_dir else None


def _distinct(named: dict[str, Location]) -> None:
    items = list(named.items())
    for index, (name, path) in enumerate(items):
        for other, other_path in items[index + 1 :]:
            if same_file(path, other_path):
                raise ConfigError(f"{name} and {other} are the same file ({path})")


def settle_retry_file(journal: Journal, path: Location, written: bool) -> str | None:
    """After a run: a retry file it wrote is remembered by its digest; when nothing is left to
    retry, a retry file an earlier run wrote, unchanged since, is removed (said in the note
    returned). A file the tool did not write, or one the user changed, is left alone."""
    if not isinstance(path, Path):
        return None
    key = str(path.resolve())
    if written:
        journal.remember_output(key, digest(path))
        return None
    if not path.is_file() or journal.output_digest(key) != digest(path):
        return None
    try:
        path.unlink()
    except OSError:
        return None
    journal.forget_output(key)
    return f"{path} removed: its rows are all delivered now"


def unclobbered_retry(journal: Journal | None, path: Location) -> tuple[Location, str | None]:
    """Where this run's retry file goes: its usual place, unless a file there was changed since
    the tool wrote it (an analyst's fixes in progress) or was never written by it; then the next
    free `<stem>.retry-N<ext>`, with a note saying so. Without a journal nothing is known of the
    file: it is replaced as before."""
    if journal is None or not isinstance(path, Path) or not path.is_file():
        return path, None
    if journal.output_digest(str(path.resolve())) == digest(path):
        return path, None  # the tool's own, unchanged: replaced by this run's
    stem, suffix = path.name[: -len(path.suffix)] if path.suffix else path.name, path.suffix
    number = 2
    while (other := path.with_name(f"{stem}-{number}{suffix}")).exists():
        number += 1
    return other, f"{path} was changed since it was written: kept; the rows to retry go to {other}"


def digest(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()

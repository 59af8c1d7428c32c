"""`invoca-upload journal --export`: every delivery the journal holds as a CSV, the truth to recover
results from when an output could not be written (exit 5)."""

from __future__ import annotations

import csv
from pathlib import Path

from uploader.outcome import OUTCOME_COLUMNS
from uploader.report.files import written
from uploader.send.journal import read_only
from uploader.textsafe import formula_safe


def export_journal(path: str | Path, out: str | Path) -> int:
    db = read_only(path)
    columns = ["endpoint", *OUTCOME_COLUMNS[1:], "first_time", "last_time"]
    count = 0
    try:
        with written(Path(out), newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(columns)
            query = f"SELECT {', '.join(columns)} FROM deliveries ORDER BY first_time"  # noqa: S608
            for row in db.execute(query):
                writer.writerow([formula_safe(value) for value in row])
                count += 1
    finally:
        db.close()
    return count

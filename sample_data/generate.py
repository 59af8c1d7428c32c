"""Regenerate sample_data/calls.xlsx, the workbook `make demo` uploads (python sample_data/generate.py).

About fifty realistic calls, written the way an analyst fills the template: date cells, phone
numbers typed in several forms, Yes/No signals, custom data; two rows carry mistakes on purpose.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from uploader.template import write_template

OUT = Path(__file__).resolve().parent / "calls.xlsx"
PHONE_FORMS = [
    "({a}) {b}-{c}",
    "{a}-{b}-{c}",
    "{a}{b}{c}",
    "+1 {a} {b} {c}",
    "1{a}{b}{c}",
    "{a}.{b}.{c}",
]
AREAS = ["312", "773", "212", "415", "617", "303", "512", "206"]
CHANNELS = ["google_ads", "bing", "direct", "facebook", "email"]


def main() -> None:
    import openpyxl

    write_template(OUT, signals=["sale", "appointment"], custom=["channel", "agent"])
    book = openpyxl.load_workbook(OUT)
    sheet = book["Calls"]
    rng = random.Random(20240305)
    start = dt.datetime(2024, 3, 4, 8, 0)
    for index in range(50):
        area = rng.choice(AREAS)
        number = rng.choice(PHONE_FORMS).format(a=area, b="555", c=f"01{rng.randint(0, 99):02d}")
        moment = start + dt.timedelta(minutes=index * 47 + rng.randint(0, 30))
        outbound = rng.random() < 0.3
        row = [
            f"DEMO-{index + 1:04d}",
            moment,
            number,
            "(888) 555-1212",
            "outbound" if outbound else "inbound",
            None,
            f"https://recordings.example.com/demo/{index + 1:04d}.wav",
            None,
            "en-US" if index % 7 else None,
            None,  # recording_auth_config_id
            rng.choice(["Yes", "No", "No"]),
            rng.choice(["Yes", "No", None]),
            rng.choice(CHANNELS),
            rng.choice(["Ann", "Bob", "Cy", "Dee"]),
        ]
        if index == 17:
            row[2] = "(312) 555-01"  # a digit short
        if index == 33:
            row[1] = "31/03/2024 10:15"  # day-first date in a month-first file
        sheet.append(row)
    book.save(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

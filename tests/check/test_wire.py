"""What reached the wire, value by value: every entry of every built-in profile's value maps, and
the phone and recording forms the README lists, read from the bodies the sandbox received."""

from __future__ import annotations

import pytest

from tests.conftest import library_upload
from uploader.check.profiles import builtin_profiles, load_profile

CUSTOMER, BUSINESS = "+13125550143", "+18885551212"


def _first(names: list[str] | str) -> str:
    return names if isinstance(names, str) else names[0]


def _value_map_cases() -> list[tuple[str, str, str]]:
    return [
        (name, raw, mapped)
        for name in builtin_profiles()
        for raw, mapped in load_profile(name).values.get("call_direction", {}).items()
    ]


@pytest.mark.parametrize("profile_name", sorted({case[0] for case in _value_map_cases()}))
def test_every_direction_in_a_profiles_value_map_reaches_the_wire_as_mapped(
    tmp_path, sandbox, profile_name
):
    """Each raw direction a vendor writes is sent as the direction it means, and the customer
    ends up in calling_phone_number whichever side of a From/To export it was written on."""
    profile = load_profile(profile_name)
    cases = [(raw, mapped) for name, raw, mapped in _value_map_cases() if name == profile_name]
    cases += [(raw.swapcase(), mapped) for raw, mapped in cases]  # value maps ignore case
    columns = {field: _first(names) for field, names in profile.columns.items()}
    header = list(columns.values())
    lines = [",".join(f'"{h}"' for h in header)]
    for index, (raw, mapped) in enumerate(cases):
        outbound = mapped == "outbound"
        cells = {
            "external_call_unique_id": f"{profile_name}-{index}",
            "start_time": "2024-03-05T10:00:00Z",
            "calling_phone_number": CUSTOMER,
            "destination_phone_number": BUSINESS,
            "from_number": BUSINESS if outbound else CUSTOMER,
            "to_number": CUSTOMER if outbound else BUSINESS,
            "call_direction": raw,
            "recording": f"https://rec.example.com/{index}.wav",
            "recording_url": f"https://rec.example.com/{index}.wav",
            "advertiser_campaign_id_from_network": "85",
        }
        lines.append(",".join(f'"{cells.get(field, "")}"' for field in columns))
    path = tmp_path / f"{profile_name}.csv"
    path.write_text("\n".join(lines) + "\n")
    identifier = columns["external_call_unique_id"]
    library_upload(
        path,
        sandbox.url,
        tmp_path / "j.sqlite",
        profile=profile_name,
        timezone="UTC",
        recording_url_template=f"https://rec.example.com/{{{identifier}}}.wav",
    )
    sent = {c["id"]: c["body"]["call"] for c in sandbox.calls()}
    for index, (raw, mapped) in enumerate(cases):
        call = sent.get(f"{profile_name}-{index}")
        assert call is not None, f"{raw} was not sent"
        assert call["call_direction"] == mapped, raw
        assert (call["calling_phone_number"], call["destination_phone_number"]) == (
            CUSTOMER,
            BUSINESS,
        ), raw


PHONE_FORMS = [  # the README's forms, and the ones vendors write, each with what it means
    ("(312) 555-0143", "+13125550143"),
    ("312.555.0143", "+13125550143"),
    ("3125550143", "+13125550143"),
    ("+1 312 555 0143", "+13125550143"),
    ("'3125550143", "+13125550143"),  # Excel's text marker
    ("3125550143.0", "+13125550143"),  # a number cell read as a float
    ("+44 20 7183 8750", "+442071838750"),
    ("+45 32 12 34 56", "+4532123456"),  # eight digits: not every country has ten
    ("+34 912 345 678", "+34912345678"),
    ("1-800-FLOWERS", "+18003569377"),  # by the keypad's letters
    ("312-555-0143 x123", "+13125550143"),  # the extension is not part of the line
    ("sip:+13125550143@pbx.example.com", "+13125550143"),
]
START_FORMS = [  # sent with --timezone America/Chicago (CST, -06:00, on 5 March 2024)
    ("2024-03-05 14:03:27", "2024-03-05T14:03:27-06:00"),
    ("3/5/2024 2:03 PM", "2024-03-05T14:03:00-06:00"),
    ("2024-03-05T14:03:27+01:00", "2024-03-05T14:03:27+01:00"),
    ("2024-03-05T14:03:27Z", "2024-03-05T14:03:27+00:00"),
    ("Tue, 05 Mar 2024 14:03:27 +0000", "2024-03-05T14:03:27+00:00"),
    ("1709647407", "2024-03-05T14:03:27+00:00"),  # epoch seconds
    ("1709647407000", "2024-03-05T14:03:27+00:00"),  # epoch milliseconds
    ("45356.5857291667", "2024-03-05T14:03:27-06:00"),  # an Excel serial: wall time
]
RECORDING_FORMS = [
    ("https://rec.example.com/a.wav", "https://rec.example.com/a.wav"),
    ("http://rec.example.com/b.wav?x=1&y=2", "http://rec.example.com/b.wav?x=1&y=2"),
]


def test_every_value_form_the_readme_lists_reaches_the_wire_as_it_means(tmp_path, sandbox):
    from tests.conftest import call_row, write_csv

    rows, expected = [], {}
    for index, (raw, e164) in enumerate(PHONE_FORMS):
        rows.append(call_row(f"ph{index}", calling_phone_number=raw))
        expected[f"ph{index}"] = ("calling_phone_number", e164)
    for index, (raw, instant) in enumerate(START_FORMS):
        rows.append(call_row(f"st{index}", start_time=raw))
        expected[f"st{index}"] = ("start_time", instant)
    for index, (raw, url) in enumerate(RECORDING_FORMS):
        rows.append(call_row(f"rc{index}", recording_url=raw))
        expected[f"rc{index}"] = ("recording_url", url)
    path = write_csv(tmp_path / "forms.csv", rows)
    summary = library_upload(
        path, sandbox.url, tmp_path / "j.sqlite", timezone="America/Chicago", chunk_size=5
    )
    # every request as it arrived, those the API refused included (it takes +1, +44 and +34 only)
    sent = {r["id"]: r["body"]["call"] for r in sandbox.requests() if r.get("id")}
    got = {
        identifier: sent.get(identifier, {}).get(field)
        for identifier, (field, _) in expected.items()
    }
    assert got == {identifier: value for identifier, (_, value) in expected.items()}
    assert summary.counts["rejected"] == 1  # the Danish number, by the API, not by the tool

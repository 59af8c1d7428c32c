from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from uploader.check.normalize import (
    LOST_DIGITS,
    clean_text,
    normalize_booleans,
    normalize_choice,
    normalize_phones,
)
from uploader.check.times import TimeOptions, _normalize_start_times, normalize_start_times


def phones(*values):
    result = normalize_phones(clean_text(pd.Series(values, dtype=object)))
    return list(result.values), list(result.reasons)


def times(*values, **options):
    result = normalize_start_times(
        clean_text(pd.Series(values, dtype=object)), TimeOptions(**options)
    )
    return list(result.values), list(result.reasons)


@pytest.mark.parametrize(
    "raw",
    [
        "+13125550143",
        "13125550143",
        "3125550143",
        " 3125550143 ",
        "(312) 555-0143",
        "312.555.0143",
        "312-555-0143",
        "'3125550143",
        "3125550143.0",
        "3125550143\u00a0",
        "+1 (312) 555-0143",
        "(312) 555-0143 x204",
        "1-312-555-0143",
    ],
)
def test_us_phone_forms_become_e164(raw):
    values, reasons = phones(raw)
    assert values == ["+13125550143"]
    assert pd.isna(reasons[0])


@pytest.mark.parametrize(
    "raw,e164",
    [
        ("+44 20 7183 8750", "+442071838750"),
        ("+34 912 345 678", "+34912345678"),
        ("442071838750", "+442071838750"),
    ],
)
def test_international_numbers_are_kept(raw, e164):
    assert phones(raw)[0] == [e164]


@pytest.mark.parametrize(
    "raw,reason",
    [
        ("3.13E+09", LOST_DIGITS),
        ("3.12555E+09", LOST_DIGITS),
        ("Anonymous", "the caller's number was withheld"),
        ("204", "is too short to be a phone number (an extension?)"),
        ("123456", "is too short to be a phone number (an extension?)"),
        ("555-0143", "has too few digits for a phone number"),  # seven: a number without its area
        ("(312) 555-01", "has too few digits for a phone number"),
        ("client:alice", "is a browser or SIP user, not a phone number"),
        ("sip:alice@example.sip.twilio.com", "is a browser or SIP user, not a phone number"),
    ],
)
def test_non_numbers_are_refused_never_guessed(raw, reason):
    values, reasons = phones(raw)
    assert values == [raw]
    assert isinstance(reasons[0], str)
    if reason:
        assert reasons[0] == reason


def test_a_sip_address_whose_user_part_is_a_number_is_that_number():
    """RFC 3261 19.1.6: `sip:+1...@host;user=phone` is a telephone number (Twilio SIP domains)."""
    values, reasons = phones(
        "sip:+18885551213@example.sip.twilio.com", "sips:6175550123@pbx;user=phone"
    )
    assert values == ["+18885551213", "+16175550123"]
    assert all(pd.isna(r) for r in reasons)


def test_blank_phone_is_missing_not_an_error():
    values, reasons = phones("", None, "   ")
    assert all(pd.isna(v) for v in values) and all(pd.isna(r) for r in reasons)


nanp = st.tuples(
    st.integers(2, 9), st.integers(0, 99), st.integers(2, 9), st.integers(0, 999999)
).map(lambda t: f"{t[0]}{t[1]:02d}{t[2]}{t[3]:06d}")
layouts = st.sampled_from(
    [
        "{a}{b}{c}",
        "({a}) {b}-{c}",
        "{a}.{b}.{c}",
        "1{a}{b}{c}",
        "+1{a}{b}{c}",
        "+1 {a} {b} {c}",
        " {a}-{b}-{c} ",
        "'{a}{b}{c}",
    ]
)


@settings(max_examples=200, deadline=None)
@given(nanp, layouts)
def test_any_layout_of_a_valid_nanp_number_normalises_to_the_same_e164(digits, layout):
    text = layout.format(a=digits[:3], b=digits[3:6], c=digits[6:])
    values, reasons = phones(text)
    if pd.isna(reasons[0]):
        assert values == ["+1" + digits]
    else:  # phonenumbers knows some area codes are unassigned: refused, never rewritten
        assert values == [text.strip()]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_phone_normaliser_never_raises_and_either_normalises_or_explains(text):
    values, reasons = phones(text)
    value, reason = values[0], reasons[0]
    if pd.isna(value):
        assert text.replace("\u00a0", " ").strip() == "" and pd.isna(reason)
    elif pd.isna(reason):
        assert value.startswith("+") and value[1:].isdigit()
    else:
        assert isinstance(reason, str)


DOCUMENTED = [
    ("1460404800", "2016-04-11T20:00:00+00:00"),
    ("1460404800000", "2016-04-11T20:00:00+00:00"),
    ("20160411200000000", "2016-04-11T20:00:00+00:00"),
    ("2016/04/11T13:00:00.000-07:00", "2016-04-11T13:00:00-07:00"),
    ("2016/04/11T20:00:00Z", "2016-04-11T20:00:00+00:00"),
    ("2016-08-08 11:03:31 -0700", "2016-08-08T11:03:31-07:00"),
    ("2021-11-05T08:33:26.354Z", "2021-11-05T08:33:26.354+00:00"),
    ("Tue, 05 Mar 2024 14:03:27 +0000", "2024-03-05T14:03:27+00:00"),
    ("2024-03-05T09:03:27-05:00", "2024-03-05T09:03:27-05:00"),
    ("2024-03-05 09:03:27 EST", "2024-03-05T09:03:27-05:00"),
    ("2024-07-05 09:03:27 PDT", "2024-07-05T09:03:27-07:00"),
    ("3/5/2024 9:03 AM CST", "2024-03-05T09:03:00-06:00"),
    ("2024-03-05 14:03:27 UTC", "2024-03-05T14:03:27+00:00"),
]


@pytest.mark.parametrize("raw,sent", DOCUMENTED)
def test_start_times_with_a_zone_keep_their_instant(raw, sent):
    assert times(raw) == ([sent], [pd.NA])


@pytest.mark.parametrize(
    "raw,sent",
    [
        ("2016/04/11 13:00:00 PM", "2016/04/11 01:00:00 PM"),
        ("2016-02-03 09:30:00 AM", "2016/02/03 09:30:00 AM"),
        ("2022-03-25 09:31:29", "2022/03/25 09:31:29 AM"),
        ("3/25/2022 9:31 PM", "2022/03/25 09:31:00 PM"),
        ("3/5/2024 14:03", "2024/03/05 02:03:00 PM"),
        ("12/31/24 12:00 AM", "2024/12/31 12:00:00 AM"),
    ],
)
def test_zone_less_start_times_use_the_network_zone_form(raw, sent):
    assert times(raw) == ([sent], [pd.NA])


def test_timezone_option_gives_exact_instants_across_a_dst_change():
    values, _ = times(
        "2024-03-09 12:00:00",
        "2024-03-11 12:00:00",
        "3/11/2024 9:00 AM",
        timezone="America/New_York",
    )
    assert values == [
        "2024-03-09T12:00:00-05:00",
        "2024-03-11T12:00:00-04:00",
        "2024-03-11T09:00:00-04:00",
    ]


def test_times_that_do_not_exist_or_repeat_in_the_zone_are_refused():
    values, reasons = times(
        "2024-03-10 02:30:00", "2024-11-03 01:30:00", timezone="America/New_York"
    )
    assert "does not exist" in reasons[0] and "ambiguous" in reasons[1]


def test_dayfirst_reads_uk_dates_and_a_day_first_date_without_it_is_refused():
    assert times("05/03/2024 10:00", dayfirst=True)[0] == ["2024/03/05 10:00:00 AM"]
    assert times("05/03/2024 10:00")[0] == ["2024/05/03 10:00:00 AM"]
    values, reasons = times("25/03/2024 10:00")
    assert "--dayfirst" in reasons[0]


def test_excel_serials_in_both_date_systems():
    assert times("45356.5")[0] == ["2024/03/05 12:00:00 PM"]
    assert times("43894.5", epoch1904=True)[0] == ["2024/03/05 12:00:00 PM"]


@pytest.mark.parametrize(
    "raw", ["garbage", "2024-13-01 10:00", "2024-03-05", "3.1E+04", "31/31/2024 10:00"]
)
def test_unreadable_times_are_explained(raw):
    values, reasons = times(raw)
    assert values == [raw] and isinstance(reasons[0], str)


@settings(max_examples=150, deadline=None)
@given(
    st.datetimes(
        min_value=pd.Timestamp("1990-01-01").to_pydatetime(),
        max_value=pd.Timestamp("2060-01-01").to_pydatetime(),
    ).map(lambda d: d.replace(microsecond=0)),
    st.sampled_from(["%Y-%m-%dT%H:%M:%SZ", "%Y/%m/%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S +0000"]),
)
def test_any_utc_instant_round_trips(moment, layout):
    values, reasons = times(moment.strftime(layout))
    assert pd.isna(reasons[0])
    assert pd.Timestamp(values[0]) == pd.Timestamp(moment, tz="UTC")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40))
def test_time_normaliser_never_raises(text):
    values, reasons = times(text)
    assert pd.isna(values[0]) or isinstance(values[0], str)


def test_booleans_and_choices():
    result = normalize_booleans(
        clean_text(pd.Series(["Yes", "no", "TRUE", "0", "", "maybe"], dtype=object))
    )
    assert list(result.values)[:4] == [True, False, True, False]
    assert (
        pd.isna(result.values[4])
        and result.values[5] == "maybe"
        and isinstance(result.reasons[5], str)
    )
    choice = normalize_choice(
        clean_text(pd.Series(["EN-us", "de-DE"], dtype=object)), ("en-US", "fr-FR")
    )
    assert (
        choice.values[0] == "en-US"
        and choice.values[1] == "de-DE"
        and isinstance(choice.reasons[1], str)
    )


@settings(max_examples=150, deadline=None)
@given(
    year=st.integers(1850, 2150),
    month=st.integers(0, 13),
    day=st.integers(0, 32),
    clock=st.tuples(st.integers(0, 25), st.integers(0, 61), st.integers(0, 61)),
    zone=st.sampled_from(
        ["Z", "+00:00", "-00:00", "+05:30", "-07:00", "+14:00", "-12:45", "+00:75"]
    ),
)
def test_the_fast_path_for_iso_times_agrees_with_the_general_reader(year, month, day, clock, zone):
    text = f"{year:04d}-{month:02d}-{day:02d}T{clock[0]:02d}:{clock[1]:02d}:{clock[2]:02d}{zone}"
    series = pd.Series([text, "3/5/2024 9:03 AM"], dtype="string")
    fast = normalize_start_times(series, TimeOptions())
    general = _normalize_start_times(series, TimeOptions())
    assert list(fast.values) == list(general.values)
    assert list(fast.reasons) == list(general.reasons)


@settings(max_examples=200, deadline=None)
@given(
    year=st.integers(1, 9999),
    form=st.sampled_from(
        [
            "{y:04d}-03-05T14:03:27Z",
            "{y:04d}-03-05 14:03",
            "{y:04d}/03/05 02:03:27 PM",
            "3/5/{y:04d} 14:03",
            "Tue, 05 Mar {y:04d} 14:03:27 +0000",
            "{y:04d}0305140327000",
        ]
    ),
)
def test_any_year_gives_a_time_or_a_reason_never_an_exception(year, form):
    """pandas reads years past 2262 at a coarser unit; a workbook cell dated 2263 once failed the
    whole chunk. Each value is now sent (years 1900-2099) or refused with its reason."""
    text = pd.Series([form.format(y=year), "2024-03-05T14:03:27Z"], dtype="string")
    result = normalize_start_times(text, TimeOptions(timezone="UTC"))
    assert result.values[1] == "2024-03-05T14:03:27+00:00"
    if 1900 <= year <= 2099:
        assert pd.isna(result.reasons[0]) and result.values[0].startswith(f"{year:04d}-03-05T14:03")
    else:
        assert pd.notna(result.reasons[0])


US_ZONES = {  # written out here, not read from the code's table: a wrong offset there must fail
    "EST": "-05:00",
    "EDT": "-04:00",
    "CST": "-06:00",
    "CDT": "-05:00",
    "MST": "-07:00",
    "MDT": "-06:00",
    "PST": "-08:00",
    "PDT": "-07:00",
    "UTC": "+00:00",
    "GMT": "+00:00",
    "Z": "+00:00",
}


@pytest.mark.parametrize("name", sorted(US_ZONES))
def test_every_zone_name_reads_its_own_offset(name):
    from uploader.check.times import ZONE_NAMES

    assert set(ZONE_NAMES) == set(US_ZONES)
    sep = "" if name == "Z" else " "
    for raw in (f"2024-03-05 09:03:27{sep}{name}", f"3/5/2024 9:03:27 AM{sep}{name}"):
        assert times(raw, timezone="Asia/Tokyo") == (
            [f"2024-03-05T09:03:27{US_ZONES[name]}"],
            [pd.NA],
        ), raw


@pytest.mark.parametrize(("cell", "value"), [("Y", True), ("y", True), ("N", False), ("n", False)])
def test_signals_take_y_and_n_as_data_loader_users_write_them(cell, value):
    result = normalize_booleans(clean_text(pd.Series([cell], dtype=object)))
    assert result.values[0] is value and pd.isna(result.reasons[0])


def test_the_templates_signal_drop_down_offers_y_and_n(tmp_path):
    import openpyxl

    from uploader.template import write_template

    path = write_template(tmp_path / "t.xlsx", signals=["sale"], custom=[])
    sheet = openpyxl.load_workbook(path).worksheets[0]
    lists = [v.formula1.strip('"').split(",") for v in sheet.data_validations.dataValidation]
    assert ["Yes", "No", "Y", "N"] in lists, lists


@pytest.mark.parametrize("region", ["GB", "ZA", "VN"])
def test_an_invalid_national_number_names_the_region_it_was_read_in(region):
    """Only the US reason suggests --country; any other region's says which one was used."""
    result = normalize_phones(clean_text(pd.Series(["123456789012"], dtype=object)), region)
    assert list(result.reasons) == [
        f"is not a valid phone number (read as {region} when it has no +country code)"
    ]

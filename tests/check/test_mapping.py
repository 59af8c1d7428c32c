"""Request bodies: what goes in, what is left out, and the exact bytes."""

from __future__ import annotations

import json

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from uploader.check.mapping import call_requests, encode


def test_a_body_has_present_fields_signals_as_booleans_and_custom_data_as_text():
    rows = pd.DataFrame(
        {
            "external_call_unique_id": ["a-1", "a-2"],
            "start_time": ["2024-03-05T14:03:27+00:00"] * 2,
            "recording_filename": [None, "x.wav"],
            "language_code": [None, None],
            "signal:sale": [True, None],
            "custom:agent": ['Zoë "Z"\n', None],
        },
        index=[2, 3],
    )
    rows = rows.astype({name: "string" for name in rows if name != "signal:sale"})
    first, second = (json.loads(r.payload) for r in call_requests(rows))
    assert first == {
        "call": {"external_call_unique_id": "a-1", "start_time": "2024-03-05T14:03:27+00:00"},
        "signals": [{"name": "sale", "value": True}],
        "custom_data": [{"name": "agent", "value": 'Zoë "Z"\n'}],
    }
    assert second == {
        "call": {
            "external_call_unique_id": "a-2",
            "recording_filename": "x.wav",
            "start_time": "2024-03-05T14:03:27+00:00",
        }
    }
    assert [r.row for r in call_requests(rows)] == [2, 3]


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1),
        st.one_of(st.text(), st.booleans(), st.lists(st.dictionaries(st.text(), st.text()))),
    )
)
def test_encode_gives_the_bytes_of_compact_sorted_json(body):
    assert encode(body) == json.dumps(
        body, separators=(",", ":"), ensure_ascii=False, sort_keys=True
    ).encode("utf-8")


def test_an_encoded_body_takes_no_more_memory_than_its_bytes():
    """orjson's result keeps the buffer it was built in (4 KiB); 50,000 of them took 200 MiB."""
    import tracemalloc

    body = {"call": {"external_call_unique_id": "x" * 40, "start_time": "t" * 25}}
    tracemalloc.start()
    try:
        kept = [encode(body) for _ in range(1000)]
        per_body = tracemalloc.get_traced_memory()[0] / len(kept)
    finally:
        tracemalloc.stop()
    assert per_body < len(kept[0]) + 200


def test_a_false_signal_is_sent_false_and_a_custom_name_keeps_its_colons():
    rows = pd.DataFrame(
        {
            "external_call_unique_id": ["b-1"],
            "signal:sale": [False],
            "signal:appointment": [True],
            "custom:utm:source": ["google"],
        },
        index=[2],
    ).astype({"external_call_unique_id": "string", "custom:utm:source": "string"})
    (body,) = (json.loads(r.payload) for r in call_requests(rows))
    assert body["signals"] == [
        {"name": "sale", "value": False},
        {"name": "appointment", "value": True},
    ]
    assert body["custom_data"] == [{"name": "utm:source", "value": "google"}]


def test_more_signals_than_the_api_takes_are_warned_about(tmp_path):
    from tests.conftest import call_row, write_csv
    from uploader.pipeline import validate_file

    signals = {f"signal:s{i}": "yes" for i in range(11)}
    path = write_csv(tmp_path / "many.csv", [call_row("m", **signals)])
    summary = validate_file(path, campaign_id="85", progress=False)
    assert any(
        "11 signal columns" in warning and "at most 10" in warning for warning in summary.warnings
    )
    ten = write_csv(
        tmp_path / "ten.csv", [call_row("t", **{f"signal:s{i}": "yes" for i in range(10)})]
    )
    assert not any(
        "signal columns" in w for w in validate_file(ten, campaign_id="85", progress=False).warnings
    )


def test_more_signal_columns_than_the_api_takes_are_warned_about(tmp_path):
    """Invoca's Signal API takes at most 10 signals a call: 11 columns are said, 10 are not."""
    from tests.conftest import call_row, write_csv
    from uploader.pipeline import validate_file

    for count, warned in ((10, False), (11, True)):
        row = {**call_row("s1"), **{f"signal:s{i}": "yes" for i in range(count)}}
        path = write_csv(tmp_path / f"signals{count}.csv", [row])
        summary = validate_file(path, campaign_id="85")
        said = [w for w in summary.warnings if "signal columns" in w]
        assert bool(said) == warned, summary.warnings
        if warned:
            assert said[0].startswith("11 signal columns") and "at most 10" in said[0]

"""Text that is safe where it lands: cells that cannot run as formulas, lines that cannot drive a
terminal."""

from __future__ import annotations

import pytest

from uploader.textsafe import formula_safe, printable


@pytest.mark.parametrize(
    "value,safe",
    [
        ("=1+1", "'=1+1"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=HYPERLINK()", "'\r=HYPERLINK()"),
        ("+13125550143", "+13125550143"),  # a phone number stays a number
        ("-12.5", "-12.5"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        (42, 42),
        (None, None),
    ],
)
def test_formula_safe(value, safe):
    assert formula_safe(value) == safe


def test_printable_removes_control_and_direction_characters():
    assert printable("ok\x1b[31mred\x07\u202eevil\u2066x") == "ok [31mred  evil x"
    assert printable("tab\tand\nnewline") == "tab\tand\nnewline"  # layout characters stay


def test_printable_bounds_the_text():
    assert printable("x" * 500) == "x" * 500
    assert printable("x" * 501) == "x" * 499 + "…"
    assert printable("abcdef", limit=4) == "abc…"
    assert len(printable("y" * 10_000)) == 500

"""Normalisers: spreadsheet text in, the one form the API gets out.

Each takes a Series of trimmed text (NA for blank) and returns a `Normalized`: the values
(normalised where readable, NA where blank, the original text where not readable) and the reasons
(NA, or why the value could not be read). The common forms are handled with vectorised string
operations; only rare
forms fall back to a per-value parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from uploader.read.arrowtext import arrow, flags, matches, prefixed, text_series
from uploader.textsafe import FORMULA_START

SCIENTIFIC = r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$"
LOST_DIGITS = "has lost digits to scientific notation (format the column as text in Excel)"
NOT_YES_OR_NO = "is not yes/no, y/n, true/false or 1/0"
TRUE_WORDS = frozenset({"true", "1", "yes", "y"})
FALSE_WORDS = frozenset({"false", "0", "no", "n"})
LANGUAGE_CODES = ("en-US", "en-GB", "es-ES", "fr-FR")


@dataclass
class Normalized:
    values: pd.Series
    reasons: pd.Series


def blank_reasons(index: pd.Index) -> pd.Series:
    return pd.Series(pd.NA, index=index, dtype="object")


def clean_text(raw: pd.Series) -> pd.Series:
    """Trim spaces (Unicode ones too, like the non-breaking space); blank cells become NA.

    The apostrophe our own CSV outputs put before a formula-like cell is taken off again, so a
    retry file uploads as it is.
    """
    values = pc.utf8_trim_whitespace(arrow(raw))
    if pc.any(pc.starts_with(values, "'")).as_py():
        values = pc.replace_substring_regex(values, f"^'({FORMULA_START})", r"\1")
    blank = pc.equal(values, pa.scalar("", values.type))
    return text_series(pc.if_else(blank, pa.scalar(None, values.type), values), raw.index)


# Format characters (Unicode category Cf: zero-width space, joiners, BOM, direction marks, soft
# hyphen) are invisible in every spreadsheet: two ids that differ only by them are one call.
INVISIBLE = r"\p{Cf}"
ID_CLEANED = (
    "the id was cleaned as sent: invisible characters removed, full-width letters and ligatures "
    "read as plain ones"
)


def normalize_ids(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Ids as compared and sent: NFKC, without format characters, trimmed; and which changed."""
    values = arrow(text)
    cleaned = pc.utf8_trim_whitespace(
        pc.replace_substring_regex(pc.utf8_normalize(values, "NFKC"), INVISIBLE, "")
    )
    changed = pc.fill_null(pc.not_equal(cleaned, values), False)
    blank = pc.equal(cleaned, pa.scalar("", cleaned.type))
    cleaned = pc.if_else(blank, pa.scalar(None, cleaned.type), cleaned)
    return text_series(cleaned, text.index), pd.Series(
        changed.to_numpy(zero_copy_only=False), index=text.index
    )


# Excel keeps 15 significant digits: a longer id typed or pasted as a number comes back with its
# tail zeroed. A vendor's own long ids end in 0 one time in ten, so the damage is decided per
# column over the whole file: damaged when every long id in it ends in zeros past the 15th digit.
LONG_DIGITS = r"^\d{16,}$"
EXCEL_ZEROED = r"^\d{15}0+$"
LOST_EXCEL_DIGITS = (
    "has lost digits past Excel's 15-digit limit (format the column as text in Excel)"
)


@dataclass
class LongIds:
    """What a whole id column says about Excel's damage to its long ids."""

    long: int = 0
    zeroed: int = 0

    def add(self, ids: pd.Series) -> None:
        self.long += int(matches(ids, LONG_DIGITS).sum())
        self.zeroed += int(matches(ids, EXCEL_ZEROED).sum())

    @property
    def damaged(self) -> bool:
        return self.long > 0 and self.long == self.zeroed


# ---------------------------------------------------------------- phone numbers

# North American numbers in any usual layout: punctuation, a leading apostrophe (Excel's text
# marker) and a float's ".0" taken off, an optional +1 or 1 in front.
NANP_NOISE = r"^'+|\.0+$|[ ().\-]"
NANP = r"^(?:\+?1)?[2-9]\d{2}[2-9]\d{6}$"


def normalize_phones(text: pd.Series, region: str = "US") -> Normalized:
    """Phone numbers to E.164; US/CA numbers may come without the country code."""
    digits = arrow(text)
    present = text.notna().to_numpy()
    nanp = flags(pc.match_substring_regex(digits, NANP))
    noisy = ~nanp & present
    if noisy.any():  # only these pay for the (slower) clean-up pass
        cleaned = pc.replace_substring_regex(digits.filter(noisy), NANP_NOISE, "")
        digits = pc.replace_with_mask(digits, pa.array(noisy), cleaned)
        nanp[noisy] = flags(pc.match_substring_regex(cleaned, NANP))
    e164 = prefixed("+1", pc.utf8_slice_codeunits(digits, -10))
    values = text_series(e164, text.index)
    reasons = blank_reasons(text.index)
    rare = ~nanp & present
    for index, value in text[rare].items():
        number, reason = parse_phone(re.sub(r"\.0+$", "", str(value).lstrip("'")), region)
        if number is None:
            values[index] = value
            reasons[index] = reason
        else:
            values[index] = number
    return Normalized(values, reasons)


# What call logs write for a caller who withheld the number: words, and Twilio's keypad spellings
# (+266696687 ANONYMOUS, +7378742833 RESTRICTED, +8656696 UNKNOWN, +2562533 BLOCKED,
# +86282452253 UNAVAILABLE; Twilio support, "Why do incoming calls show a strange caller ID").
WITHHELD_WORDS = {
    "anonymous",
    "restricted",
    "unavailable",
    "unknown",
    "private",
    "blocked",
    "withheld",
    "no caller id",
    "private number",
    "unknown caller",
}
WITHHELD_NUMBERS = {"+266696687", "+7378742833", "+8656696", "+2562533", "+86282452253"}
WITHHELD = "the caller's number was withheld"


def is_withheld(value: str) -> bool:
    compact = re.sub(r"[\s\-().]", "", value)
    return value.strip().lower() in WITHHELD_WORDS or "+" + compact.lstrip("+") in WITHHELD_NUMBERS


# A party that is a browser or app user (Twilio's `client:alice`) or a SIP address. In
# `sip:+18885551212@pbx.example.com;user=phone` the user part of a SIP address is a telephone number
# when it is one (RFC 3261 19.1.6); Twilio writes the callers of its SIP domains so. `client:alice`
# (a Twilio Voice SDK user) and `sip:alice@...` have no number.
SIP_ADDRESS = r"sips?:(?P<user>\+?[\d\-.()]{7,20})@[^\s]+"
RELAYED = r"^\s*(?:client|sips?):"


def parse_phone(value: str, region: str = "US") -> tuple[str | None, str]:
    """One phone number to E.164, or None and the reason it is not one."""
    if is_withheld(value):
        return None, WITHHELD
    if sip := re.fullmatch(SIP_ADDRESS, value.strip(), re.IGNORECASE):
        value = sip["user"]  # a telephone number in a SIP address (RFC 3261 19.1.6)
    elif re.match(RELAYED, value, re.IGNORECASE):
        return None, "is a browser or SIP user, not a phone number"
    if re.match(SCIENTIFIC, value):
        return None, LOST_DIGITS
    if not re.search(r"\d", value):
        return None, "is not a phone number"
    candidate = value
    if re.fullmatch(r"\d{11,15}", value) and not value.startswith("1"):
        candidate = "+" + value
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None, "is not a phone number"
    if not phonenumbers.is_valid_number(number):
        digits = re.sub(r"\D", "", value)
        if len(digits) < 7:
            return None, "is too short to be a phone number (an extension?)"
        if len(digits) < 10:
            return None, "has too few digits for a phone number"
        if not value.strip().startswith("+") and region == "US":
            return (
                None,
                "is not a valid US number (a national number of another country? pass --country)",
            )
        return None, f"is not a valid phone number (read as {region} when it has no +country code)"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), ""


# ---------------------------------------------------------------- small fields


def normalize_booleans(text: pd.Series) -> Normalized:
    lowered = text.str.lower()
    values = pd.Series(pd.NA, index=text.index, dtype="object")
    values[lowered.isin(TRUE_WORDS).fillna(False)] = True
    values[lowered.isin(FALSE_WORDS).fillna(False)] = False
    unread = text.notna() & values.isna()
    values[unread] = text[unread]
    reasons = blank_reasons(text.index)
    reasons[unread] = NOT_YES_OR_NO
    return Normalized(values, reasons)


def normalize_choice(text: pd.Series, choices: tuple[str, ...]) -> Normalized:
    """Case-insensitive choice; values become the canonical spelling."""
    values = arrow(text)
    which = pc.index_in(pc.utf8_lower(values), value_set=pa.array([c.lower() for c in choices]))
    unread = pc.and_(pc.is_null(which), pc.is_valid(values))
    spelled = pc.if_else(unread, values, pc.take(pa.array(choices, values.type), which))
    reasons = blank_reasons(text.index)
    reasons[flags(unread)] = "must be one of " + ", ".join(choices)
    return Normalized(text_series(spelled, text.index), reasons)

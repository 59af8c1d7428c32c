"""Vectorised text tests on the Arrow strings behind a text Series, in one place.

Patterns run in RE2 on Arrow's kernels directly: `\\d` means ASCII digits only (what a phone number
or a timestamp needs) and `$` the end of the text. pandas' own `.str` methods would re-check each
pattern for Python-only features and fall back to Python's `re`, one value at a time, for some.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def arrow(text: pd.Series) -> pa.Array:
    """The Arrow strings behind a Series, as one array (NA stays null).

    Arrow-backed text is not copied unless it is in several pieces (a frame read in blocks).
    """
    values = pa.array(
        text.array
        if isinstance(text.array, pd.arrays.ArrowStringArray)
        else text.astype("string").array
    )
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def text_series(values: pa.Array | pa.ChunkedArray, index: pd.Index) -> pd.Series:
    """Arrow strings as a text Series (pandas' Arrow-backed string dtype)."""
    return pd.Series(pd.arrays.ArrowStringArray(values), index=index)


def prefixed(prefix: str, values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """`prefix` + each value (null stays null)."""
    return pc.binary_join_element_wise(
        pa.scalar(prefix, values.type), values, pa.scalar("", values.type)
    )


def flags(result: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow result as a numpy array, null read as False."""
    return np.asarray(pc.fill_null(result, False), dtype=bool)


def matches(text: pd.Series, pattern: str) -> np.ndarray:
    """Which values match the regular expression (searched; anchor it with ^ and $)."""
    return flags(pc.match_substring_regex(arrow(text), pattern))


def lengths(text: pd.Series) -> np.ndarray:
    """Characters in each value; 0 for NA."""
    return np.asarray(pc.fill_null(pc.utf8_length(arrow(text)), 0), dtype=np.int64)


def one_of(text: pd.Series, choices: tuple[str, ...]) -> np.ndarray:
    return flags(pc.is_in(arrow(text), value_set=pa.array(choices)))


def fullmatches(text: pd.Series, pattern: str, *, ignore_case: bool = False) -> np.ndarray:
    """Which values match the whole pattern (RE2: linear time, whatever the pattern)."""
    return flags(pc.match_substring_regex(arrow(text), f"^(?:{pattern})$", ignore_case=ignore_case))


def extracted(text: pd.Series, pattern: str) -> pd.Series:
    """The first match's first group of each value (as a search finds it), NA where none."""
    values = arrow(text)
    found = pc.fill_null(pc.match_substring_regex(values, pattern), False)
    group = pc.replace_substring_regex(values, f"(?s)^.*?(?:{pattern}).*$", r"\1")
    return text_series(pc.if_else(found, group, pa.scalar(None, values.type)), text.index)


def check_pattern(pattern: str) -> None:
    """Raise ValueError when RE2 cannot run the pattern (Python-only syntax, or too large)."""
    try:
        pc.match_substring_regex(pa.array([""], pa.string()), pattern)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise ValueError(str(error).splitlines()[0]) from None

"""Cells as every output holds them, shared by the CSV and workbook writers (`results`, `workbook`)
so that neither imports the other."""

from __future__ import annotations

from typing import Any

import pandas as pd


def cell_value(value: Any) -> Any:
    """A value as a results cell holds it: a missing one is an empty cell."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return value


def python_cells(column: pd.Series) -> list[Any]:
    """A column's cells as Python values (a date stays a date), None where missing."""
    return column.astype(object).where(column.notna(), None).tolist()

"""Column typing: which kind a column is, and whether it is a date or time column.

One home for the rules that profiling, drift detection, batch validation and tuning all apply,
so a column is numeric, categorical or a time axis the same way everywhere. Pure pandas.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from mlflow_retrain.config import ColumnKind

__all__ = ["ColumnKind", "infer_kind", "is_date_text", "is_temporal", "is_time_column"]


def is_temporal(series: pd.Series) -> bool:
    """Return whether a column's dtype holds dates, times or durations."""
    return bool(
        pd.api.types.is_datetime64_any_dtype(series.dtype)
        or pd.api.types.is_timedelta64_dtype(series.dtype)
        or isinstance(series.dtype, pd.PeriodDtype)
    )


#: Text that reads as a date or a date-time: ISO 8601 (``2024-01-31``, ``2024-01-31T08:15:00Z``),
#: ``2024/01/31``, ``31/01/2024`` or ``01-31-2024``, ``31 Jan 2024`` and ``Jan 31, 2024``, each
#: with an optional time of day.
_TIME_OF_DAY = r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[AaPp][Mm])?)?"
_ZONE = r"(?:\s*(?:Z|UTC|[+-]\d{2}:?\d{2}))?"
_DATE_TEXT = re.compile(
    r"^\s*(?:"
    r"\d{4}-\d{1,2}-\d{1,2}|\d{4}/\d{1,2}/\d{1,2}|\d{1,2}[/.-]\d{1,2}[/.-]\d{4}"
    r"|\d{1,2} [A-Za-z]{3,9}\.? \d{4}|[A-Za-z]{3,9}\.? \d{1,2},? \d{4}"
    rf"){_TIME_OF_DAY}{_ZONE}\s*$"
)
#: Values looked at to decide whether a text column holds dates.
_DATE_SAMPLE = 200


def is_date_text(series: pd.Series) -> bool:
    """Return whether a text column holds dates written as text (``2024-01-31``, ...).

    A CSV file has no date type, so ``application_date`` arrives as text. Such a column is
    the time axis of the data, not a feature: tested as a categorical it would always drift.
    The column counts as dates when every one of up to 200 values spread over its non-missing
    rows has a date shape (see ``_DATE_TEXT``) and pandas parses them all as dates.

    Args:
        series: The column.

    Returns:
        Whether it holds dates as text (``False`` for non-text columns and empty columns).
    """
    dtype = series.dtype
    if not (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)):
        return False
    values = series.dropna()
    if values.empty:
        return False
    if len(values) > _DATE_SAMPLE:
        values = values.iloc[np.linspace(0, len(values) - 1, _DATE_SAMPLE).astype(int)]
    if not all(isinstance(v, str) and _DATE_TEXT.match(v) for v in values):
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns when it guesses the day-month order
        try:
            # utc: values with different UTC offsets are still dates.
            parsed = pd.to_datetime(values, errors="coerce", format="mixed", utc=True)
        except (ValueError, TypeError, OverflowError):
            return False
    return bool(parsed.notna().all())


def is_time_column(series: pd.Series) -> bool:
    """Return whether a column holds dates, times or durations, in a date dtype or as text.

    Such columns are never profiled, tested for drift or used as features unless
    ``drift.columns`` declares their kind.
    """
    return is_temporal(series) or is_date_text(series)


def infer_kind(series: pd.Series) -> ColumnKind:
    """Infer a column's kind: numeric dtypes are numeric, except booleans; all else categorical.

    Args:
        series: The column.

    Returns:
        ``numeric`` or ``categorical``.
    """
    if pd.api.types.is_bool_dtype(series.dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "numeric"
    return "categorical"

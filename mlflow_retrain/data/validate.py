"""Batch validation: the first circuit breaker.

A batch that fails any check is not fit for statistics or training; the pipeline stops with
:class:`~mlflow_retrain.exceptions.CircuitBreakerOpen` and changes nothing. Checks run against
the reference *profile*, so a saved profile is enough to validate a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlflow_retrain.config import ValidationConfig
from mlflow_retrain.drift.profile import (
    OTHER_LEVEL,
    CategoricalSummary,
    NumericSummary,
    ReferenceProfile,
)
from mlflow_retrain.exceptions import CircuitBreakerOpen

__all__ = ["ValidationReport", "validate_batch", "validate_reference"]


@dataclass(frozen=True)
class ValidationReport:
    """A batch that passed validation.

    Attributes:
        n_rows: Rows in the batch.
        n_columns: Columns checked.
        checks: Names of the checks that ran.
    """

    n_rows: int
    n_columns: int
    checks: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"n_rows": self.n_rows, "n_columns": self.n_columns, "checks": list(self.checks)}


CHECKS = (
    "duplicate_columns",
    "min_rows",
    "missing_columns",
    "extra_columns",
    "types",
    "infinite_values",
    "categories",
    "all_null_columns",
    "null_rate_increase",
    "target",
)


def validate_reference(data: pd.DataFrame, *, name: str = "reference") -> None:
    """Check that a reference table can serve as a baseline.

    Raises:
        CircuitBreakerOpen: If it has duplicate column names, no rows, or infinite values.
    """
    problems = _duplicate_columns(data, name)
    if not problems and len(data) == 0:
        problems.append(
            f"The {name} has 0 rows. Point at a table with data (a header line alone is not "
            "enough), or at a saved profile for a reference."
        )
    if not problems:
        for column in data.columns:
            series = data[column]
            if _is_numeric(series):
                problems += _infinite(series, column, name)
    _raise(problems)


def validate_batch(
    reference: ReferenceProfile,
    current: pd.DataFrame,
    *,
    config: ValidationConfig | None = None,
    target: str | None = None,
    require_labels: bool = False,
    ignore: Sequence[str] = (),
) -> ValidationReport:
    """Check a batch against the reference before any statistics run.

    Checks: duplicate column names; at least ``min_rows`` rows; every reference column
    present; no extra columns (unless allowed or ignored); numeric columns hold numbers;
    no +/-inf; no categorical column with more than ``max_categories`` distinct values when
    the reference had few distinct values; no column entirely empty unless it was in the
    reference; no missing-rate rise beyond ``max_null_rate_increase``; with
    ``require_labels``, the target is present with at least ``min_classes`` distinct values.

    Args:
        reference: The reference profile (from a table or a saved profile).
        current: The batch.
        config: Validation thresholds.
        target: The label column, if any. It may be absent or empty unless
            ``require_labels`` is set.
        require_labels: The step needs labels (training, performance checks).
        ignore: Columns to leave out of every check.

    Returns:
        What was checked.

    Raises:
        CircuitBreakerOpen: With every problem found; the message names the first, with the
            column, the problem and the fix.
    """
    config = config or ValidationConfig()
    ignored = set(ignore)
    problems = _duplicate_columns(current, "current batch")
    _raise(problems)  # Everything below indexes columns by name.
    if len(current) < config.min_rows:
        _raise(
            [
                f"The current batch has {len(current)} rows; at least {config.min_rows} are "
                "needed. Check the export that produced it (validation.min_rows)."
            ]
        )
    expected = [
        c for c in [*reference.columns, *reference.skipped] if c not in ignored and c != target
    ]
    for column in expected:
        if column not in current.columns:
            problems.append(
                f"Column '{column}' is in the reference but missing from the current batch. "
                "Restore it in the batch or list it under drift.ignore in retrain.yaml."
            )
    if not config.allow_extra_columns:
        known = set(expected) | ({target} if target else set())
        for column in current.columns:
            if column not in known and column not in ignored:
                problems.append(
                    f"Column '{column}' is in the current batch but not in the reference. "
                    "Remove it, list it under drift.ignore, or set "
                    "validation.allow_extra_columns: true in retrain.yaml."
                )
    for column, summary in reference.columns.items():
        if column in ignored or column == target or column not in current.columns:
            continue
        series = current[column]
        if isinstance(summary, NumericSummary):
            bad = _non_numeric(series, column)
            if bad:
                problems.append(bad)
                continue
            problems += _infinite(series, column, "current batch")
        elif isinstance(summary, CategoricalSummary):
            problems += _too_many_categories(series, column, summary, config.max_categories)
        n_missing = int(series.isna().sum())
        rate = n_missing / len(series)
        if n_missing == len(series) and summary.n > 0:
            problems.append(
                f"Column '{column}' is entirely empty in the current batch (all {n_missing} "
                "values missing) but has values in the reference. Fix the export or list "
                "the column under drift.ignore."
            )
        elif rate - summary.missing_rate > config.max_null_rate_increase:
            problems.append(
                f"Column '{column}' missing rate rose from {summary.missing_rate:.1%} in the "
                f"reference to {rate:.1%} in the current batch, more than the allowed "
                f"{config.max_null_rate_increase:.0%} points "
                "(validation.max_null_rate_increase). Fix the export or raise the limit."
            )
    if target is not None and require_labels:
        problems += _target(current, target, config)
    _raise(problems)
    return ValidationReport(n_rows=len(current), n_columns=len(current.columns), checks=CHECKS)


def _raise(problems: list[str]) -> None:
    if not problems:
        return
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    raise CircuitBreakerOpen(problems[0] + more, problems=tuple(problems))


def _duplicate_columns(data: pd.DataFrame, name: str) -> list[str]:
    duplicated = data.columns[data.columns.duplicated()].unique().tolist()
    if not duplicated:
        return []
    listed = ", ".join(f"'{c}'" for c in duplicated[:5])
    return [
        f"The {name} has duplicate column names ({listed}). Rename them so each column "
        "name is unique."
    ]


def _is_numeric(series: pd.Series) -> bool:
    return bool(
        pd.api.types.is_numeric_dtype(series.dtype)
        and not pd.api.types.is_bool_dtype(series.dtype)
    )


def _non_numeric(series: pd.Series, column: str) -> str | None:
    if _is_numeric(series):
        return None
    converted = pd.to_numeric(series, errors="coerce")
    bad = series.notna() & converted.isna()
    n_bad = int(bad.sum())
    if not n_bad:
        return None
    first = series[bad].iloc[0]
    return (
        f"Column '{column}' is numeric in the reference but has {n_bad} non-numeric values "
        f"in the current batch (first: {str(first)[:40]!r}). Clean the batch or declare the "
        "column categorical under drift.columns in retrain.yaml."
    )


def _too_many_categories(
    series: pd.Series, column: str, summary: CategoricalSummary, limit: int
) -> list[str]:
    # A reference that pooled levels (``__other__``), or whose values were mostly distinct
    # already (identifiers, timestamps as text), shows a high-cardinality column by design.
    n_reference = len(summary.counts)
    if OTHER_LEVEL in summary.counts or n_reference > limit or n_reference > summary.n / 2:
        return []
    n_levels = int(series.nunique(dropna=True))
    if n_levels <= limit:
        return []
    return [
        f"Column '{column}' has {n_levels:,} distinct values in the current batch but "
        f"{n_reference:,} in the reference, more than validation.max_categories "
        f"({limit:,}): an identifier or free text landed in a categorical column. Fix the "
        "export, list the column under drift.ignore, or raise validation.max_categories in "
        "retrain.yaml."
    ]


def _infinite(series: pd.Series, column: str, name: str) -> list[str]:
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    infinite = np.isinf(values)
    if not infinite.any():
        return []
    row = int(np.flatnonzero(infinite)[0])
    return [
        f"Column '{column}' has {int(infinite.sum())} infinite values in the {name} (first at "
        f"row {row}). Replace them with finite numbers or leave the cells empty."
    ]


def _target(current: pd.DataFrame, target: str, config: ValidationConfig) -> list[str]:
    if target not in current.columns:
        return [
            f"Target column '{target}' is not in the current batch, but this step needs "
            "labels. Add the column or pass the right name with --target."
        ]
    labels = current[target].dropna()
    if labels.empty:
        return [
            f"Target column '{target}' has no values in the current batch. Label the batch "
            "or run a step that does not need labels."
        ]
    n_classes = int(labels.nunique())
    if n_classes < config.min_classes:
        only = str(labels.iloc[0])[:40]
        return [
            f"Target column '{target}' has {n_classes} distinct value ({only!r}) in the "
            f"current batch; at least {config.min_classes} are needed to train or evaluate. "
            "Use a larger batch or window (validation.min_classes)."
        ]
    return []

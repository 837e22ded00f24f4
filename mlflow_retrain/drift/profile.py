"""Reference profiles: compact, mergeable summaries of a reference dataset.

A profile holds, per numeric column, exact moments (count, mean, sum of squared deviations,
min, max) and a weighted quantile sketch; per categorical column, level counts; and missing
counts for every column. Drift is scored against a profile exactly as against the raw table it
came from whenever the sketch is exact (at most ``max_points`` distinct values); otherwise the
sketch's CDF is accurate to about one part in ``max_points``.

Profiles merge: ``merge_profiles(profile(A), profile(B))`` equals ``profile(A + B)`` exactly
for moments, counts and exact sketches, and within the sketch accuracy once compressed. So a
profile can be computed per partition (Spark, Dask, per day) and merged.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from mlflow_retrain import _errors as errors
from mlflow_retrain.column_types import (
    ColumnKind,
    infer_kind,
    is_date_text,
    is_temporal,
    is_time_column,
)

# infer_kind, is_date_text, is_temporal and is_time_column live in column_types (one home for
# column typing); they stay importable from here.
__all__ = [
    "CategoricalSummary",
    "NumericSummary",
    "ReferenceProfile",
    "build_profile",
    "category_counts",
    "column_kinds",
    "infer_kind",
    "is_date_text",
    "is_temporal",
    "is_time_column",
    "level_label",
    "merge_profiles",
    "numeric_values",
    "summarise_categorical",
    "summarise_column",
    "summarise_numeric",
]

PROFILE_FORMAT = "mlflow-retrain/profile"
PROFILE_VERSION = 1
#: Key under which levels beyond ``max_levels`` are pooled in a categorical summary.
OTHER_LEVEL = "__other__"


@dataclass(frozen=True, eq=False)
class NumericSummary:
    """Summary of one numeric column.

    Attributes:
        n_total: Rows, missing included.
        n_missing: Missing (null or NaN) values.
        mean: Mean of the non-missing values.
        m2: Sum of squared deviations from the mean (Welford/Chan), so variances merge exactly.
        minimum: Smallest value (NaN when there is none).
        maximum: Largest value (NaN when there is none).
        values: Sorted distinct sketch points.
        weights: Mass at each point; sums to the number of non-missing values.
        exact: The sketch holds every distinct value with its count.
        dtype: The pandas dtype of the column in the reference.
    """

    n_total: int
    n_missing: int
    mean: float
    m2: float
    minimum: float
    maximum: float
    values: np.ndarray
    weights: np.ndarray
    exact: bool
    dtype: str = "float64"

    kind: ColumnKind = field(default="numeric", init=False)

    @property
    def n(self) -> int:
        """Non-missing values."""
        return self.n_total - self.n_missing

    @property
    def std(self) -> float:
        """Population standard deviation of the non-missing values (NaN when empty)."""
        return math.sqrt(self.m2 / self.n) if self.n > 0 else math.nan

    @property
    def missing_rate(self) -> float:
        """Share of missing values (0 when the column is empty)."""
        return self.n_missing / self.n_total if self.n_total else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "kind": "numeric",
            "dtype": self.dtype,
            "n_total": self.n_total,
            "n_missing": self.n_missing,
            "mean": _finite_or_none(self.mean),
            "m2": _finite_or_none(self.m2),
            "min": _finite_or_none(self.minimum),
            "max": _finite_or_none(self.maximum),
            "exact": self.exact,
            "values": self.values.tolist(),
            "weights": self.weights.tolist(),
        }


@dataclass(frozen=True)
class CategoricalSummary:
    """Summary of one categorical column.

    Attributes:
        n_total: Rows, missing included.
        n_missing: Missing values.
        counts: Count per level (levels as text). Levels beyond the profile's ``max_levels``
            are pooled under ``__other__``.
        dtype: The pandas dtype of the column in the reference.
    """

    n_total: int
    n_missing: int
    counts: Mapping[str, int]
    dtype: str = "object"

    kind: ColumnKind = field(default="categorical", init=False)

    @property
    def n(self) -> int:
        """Non-missing values."""
        return self.n_total - self.n_missing

    @property
    def missing_rate(self) -> float:
        """Share of missing values (0 when the column is empty)."""
        return self.n_missing / self.n_total if self.n_total else 0.0

    @property
    def pooled(self) -> int:
        """Values pooled under ``__other__`` because the column had too many levels."""
        return int(self.counts.get(OTHER_LEVEL, 0))

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "kind": "categorical",
            "dtype": self.dtype,
            "n_total": self.n_total,
            "n_missing": self.n_missing,
            "counts": dict(self.counts),
        }


ColumnSummary = NumericSummary | CategoricalSummary


@dataclass(frozen=True)
class ReferenceProfile:
    """A mergeable summary of a reference dataset.

    Attributes:
        n_rows: Rows summarised.
        columns: Summaries by column name, in the reference's column order.
        max_points: Sketch size used for numeric columns.
        max_levels: Levels kept per categorical column.
        source: Where the reference came from (informational).
        skipped: Columns present in the reference but not profiled (date and time columns).
        importance: The share of the model's feature importance per column (non-negative,
            summing to 1), when the profile belongs to a model: ``retrain`` stores its
            permutation importance on the gate split. Drift weighs columns by it
            (``drift.weights: importance``); ``None`` for a profile of plain data.
    """

    n_rows: int
    columns: Mapping[str, ColumnSummary]
    max_points: int = 2048
    max_levels: int = 1000
    source: str | None = None
    skipped: tuple[str, ...] = ()
    importance: Mapping[str, float] | None = None

    @property
    def kinds(self) -> dict[str, ColumnKind]:
        """Column kinds by name."""
        return {name: summary.kind for name, summary in self.columns.items()}

    def with_importance(self, shares: Mapping[str, float]) -> ReferenceProfile:
        """This profile carrying ``shares`` of importance, kept to its columns and rescaled.

        Columns of ``shares`` the profile skipped (date and time columns) are dropped and the
        rest rescaled to sum to 1; the profile's columns that ``shares`` lacks get 0. Without
        any importance on its columns the profile gets none.
        """
        kept = {name: max(0.0, float(shares.get(name, 0.0))) for name in self.columns}
        total = sum(kept.values())
        importance = {name: v / total for name, v in kept.items()} if total > 0 else None
        return replace(self, importance=importance)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (``format``, ``version``, ``n_rows``, ``columns``, ...)."""
        data: dict[str, Any] = {
            "format": PROFILE_FORMAT,
            "version": PROFILE_VERSION,
            "n_rows": self.n_rows,
            "max_points": self.max_points,
            "max_levels": self.max_levels,
            "source": self.source,
            "skipped": list(self.skipped),
            "columns": {name: s.to_dict() for name, s in self.columns.items()},
        }
        if self.importance is not None:
            data["importance"] = dict(self.importance)
        return data

    def to_json(self) -> str:
        """Serialise to compact JSON text."""
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False)

    @property
    def digest(self) -> str:
        """A short content hash, stable across processes (used as the dataset digest)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        """Rebuild a profile from its JSON form.

        Raises:
            InvalidInputError: If ``data`` is not a profile of a supported version.
        """
        if not isinstance(data, Mapping) or data.get("format") != PROFILE_FORMAT:
            raise errors.InvalidInputError(
                "The file is not an mlflow-retrain reference profile (no "
                f"'format: {PROFILE_FORMAT}'). Create one with `mlflow-retrain profile`."
            )
        if data.get("version") != PROFILE_VERSION:
            raise errors.InvalidInputError(
                f"Reference profile version {data.get('version')!r} is not supported (this "
                f"release reads version {PROFILE_VERSION}). Re-create it with "
                "`mlflow-retrain profile`."
            )
        try:
            columns: dict[str, ColumnSummary] = {}
            for name, col in data["columns"].items():
                if col["kind"] == "numeric":
                    columns[name] = NumericSummary(
                        n_total=int(col["n_total"]),
                        n_missing=int(col["n_missing"]),
                        mean=_none_to_nan(col["mean"]),
                        m2=_none_to_nan(col["m2"]),
                        minimum=_none_to_nan(col["min"]),
                        maximum=_none_to_nan(col["max"]),
                        values=np.asarray(col["values"], dtype=float),
                        weights=np.asarray(col["weights"], dtype=float),
                        exact=bool(col["exact"]),
                        dtype=str(col.get("dtype", "float64")),
                    )
                elif col["kind"] == "categorical":
                    columns[name] = CategoricalSummary(
                        n_total=int(col["n_total"]),
                        n_missing=int(col["n_missing"]),
                        counts={str(k): int(v) for k, v in col["counts"].items()},
                        dtype=str(col.get("dtype", "object")),
                    )
                else:
                    raise ValueError(f"unknown column kind {col['kind']!r}")
            return cls(
                n_rows=int(data["n_rows"]),
                columns=columns,
                max_points=int(data.get("max_points", 2048)),
                max_levels=int(data.get("max_levels", 1000)),
                source=data.get("source"),
                skipped=tuple(str(c) for c in data.get("skipped", ())),
                importance=_importance(data.get("importance"), columns),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise errors.InvalidInputError(
                f"The reference profile is damaged ({err.__class__.__name__}: {err}). "
                "Re-create it with `mlflow-retrain profile`."
            ) from err

    @classmethod
    def from_json(cls, text: str | bytes) -> ReferenceProfile:
        """Parse a profile from JSON text.

        Raises:
            InvalidInputError: If the text is not JSON or not a profile.
        """
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise errors.InvalidInputError(
                f"The reference profile is not valid JSON ({err}). Re-create it with "
                "`mlflow-retrain profile`."
            ) from err
        return cls.from_dict(data)


def _importance(raw: Any, columns: Mapping[str, ColumnSummary]) -> dict[str, float] | None:
    """A stored importance map, checked: known columns, finite shares >= 0 summing to 1."""
    if raw is None:
        return None
    shares = {str(name): float(value) for name, value in dict(raw).items()}
    if (
        any(name not in columns for name in shares)
        or any(not math.isfinite(v) or v < 0 for v in shares.values())
        or not math.isclose(sum(shares.values()), 1.0, abs_tol=1e-6)
    ):
        raise ValueError("importance must give known columns shares >= 0 that sum to 1")
    return shares


def build_profile(
    data: pd.DataFrame,
    *,
    kinds: Mapping[str, ColumnKind] | None = None,
    max_points: int | None = 2048,
    max_levels: int = 1000,
    source: str | None = None,
) -> ReferenceProfile:
    """Summarise a reference table into a :class:`ReferenceProfile`.

    Args:
        data: The reference table. Numeric columns must not hold infinities.
        kinds: Column kind overrides; other columns are inferred with :func:`infer_kind`.
            Date and time columns without an override are skipped (listed in ``skipped``).
        max_points: Sketch size per numeric column; ``None`` keeps every distinct value
            (exact, used when scoring against an in-memory table).
        max_levels: Levels kept per categorical column; the rest pool under ``__other__``.
        source: Where the data came from, stored for the record.

    Returns:
        The profile.

    Raises:
        InvalidInputError: If a column declared numeric holds non-numeric values.
    """
    columns: dict[str, ColumnSummary] = {}
    resolved, skipped = column_kinds(data, kinds)
    for name, (label, kind) in resolved.items():
        columns[name] = summarise_column(
            data[label], kind, max_points=max_points, max_levels=max_levels
        )
    return ReferenceProfile(
        n_rows=len(data),
        columns=columns,
        max_points=max_points or 0,
        max_levels=max_levels,
        source=source,
        skipped=skipped,
    )


def column_kinds(
    data: pd.DataFrame, kinds: Mapping[str, ColumnKind] | None = None
) -> tuple[dict[str, tuple[Any, ColumnKind]], tuple[str, ...]]:
    """Resolve every column's kind as :func:`build_profile` does, without summarising.

    Args:
        data: The table.
        kinds: Column kind overrides; other columns are inferred with :func:`infer_kind`.

    Returns:
        ``{name: (column label, kind)}`` in column order (names are the labels as text), and
        the names of the date and time columns that are skipped.
    """
    kinds = dict(kinds or {})
    resolved: dict[str, tuple[Any, ColumnKind]] = {}
    skipped: list[str] = []
    for label in data.columns:
        name = str(label)
        series = data[label]
        if name not in kinds and is_time_column(series):
            skipped.append(name)
            continue
        resolved[name] = (label, kinds.get(name) or infer_kind(series))
    return resolved, tuple(skipped)


def summarise_column(
    series: pd.Series, kind: ColumnKind, *, max_points: int | None, max_levels: int
) -> ColumnSummary:
    """Summarise one column of the given kind (see :func:`build_profile` for the arguments)."""
    if kind == "numeric":
        return summarise_numeric(series, max_points=max_points)
    return summarise_categorical(series, max_levels=max_levels)


def numeric_values(series: pd.Series) -> np.ndarray:
    """Return the non-missing values of a numeric column as float64.

    The result may share memory with ``series`` (and be read-only): copy it before writing.

    Raises:
        InvalidInputError: If the column holds values that are not numbers.
    """
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    ):
        values = series.to_numpy(dtype=float, na_value=np.nan, copy=False)
    else:
        converted = pd.to_numeric(series, errors="coerce")
        bad = series.notna() & converted.isna()
        if bad.any():
            first = series[bad].iloc[0]
            raise errors.InvalidInputError(
                f"Column '{series.name}' is numeric but has {int(bad.sum())} non-numeric "
                f"values (first: {first!r}). Clean the data or declare the column "
                "categorical under drift.columns in retrain.yaml."
            )
        values = converted.to_numpy(dtype=float, na_value=np.nan)
    missing = np.isnan(values)
    # Boolean indexing copies; skip it in the common case of a column without gaps.
    return values[~missing] if missing.any() else values


def summarise_numeric(series: pd.Series, *, max_points: int | None) -> NumericSummary:
    """Summarise one numeric column (see :class:`NumericSummary`)."""
    values = numeric_values(series)
    n = values.size
    if n:
        ordered = np.sort(values)
        mean = float(ordered.mean())
        deviations = ordered - mean
        m2 = float(deviations @ deviations)
        del deviations
        points, weights = _distinct_with_counts(ordered)
        minimum, maximum = float(ordered[0]), float(ordered[-1])
    else:
        mean = m2 = minimum = maximum = math.nan
        points = weights = np.empty(0)
    exact = max_points is None or points.size <= max_points
    if not exact:
        assert max_points is not None
        points, weights = _compress(points, weights, max_points)
    return NumericSummary(
        n_total=len(series),
        n_missing=len(series) - n,
        mean=mean,
        m2=m2,
        minimum=minimum,
        maximum=maximum,
        values=points,
        weights=weights,
        exact=exact,
        dtype=str(series.dtype),
    )


def summarise_categorical(series: pd.Series, *, max_levels: int) -> CategoricalSummary:
    """Summarise one categorical column (see :class:`CategoricalSummary`)."""
    counts = category_counts(series)
    return CategoricalSummary(
        n_total=len(series),
        n_missing=len(series) - sum(counts.values()),
        counts=_cap_levels(counts, max_levels),
        dtype=str(series.dtype),
    )


def category_counts(series: pd.Series) -> dict[str, int]:
    """Count the non-missing levels of a column, most frequent first, levels as text."""
    counts = series.value_counts(dropna=True, sort=True)
    result: dict[str, int] = {}
    for level, count in zip(counts.index, counts.to_numpy(), strict=True):
        key = level_label(level)
        result[key] = result.get(key, 0) + int(count)
    return result


def level_label(value: object) -> str:
    """Return the text form of a level; whole floats print as integers (``2.0`` -> ``"2"``).

    A column of integer codes turns float as soon as it has a missing value, so without this
    the same level would read ``2`` in one batch and ``2.0`` in the next.
    """
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def merge_profiles(profiles: Iterable[ReferenceProfile]) -> ReferenceProfile:
    """Merge profiles of disjoint parts of one dataset into the profile of the whole.

    Args:
        profiles: Profiles with the same columns and kinds.

    Returns:
        The merged profile; its sketch size is the smallest of the inputs'. It keeps the
        parts' importance when they all share one, else has none.

    Raises:
        InvalidInputError: If there is nothing to merge or the profiles' columns disagree.
    """
    items = list(profiles)
    if not items:
        raise errors.InvalidInputError("No profiles to merge. Pass at least one profile.")
    first = items[0]
    for other in items[1:]:
        if other.kinds != first.kinds:
            raise errors.InvalidInputError(
                "Profiles with different columns or column kinds cannot be merged "
                f"({sorted(first.kinds.items())} vs {sorted(other.kinds.items())}). Profile "
                "every part with the same schema and kind overrides."
            )
    sizes = [p.max_points for p in items if p.max_points]
    max_points = min(sizes) if sizes else 0
    max_levels = min(p.max_levels for p in items)
    columns: dict[str, ColumnSummary] = {}
    for name, summary in first.columns.items():
        parts = [p.columns[name] for p in items]
        if isinstance(summary, NumericSummary):
            columns[name] = _merge_numeric(
                [p for p in parts if isinstance(p, NumericSummary)], max_points or None
            )
        else:
            columns[name] = _merge_categorical(
                [p for p in parts if isinstance(p, CategoricalSummary)], max_levels
            )
    return ReferenceProfile(
        n_rows=sum(p.n_rows for p in items),
        columns=columns,
        max_points=max_points,
        max_levels=max_levels,
        source=first.source if len(items) == 1 else None,
        skipped=first.skipped,
        # One model's importance holds for the whole; profiles of different models have none.
        importance=(
            first.importance if all(p.importance == first.importance for p in items) else None
        ),
    )


def _merge_numeric(parts: list[NumericSummary], max_points: int | None) -> NumericSummary:
    n_total = sum(p.n_total for p in parts)
    n_missing = sum(p.n_missing for p in parts)
    count, mean, m2 = 0, 0.0, 0.0
    for p in parts:
        if p.n == 0:
            continue
        # Chan et al. (1979) pairwise update: exact, order-independent up to rounding.
        total = count + p.n
        delta = p.mean - mean
        mean += delta * p.n / total
        m2 += p.m2 + delta * delta * count * p.n / total
        count = total
    present = [p for p in parts if p.n > 0]
    if present:
        points, weights = _distinct_with_weights(
            np.concatenate([p.values for p in present]),
            np.concatenate([p.weights for p in present]),
        )
        minimum = min(p.minimum for p in present)
        maximum = max(p.maximum for p in present)
    else:
        points = weights = np.empty(0)
        mean = m2 = minimum = maximum = math.nan
    exact = all(p.exact for p in parts) and (max_points is None or points.size <= max_points)
    if max_points is not None and points.size > max_points:
        points, weights = _compress(points, weights, max_points)
    return NumericSummary(
        n_total=n_total,
        n_missing=n_missing,
        mean=mean,
        m2=m2,
        minimum=minimum,
        maximum=maximum,
        values=points,
        weights=weights,
        exact=exact,
        dtype=parts[0].dtype,
    )


def _merge_categorical(parts: list[CategoricalSummary], max_levels: int) -> CategoricalSummary:
    counts: dict[str, int] = {}
    for p in parts:
        for level, count in p.counts.items():
            counts[level] = counts.get(level, 0) + count
    return CategoricalSummary(
        n_total=sum(p.n_total for p in parts),
        n_missing=sum(p.n_missing for p in parts),
        counts=_cap_levels(counts, max_levels),
        dtype=parts[0].dtype,
    )


def _cap_levels(counts: Mapping[str, int], max_levels: int) -> dict[str, int]:
    other = counts.get(OTHER_LEVEL, 0)
    ranked = sorted(
        ((k, v) for k, v in counts.items() if k != OTHER_LEVEL), key=lambda kv: (-kv[1], kv[0])
    )
    kept = dict(ranked[:max_levels])
    other += sum(v for _, v in ranked[max_levels:])
    if other:
        kept[OTHER_LEVEL] = other
    return kept


def _distinct_with_counts(ordered: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and their counts, in O(n)."""
    new_value = np.empty(ordered.size, dtype=bool)
    new_value[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new_value[1:])
    if new_value.all():  # all distinct: skip the gathers (the common case for floats)
        return ordered, np.ones(ordered.size)
    starts = np.flatnonzero(new_value)
    counts = np.diff(starts, append=ordered.size)
    return ordered[starts], counts.astype(float)


def _distinct_with_weights(
    values: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    return values[starts], np.add.reduceat(weights, starts)


def _compress(points: np.ndarray, weights: np.ndarray, max_points: int) -> tuple[np.ndarray, ...]:
    """Compress a weighted sketch to at most ``max_points`` points of about equal mass.

    Consecutive points are grouped so that each group holds about ``total / max_points`` of
    the mass, and each group is replaced by its weighted mean. Mass and the overall mean are
    preserved exactly; the CDF moves by at most one group's mass (about ``1 / max_points``).
    """
    cumulative = np.cumsum(weights)
    total = cumulative[-1]
    before = cumulative - weights
    groups = np.minimum((before / total * max_points).astype(np.int64), max_points - 1)
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    group_weight = np.add.reduceat(weights, starts)
    group_mean = np.add.reduceat(weights * points, starts) / group_weight
    # A weighted mean of sorted points is sorted, but rounding can tie neighbours: merge them.
    return _distinct_with_weights(group_mean, group_weight)


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _none_to_nan(value: Any) -> float:
    return math.nan if value is None else float(value)

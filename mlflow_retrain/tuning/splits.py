"""Gate split, training window and validation folds of the ``retrain`` step.

With a timestamp everything is time-ordered: the gate split is the most recent rows, windows
count back from the newest timestamp, and validation folds train on the past and validate on
the future. Without one, the gate split is a random (stratified) slice, ``last_rows`` keeps
the last rows in file order, and folds are (stratified) K-fold.

Frames returned here are in time order when a timestamp is given (stable for ties), else in
file order, so "the most recent share of the rows" is always their tail.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from mlflow_retrain.column_types import ColumnKind, infer_kind, is_temporal, is_time_column
from mlflow_retrain.config import WindowConfig
from mlflow_retrain.exceptions import InvalidInputError

__all__ = [
    "apply_window",
    "cv_splits",
    "parse_times",
    "split_columns",
    "split_gate",
]

logger = logging.getLogger(__name__)

_DAY = pd.Timedelta(days=1)


def parse_times(
    values: pd.Series | Sequence[Any] | np.ndarray, *, name: str = "timestamp"
) -> pd.Series:
    """Return timestamps as a datetime (or numeric) series, parsing text with ``pd.to_datetime``.

    Datetime and numeric columns are returned as they are (numbers order rows but do not
    support day-based windows).

    Args:
        values: The timestamp column.
        name: Column name, for messages.

    Returns:
        The parsed series (same index as ``values`` when it is a series).

    Raises:
        InvalidInputError: If text does not parse as dates, or a timestamp is missing.
    """
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if is_temporal(series) or (
        pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series)
    ):
        parsed = series
    else:
        try:
            parsed = pd.to_datetime(series)
        except (ValueError, TypeError):
            try:
                # Mixed formats or UTC offsets: parse each value, normalise to UTC.
                parsed = pd.to_datetime(series, format="mixed", utc=True)
            except (ValueError, TypeError) as err:
                first = series.dropna().iloc[0] if series.notna().any() else None
                raise InvalidInputError(
                    f"Timestamp column '{name}' does not parse as dates ({err}; first value "
                    f"{first!r}). Use ISO 8601 text or a datetime column."
                ) from err
    missing = int(parsed.isna().sum())
    if missing:
        raise InvalidInputError(
            f"Timestamp column '{name}' has {missing} missing value(s) of {len(parsed)}; rows "
            "cannot be ordered in time. Drop or fill them."
        )
    return parsed


def split_columns(
    data: pd.DataFrame,
    *,
    target: str,
    timestamp: str | None = None,
    kinds: Mapping[str, ColumnKind] | None = None,
) -> tuple[list[str], list[str]]:
    """Split the feature columns into numeric and categorical, as drift detection does.

    The target and the timestamp are left out; so are other date/time columns unless
    ``kinds`` declares them. Kinds follow :func:`mlflow_retrain.column_types.infer_kind`
    (booleans and text are categorical), overridden by ``kinds`` (``drift.columns``).

    Args:
        data: The training table.
        target: Label column.
        timestamp: Time column, if any.
        kinds: Column kind overrides by column name.

    Returns:
        Numeric and categorical feature columns, each in table order.

    Raises:
        InvalidInputError: If no feature column is left.
    """
    kinds = dict(kinds or {})
    numeric: list[str] = []
    categorical: list[str] = []
    for label in data.columns:
        name = str(label)
        if name in (target, timestamp):
            continue
        series = data[label]
        if name not in kinds and is_time_column(series):
            logger.info("Column '%s' holds dates or times; it is not used as a feature.", name)
            continue
        kind = kinds.get(name) or infer_kind(series)
        (numeric if kind == "numeric" else categorical).append(cast(str, label))
    if not numeric and not categorical:
        raise InvalidInputError(
            f"The training data has no feature column besides the target '{target}'"
            + (f" and timestamp '{timestamp}'" if timestamp else "")
            + ". Add feature columns."
        )
    return numeric, categorical


def split_gate(
    data: pd.DataFrame,
    *,
    target: str,
    timestamp: str | None,
    fraction: float,
    task: str,
    random_state: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out the gate split, which tuning never sees.

    With a timestamp the gate is the most recent ``fraction`` of the rows; rows sharing a
    timestamp stay on one side (the boundary moves to whichever side of the tie is closer
    to ``fraction``), so every gate row is strictly newer than every training row. Without
    one it is a random slice, stratified by class for classification when every class has
    at least 2 rows.

    Args:
        data: Labelled rows.
        target: Label column.
        timestamp: Time column, if any.
        fraction: Share of rows for the gate, in (0, 1).
        task: ``classification`` or ``regression``.
        random_state: Seed of the random split.

    Returns:
        ``(train, gate)``, each in time order (with a timestamp) or file order, keeping the
        original index.

    Raises:
        InvalidInputError: If either side would be empty, or the training side of a
            classification task would hold fewer than 2 classes.
    """
    if not 0.0 < fraction < 1.0:
        raise InvalidInputError(
            f"The gate fraction must be in (0, 1), got {fraction!r}. Set tuning.gate_fraction."
        )
    n = len(data)
    n_gate = math.ceil(n * fraction)
    if timestamp is not None:
        times = parse_times(data[timestamp], name=timestamp)
        order = np.argsort(times.to_numpy(), kind="stable")
        ordered = data.iloc[order]
        sorted_times = times.to_numpy()[order]
        cut = _tie_safe_cut(sorted_times, n - n_gate) if 0 < n_gate < n else n - n_gate
        train, gate = ordered.iloc[:cut], ordered.iloc[cut:]
    else:
        positions = np.arange(n)
        stratify = None
        if task == "classification" and n >= 2:
            counts = data[target].value_counts()
            n_classes = len(counts)
            if counts.min() >= 2 and n_classes <= min(n_gate, n - n_gate):
                stratify = data[target].to_numpy()
        if 0 < n_gate < n:
            train_pos, gate_pos = train_test_split(
                positions, test_size=n_gate, stratify=stratify, random_state=random_state
            )
        else:
            train_pos, gate_pos = positions, positions[:0]
        train = data.iloc[np.sort(train_pos)]
        gate = data.iloc[np.sort(gate_pos)]
    if len(train) == 0 or len(gate) == 0:
        side = "training" if len(train) == 0 else "gate"
        why = " (every row shares one timestamp)" if timestamp is not None and n > 1 else ""
        raise InvalidInputError(
            f"Splitting {n} rows with gate fraction {fraction:g} leaves the {side} side "
            f"empty{why}. Provide more rows or change tuning.gate_fraction."
        )
    if task == "classification":
        classes = train[target].nunique()
        if classes < 2:
            raise InvalidInputError(
                f"The training side of the gate split holds {classes} class(es) of target "
                f"'{target}'; a classifier needs at least 2. Provide more history or lower "
                "tuning.gate_fraction."
            )
        if gate[target].nunique() < 2:
            logger.warning(
                "The gate split (%d rows) holds a single class of '%s'; the gate comparison "
                "will be inconclusive for class-ranking metrics.",
                len(gate),
                target,
            )
    return train, gate


def _tie_safe_cut(sorted_times: np.ndarray, cut: int) -> int:
    """Move ``cut`` to the nearer edge of the tie group it falls in (keeping both sides
    non-empty when possible)."""
    n = len(sorted_times)
    at = sorted_times[cut]
    before = int(np.searchsorted(sorted_times, at, side="left"))
    after = int(np.searchsorted(sorted_times, at, side="right"))
    if before == cut:
        return cut
    candidates = [c for c in (before, after) if 0 < c < n] or [before]
    return min(candidates, key=lambda c: (abs(c - cut), c))


def apply_window(
    data: pd.DataFrame, window: WindowConfig, *, timestamp: str | None
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Keep the training window's rows, with recency weights for ``half_life``.

    * ``all``: every row.
    * ``last_rows``: the ``window.rows`` most recent rows (by time, else file order).
    * ``last_days``: rows at most ``window.days`` old.
    * ``half_life``: every row, weighted ``0.5 ** (age_days / window.half_life_days)``.

    Ages count from the newest timestamp, or from the current time with
    ``window.reference: now``.

    Args:
        data: The training rows.
        window: The window (``retrain.yaml`` ``window``).
        timestamp: Time column, if any (text is parsed with ``pd.to_datetime``).

    Returns:
        The window's rows (in time order with a timestamp, else file order) and sample weights
        aligned with them, or ``None``.

    Raises:
        InvalidInputError: If the window needs a timestamp and there is none, day-based
            windows meet a numeric timestamp, or the window selects no rows.
    """
    kind = window.kind
    if kind in ("last_days", "half_life") and timestamp is None:
        raise InvalidInputError(
            f"'window.kind: {kind}' needs a timestamp column, and none was given. Pass "
            "--timestamp (or set timestamp in retrain.yaml) or use window.kind last_rows/all."
        )
    weights: np.ndarray | None = None
    times: pd.Series | None = None
    if timestamp is not None:
        times = parse_times(data[timestamp], name=timestamp)
        order = np.argsort(times.to_numpy(), kind="stable")
        data, times = data.iloc[order], times.iloc[order]
    if kind == "last_rows":
        assert window.rows is not None
        data = data.iloc[max(0, len(data) - window.rows) :]
    elif kind in ("last_days", "half_life"):
        assert times is not None
        assert timestamp is not None
        if not is_temporal(times):
            raise InvalidInputError(
                f"'window.kind: {kind}' counts days, but timestamp column '{timestamp}' holds "
                f"numbers ({times.dtype}). Give dates or use window.kind last_rows."
            )
        anchor = times.max()
        if window.reference == "now":
            anchor = pd.Timestamp.now(tz=anchor.tz) if anchor.tz else pd.Timestamp.now()
        age_days = ((anchor - times) / _DAY).to_numpy(dtype=float)
        if kind == "last_days":
            assert window.days is not None
            data = data.iloc[age_days <= window.days]
        else:
            assert window.half_life_days is not None
            weights = np.power(0.5, age_days / window.half_life_days)
    if len(data) == 0:
        raise InvalidInputError(
            f"The training window (kind {kind}, reference {window.reference}) selects no rows "
            "of the training data. Provide newer training rows or widen window.days / "
            "window.rows."
        )
    return data, weights


def cv_splits(
    data: pd.DataFrame | int,
    *,
    y: pd.Series | np.ndarray | None = None,
    timestamp: str | pd.Series | np.ndarray | None = None,
    task: str,
    n_splits: int,
    random_state: int = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Validation folds as positional indices into ``data``.

    With a timestamp: expanding-window folds in time order (like scikit-learn's
    ``TimeSeriesSplit``: train on everything before a block, validate on the block), with
    fold boundaries moved to the nearest change of timestamp so every validation row is
    strictly newer than every training row of its fold. For classification, leading folds
    whose training rows hold a single class are dropped (with a warning). The last fold is the
    most recent. Without a timestamp: ``StratifiedKFold`` (shuffled) for classification,
    falling back to ``KFold`` with a warning when a class has fewer rows than folds, and
    ``KFold`` (shuffled) for regression.

    Training indices are in time order (with a timestamp) or ascending, so their tail is the
    most recent share of the fold's training rows.

    Args:
        data: The rows (or their number, when ``timestamp`` is an array or ``None``).
        y: Targets (needed for classification).
        timestamp: Time column name in ``data``, or the timestamps themselves.
        task: ``classification`` or ``regression``.
        n_splits: Number of folds (at least 2 requested; fewer may remain with time ties).
        random_state: Seed of the shuffled K-fold.

    Returns:
        ``[(train_indices, validation_indices), ...]``; the last is the most recent fold.

    Raises:
        InvalidInputError: If there are too few rows (or timestamps) for the folds.
    """
    n = data if isinstance(data, int) else len(data)
    labels = None if y is None else np.asarray(y)
    if task == "classification" and labels is None:
        raise InvalidInputError("cv_splits needs y= for a classification task. Pass the target.")
    if n_splits < 2:
        raise InvalidInputError(
            f"n_splits must be at least 2, got {n_splits}. Set tuning.cv_folds."
        )
    if n < n_splits + 1:
        raise InvalidInputError(
            f"{n} training rows are too few for {n_splits} validation folds. Provide more rows "
            "or lower tuning.cv_folds."
        )
    if timestamp is not None:
        if isinstance(timestamp, str):
            if isinstance(data, int):
                raise InvalidInputError(
                    "cv_splits got a timestamp column name but no table. Pass the data frame."
                )
            values = parse_times(data[timestamp], name=timestamp)
        else:
            values = parse_times(timestamp)
        return _time_splits(values.to_numpy(), labels, task=task, n_splits=n_splits)
    positions = np.arange(n)
    if task == "classification":
        assert labels is not None
        _, counts = np.unique(labels, return_counts=True)
        if counts.min() >= n_splits:
            folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
            return [(tr, va) for tr, va in folds.split(positions, labels)]
        warnings.warn(
            f"The rarest class has {counts.min()} row(s), fewer than the {n_splits} folds; "
            "using unstratified K-fold, so some folds may miss a class.",
            UserWarning,
            stacklevel=2,
        )
    folds_ = KFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    return [(tr, va) for tr, va in folds_.split(positions)]


def _time_splits(
    times: np.ndarray, labels: np.ndarray | None, *, task: str, n_splits: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    n = len(times)
    order = np.argsort(times, kind="stable")
    sorted_times = times[order]
    block = n // (n_splits + 1)
    nominal = [n - (n_splits - k) * block for k in range(n_splits)] + [n]
    # Only where the timestamp changes can a fold start without splitting a tie.
    starts = np.flatnonzero(sorted_times[1:] != sorted_times[:-1]) + 1
    if starts.size == 0:
        raise InvalidInputError(
            f"Every one of the {n} training rows has the same timestamp; time-ordered folds "
            "need at least 2 distinct times. Check the timestamp column."
        )
    bounds: list[int] = []
    for b in nominal[:-1]:
        snapped = int(starts[np.argmin(np.abs(starts - b))])
        if not bounds or snapped > bounds[-1]:
            bounds.append(snapped)
    bounds.append(n)
    splits: list[tuple[np.ndarray, np.ndarray]] = []
    for k in range(len(bounds) - 1):
        train, valid = order[: bounds[k]], order[bounds[k] : bounds[k + 1]]
        if task == "classification" and labels is not None and np.unique(labels[train]).size < 2:
            logger.warning(
                "Dropping time fold %d: its %d training rows hold a single class.", k, len(train)
            )
            continue
        splits.append((train, valid))
    if not splits:
        raise InvalidInputError(
            "No time-ordered validation fold has at least 2 classes in its training rows. "
            "Provide more history or lower tuning.cv_folds."
        )
    if len(splits) < n_splits:
        warnings.warn(
            f"Only {len(splits)} of {n_splits} time-ordered folds could be formed (tied "
            "timestamps or single-class history).",
            UserWarning,
            stacklevel=3,
        )
    return splits

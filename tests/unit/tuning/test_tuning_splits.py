"""Gate split, training windows, validation folds, and feature columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _tuning_frames import CATEGORICAL, NUMERIC, mixed_frame

from mlflow_retrain.config import WindowConfig
from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.tuning import apply_window, cv_splits, split_columns, split_gate


def _shuffled(frame: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    return frame.sample(frac=1.0, random_state=seed)


def _daily(n_days: int, per_day: int, *, seed: int = 0) -> pd.DataFrame:
    """Rows with heavily tied timestamps (``per_day`` rows per day), in shuffled order."""
    rng = np.random.default_rng(seed)
    days = np.repeat(pd.date_range("2024-03-01", periods=n_days, freq="D"), per_day)
    frame = pd.DataFrame(
        {"ts": days, "x": rng.normal(size=len(days)), "y": rng.integers(0, 2, len(days))}
    )
    return _shuffled(frame)


def test_split_columns_excludes_target_timestamp_and_other_dates() -> None:
    data = mixed_frame().assign(when=pd.Timestamp("2024-01-01"))
    assert split_columns(data, target="y", timestamp="ts") == (NUMERIC, CATEGORICAL)


def test_split_columns_leaves_out_dates_written_as_text() -> None:
    days = pd.Series(pd.date_range("2024-01-01", periods=len(mixed_frame())).strftime("%Y-%m-%d"))
    data = mixed_frame().assign(opened=days.astype("str").to_numpy())

    assert split_columns(data, target="y", timestamp="ts") == (NUMERIC, CATEGORICAL)


def test_split_columns_honours_declared_kinds() -> None:
    data = mixed_frame()
    numeric, categorical = split_columns(
        data, target="y", timestamp="ts", kinds={"num_b": "categorical"}
    )
    assert numeric == ["num_a"]
    assert categorical == ["num_b", *CATEGORICAL]


def test_split_gate_with_timestamp_holds_out_the_newest_rows() -> None:
    data = _shuffled(mixed_frame())
    train, gate = split_gate(
        data, target="y", timestamp="ts", fraction=0.2, task="classification", random_state=0
    )
    assert len(gate) == 48
    assert pd.to_datetime(gate["ts"]).min() > pd.to_datetime(train["ts"]).max()
    assert pd.to_datetime(train["ts"]).is_monotonic_increasing
    assert set(train.index).isdisjoint(gate.index)
    assert set(train.index) | set(gate.index) == set(data.index)


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.25, 0.33])
def test_split_gate_keeps_tied_timestamps_on_one_side(fraction: float) -> None:
    data = _daily(10, 7)
    train, gate = split_gate(
        data, target="y", timestamp="ts", fraction=fraction, task="classification"
    )
    assert gate["ts"].min() > train["ts"].max()
    assert abs(len(gate) - fraction * len(data)) <= 7 / 2


def test_split_gate_without_timestamp_is_a_stratified_random_slice() -> None:
    rng = np.random.default_rng(1)
    data = pd.DataFrame(
        {"x": rng.normal(size=200), "y": np.repeat(["a", "b", "c"], [120, 60, 20])}
    )
    train, gate = split_gate(
        data, target="y", timestamp=None, fraction=0.25, task="classification", random_state=4
    )
    assert gate["y"].value_counts().to_dict() == {"a": 30, "b": 15, "c": 5}
    assert set(train.index).isdisjoint(gate.index)
    assert len(train) + len(gate) == len(data)
    assert train.index.is_monotonic_increasing


def test_split_gate_without_timestamp_tolerates_a_singleton_class() -> None:
    data = pd.DataFrame({"x": range(20), "y": ["a"] * 10 + ["b"] * 9 + ["c"]})
    train, gate = split_gate(
        data, target="y", timestamp=None, fraction=0.2, task="classification", random_state=0
    )
    assert (len(train), len(gate)) == (16, 4)


def test_split_gate_rejects_a_single_timestamp() -> None:
    data = pd.DataFrame({"ts": ["2024-01-01"] * 10, "x": range(10), "y": [0, 1] * 5})
    with pytest.raises(InvalidInputError, match=r"leaves the training side empty"):
        split_gate(data, target="y", timestamp="ts", fraction=0.2, task="classification")


def test_split_gate_rejects_single_class_history() -> None:
    data = pd.DataFrame(
        {"ts": pd.date_range("2024-01-01", periods=10), "x": range(10), "y": [0] * 8 + [1] * 2}
    )
    with pytest.raises(
        InvalidInputError, match=r"holds 1 class\(es\).*lower tuning.gate_fraction"
    ):
        split_gate(data, target="y", timestamp="ts", fraction=0.2, task="classification")


def test_window_all_keeps_every_row_without_weights() -> None:
    data = mixed_frame()
    rows, weights = apply_window(data, WindowConfig(), timestamp=None)
    assert len(rows) == len(data)
    assert weights is None


def test_window_last_rows_keeps_the_newest_rows_by_time() -> None:
    data = _shuffled(mixed_frame())
    rows, _ = apply_window(data, WindowConfig(kind="last_rows", rows=30), timestamp="ts")
    newest = sorted(data["ts"])[-30:]
    assert list(rows["ts"]) == newest


def test_window_last_rows_without_timestamp_keeps_the_file_tail() -> None:
    data = mixed_frame()
    rows, _ = apply_window(data, WindowConfig(kind="last_rows", rows=30), timestamp=None)
    assert list(rows.index) == list(data.index[-30:])


def test_window_last_days_counts_back_from_the_newest_timestamp() -> None:
    data = _daily(10, 3)
    rows, weights = apply_window(data, WindowConfig(kind="last_days", days=2.0), timestamp="ts")
    assert sorted(rows["ts"].dt.day.unique()) == [8, 9, 10]
    assert weights is None


def test_window_half_life_weights_halve_per_half_life() -> None:
    data = _daily(5, 2)
    rows, weights = apply_window(
        data, WindowConfig(kind="half_life", half_life_days=2.0), timestamp="ts"
    )
    assert weights is not None
    assert len(rows) == len(data)
    by_day = dict(zip(rows["ts"].dt.day, weights, strict=True))
    assert by_day[5] == pytest.approx(1.0)
    assert by_day[3] == pytest.approx(0.5)
    assert by_day[1] == pytest.approx(0.25)


@pytest.mark.parametrize("kind", ["last_days", "half_life"])
def test_window_needing_a_timestamp_without_one_is_rejected(kind: str) -> None:
    window = WindowConfig(kind=kind, days=1.0, half_life_days=1.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=rf"'window.kind: {kind}' needs a timestamp"):
        apply_window(mixed_frame(), window, timestamp=None)


def test_window_selecting_no_rows_is_rejected() -> None:
    empty = mixed_frame().iloc[:0]
    with pytest.raises(InvalidInputError, match=r"selects no rows.*widen window.days"):
        apply_window(empty, WindowConfig(kind="last_rows", rows=5), timestamp="ts")


def test_day_windows_reject_a_numeric_timestamp() -> None:
    data = pd.DataFrame({"t": range(10), "x": range(10)})
    with pytest.raises(InvalidInputError, match=r"counts days.*holds numbers"):
        apply_window(data, WindowConfig(kind="last_days", days=1.0), timestamp="t")


@pytest.mark.parametrize("frame", [_shuffled(mixed_frame()), _daily(12, 5)])
def test_time_folds_validate_on_the_future(frame: pd.DataFrame) -> None:
    times = pd.to_datetime(frame["ts"]).to_numpy()
    splits = cv_splits(frame, y=frame["y"], timestamp="ts", task="classification", n_splits=3)
    assert len(splits) == 3
    for train, valid in splits:
        assert times[valid].min() > times[train].max()
        assert np.all(np.diff(times[train]) >= np.timedelta64(0))
    last_valid = splits[-1][1]
    assert times[last_valid].max() == times.max()
    assert times[last_valid].min() >= max(times[v].max() for _, v in splits[:-1])


def test_stratified_folds_partition_the_rows_and_keep_class_shares() -> None:
    y = np.repeat(["a", "b"], [90, 30])
    splits = cv_splits(len(y), y=y, task="classification", n_splits=3, random_state=0)
    assert sorted(np.concatenate([v for _, v in splits])) == list(range(len(y)))
    for _, valid in splits:
        assert (y[valid] == "b").sum() == 10


def test_folds_fall_back_to_kfold_when_a_class_is_rarer_than_the_folds() -> None:
    y = np.array(["a"] * 20 + ["b"] * 2)
    with pytest.warns(UserWarning, match="unstratified K-fold"):
        splits = cv_splits(len(y), y=y, task="classification", n_splits=3, random_state=0)
    assert sorted(np.concatenate([v for _, v in splits])) == list(range(len(y)))


def test_regression_folds_are_shuffled_kfold() -> None:
    splits = cv_splits(30, task="regression", n_splits=3, random_state=0)
    valid = [set(v) for _, v in splits]
    assert set().union(*valid) == set(range(30))
    assert valid[0] != set(range(10))


def test_too_few_rows_for_the_folds_are_rejected() -> None:
    with pytest.raises(InvalidInputError, match=r"3 training rows are too few for 3"):
        cv_splits(3, task="regression", n_splits=3)

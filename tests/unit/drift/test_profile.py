"""Reference profiles: summaries, sketches, JSON form and merging."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlflow_retrain.drift import (
    CategoricalSummary,
    NumericSummary,
    ReferenceProfile,
    build_profile,
    infer_kind,
    merge_profiles,
)
from mlflow_retrain.drift.profile import is_date_text, level_label
from mlflow_retrain.exceptions import InvalidInputError


def mixed_frame(seed: int, n: int = 2_000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3.0, 1.0, n)
    amount[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "amount": amount,
            "age": rng.integers(18, 90, n),
            "score": np.round(rng.normal(size=n), 1),
            "flag": rng.random(n) < 0.3,
            "city": rng.choice(["paris", "lyon", "nice", "lille"], n, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


def sketch_cdf(summary: NumericSummary, at: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(summary.weights) / summary.weights.sum()
    index = np.searchsorted(summary.values, at, side="right")
    return np.where(index > 0, cdf[np.maximum(index - 1, 0)], 0.0)


def max_cdf_error(summary: NumericSummary, data: np.ndarray) -> float:
    data = np.sort(data[~np.isnan(data)])
    empirical = np.searchsorted(data, data, side="right") / data.size
    return float(np.abs(sketch_cdf(summary, data) - empirical).max())


def numeric(profile: ReferenceProfile, name: str) -> NumericSummary:
    summary = profile.columns[name]
    assert isinstance(summary, NumericSummary)
    return summary


def categorical(profile: ReferenceProfile, name: str) -> CategoricalSummary:
    summary = profile.columns[name]
    assert isinstance(summary, CategoricalSummary)
    return summary


def test_profile_json_round_trip_preserves_every_field() -> None:
    profile = build_profile(mixed_frame(0), max_points=64, source="s3://bucket/ref.parquet")

    restored = ReferenceProfile.from_json(profile.to_json())

    assert restored.to_dict() == profile.to_dict()
    assert restored.digest == profile.digest
    assert restored.source == "s3://bucket/ref.parquet"


def test_a_model_profile_keeps_its_importance_through_json() -> None:
    profile = build_profile(mixed_frame(0), max_points=64).with_importance(
        {"age": 3.0, "score": 1.0, "flag": 0.0, "city": 0.0, "not_profiled": 5.0}
    )

    restored = ReferenceProfile.from_json(profile.to_json())

    # Kept to the profiled columns and rescaled to shares.
    assert restored.importance == {"amount": 0.0, "age": 0.75, "score": 0.25, "flag": 0.0,
                                   "city": 0.0}  # fmt: skip
    assert restored.digest == profile.digest
    assert "importance" not in build_profile(mixed_frame(0)).to_dict()


@pytest.mark.parametrize(
    "importance",
    ['{"age": 0.5, "ghost": 0.5}', '{"age": -0.5, "score": 1.5}', '{"age": 0.5}'],
    ids=["unknown_column", "negative", "not_summing_to_one"],
)
def test_a_damaged_importance_is_a_damaged_profile(importance: str) -> None:
    data = build_profile(mixed_frame(0), max_points=64).to_dict()
    data["importance"] = json.loads(importance)

    with pytest.raises(InvalidInputError, match=r"damaged .*importance"):
        ReferenceProfile.from_dict(data)


def test_merged_profiles_keep_a_shared_importance_only() -> None:
    shares = {"age": 0.5, "score": 0.5}
    first = build_profile(mixed_frame(1), max_points=64).with_importance(shares)
    second = build_profile(mixed_frame(2), max_points=64).with_importance(shares)
    other = build_profile(mixed_frame(3), max_points=64).with_importance({"age": 1.0})

    assert merge_profiles([first, second]).importance == first.importance
    assert merge_profiles([first, other]).importance is None


def test_profile_json_is_strict_json() -> None:
    frame = pd.DataFrame({"empty": [np.nan, np.nan], "x": [1.0, 2.0]})

    text = build_profile(frame).to_json()

    assert json.loads(text)["columns"]["empty"]["mean"] is None
    json.dumps(json.loads(text), allow_nan=False)


def test_columns_get_kinds_and_counts() -> None:
    frame = mixed_frame(1)

    profile = build_profile(frame)

    assert profile.kinds == {
        "amount": "numeric",
        "age": "numeric",
        "score": "numeric",
        "flag": "categorical",
        "city": "categorical",
    }
    amount = numeric(profile, "amount")
    assert amount.n_total == len(frame)
    assert amount.n_missing == int(frame["amount"].isna().sum())
    assert categorical(profile, "city").counts == frame["city"].value_counts().to_dict()
    assert categorical(profile, "flag").counts == {
        "False": int((~frame["flag"]).sum()),
        "True": int(frame["flag"].sum()),
    }


def test_sketch_is_exact_when_distinct_values_fit() -> None:
    frame = mixed_frame(2)
    values, counts = np.unique(frame["age"], return_counts=True)

    summary = numeric(build_profile(frame, max_points=len(values)), "age")

    assert summary.exact
    np.testing.assert_array_equal(summary.values, values)
    np.testing.assert_array_equal(summary.weights, counts)


def test_compressed_sketch_keeps_mass_and_exact_moments() -> None:
    data = mixed_frame(3, n=20_000)["amount"].to_numpy()
    present = data[~np.isnan(data)]

    summary = numeric(build_profile(pd.DataFrame({"amount": data}), max_points=100), "amount")

    assert not summary.exact
    assert summary.values.size <= 100
    assert np.all(np.diff(summary.values) > 0)
    assert summary.weights.sum() == pytest.approx(present.size, rel=1e-12)
    assert summary.mean == pytest.approx(present.mean(), rel=1e-12)
    assert summary.std == pytest.approx(present.std(), rel=1e-12)
    assert summary.minimum == present.min()
    assert summary.maximum == present.max()
    sketch_mean = float(np.sum(summary.values * summary.weights) / summary.weights.sum())
    assert sketch_mean == pytest.approx(present.mean(), rel=1e-12)


@pytest.mark.parametrize("max_points", [16, 100, 1000])
def test_compressed_sketch_cdf_is_within_one_group_of_the_data(max_points: int) -> None:
    data = np.random.default_rng(4).standard_t(3, size=30_000)

    summary = numeric(build_profile(pd.DataFrame({"x": data}), max_points=max_points), "x")

    assert max_cdf_error(summary, data) <= 1.0 / max_points + 1e-12


def split(frame: pd.DataFrame, at: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    return frame.iloc[:at].reset_index(drop=True), frame.iloc[at:].reset_index(drop=True)


def test_merge_equals_profile_of_union_when_sketches_are_exact() -> None:
    frame = mixed_frame(5)
    first, second = split(frame, 700)

    merged = merge_profiles([build_profile(first), build_profile(second)])
    whole = build_profile(frame)

    assert merged.n_rows == whole.n_rows
    for name in ("age", "score"):
        got, want = numeric(merged, name), numeric(whole, name)
        assert got.exact
        assert want.exact
        np.testing.assert_array_equal(got.values, want.values)
        np.testing.assert_array_equal(got.weights, want.weights)
    for name in ("flag", "city"):
        assert categorical(merged, name).counts == categorical(whole, name).counts


@pytest.mark.parametrize("name", ["amount", "age", "score"])
def test_merge_combines_counts_and_moments_exactly(name: str) -> None:
    frame = mixed_frame(6)
    parts = [frame.iloc[:300], frame.iloc[300:1100], frame.iloc[1100:]]

    merged = numeric(merge_profiles([build_profile(p, max_points=32) for p in parts]), name)
    whole = numeric(build_profile(frame, max_points=32), name)

    assert (merged.n_total, merged.n_missing) == (whole.n_total, whole.n_missing)
    assert merged.mean == pytest.approx(whole.mean, rel=1e-12)
    assert merged.m2 == pytest.approx(whole.m2, rel=1e-10)
    assert (merged.minimum, merged.maximum) == (whole.minimum, whole.maximum)
    assert merged.weights.sum() == pytest.approx(whole.weights.sum(), rel=1e-12)


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_merged_compressed_sketch_cdf_is_within_two_groups_of_the_data(seed: int) -> None:
    max_points = 128
    data = np.random.default_rng(seed).normal(size=40_000)
    frame = pd.DataFrame({"x": data})
    first, second = split(frame, 15_000)

    merged = merge_profiles(
        [build_profile(first, max_points=max_points), build_profile(second, max_points=max_points)]
    )

    summary = numeric(merged, "x")
    assert not summary.exact
    assert summary.values.size <= max_points
    assert max_cdf_error(summary, data) <= 2.0 / max_points


def test_merge_of_one_profile_is_that_profile() -> None:
    profile = build_profile(mixed_frame(10), max_points=50, source="here")

    assert merge_profiles([profile]).to_dict() == profile.to_dict()


def test_merge_uses_the_smallest_sketch_size() -> None:
    frame = pd.DataFrame({"x": np.random.default_rng(11).normal(size=5_000)})
    first, second = split(frame, 2_000)

    merged = merge_profiles(
        [build_profile(first, max_points=400), build_profile(second, max_points=50)]
    )

    assert merged.max_points == 50
    assert numeric(merged, "x").values.size <= 50


@pytest.mark.parametrize(
    "other",
    [
        pd.DataFrame({"x": [1.0, 2.0], "z": [3.0, 4.0]}),
        pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]}),
        pd.DataFrame({"x": [1.0, 2.0]}),
    ],
    ids=["renamed", "kind_changed", "column_dropped"],
)
def test_merging_profiles_with_different_columns_raises(other: pd.DataFrame) -> None:
    profile = build_profile(pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]}))

    with pytest.raises(InvalidInputError, match="different columns or column kinds"):
        merge_profiles([profile, build_profile(other)])


def test_merging_nothing_raises() -> None:
    with pytest.raises(InvalidInputError, match="No profiles to merge"):
        merge_profiles([])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"format": "something-else", "version": 1}', "not an mlflow-retrain reference"),
        ("[1, 2]", "not an mlflow-retrain reference"),
        ('{"format": "mlflow-retrain/profile", "version": 99}', "version 99 is not supported"),
        ('{"format": "mlflow-retrain/profile", "version": 1}', "damaged"),
        (
            '{"format": "mlflow-retrain/profile", "version": 1, "n_rows": 1,'
            ' "columns": {"x": {"kind": "text"}}}',
            "damaged .*unknown column kind 'text'",
        ),
        (
            '{"format": "mlflow-retrain/profile", "version": 1, "n_rows": 1,'
            ' "columns": {"x": {"kind": "numeric", "n_total": 1}}}',
            "damaged .*KeyError",
        ),
    ],
    ids=[
        "not_json",
        "other_format",
        "not_object",
        "future_version",
        "no_columns",
        "unknown_kind",
        "missing_field",
    ],
)
def test_bad_profile_json_raises(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        ReferenceProfile.from_json(text)


def test_categorical_level_cap_pools_rarest_levels_under_other() -> None:
    series = pd.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 10 + ["d"] * 6 + ["e"] * 4)

    profile = build_profile(pd.DataFrame({"c": series}), max_levels=2)

    counts = categorical(profile, "c").counts
    assert counts == {"a": 50, "b": 30, "__other__": 20}
    assert categorical(profile, "c").pooled == 20


def test_level_cap_breaks_count_ties_by_name() -> None:
    series = pd.Series(["z"] * 5 + ["y"] * 5 + ["x"] * 5)

    counts = categorical(build_profile(pd.DataFrame({"c": series}), max_levels=2), "c").counts

    assert counts == {"x": 5, "y": 5, "__other__": 5}


def test_merge_reapplies_the_level_cap() -> None:
    first = build_profile(pd.DataFrame({"c": ["a", "a", "b", "c"]}), max_levels=2)
    second = build_profile(pd.DataFrame({"c": ["c", "c", "d"]}), max_levels=2)

    counts = categorical(merge_profiles([first, second]), "c").counts

    # The first part kept a and b and pooled its one "c"; that count stays pooled.
    assert counts == {"a": 2, "c": 2, "__other__": 3}


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(pd.date_range("2024-01-01", periods=4)),
        pd.Series(pd.date_range("2024-01-01", periods=4, tz="UTC")),
        pd.Series(pd.to_timedelta([1, 2, 3, 4], unit="h")),
        pd.Series(pd.period_range("2024-01", periods=4, freq="M")),
    ],
    ids=["datetime", "datetime_tz", "timedelta", "period"],
)
def test_temporal_columns_are_skipped(column: pd.Series) -> None:
    profile = build_profile(pd.DataFrame({"when": column, "x": [1.0, 2.0, 3.0, 4.0]}))

    assert profile.skipped == ("when",)
    assert list(profile.columns) == ["x"]


@pytest.mark.parametrize(
    "values",
    [
        ["2025-01-01", "2025-01-02", None, "2025-02-28"],  # a CSV export's ISO dates
        ["2025-01-01T08:15:00Z", "2025-01-01 09:00", "2025-01-02T10:00:00+01:00"],
        ["31/01/2025", "01/02/2025", "15/02/2025"],
        ["2025/01/31", "2025/02/01"],
        ["Jan 5, 2025", "Feb 12 2025"],
        ["5 Jan 2025", "12 February 2025"],
    ],
    ids=["iso_date", "iso_datetime", "day_first", "slashes", "month_name", "day_month_name"],
)
def test_dates_written_as_text_are_skipped(values: list[str | None]) -> None:
    when = pd.Series(values, dtype="str")

    profile = build_profile(pd.DataFrame({"when": when, "x": range(len(values))}))

    assert profile.skipped == ("when",)
    assert list(profile.columns) == ["x"]


@pytest.mark.parametrize(
    "values",
    [
        ["12", "13", "14"],  # codes, not dates
        ["2025-01-01", "pending"],  # one value that is no date: a categorical column
        ["2025-13-45", "2025-14-01"],  # date-shaped but impossible
        ["north", "south"],
        [None, None],
    ],
    ids=["numeric_codes", "mixed", "impossible_dates", "words", "empty"],
)
def test_text_that_is_not_all_dates_is_profiled(values: list[str | None]) -> None:
    profile = build_profile(pd.DataFrame({"c": pd.Series(values, dtype="str")}))

    assert profile.skipped == ()
    assert list(profile.columns) == ["c"]


def test_a_long_text_date_column_is_recognised_from_a_spread_sample() -> None:
    days = pd.date_range("2020-01-01", periods=5_000, freq="h").strftime("%Y-%m-%d %H:%M")
    frame = pd.DataFrame({"when": pd.Series(days, dtype="str")})

    assert is_date_text(frame["when"])
    assert not is_date_text(frame["when"].where(frame.index != 4_999, "n/a"))


def test_temporal_column_with_kind_override_is_profiled() -> None:
    frame = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=3, freq="D")})

    profile = build_profile(frame, kinds={"when": "categorical"})

    assert profile.skipped == ()
    assert categorical(profile, "when").n == 3


def test_numeric_override_on_text_column_raises() -> None:
    frame = pd.DataFrame({"amount": ["1.5", "2", "n/a", None]})

    with pytest.raises(
        InvalidInputError, match=r"'amount' is numeric but has 1 non-numeric.*'n/a'"
    ):
        build_profile(frame, kinds={"amount": "numeric"})


def test_numeric_override_parses_numeric_text() -> None:
    frame = pd.DataFrame({"amount": ["1.5", "2", None]})

    summary = numeric(build_profile(frame, kinds={"amount": "numeric"}), "amount")

    np.testing.assert_array_equal(summary.values, [1.5, 2.0])
    assert summary.n_missing == 1


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (2.0, "2"),
        (np.float32(3.0), "3"),
        (np.float64(-1.0), "-1"),
        (2.5, "2.5"),
        (7, "7"),
        (np.int64(7), "7"),
        ("2.0", "2.0"),
        (True, "True"),
    ],
)
def test_level_label_prints_whole_floats_as_integers(value: object, label: str) -> None:
    assert level_label(value) == label


def test_integer_codes_count_as_one_level_with_or_without_missing_values() -> None:
    with_gap = pd.DataFrame({"code": [1.0, 2.0, 2.0, np.nan]})

    profile = build_profile(with_gap, kinds={"code": "categorical"})

    assert categorical(profile, "code").counts == {"2": 2, "1": 1}
    assert categorical(profile, "code").n_missing == 1


@pytest.mark.parametrize(
    ("series", "kind"),
    [
        (pd.Series([1, 2, 3]), "numeric"),
        (pd.Series([1.5, np.nan]), "numeric"),
        (pd.Series([True, False]), "categorical"),
        (pd.Series(["a", "b"]), "categorical"),
        (pd.Series(["a", "b"], dtype="category"), "categorical"),
        (pd.Series([1, None], dtype="Int64"), "numeric"),
    ],
    ids=["int", "float", "bool", "str", "category", "nullable_int"],
)
def test_infer_kind(series: pd.Series, kind: str) -> None:
    assert infer_kind(series) == kind


def test_empty_numeric_column_has_nan_moments_and_no_points() -> None:
    summary = numeric(build_profile(pd.DataFrame({"x": [np.nan, np.nan]})), "x")

    assert summary.n == 0
    assert summary.values.size == 0
    assert np.isnan(summary.std)
    assert summary.missing_rate == 1.0

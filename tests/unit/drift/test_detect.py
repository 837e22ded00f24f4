"""Dataset drift decisions: tests per column, false-discovery control and the share rule."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from mlflow_retrain.config import (
    CategoricalDriftConfig,
    DriftConfig,
    MissingDriftConfig,
    NumericDriftConfig,
)
from mlflow_retrain.drift import (
    DriftReport,
    FeatureDrift,
    build_profile,
    detect_drift,
    reference_profile,
)
from mlflow_retrain.drift.columns import ks_p_value
from mlflow_retrain.exceptions import InvalidInputError

LEVELS = ["a", "b", "c", "d", "e"]
SHARES = [0.4, 0.25, 0.15, 0.12, 0.08]


def frame(
    rng: np.random.Generator,
    n: int,
    *,
    n_numeric: int = 4,
    n_categorical: int = 2,
    shift: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Numeric columns x0.. ~ N(shift, 1); categorical columns c0.. over LEVELS."""
    shift = shift or {}
    data: dict[str, object] = {}
    for i in range(n_numeric):
        data[f"x{i}"] = rng.normal(shift.get(f"x{i}", 0.0), 1.0, n)
    for j in range(n_categorical):
        data[f"c{j}"] = rng.choice(LEVELS, n, p=SHARES)
    return pd.DataFrame(data)


def same_results(a: FeatureDrift, b: FeatureDrift) -> bool:
    return a.to_dict() == b.to_dict()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240101)


def test_clear_shift_is_detected(rng: np.random.Generator) -> None:
    reference = frame(rng, 3_000)
    current = frame(rng, 2_000, shift={"x0": 1.0, "x1": 0.8})

    report = detect_drift(reference, current)

    assert report.drift_detected
    assert report.drifted_columns == ("x0", "x1")
    assert report.feature("x0").p_value_adjusted < 1e-10
    assert report.feature("x0").effect_size == pytest.approx(1.0, abs=0.15)


@pytest.mark.parametrize("seed", range(5))
def test_null_batch_is_not_flagged(seed: int) -> None:
    # Under H0 the Wasserstein effect of 5,000 vs 5,000 rows is ~0.02 sd, far below 0.1.
    rng = np.random.default_rng(seed)

    report = detect_drift(frame(rng, 5_000), frame(rng, 5_000))

    assert not report.drift_detected
    assert report.drifted_columns == ()
    assert report.reason == "No column drifted (6 tested)."


def test_tiny_shift_on_huge_sample_is_significant_not_drifted(rng: np.random.Generator) -> None:
    reference = frame(rng, 200_000, n_numeric=1, n_categorical=0)
    current = frame(rng, 200_000, n_numeric=1, n_categorical=0, shift={"x0": 0.03})

    feature = detect_drift(reference, current).feature("x0")

    assert feature.p_value_adjusted < 1e-6
    assert feature.effect_size < 0.1
    assert not feature.drifted


def test_zero_min_effect_flags_significant_tiny_shift(rng: np.random.Generator) -> None:
    reference = frame(rng, 200_000, n_numeric=1, n_categorical=0)
    current = frame(rng, 200_000, n_numeric=1, n_categorical=0, shift={"x0": 0.03})
    config = DriftConfig(numeric=NumericDriftConfig(min_effect=0.0))

    assert detect_drift(reference, current, config=config).feature("x0").drifted


def test_psi_can_gate_numeric_drift(rng: np.random.Generator) -> None:
    reference = frame(rng, 4_000, n_numeric=1, n_categorical=0)
    current = frame(rng, 4_000, n_numeric=1, n_categorical=0, shift={"x0": 0.5})
    config = DriftConfig(numeric=NumericDriftConfig(effect_metric="psi", min_effect=0.1))

    feature = detect_drift(reference, current, config=config).feature("x0")

    assert feature.effect_metric == "psi"
    assert feature.effect_size == feature.effects["psi"]
    assert feature.drifted


def test_drifted_critical_column_alone_means_dataset_drift(rng: np.random.Generator) -> None:
    reference = frame(rng, 3_000, n_numeric=10, n_categorical=0)
    current = frame(rng, 3_000, n_numeric=10, n_categorical=0, shift={"x3": 1.0})

    plain = detect_drift(reference, current)
    critical = detect_drift(reference, current, config=DriftConfig(critical_columns=("x3",)))

    assert plain.drifted_columns == ("x3",)
    assert not plain.drift_detected  # share 0.1 < 0.25
    assert critical.drift_detected
    assert critical.critical_drifted == ("x3",)
    assert critical.feature("x3").critical
    assert critical.reason.startswith("Critical column(s) x3 drifted")


def test_undrifted_critical_column_does_not_trigger(rng: np.random.Generator) -> None:
    reference = frame(rng, 3_000, n_numeric=10, n_categorical=0)
    current = frame(rng, 3_000, n_numeric=10, n_categorical=0, shift={"x3": 1.0})

    report = detect_drift(reference, current, config=DriftConfig(critical_columns=("x0",)))

    assert not report.drift_detected
    assert report.critical_drifted == ()


@pytest.mark.parametrize(("drift_share", "detected"), [(0.2, True), (0.25, True), (0.3, False)])
def test_dataset_drifts_when_share_reaches_threshold(
    rng: np.random.Generator, drift_share: float, detected: bool
) -> None:
    reference = frame(rng, 3_000, n_numeric=4, n_categorical=0)
    current = frame(rng, 3_000, n_numeric=4, n_categorical=0, shift={"x2": 1.0})

    report = detect_drift(reference, current, config=DriftConfig(drift_share=drift_share))

    assert report.share_drifted == 0.25
    assert report.drift_detected is detected


def _six_columns(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Six numeric columns; only x0 moves, by 0.2 sd, in a batch of 5,000 rows."""
    reference = frame(rng, 5_000, n_numeric=6, n_categorical=0)
    current = frame(rng, 5_000, n_numeric=6, n_categorical=0, shift={"x0": 0.2})
    return reference, current


#: A champion that leans on x0: the importance shares a retrained version's profile carries.
LEANS_ON_X0 = {"x0": 0.6, "x1": 0.2, "x2": 0.05, "x3": 0.05, "x4": 0.05, "x5": 0.05}


def test_one_drifted_column_the_champion_leans_on_drifts_the_dataset(
    rng: np.random.Generator,
) -> None:
    reference, current = _six_columns(rng)
    profile = build_profile(reference, max_points=None).with_importance(LEANS_ON_X0)

    report = detect_drift(profile, current)

    assert report.drifted_columns == ("x0",)
    assert report.weighting == "importance"
    assert report.share_drifted == pytest.approx(0.6)
    assert report.drift_detected is True
    assert "importance share 0.60 >= threshold 0.20" in report.reason
    assert report.feature("x0").weight == pytest.approx(0.6)


def test_counted_alone_one_column_of_six_stays_below_the_share(
    rng: np.random.Generator,
) -> None:
    # The same batch by column count (a reference without importance, or weights: equal):
    # one column in six is a share of 0.17, below 0.2.
    reference, current = _six_columns(rng)
    profile = build_profile(reference, max_points=None).with_importance(LEANS_ON_X0)

    by_count = detect_drift(profile, current, config=DriftConfig(weights="equal"))
    plain = detect_drift(reference, current)

    for report in (by_count, plain):
        assert report.drifted_columns == ("x0",)
        assert report.weighting == "equal"
        assert report.share_drifted == pytest.approx(1 / 6)
        assert report.drift_detected is False
        assert [f.weight for f in report.features] == pytest.approx([1 / 6] * 6)


def test_a_drifted_column_the_champion_ignores_counts_for_its_small_share(
    rng: np.random.Generator,
) -> None:
    reference, current = _six_columns(rng)
    ignores_x0 = {"x0": 0.0, "x1": 0.5, "x2": 0.5}
    profile = build_profile(reference, max_points=None).with_importance(ignores_x0)

    report = detect_drift(profile, current)

    assert report.drifted_columns == ("x0",)
    assert (report.share_drifted, report.drift_detected) == (0.0, False)
    assert [f.weight for f in report.features] == [0.0, 0.5, 0.5, 0.0, 0.0, 0.0]


def test_weights_are_rescaled_over_the_tested_columns(rng: np.random.Generator) -> None:
    reference, current = _six_columns(rng)
    profile = build_profile(reference, max_points=None).with_importance(LEANS_ON_X0)

    report = detect_drift(profile, current, ignore=["x1"])  # x1 carried 0.2

    assert report.feature("x0").weight == pytest.approx(0.6 / 0.8)
    assert sum(f.weight for f in report.features) == pytest.approx(1.0)


def test_ignored_columns_are_skipped_with_reason(rng: np.random.Generator) -> None:
    reference = frame(rng, 2_000)
    current = frame(rng, 2_000, shift={"x0": 2.0, "x1": 2.0}).drop(columns=["c1"])

    report = detect_drift(reference, current, ignore=["x0", "c1"])
    both = detect_drift(reference, current, config=DriftConfig(ignore=("x0",)), ignore=["c1"])

    for result in (report, both):
        assert [f.name for f in result.features] == ["x1", "x2", "x3", "c0"]
        assert {s.name: s.reason for s in result.skipped} == {
            "x0": "ignored by configuration",
            "c1": "ignored by configuration",
        }
        assert result.drifted_columns == ("x1",)


def test_target_is_reported_apart_and_not_counted(rng: np.random.Generator) -> None:
    reference = frame(rng, 3_000).assign(label=rng.choice([0, 1], 3_000, p=[0.9, 0.1]))
    current = frame(rng, 3_000).assign(label=rng.choice([0, 1], 3_000, p=[0.5, 0.5]))

    report = detect_drift(reference, current, target="label")

    assert report.target is not None
    assert report.target.drifted
    assert report.target.test == "chi2"  # few distinct numeric labels are tested as classes
    assert "label" not in [f.name for f in report.features]
    assert not report.drift_detected
    assert report.n_drifted == 0


def test_continuous_target_is_tested_as_numeric(rng: np.random.Generator) -> None:
    reference = frame(rng, 2_000).assign(y=rng.normal(size=2_000))
    current = frame(rng, 2_000).assign(y=rng.normal(1.0, 1.0, size=2_000))

    report = detect_drift(reference, current, target="y")

    assert report.target is not None
    assert report.target.test == "ks"
    assert report.target.drifted


def test_absent_target_is_not_required_in_current(rng: np.random.Generator) -> None:
    reference = frame(rng, 1_000).assign(label=rng.choice([0, 1], 1_000))

    report = detect_drift(reference, frame(rng, 1_000), target="label")

    assert report.target is None


def test_missing_rate_drift_is_detected_on_its_own(rng: np.random.Generator) -> None:
    reference = frame(rng, 4_000, n_numeric=1, n_categorical=1)
    current = frame(rng, 4_000, n_numeric=1, n_categorical=1)
    current.loc[rng.random(4_000) < 0.2, ["x0", "c0"]] = np.nan

    report = detect_drift(reference, current)

    for name in ("x0", "c0"):
        feature = report.feature(name)
        assert feature.missing_drifted
        assert not feature.distribution_drifted
        assert feature.drifted
        assert feature.missing_rate_reference == 0.0
        assert feature.missing_rate_current == pytest.approx(0.2, abs=0.03)
        assert feature.effects["missing_rate_change"] == pytest.approx(0.2, abs=0.03)


def test_small_missing_rate_change_is_not_drift(rng: np.random.Generator) -> None:
    reference = frame(rng, 50_000, n_numeric=1, n_categorical=0)
    current = frame(rng, 50_000, n_numeric=1, n_categorical=0)
    current.loc[rng.random(50_000) < 0.02, "x0"] = np.nan

    feature = detect_drift(reference, current).feature("x0")

    assert feature.missing_p_value_adjusted < 1e-10
    assert not feature.missing_drifted
    assert not feature.drifted


def test_columns_without_missing_values_have_no_missing_test(rng: np.random.Generator) -> None:
    feature = detect_drift(frame(rng, 500), frame(rng, 500)).feature("x0")

    assert math.isnan(feature.missing_p_value)
    assert math.isnan(feature.missing_p_value_adjusted)


def test_unseen_categorical_level_is_drift(rng: np.random.Generator) -> None:
    reference = frame(rng, 3_000, n_numeric=0, n_categorical=1)
    current = frame(rng, 3_000, n_numeric=0, n_categorical=1)
    current.loc[rng.random(3_000) < 0.3, "c0"] = "zzz"

    feature = detect_drift(reference, current).feature("c0")

    assert feature.drifted
    assert feature.unseen_categories == ("zzz",)
    assert feature.n_unseen_categories == 1
    assert feature.unseen_share == pytest.approx(0.3, abs=0.03)


def test_level_shift_in_categorical_is_drift(rng: np.random.Generator) -> None:
    reference = frame(rng, 3_000, n_numeric=0, n_categorical=1)
    current = pd.DataFrame({"c0": rng.choice(LEVELS, 3_000, p=SHARES[::-1])})

    feature = detect_drift(reference, current).feature("c0")

    assert feature.drifted
    assert feature.effect_metric == "jensen_shannon"
    assert feature.unseen_categories == ()


@pytest.mark.parametrize("values", [[5.0] + [np.nan] * 99, [np.nan] * 100], ids=["one", "none"])
def test_column_with_too_few_values_is_inconclusive_not_drifted(
    rng: np.random.Generator, values: list[float]
) -> None:
    reference = frame(rng, 100, n_numeric=2, n_categorical=0)
    current = frame(rng, 100, n_numeric=2, n_categorical=0, shift={"x1": 3.0})
    current["x0"] = values

    report = detect_drift(reference, current)

    feature = report.feature("x0")
    assert feature.inconclusive_reason is not None
    assert "fewer than 2 non-missing values" in feature.inconclusive_reason
    assert math.isnan(feature.p_value)
    assert not feature.distribution_drifted
    assert report.feature("x1").drifted  # the rest of the report is unaffected
    json.dumps(report.to_dict(), allow_nan=False)


def test_constant_column_in_both_is_not_drifted(rng: np.random.Generator) -> None:
    reference = frame(rng, 500).assign(k=1.0)
    current = frame(rng, 500).assign(k=1.0)

    feature = detect_drift(reference, current).feature("k")

    assert feature.statistic == 0.0
    assert feature.p_value == pytest.approx(1.0)
    assert not feature.drifted


def test_column_missing_from_current_raises(rng: np.random.Generator) -> None:
    reference = frame(rng, 100)
    current = frame(rng, 100).drop(columns=["x2", "c1"])

    with pytest.raises(
        InvalidInputError,
        match=r"Column 'x2' is in the reference but not in the current batch \(2 missing",
    ):
        detect_drift(reference, current)


def test_unknown_critical_column_raises(rng: np.random.Generator) -> None:
    config = DriftConfig(critical_columns=("nope",))

    with pytest.raises(InvalidInputError, match="Critical column 'nope' is not in the reference"):
        detect_drift(frame(rng, 100), frame(rng, 100), config=config)


def test_text_in_numeric_column_raises(rng: np.random.Generator) -> None:
    reference = frame(rng, 100, n_categorical=0)
    current = frame(rng, 100, n_categorical=0).astype({"x1": object})
    current.loc[3, "x1"] = "n/a"

    with pytest.raises(InvalidInputError, match=r"'x1' is numeric but has 1 non-numeric.*'n/a'"):
        detect_drift(reference, current)


def test_date_columns_are_skipped(rng: np.random.Generator) -> None:
    reference = frame(rng, 100).assign(day=pd.Timestamp("2024-01-01"))
    current = frame(rng, 100).assign(day=pd.Timestamp("2025-01-01"))

    report = detect_drift(reference, current)

    assert "day" not in [f.name for f in report.features]
    assert [s.to_dict() for s in report.skipped] == [
        {"name": "day", "reason": "date/time column: not tested for drift"}
    ]


def test_dates_written_as_text_are_never_drift_columns(rng: np.random.Generator) -> None:
    # A CSV has no date type: the application date arrives as text, new every month.
    days = pd.date_range("2024-01-01", periods=100).strftime("%Y-%m-%d")
    reference = frame(rng, 100).assign(applied=pd.Series(days, dtype="str"))
    later = pd.date_range("2025-01-01", periods=100).strftime("%Y-%m-%d")
    current = frame(rng, 100).assign(applied=pd.Series(later, dtype="str"))

    report = detect_drift(reference, current)

    assert "applied" not in [f.name for f in report.features]
    assert "applied" not in report.drifted_columns
    assert [s.name for s in report.skipped] == ["applied"]


def test_all_pvalues_form_one_family(rng: np.random.Generator) -> None:
    reference = frame(rng, 1_000)
    current = frame(rng, 1_000, shift={"x0": 0.2})
    current.loc[rng.random(1_000) < 0.05, "x1"] = np.nan
    config = DriftConfig(fdr_method="bonferroni")

    report = detect_drift(reference, current, config=config)

    # 6 distribution tests + 1 missing-rate test (only x1 has missing values).
    for feature in report.features:
        assert feature.p_value_adjusted == pytest.approx(min(1.0, 7 * feature.p_value))
    x1 = report.feature("x1")
    assert x1.missing_p_value_adjusted == pytest.approx(min(1.0, 7 * x1.missing_p_value))


def test_table_reference_equals_its_exact_profile(rng: np.random.Generator) -> None:
    reference = frame(rng, 3_000)
    reference.loc[rng.random(3_000) < 0.1, "x1"] = np.nan
    current = frame(rng, 2_500, shift={"x0": 0.3})

    from_table = detect_drift(reference, current)
    from_profile = detect_drift(reference_profile(reference), current)

    assert from_table.reference_source == "table"
    assert from_profile.reference_source == "profile"
    assert replace(from_profile, reference_source="table").to_dict() == from_table.to_dict()


def test_profile_with_exact_sketches_gives_the_same_report(rng: np.random.Generator) -> None:
    # Rounded values: fewer distinct values than max_points, so the sketch is exact.
    reference = frame(rng, 4_000).round({"x0": 1, "x1": 1, "x2": 2, "x3": 2})
    current = frame(rng, 3_000, shift={"x1": 0.4}).round({"x0": 1, "x1": 1, "x2": 2, "x3": 2})
    profile = build_profile(reference, max_points=2048)
    assert all(getattr(s, "exact", True) for s in profile.columns.values())

    from_table = detect_drift(reference, current)
    from_profile = detect_drift(profile, current)

    assert from_profile.drifted_columns == from_table.drifted_columns == ("x1",)
    for got, want in zip(from_profile.features, from_table.features, strict=True):
        assert same_results(got, want)


@pytest.mark.parametrize("seed", range(3))
def test_compressed_profile_agrees_with_raw_table(seed: int) -> None:
    max_points = 256
    rng = np.random.default_rng(seed)
    reference = frame(rng, 30_000, n_numeric=6, n_categorical=2)
    current = frame(
        rng, 20_000, n_numeric=6, n_categorical=2, shift={"x0": 0.5, "x1": 0.2, "x2": 0.02}
    )
    profile = build_profile(reference, max_points=max_points)

    from_table = detect_drift(reference, current)
    from_profile = detect_drift(profile, current)

    assert from_profile.drifted_columns == from_table.drifted_columns == ("x0", "x1")
    assert from_profile.drift_detected == from_table.drift_detected
    for got, want in zip(from_profile.features, from_table.features, strict=True):
        if want.kind == "categorical":
            # The same counts; only the adjusted p-value depends on the rest of the family.
            assert got.statistic == want.statistic
            assert got.p_value == want.p_value
            assert got.effect_size == want.effect_size
            continue
        # The sketch's CDF is within 1/max_points of the data's, so D moves at most that.
        tol = 1.0 / max_points
        assert got.statistic == pytest.approx(want.statistic, abs=tol)
        # W1 moves at most by W1(sketch, data) <= range / max_points.
        column = reference[want.name]
        w1_tol = (column.max() - column.min()) / max_points / column.std(ddof=0)
        assert got.effect_size == pytest.approx(want.effect_size, abs=w1_tol)
        # The p-value is monotone in D: it stays between those of D -/+ tol.
        n_ref, n_cur = want.n_reference, want.n_current
        assert ks_p_value(want.statistic + tol, n_ref, n_cur) <= got.p_value
        assert got.p_value <= ks_p_value(max(want.statistic - tol, 0.0), n_ref, n_cur)


def test_report_to_dict_is_strict_json_with_documented_keys(rng: np.random.Generator) -> None:
    reference = frame(rng, 500)
    current = frame(rng, 500, shift={"x0": 1.0})
    current["x3"] = np.nan  # inconclusive: NaN statistics must become null

    data = detect_drift(reference, current).to_dict()

    text = json.dumps(data, allow_nan=False)
    assert json.loads(text) == data
    assert {"drift_detected", "n_reference", "n_current", "features", "run_id"} <= data.keys()
    assert data["run_id"] is None
    assert (data["n_reference"], data["n_current"]) == (500, 500)
    keys = {
        "name",
        "kind",
        "test",
        "statistic",
        "p_value",
        "p_value_adjusted",
        "effect_size",
        "effect_metric",
        "drifted",
        "missing_rate_reference",
        "missing_rate_current",
        "unseen_categories",
    }
    for feature in data["features"]:
        assert keys <= feature.keys()
    assert data["weighting"] == "equal"
    assert sum(f["weight"] for f in data["features"]) == pytest.approx(1.0)
    x3 = next(f for f in data["features"] if f["name"] == "x3")
    assert x3["statistic"] is None
    assert x3["p_value"] is None
    assert x3["effect_size"] is None


def test_report_is_a_frozen_dataclass(rng: np.random.Generator) -> None:
    report = detect_drift(frame(rng, 200), frame(rng, 200))

    assert isinstance(report, DriftReport)
    with pytest.raises(AttributeError, match="cannot assign to field"):
        report.drift_detected = True  # type: ignore[misc]


def test_config_thresholds_apply_per_kind(rng: np.random.Generator) -> None:
    reference = frame(rng, 3_000, n_numeric=1, n_categorical=1)
    current = frame(rng, 3_000, n_numeric=1, n_categorical=1, shift={"x0": 0.3})
    current.loc[rng.random(3_000) < 0.1, "c0"] = np.nan
    config = DriftConfig(
        numeric=NumericDriftConfig(min_effect=0.5),
        categorical=CategoricalDriftConfig(min_effect=0.5),
        missing=MissingDriftConfig(min_effect=0.5),
    )

    report = detect_drift(reference, current, config=config)

    assert report.feature("x0").min_effect == 0.5
    assert report.feature("c0").min_effect == 0.5
    assert report.drifted_columns == ()

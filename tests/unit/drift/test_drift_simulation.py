"""Simulations: false alarms under H0 and power under known shifts (marker ``slow``).

Rates are checked against binomial three-sigma bounds, so the tests hold for any seed with
probability above 99.8 %; the seeds are fixed only to make failures reproducible.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mlflow_retrain.config import (
    CategoricalDriftConfig,
    DriftConfig,
    MissingDriftConfig,
    NumericDriftConfig,
)
from mlflow_retrain.drift import detect_drift

pytestmark = pytest.mark.slow

ALPHA = 0.05
N_NUMERIC = 20
CATEGORICAL_LEVELS = (3, 5, 8, 12, 20)
N_COLUMNS = N_NUMERIC + len(CATEGORICAL_LEVELS)
#: Strictest decision: no effect-size gate and "any column" as the dataset rule. Under the
#: global null the dataset alarm rate is then the family-wise error of BH, which is alpha.
STRICT = DriftConfig(
    alpha=ALPHA,
    drift_share=1 / N_COLUMNS,
    numeric=NumericDriftConfig(min_effect=0.0),
    categorical=CategoricalDriftConfig(min_effect=0.0),
    missing=MissingDriftConfig(min_effect=0.0),
)


def upper_bound(rate: float, reps: int) -> float:
    """Three-sigma binomial upper bound on an observed rate whose true value is ``rate``."""
    return rate + 3 * math.sqrt(rate * (1 - rate) / reps)


def null_frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """25 columns drawn from fixed distributions: 20 numeric of mixed shapes, 5 Zipf-like."""
    data: dict[str, np.ndarray] = {}
    for i in range(N_NUMERIC):
        kind = i % 4
        if kind == 0:
            data[f"f{i}"] = rng.normal(i, 1 + i / 10, n)
        elif kind == 1:
            data[f"f{i}"] = rng.lognormal(0.0, 0.5, n)
        elif kind == 2:
            data[f"f{i}"] = rng.uniform(0.0, 1.0, n)
        else:
            data[f"f{i}"] = rng.standard_t(4, n)
    for j, k in enumerate(CATEGORICAL_LEVELS):
        shares = 1.0 / np.arange(1, k + 1)
        names = np.array([f"L{level}" for level in range(k)], dtype=object)
        data[f"c{j}"] = names[rng.choice(k, n, p=shares / shares.sum())]
    return pd.DataFrame(data)


@pytest.fixture(scope="module")
def null_alarm_rates() -> dict[str, float]:
    """Dataset alarm rates over 200 null repetitions, default and strict configuration."""
    reps, rows = 200, 2_000
    rng = np.random.default_rng(2024)
    alarms = {"default": 0, "strict": 0}
    for _ in range(reps):
        reference, current = null_frame(rng, rows), null_frame(rng, rows)
        alarms["default"] += detect_drift(reference, current).drift_detected
        alarms["strict"] += detect_drift(reference, current, config=STRICT).drift_detected
    rates = {name: count / reps for name, count in alarms.items()}
    print(f"\nnull dataset alarm rates over {reps} reps x {N_COLUMNS} columns: {rates}")
    return rates


def test_default_config_false_alarm_rate_is_at_most_alpha(
    null_alarm_rates: dict[str, float],
) -> None:
    assert null_alarm_rates["default"] <= upper_bound(ALPHA, 200)


def test_bh_keeps_any_column_alarm_rate_at_alpha_under_global_null(
    null_alarm_rates: dict[str, float],
) -> None:
    assert null_alarm_rates["strict"] <= upper_bound(ALPHA, 200)


def one_column(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    return pd.DataFrame({"x": rng.normal(shift, 1.0, n)})


def test_hundredth_sd_shift_on_a_million_rows_is_significant_but_not_drift() -> None:
    rng = np.random.default_rng(1)
    reference, current = one_column(rng, 1_000_000, 0.0), one_column(rng, 1_000_000, 0.01)

    report = detect_drift(reference, current)

    feature = report.feature("x")
    assert feature.p_value < ALPHA
    assert feature.effect_size < 0.02
    assert not feature.drifted
    assert not report.drift_detected


@pytest.mark.parametrize("seed", range(20))
def test_three_tenths_sd_shift_on_5000_rows_is_drift(seed: int) -> None:
    rng = np.random.default_rng(seed)

    report = detect_drift(one_column(rng, 5_000, 0.0), one_column(rng, 5_000, 0.3))

    assert report.feature("x").drifted
    assert report.drift_detected


def test_power_for_fifth_sd_shift_grows_with_rows() -> None:
    reps, rng = 200, np.random.default_rng(7)
    power: dict[int, float] = {}
    for rows in (500, 1_000, 2_000):
        hits = sum(
            detect_drift(one_column(rng, rows, 0.0), one_column(rng, rows, 0.2)).drift_detected
            for _ in range(reps)
        )
        power[rows] = hits / reps
    print(f"\ndetection rate of a 0.2 sd shift over {reps} reps, by rows per side: {power}")

    assert power[500] <= power[2_000]
    assert power[2_000] >= 0.95

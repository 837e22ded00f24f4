"""Per-column drift tests, checked against scipy on the raw samples."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from mlflow_retrain.drift import (
    CategoricalTest,
    NumericTest,
    categorical_test,
    missing_rate_test,
    numeric_test,
)
from mlflow_retrain.drift.columns import ks_p_value

Sampler = Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]]


def exact_test(reference: np.ndarray, current: np.ndarray, **kwargs: object) -> NumericTest:
    """numeric_test with the exact step reference of a raw sample."""
    values, counts = np.unique(reference, return_counts=True)
    return numeric_test(
        values,
        counts.astype(float),
        np.sort(current),
        ref_std=float(np.std(reference)),
        **kwargs,  # type: ignore[arg-type]
    )


# Small samples (both at most 10,000): scipy's ks_2samp uses its exact distribution.
SMALL_CASES: dict[str, Sampler] = {
    "continuous": lambda r: (r.normal(size=300), r.normal(0.2, 1.0, size=300)),
    "unequal_sizes": lambda r: (r.normal(size=257), r.normal(0.1, 1.3, size=1031)),
    "tied_discrete": lambda r: (
        r.integers(0, 6, 400).astype(float),
        r.integers(0, 7, 350).astype(float),
    ),
    "rounded_with_ties": lambda r: (
        np.round(r.normal(size=500), 1),
        np.round(r.normal(0.1, 1.0, size=800), 1),
    ),
    "current_left_of_reference": lambda r: (r.uniform(10, 11, 200), r.uniform(0, 1, 150)),
    "current_right_of_reference": lambda r: (r.uniform(0, 1, 200), r.uniform(10, 11, 150)),
    "current_touches_reference_max": lambda r: (np.arange(50.0), np.arange(49.0, 80.0)),
    "single_point_reference": lambda r: (np.full(40, 3.0), r.normal(3.0, 1.0, 60)),
    "single_point_reference_inside_ties": lambda r: (
        np.full(40, 2.0),
        r.integers(0, 5, 60).astype(float),
    ),
    "identical_samples": lambda r: (np.arange(100.0), np.arange(100.0)),
    "tiny_samples": lambda r: (np.array([1.0, 2.0]), np.array([1.5, 2.5, 3.5])),
}
# Large samples: scipy's ks_2samp uses Smirnov's asymptotic distribution.
LARGE_CASES: dict[str, Sampler] = {
    "continuous": lambda r: (r.normal(size=12_000), r.normal(0.02, 1.0, size=15_000)),
    "heavy_tailed": lambda r: (r.standard_t(2, size=20_000), r.standard_t(2, size=11_000)),
    "tied_discrete": lambda r: (
        r.poisson(3.0, 30_000).astype(float),
        r.poisson(3.1, 12_000).astype(float),
    ),
    "shifted_out_of_range": lambda r: (r.uniform(0, 1, 11_000), r.uniform(5, 6, 10_500)),
}
SEEDS = [0, 1, 2]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("case", SMALL_CASES, ids=str)
def test_ks_matches_scipy_exact_mode_on_small_samples(case: str, seed: int) -> None:
    reference, current = SMALL_CASES[case](np.random.default_rng(seed))

    result = exact_test(reference, current)

    expected = stats.ks_2samp(reference, current, method="exact")
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-10, abs=1e-300)


def test_ks_falls_back_to_asymptotic_p_value_without_warning_when_exact_fails() -> None:
    # Binary 0/1 columns with D = 5/400: scipy's exact recursion fails here and it returns
    # the asymptotic p-value with a RuntimeWarning; we return the same p-value, silently.
    reference = np.r_[np.zeros(200), np.ones(200)]
    current = np.r_[np.zeros(205), np.ones(195)]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = exact_test(reference, current)

    expected = stats.ks_2samp(reference, current, method="asymp")
    assert result.statistic == pytest.approx(0.0125, abs=1e-15)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("case", LARGE_CASES, ids=str)
def test_ks_matches_scipy_asymptotic_mode_on_large_samples(case: str, seed: int) -> None:
    reference, current = LARGE_CASES[case](np.random.default_rng(seed))

    result = exact_test(reference, current)

    expected = stats.ks_2samp(reference, current)  # method="auto" picks asymp here
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-10, abs=1e-300)


@pytest.mark.parametrize("case", ["continuous", "unequal_sizes", "tied_discrete"])
def test_ks_uses_asymptotic_p_value_when_reference_is_a_sketch(case: str) -> None:
    reference, current = SMALL_CASES[case](np.random.default_rng(3))

    result = exact_test(reference, current, exact_reference=False)

    expected = stats.ks_2samp(reference, current, method="asymp")
    assert result.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-10, abs=1e-300)


@pytest.mark.parametrize(
    ("d", "n_ref", "n_cur"), [(0.01, 50_000, 20_000), (0.3, 200, 30_000), (0.0, 11, 13)]
)
def test_ks_p_value_is_scipy_kstwo_at_rounded_effective_size(
    d: float, n_ref: int, n_cur: int
) -> None:
    en = n_ref * n_cur / (n_ref + n_cur)

    assert ks_p_value(d, n_ref, n_cur) == pytest.approx(stats.kstwo.sf(d, round(en)), rel=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("case", [*SMALL_CASES, *(f"large_{c}" for c in LARGE_CASES)], ids=str)
def test_wasserstein_matches_scipy(case: str, seed: int) -> None:
    sampler = LARGE_CASES[case[6:]] if case.startswith("large_") else SMALL_CASES[case]
    reference, current = sampler(np.random.default_rng(seed))

    result = exact_test(reference, current)

    expected = stats.wasserstein_distance(reference, current)
    assert result.wasserstein == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_wasserstein_std_is_wasserstein_over_reference_std() -> None:
    rng = np.random.default_rng(4)
    reference, current = rng.normal(0, 3, 1000), rng.normal(1, 3, 1000)

    result = exact_test(reference, current)

    assert result.wasserstein_std == pytest.approx(result.wasserstein / np.std(reference))


def test_wasserstein_std_of_constant_reference_uses_scale_floor() -> None:
    # Reference std 0: the divisor is floored at 1e-3 of the reference's magnitude (5 here).
    result = exact_test(np.full(20, 5.0), np.full(20, 6.0))

    assert result.wasserstein == pytest.approx(1.0)
    assert result.wasserstein_std == pytest.approx(1.0 / 5e-3)


def test_psi_matches_hand_computed_two_bin_example() -> None:
    # Reference 1..10: the median edge is 5, so the bins are (-inf, 5] and (5, inf) with
    # shares 0.5 / 0.5. Current: 2 of 8 values <= 5, shares 0.25 / 0.75.
    # PSI = (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5) = 0.25 ln 2 + 0.25 ln 1.5.
    reference = np.arange(1.0, 11.0)
    current = np.array([1.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 10.0])

    result = exact_test(reference, current, psi_bins=2)

    assert result.psi == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5), rel=1e-12)


def test_psi_clips_empty_bins_at_epsilon() -> None:
    # Every current value above the reference: current shares (0, 1) clip to (1e-4, 1).
    # PSI = (1e-4 - 0.5) ln(1e-4 / 0.5) + (1 - 0.5) ln(1 / 0.5).
    reference = np.arange(1.0, 11.0)
    current = np.full(8, 20.0)

    result = exact_test(reference, current, psi_bins=2)

    expected = (1e-4 - 0.5) * math.log(1e-4 / 0.5) + 0.5 * math.log(2.0)
    assert result.psi == pytest.approx(expected, rel=1e-12)


def test_psi_matches_hand_computed_decile_example() -> None:
    # Reference 1..100 in deciles: edges 10, 20, ..., 90, each bin 0.1. Current: 0.2 in the
    # first decile, 0 in the second (clipped to 1e-4), 0.1 in each of the other eight.
    reference = np.arange(1.0, 101.0)
    current = np.r_[np.full(20, 5.0), np.arange(21.0, 101.0)]

    result = exact_test(reference, current, psi_bins=10)

    expected = (0.2 - 0.1) * math.log(0.2 / 0.1) + (1e-4 - 0.1) * math.log(1e-4 / 0.1)
    assert result.psi == pytest.approx(expected, rel=1e-12)


def test_identical_samples_have_zero_statistic_and_effects() -> None:
    sample = np.random.default_rng(5).normal(size=500)

    result = exact_test(sample, sample)

    assert result.statistic == 0.0
    assert result.p_value == pytest.approx(1.0)
    assert result.wasserstein == pytest.approx(0.0, abs=1e-12)
    assert result.psi == pytest.approx(0.0, abs=1e-12)


def table_test(table: np.ndarray) -> tuple[float, float, int]:
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue), int(result.dof)


def test_categorical_test_matches_chi2_contingency_on_the_explicit_table() -> None:
    reference = {"a": 50, "b": 30, "c": 20}
    current = {"a": 30, "b": 30, "c": 40}

    result = categorical_test(reference, current)

    statistic, p_value, dof = table_test(np.array([[50, 30, 20], [30, 30, 40]]))
    assert result.statistic == pytest.approx(statistic, rel=1e-12)
    assert result.p_value == pytest.approx(p_value, rel=1e-12)
    assert result.dof == dof == 2


def test_categorical_test_puts_unseen_levels_in_the_table() -> None:
    reference = {"a": 60, "b": 40}
    current = {"a": 50, "b": 30, "new": 20}

    result = categorical_test(reference, current)

    statistic, p_value, _ = table_test(np.array([[60, 40, 0], [50, 30, 20]]))
    assert result.statistic == pytest.approx(statistic, rel=1e-12)
    assert result.p_value == pytest.approx(p_value, rel=1e-12)


def test_unseen_levels_are_reported_most_frequent_first_then_by_name() -> None:
    reference = {"a": 100, "b": 80}
    current = {"a": 90, "x": 5, "b": 70, "y": 7, "w": 5}

    result = categorical_test(reference, current)

    assert result.unseen == (("y", 7), ("w", 5), ("x", 5))
    assert result.unseen_share == pytest.approx(17 / 177)


def test_sparse_levels_are_pooled_before_the_chi_square_test() -> None:
    # "c" and "d" have combined counts 3 and 2 (< 5): they form one pooled bin.
    reference = {"a": 50, "b": 50, "c": 2, "d": 1}
    current = {"a": 40, "b": 60, "c": 1, "d": 1}

    result = categorical_test(reference, current, min_expected=5)

    statistic, p_value, dof = table_test(np.array([[50, 50, 3], [40, 60, 2]]))
    assert result.statistic == pytest.approx(statistic, rel=1e-12)
    assert result.p_value == pytest.approx(p_value, rel=1e-12)
    assert result.dof == dof


def test_pooled_reference_compares_unlisted_levels_with_other_bin() -> None:
    # The reference pooled its rare levels under __other__: current levels it does not list
    # may be among them, so they join that bin and are not reported as unseen.
    reference = {"a": 50, "b": 30, "__other__": 20}
    current = {"a": 40, "b": 30, "z": 15, "q": 10}

    result = categorical_test(reference, current, pooled_reference=True)

    statistic, p_value, _ = table_test(np.array([[50, 30, 20], [40, 30, 25]]))
    assert result.unseen == ()
    assert result.unseen_share == 0.0
    assert result.statistic == pytest.approx(statistic, rel=1e-12)
    assert result.p_value == pytest.approx(p_value, rel=1e-12)
    assert result.jensen_shannon == pytest.approx(
        distance.jensenshannon([0.5, 0.3, 0.2], [0.4, 0.3, 0.25], base=2), rel=1e-12
    )


@pytest.mark.parametrize(
    ("reference", "current"),
    [
        ({"a": 50, "b": 30, "c": 20}, {"a": 30, "b": 30, "c": 40}),
        ({"a": 10, "b": 90}, {"a": 10, "b": 80, "c": 10}),
        ({"a": 1}, {"b": 1}),
        ({"a": 7, "b": 3}, {"a": 7, "b": 3}),
    ],
)
def test_jensen_shannon_matches_scipy_base_2_over_union_of_levels(
    reference: dict[str, int], current: dict[str, int]
) -> None:
    levels = sorted(set(reference) | set(current))
    p = np.array([reference.get(level, 0) for level in levels], dtype=float)
    q = np.array([current.get(level, 0) for level in levels], dtype=float)

    result = categorical_test(reference, current)

    expected = distance.jensenshannon(p / p.sum(), q / q.sum(), base=2)
    assert result.jensen_shannon == pytest.approx(expected, abs=1e-12)


def test_single_level_is_not_tested_and_has_p_value_one() -> None:
    result = categorical_test({"a": 100}, {"a": 40})

    assert result == CategoricalTest(
        statistic=0.0, p_value=1.0, dof=0, jensen_shannon=0.0, unseen=(), unseen_share=0.0
    )


@pytest.mark.parametrize(
    ("missing_ref", "n_ref", "missing_cur", "n_cur"),
    [(10, 1000, 30, 1000), (0, 500, 5, 800), (200, 1000, 150, 900), (3, 40, 1, 60)],
)
def test_missing_rate_test_equals_uncorrected_chi_square_on_2x2_table(
    missing_ref: int, n_ref: int, missing_cur: int, n_cur: int
) -> None:
    table = np.array([[missing_ref, n_ref - missing_ref], [missing_cur, n_cur - missing_cur]])

    p_value = missing_rate_test(missing_ref, n_ref, missing_cur, n_cur)

    assert p_value == pytest.approx(table_test(table)[1], rel=1e-10)


@pytest.mark.parametrize(
    ("missing_ref", "n_ref", "missing_cur", "n_cur"),
    [
        (100, 100, 50, 50),  # everything missing on both sides
        (0, 100, 0, 50),  # nothing missing
        (0, 0, 5, 10),  # empty reference
        (3, 10, 0, 0),  # empty batch
    ],
)
def test_missing_rate_test_is_one_when_degenerate(
    missing_ref: int, n_ref: int, missing_cur: int, n_cur: int
) -> None:
    assert missing_rate_test(missing_ref, n_ref, missing_cur, n_cur) == 1.0

"""Per-column drift tests, checked against scipy on the raw samples."""

from __future__ import annotations

import itertools
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
from mlflow_retrain.drift.columns import ks_p_value, pool_sparse_levels

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


def test_sparse_levels_are_pooled_by_their_expected_count_in_the_smaller_sample() -> None:
    # "c" and "d" were seen 603 and 402 times in all, but a batch of 50 rows expects them
    # 3.0 and 2.0 times (their pooled share times 50): below 5, they form one bin (5.0).
    reference = {"a": 5000, "b": 4000, "c": 600, "d": 400}
    current = {"a": 25, "b": 20, "c": 3, "d": 2}

    result = categorical_test(reference, current, min_expected=5)

    statistic, p_value, dof = table_test(np.array([[5000, 4000, 1000], [25, 20, 5]]))
    assert result.statistic == pytest.approx(statistic, rel=1e-12)
    assert result.p_value == pytest.approx(p_value, rel=1e-12)
    assert result.dof == dof == 2
    assert result.method == "asymptotic"


def test_a_pooled_bin_still_too_sparse_takes_in_the_least_expected_level() -> None:
    # In the batch of 20, levels 2-4 expect 3.6, 0.8 and 0.4 rows: pooled, still 4.8 < 5,
    # so the least expected other level (5.2) joins them; the first level (10.0) stays.
    ref = np.array([5000.0, 1800.0, 400.0, 200.0, 2600.0])
    cur = np.array([10.0, 3.0, 1.0, 1.0, 5.0])

    ref_bins, cur_bins = pool_sparse_levels(ref, cur, 5)

    np.testing.assert_array_equal(ref_bins, [5000.0, 5000.0])
    np.testing.assert_array_equal(cur_bins, [10.0, 10.0])


def test_a_new_level_in_a_batch_too_small_to_pool_is_still_found() -> None:
    # 100 levels of 1% each expect half a row apiece in a batch of 50: no two bins can expect
    # 5 rows, so every level is tested on its own (Monte Carlo); the new level on a fifth of
    # the batch leaves no drawn table as extreme (the smallest p-value, 1 / 2001).
    reference = {f"L{i}": 100 for i in range(100)}
    current = {"L0": 20, "L1": 20, "new": 10}

    result = categorical_test(reference, current)

    assert result.method == "monte_carlo"
    assert result.p_value == pytest.approx(1 / 2001)
    assert result.unseen == (("new", 10),)
    assert result.jensen_shannon > 0.5


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
    assert result.jensen_shannon_raw == pytest.approx(
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
def test_the_raw_jensen_shannon_matches_scipy_base_2_over_union_of_levels(
    reference: dict[str, int], current: dict[str, int]
) -> None:
    levels = sorted(set(reference) | set(current))
    p = np.array([reference.get(level, 0) for level in levels], dtype=float)
    q = np.array([current.get(level, 0) for level in levels], dtype=float)

    result = categorical_test(reference, current)

    expected = distance.jensenshannon(p / p.sum(), q / q.sum(), base=2)
    assert result.jensen_shannon_raw == pytest.approx(expected, abs=1e-12)


def test_the_jensen_shannon_effect_is_the_tested_bins_distance_less_its_noise() -> None:
    reference = {"a": 500, "b": 300, "c": 200}
    current = {"a": 30, "b": 30, "c": 40}

    result = categorical_test(reference, current)

    raw = distance.jensenshannon([0.5, 0.3, 0.2], [0.3, 0.3, 0.4], base=2)
    noise = 2 * (1 / 1000 + 1 / 100) / (8 * math.log(2))  # dof (k - 1 = 2) over the sizes
    assert result.jensen_shannon == pytest.approx(math.sqrt(raw**2 - noise), rel=1e-12)
    assert result.jensen_shannon < result.jensen_shannon_raw


def test_the_jensen_shannon_effect_is_noise_free_at_any_batch_size() -> None:
    # Equal shares over 500 Zipf-like levels, a reference of 10,000 rows: the plug-in
    # distance of a 50-row batch is about 0.6 with nothing changed; the corrected one is
    # about 0. A level going from 10% to 15% keeps its size (0.064) in a batch of 5,000.
    rng = np.random.default_rng(31)
    shares = 1 / np.arange(1, 501) ** 0.8
    shares /= shares.sum()
    names = [f"L{i}" for i in range(500)]

    def counts(n: int, p: np.ndarray) -> dict[str, int]:
        return {k: int(v) for k, v in zip(names, rng.multinomial(n, p), strict=True) if v}

    null = [categorical_test(counts(10_000, shares), counts(50, shares)) for _ in range(200)]
    assert np.mean([r.jensen_shannon_raw for r in null]) > 0.5
    assert np.mean([r.jensen_shannon for r in null]) < 0.02

    true = distance.jensenshannon([0.1, 0.9], [0.15, 0.85], base=2)
    assert true == pytest.approx(0.064, abs=5e-4)
    rises = rng.binomial(5000, 0.15, 200)
    shifted = [
        categorical_test({"a": 100_000, "b": 900_000}, {"a": int(k), "b": 5000 - int(k)})
        for k in rises
    ]
    assert np.median([r.jensen_shannon for r in shifted]) == pytest.approx(true, abs=0.005)


def _exact_conditional_p_value(ref: list[int], cur: list[int]) -> float:
    """Pearson's statistic's exact p-value given the margins, by enumerating every table."""
    totals = np.add(ref, cur)
    n_cur = sum(cur)
    observed = table_test(np.array([ref, cur]))[0]
    p_value = 0.0
    for row in itertools.product(*(range(t + 1) for t in totals)):
        if sum(row) != n_cur:
            continue
        other = totals - np.array(row)
        # Multivariate hypergeometric probability of this current row.
        prob = math.prod(math.comb(int(t), int(r)) for t, r in zip(totals, row, strict=True))
        prob /= math.comb(int(totals.sum()), n_cur)
        value = table_test(np.array([other, row]))[0]
        if value >= observed * (1 - 1e-9):
            p_value += prob
    return p_value


@pytest.mark.parametrize(
    ("reference", "current"),
    [([30, 2, 1, 1], [3, 2, 0, 1]), ([40, 5, 3, 2], [2, 3, 1, 0]), ([12, 8, 4], [1, 1, 4])],
)
def test_the_monte_carlo_p_value_matches_the_exact_conditional_one(
    reference: list[int], current: list[int]
) -> None:
    levels = [f"L{i}" for i in range(len(reference))]

    result = categorical_test(dict(zip(levels, reference, strict=True)),
                              dict(zip(levels, current, strict=True)))  # fmt: skip

    exact = _exact_conditional_p_value(reference, current)
    assert result.method == "monte_carlo"
    # Within four standard errors of 2,000 tables.
    assert result.p_value == pytest.approx(exact, abs=4 * math.sqrt(exact * (1 - exact) / 2000))
    assert result.statistic == pytest.approx(table_test(np.array([reference, current]))[0])


def test_the_monte_carlo_p_value_holds_its_level_on_sparse_tables() -> None:
    rng = np.random.default_rng(41)
    shares = np.full(60, 1 / 60)
    p_values = []
    for _ in range(400):
        reference = dict(enumerate(rng.multinomial(3000, shares).tolist()))
        current = dict(enumerate(rng.multinomial(30, shares).tolist()))
        result = categorical_test(
            {str(k): v for k, v in reference.items() if v},
            {str(k): v for k, v in current.items() if v},
        )
        assert result.method == "monte_carlo"
        p_values.append(result.p_value)
    rejected = int(np.sum(np.array(p_values) < 0.05))
    high = stats.binomtest(rejected, 400).proportion_ci(method="exact").high
    assert high <= 0.09  # about 5% (a 95% Clopper-Pearson interval reaching at most 9%)
    assert rejected >= 5


def test_the_same_counts_give_the_same_monte_carlo_p_value() -> None:
    reference, current = {"a": 30, "b": 2, "c": 1}, {"a": 3, "b": 2, "c": 1}

    assert categorical_test(reference, current) == categorical_test(reference, current)


def test_single_level_is_not_tested_and_has_p_value_one() -> None:
    result = categorical_test({"a": 100}, {"a": 40})

    assert result == CategoricalTest(
        statistic=0.0,
        p_value=1.0,
        dof=0,
        jensen_shannon=0.0,
        unseen=(),
        unseen_share=0.0,
        method="asymptotic",
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

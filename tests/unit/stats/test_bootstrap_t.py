"""The studentized bootstrap (bootstrap-t) test of a difference of mean losses.

No published table gives bootstrap-t p-values for a reproducible resampling stream, so the
test is checked by what defines it: with symmetric, light-tailed differences it is the paired
t-test in the limit (both are first-order correct); it is invariant to the scale of the losses;
it holds its level under H0 where the paired t-test's symmetric reference breaks (skewed
losses, Hall 1988: one-sided error O(1/n) against O(1/sqrt(n))); and it has the t-test's power.
The simulations are ``slow``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.stats import bootstrap_t_test, paired_t_test

ALPHA = 0.05


def _bound(reps: int) -> float:
    """The H0 rejection rate a valid test exceeds with probability about 0.1 %."""
    return ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)


def test_with_symmetric_differences_it_agrees_with_the_paired_t_test() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.0, 1.0, 4000), rng.normal(0.05, 1.0, 4000)

    boot = bootstrap_t_test(a, b, n_resamples=4999)
    t = paired_t_test(a, b)

    assert boot.method == "bootstrap-t"
    assert boot.estimate == pytest.approx(t.estimate, rel=1e-12)
    assert boot.statistic == pytest.approx(t.statistic, rel=1e-9)
    assert boot.p_value == pytest.approx(t.p_value, abs=0.01)
    assert boot.ci_low == pytest.approx(t.ci_low, rel=0.03)
    assert boot.ci_high == pytest.approx(t.ci_high, rel=0.03)


def test_the_decision_does_not_depend_on_the_losses_units() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.exponential(1.0, 200), rng.exponential(1.1, 200)

    once = bootstrap_t_test(a, b, alternative="less", random_state=3)
    scaled = bootstrap_t_test(1000 * a, 1000 * b, alternative="less", random_state=3)

    assert scaled.p_value == once.p_value
    assert scaled.statistic == pytest.approx(once.statistic, rel=1e-9)
    assert scaled.ci_high == pytest.approx(1000 * once.ci_high, rel=1e-9)


def test_it_records_the_skew_of_the_differences_and_is_reproducible() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.exponential(1.0, 300), np.ones(300)

    first = bootstrap_t_test(a, b, random_state=5)
    again = bootstrap_t_test(a, b, random_state=5)

    assert first == again
    assert first.details["skewness"] == pytest.approx(2.0, abs=0.6)  # exponential: skew 2
    assert first.details["better_sign"] == -1.0


def test_zero_one_losses_take_the_counts_path_and_match_the_rows_path() -> None:
    # 0/1 losses have three distinct differences: resampled as multinomial counts. Their
    # bootstrap-t p-value equals, within resampling error, that of the same rows perturbed
    # by 1e-9 (all distinct: resampled row by row).
    rng = np.random.default_rng(4)
    a = (rng.random(800) < 0.20).astype(float)
    b = (rng.random(800) < 0.24).astype(float)
    jitter = rng.normal(0.0, 1e-9, 800)

    counts = bootstrap_t_test(a, b, alternative="less", n_resamples=9999)
    rows = bootstrap_t_test(a + jitter, b, alternative="less", n_resamples=9999)

    assert counts.p_value == pytest.approx(rows.p_value, abs=0.01)


def test_constant_differences_are_inconclusive() -> None:
    with pytest.warns(RuntimeWarning, match="constant"):
        result = bootstrap_t_test([1.0, 2.0, 3.0], [0.5, 1.5, 2.5])

    assert result.inconclusive


@pytest.mark.parametrize("n_resamples", [0, -1, 2.5, True])
def test_a_bad_resample_count_is_refused(n_resamples: object) -> None:
    with pytest.raises(InvalidInputError, match="n_resamples must be a positive integer"):
        bootstrap_t_test([1.0, 2.0], [2.0, 1.0], n_resamples=n_resamples)  # type: ignore[arg-type]


def _rejections(reps: int, seed: int, n: int, draw: object, test: str) -> float:
    rng = np.random.default_rng(seed)
    rejected = 0
    for _ in range(reps):
        a, b = draw(rng, n)  # type: ignore[operator]
        if test == "t":
            p = paired_t_test(a, b, alternative="less").p_value
        else:
            p = bootstrap_t_test(a, b, alternative="less", n_resamples=499,
                                 random_state=rng).p_value  # fmt: skip
        rejected += p <= ALPHA
    return rejected / reps


def _skewed_h0(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal mean losses; the challenger's are exponential (skew 2), the champion's constant."""
    return rng.exponential(1.0, n), np.ones(n)


def _normal_h0(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(1.0, 1.0, n), rng.normal(1.0, 1.0, n)


def _improvement(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The challenger's mean loss is lower by 0.3 standard deviations of the difference."""
    return rng.normal(1.0 - 0.3 * math.sqrt(2), 1.0, n), rng.normal(1.0, 1.0, n)


@pytest.mark.slow
def test_skewed_losses_break_the_t_test_and_not_the_bootstrap_t() -> None:
    reps = 2000

    t_rate = _rejections(reps, 11, 50, _skewed_h0, "t")
    boot_rate = _rejections(reps, 11, 50, _skewed_h0, "bootstrap-t")

    assert t_rate > _bound(reps), "the case does not show the t-test's failure"
    assert boot_rate <= _bound(reps)


@pytest.mark.slow
def test_with_normal_losses_it_holds_its_level_and_has_the_t_tests_power() -> None:
    reps = 1000

    level = _rejections(reps, 12, 100, _normal_h0, "bootstrap-t")
    power = _rejections(reps, 13, 100, _improvement, "bootstrap-t")
    t_power = _rejections(reps, 13, 100, _improvement, "t")

    assert level <= _bound(reps)
    # 0.3 sd at n = 100: the t-test's power is about 0.91.
    assert power >= t_power - 0.03


# --- root_ratio_interval: the interval of an RMSE difference (the guardrail's) ---------------


def test_the_rmse_difference_interval_agrees_with_the_delta_method_on_many_normal_rows() -> None:
    # With 20,000 rows the studentized quantiles are normal ones and the champion's bound is
    # close to its estimate: the interval is nearly the delta method's for r_a - r_b.
    from scipy import stats as st

    from mlflow_retrain.stats import root_ratio_interval

    rng = np.random.default_rng(8)
    shared = rng.normal(size=20_000)
    a, b = (1.2 * (0.8 * shared + 0.6 * rng.normal(size=20_000))) ** 2, shared**2
    r_a, r_b = np.sqrt(a.mean()), np.sqrt(b.mean())
    influence = a / (2 * r_a) - b / (2 * r_b)
    se = influence.std(ddof=1) / np.sqrt(a.size)
    z = st.norm.ppf(0.95)

    low, high = root_ratio_interval(a, b, confidence=0.9, n_resamples=999)

    # The log scale and the champion's 75% bound move the ends outward by a few percent of
    # the width, the resampling by about as much again.
    width = 2 * z * se
    assert low == pytest.approx(r_a - r_b - z * se, abs=0.2 * width)
    assert high == pytest.approx(r_a - r_b + z * se, abs=0.2 * width)
    assert low < r_a - r_b < high


def test_the_rmse_difference_interval_has_no_ends_without_a_spread() -> None:
    from mlflow_retrain.stats import root_ratio_interval

    assert all(np.isnan(root_ratio_interval([1.0], [2.0])))
    assert all(np.isnan(root_ratio_interval([0.0, 0.0, 0.0], [1.0, 2.0, 3.0])))
    assert all(np.isnan(root_ratio_interval([1.0, 1.0], [2.0, 2.0])))

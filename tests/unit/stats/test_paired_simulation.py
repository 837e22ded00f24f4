"""Simulated false-positive rates under H0 and power under a known effect (marker ``slow``).

Under H0 the two models have the same error rate (or loss distribution) with independent
errors. Each test must reject at alpha = 0.05 no more often than
``alpha + 3 * sqrt(alpha * (1 - alpha) / reps)`` (about 0.0646 for 2,000 replications), a bound
a valid test breaks with probability about 0.1 % whatever the seed. Power is recorded with
``record_property`` and printed (run with ``-s`` to see it); it is only checked against a
floor far below the theoretical value.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest

from mlflow_retrain.stats import (
    TestResult,
    diebold_mariano_test,
    mcnemar_test,
    paired_bootstrap_test,
    paired_t_test,
    wilcoxon_test,
)

pytestmark = pytest.mark.slow

ALPHA = 0.05
REPS = 2000


def fpr_bound(reps: int) -> float:
    return ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)


def rejection_rate(
    reps: int, seed: int, run: Callable[[np.random.Generator], TestResult]
) -> float:
    rng = np.random.default_rng(seed)
    rejections = 0
    for _ in range(reps):
        result = run(rng)
        assert not result.inconclusive
        rejections += result.p_value <= ALPHA
    return rejections / reps


def classifier_rows(
    rng: np.random.Generator, n: int, accuracy_a: float, accuracy_b: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Binary labels and two classifiers whose errors are independent of each other."""
    y = rng.integers(0, 2, size=n)
    pred_a = np.where(rng.random(n) < accuracy_a, y, 1 - y)
    pred_b = np.where(rng.random(n) < accuracy_b, y, 1 - y)
    return y, pred_a, pred_b


def report(record_property: Callable[[str, object], None], name: str, value: float) -> None:
    record_property(name, value)
    print(f"{name} = {value:.4f}")


# ------------------------------------------------------------------------ false positives


@pytest.mark.parametrize("method", ["mid-p", "exact", "asymptotic", "corrected"])
@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
def test_mcnemar_false_positive_rate_under_equal_accuracy(
    method: str, alternative: str, record_property: Callable[[str, object], None]
) -> None:
    def run(rng: np.random.Generator) -> TestResult:
        y, a, b = classifier_rows(rng, 200, 0.8, 0.8)  # ~64 discordant rows
        return mcnemar_test(y, a, b, method=method, alternative=alternative)  # type: ignore[arg-type]

    rate = rejection_rate(REPS, 101, run)

    report(record_property, f"fpr_mcnemar_{method}_{alternative}", rate)
    assert rate <= fpr_bound(REPS)


def test_paired_t_false_positive_rate_under_equal_skewed_losses(
    record_property: Callable[[str, object], None],
) -> None:
    def run(rng: np.random.Generator) -> TestResult:
        return paired_t_test(rng.exponential(size=30), rng.exponential(size=30))

    rate = rejection_rate(REPS, 202, run)

    report(record_property, "fpr_paired_t", rate)
    assert rate <= fpr_bound(REPS)


@pytest.mark.parametrize(
    ("n", "draw"),
    [
        (30, lambda rng, n: rng.exponential(size=n)),  # exact null distribution
        (80, lambda rng, n: rng.poisson(1.0, size=n).astype(float)),  # ties, zeros: normal
    ],
    ids=["exact", "asymptotic-ties"],
)
def test_wilcoxon_false_positive_rate_under_equal_losses(
    n: int,
    draw: Callable[[np.random.Generator, int], np.ndarray],
    record_property: Callable[[str, object], None],
) -> None:
    def run(rng: np.random.Generator) -> TestResult:
        return wilcoxon_test(draw(rng, n), draw(rng, n))

    rate = rejection_rate(REPS, 303, run)

    report(record_property, f"fpr_wilcoxon_n{n}", rate)
    assert rate <= fpr_bound(REPS)


def test_bootstrap_accuracy_false_positive_rate_under_equal_accuracy(
    record_property: Callable[[str, object], None],
) -> None:
    def run(rng: np.random.Generator) -> TestResult:
        y, a, b = classifier_rows(rng, 300, 0.8, 0.8)
        return paired_bootstrap_test(y, a, b, "accuracy", n_resamples=2000, random_state=rng)

    rate = rejection_rate(REPS, 404, run)

    report(record_property, "fpr_bootstrap_accuracy", rate)
    assert rate <= fpr_bound(REPS)


def test_bootstrap_mae_false_positive_rate_under_equal_errors(
    record_property: Callable[[str, object], None],
) -> None:
    # Index-gathering path (continuous errors); 1,000 resamples to keep the run short. The
    # percentile bootstrap is slightly liberal in small samples (its variance is the plug-in
    # one): ~0.052 at 200 rows over 32,000 replications, so use 400 rows.
    def run(rng: np.random.Generator) -> TestResult:
        y = rng.normal(size=400)
        a = y + rng.normal(size=400)
        b = y + rng.normal(size=400)
        return paired_bootstrap_test(y, a, b, "mae", n_resamples=1000, random_state=rng)

    rate = rejection_rate(REPS, 505, run)

    report(record_property, "fpr_bootstrap_mae", rate)
    assert rate <= fpr_bound(REPS)


def test_dm_false_positive_rate_with_independent_losses(
    record_property: Callable[[str, object], None],
) -> None:
    def run(rng: np.random.Generator) -> TestResult:
        return diebold_mariano_test(rng.normal(size=50) ** 2, rng.normal(size=50) ** 2)

    rate = rejection_rate(REPS, 606, run)

    report(record_property, "fpr_dm_h1", rate)
    assert rate <= fpr_bound(REPS)


def test_dm_false_positive_rate_with_three_step_dependent_differential(
    record_property: Callable[[str, object], None],
) -> None:
    # An h = 3 forecast's loss differential is MA(2); the test must account for it.
    def run(rng: np.random.Generator) -> TestResult:
        e = rng.normal(size=102)
        d = e[2:] + 0.6 * e[1:-1] + 0.3 * e[:-2]
        return diebold_mariano_test(d, np.zeros(100), h=3)

    with warnings.catch_warnings():
        # A rare sample has a negative long-run variance and falls back to h = 1 with a warning.
        warnings.filterwarnings("ignore", "diebold-mariano: the long-run", RuntimeWarning)
        rate = rejection_rate(REPS, 707, run)

    report(record_property, "fpr_dm_h3", rate)
    assert rate <= fpr_bound(REPS)


# ------------------------------------------------------------------------------------ power

POWER_REPS = 500


@pytest.mark.parametrize(
    ("name", "run"),
    [
        ("mcnemar_mid-p", lambda y, a, b, rng: mcnemar_test(y, a, b)),
        ("mcnemar_asymptotic", lambda y, a, b, rng: mcnemar_test(y, a, b, method="asymptotic")),
        ("mcnemar_exact", lambda y, a, b, rng: mcnemar_test(y, a, b, method="exact")),
        (
            "bootstrap_accuracy",
            lambda y, a, b, rng: paired_bootstrap_test(y, a, b, "accuracy", random_state=rng),
        ),
    ],
)
def test_power_for_a_three_point_accuracy_gain_on_2000_rows(
    name: str,
    run: Callable[..., TestResult],
    record_property: Callable[[str, object], None],
) -> None:
    # 83 % vs 80 %, independent errors: ~604 discordant rows, z ~ 60 / sqrt(604) ~ 2.44, so
    # two-sided power at 5 % is about 0.68.
    def one(rng: np.random.Generator) -> TestResult:
        y, a, b = classifier_rows(rng, 2000, 0.83, 0.80)
        return run(y, a, b, rng)

    power = rejection_rate(POWER_REPS, 808, one)

    report(record_property, f"power_{name}", power)
    assert power >= 0.5


@pytest.mark.parametrize(
    ("name", "run"),
    [
        ("paired_t", lambda a, b: paired_t_test(a, b)),
        ("wilcoxon", lambda a, b: wilcoxon_test(a, b)),
        ("dm_h1", lambda a, b: diebold_mariano_test(a, b)),
        ("bootstrap_mae", None),
    ],
)
def test_power_for_a_ten_percent_lower_mean_loss_on_1000_rows(
    name: str,
    run: Callable[[np.ndarray, np.ndarray], TestResult] | None,
    record_property: Callable[[str, object], None],
) -> None:
    # Exponential losses with means 0.9 (a) and 1.0 (b): z ~ 0.1 sqrt(1000) / 1.345 ~ 2.35,
    # two-sided paired-t power about 0.65.
    def one(rng: np.random.Generator) -> TestResult:
        loss_a = rng.exponential(0.9, size=1000)
        loss_b = rng.exponential(1.0, size=1000)
        if run is None:  # losses are |error| with y = 0
            zeros = np.zeros(1000)
            return paired_bootstrap_test(
                zeros, loss_a, loss_b, "mae", n_resamples=1000, random_state=rng
            )
        return run(loss_a, loss_b)

    power = rejection_rate(POWER_REPS, 909, one)

    report(record_property, f"power_{name}", power)
    assert power >= 0.4

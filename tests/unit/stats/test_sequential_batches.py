"""The batch unit of ``stats.sequential``: the sequential t-test on batch means.

Source: Wang and Ramdas, "Anytime-valid t-tests and confidence sequences for Gaussian means
with unknown variance" (arXiv:2310.03722), the test martingale of the reduced filtration: a
``N(0, 1 / c)`` mixture over the standardised mean and the right Haar measure ``d sigma /
sigma`` over the standard deviation. The paper gives no table of values, so the closed form
is checked against its defining integral, computed numerically here, and the promise a user
relies on (at most ``alpha`` of the streams ever leave the confidence sequence, at every
number of batches) by simulation under the model it assumes: normal batch means. The shadow
decisions this test drives, with day effects and 0/1 losses, are simulated in
``tests/unit/pipeline/test_shadow_batches.py``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import integrate, stats

from mlflow_retrain.policy import SHADOW_UNITS
from mlflow_retrain.stats import (
    UNITS,
    SequentialState,
    batches_before_a_bound,
    optimal_rho,
    t_mixture_interval,
    t_mixture_log_likelihood_ratio,
)

ALPHA = 0.05


def _mixture_by_integration(y: np.ndarray, c: float) -> float:
    """The likelihood ratio as its definition states it, integrated numerically.

    Numerator: ``int int prod_i phi((y_i - theta sigma) / sigma) / sigma * N(theta; 0, 1 / c)
    d theta d sigma / sigma``; denominator: the same with ``theta = 0``. Both are integrated
    over ``log sigma`` (``d sigma / sigma = d log sigma``) on a fine grid (the trapezoid
    rule converges fast on these smooth, quickly vanishing integrands).
    """
    theta = np.linspace(-10.0, 10.0, 1201)[:, None, None]
    log_sigma = np.linspace(-10.0, 10.0, 1201)[None, :, None]
    sigma = np.exp(log_sigma)
    log_density = (stats.norm.logpdf((y - theta * sigma) / sigma) - log_sigma).sum(axis=2)
    prior = stats.norm.pdf(theta[:, :, 0], scale=1.0 / math.sqrt(c))
    grid = (theta[:, 0, 0], log_sigma[0, :, 0])
    numerator = integrate.trapezoid(integrate.trapezoid(np.exp(log_density) * prior,
                                                        grid[1], axis=1), grid[0])  # fmt: skip
    at_zero = (stats.norm.logpdf(y / sigma) - log_sigma).sum(axis=2)[0]
    denominator = integrate.trapezoid(np.exp(at_zero), grid[1])
    return float(numerator / denominator)


@pytest.mark.parametrize(
    ("y", "c"),
    [
        (np.array([0.8, 1.3, 0.2]), 1.0),
        (np.array([0.5, -0.1, 0.9, 1.4, 0.3]), 0.25),
        (np.array([-0.4, 0.2, 0.1, -0.3]), 4.0),
    ],
)
def test_the_closed_form_equals_the_mixture_integral(y: np.ndarray, c: float) -> None:
    closed = t_mixture_log_likelihood_ratio(float(y.sum()), float((y**2).sum()), y.size, c)

    assert closed == pytest.approx(math.log(_mixture_by_integration(y, c)), abs=1e-6)


def test_the_interval_ends_are_where_the_likelihood_ratio_reaches_one_over_alpha() -> None:
    rng = np.random.default_rng(3)
    sizes = np.array([400, 250, 600, 500, 300, 450])
    means = rng.normal(0.05, 0.04, sizes.size)
    rows = int(sizes.sum())
    mean = float((sizes * means).sum() / rows)
    scatter = float((sizes * (means - mean) ** 2).sum())
    weights = float(np.sqrt(sizes).sum())
    weighted_sum = float((np.sqrt(sizes) * means).sum())
    c = 0.5

    low, high = t_mixture_interval(weights=weights, weighted_sum=weighted_sum, rows=rows,
                                   mean=mean, scatter=scatter, k=sizes.size, c=c,
                                   alpha=ALPHA)  # fmt: skip

    def log_lr(mu: float) -> float:
        y = np.sqrt(sizes) * (means - mu)
        return t_mixture_log_likelihood_ratio(float(y.sum()), float((y**2).sum()), y.size, c)

    assert low < mean < high
    assert log_lr(low) == pytest.approx(math.log(1 / ALPHA), abs=1e-8)
    assert log_lr(high) == pytest.approx(math.log(1 / ALPHA), abs=1e-8)
    assert log_lr(0.5 * (low + high)) < math.log(1 / ALPHA)


@pytest.mark.parametrize("c", [0.05, 0.25, 1.0, 4.0])
def test_the_interval_is_unbounded_until_the_batches_can_show_their_spread(c: float) -> None:
    needed = batches_before_a_bound(c, ALPHA)
    state = SequentialState.start(alpha=ALPHA, rho=c * 100 / 0.25, min_rows=2)
    rng = np.random.default_rng(int(c * 100))
    bounded = []
    for _ in range(needed):
        # Equal batches: whether the interval is bounded depends on their count, not on
        # their values.
        state = state.update(rng.normal(0.0, 1.0, 100))
        bounded.append(math.isfinite(state.cs_low))

    assert state.mixing_batches == pytest.approx(c)
    assert bounded == [False] * (needed - 1) + [True]
    assert ((c + needed) / c) ** ((needed - 1) / 2) > 1 / ALPHA
    assert ((c + needed - 1) / c) ** ((needed - 2) / 2) <= 1 / ALPHA


def test_a_single_batch_is_never_a_look_however_large() -> None:
    state = SequentialState.start(alpha=ALPHA, rho=100.0, min_rows=2)
    state = state.update(np.random.default_rng(0).normal(1.0, 1.0, 100_000))

    assert (state.looks, state.p_value, state.cs_low) == (0, 1.0, -math.inf)


def test_identical_batch_means_are_no_spread_to_test_against() -> None:
    state = SequentialState.start(alpha=ALPHA, rho=100.0, min_rows=2)
    batch = np.random.default_rng(1).normal(0.2, 1.0, 500)
    for _ in range(10):
        state = state.update(batch)  # the same rows each time: the batch means are equal

    assert state.looks == 0


def test_the_design_effect_reads_a_shared_day_effect() -> None:
    rng = np.random.default_rng(5)
    icc, rows = 0.02, 500
    independent = SequentialState.start(alpha=ALPHA, rho=100.0, min_rows=2)
    shared = SequentialState.start(alpha=ALPHA, rho=100.0, min_rows=2)
    for _ in range(400):
        independent = independent.update(rng.normal(0.0, 1.0, rows))
        day = rng.normal(0.0, math.sqrt(icc))
        shared = shared.update(day + rng.normal(0.0, math.sqrt(1 - icc), rows))

    assert independent.design_effect == pytest.approx(1.0, abs=0.2)
    assert shared.design_effect == pytest.approx(1 + (rows - 1) * icc, rel=0.2)  # 11


def test_a_batch_state_survives_json_and_an_old_row_state_still_loads() -> None:
    rng = np.random.default_rng(7)
    state = SequentialState.start(alpha=ALPHA, rho=optimal_rho(2000, ALPHA), min_rows=2)
    for _ in range(8):
        state = state.update(rng.normal(0.3, 1.0, 200))
    restored = SequentialState.from_dict(json.loads(json.dumps(state.to_dict())))

    assert restored == state
    assert restored.looks > 0
    # Written before the unit existed: row-level, and it goes on as such.
    batch_fields = ("unit", "first_rows", "filled", "root_rows", "root_sum", "batch_m2", "betting")
    old = {k: v for k, v in state.to_dict().items() if k not in batch_fields}
    assert SequentialState.from_dict(old).unit == "row"


@pytest.mark.parametrize(
    ("field", "value"),
    [("unit", "day"), ("filled", 99), ("first_rows", -1), ("batch_m2", -1.0), ("first_rows", 0)],
)
def test_from_dict_rejects_damaged_batch_statistics(field: str, value: object) -> None:
    rng = np.random.default_rng(8)
    state = SequentialState.start(alpha=ALPHA, rho=50.0, min_rows=2).update(rng.normal(size=50))
    data = state.to_dict()
    data[field] = value

    with pytest.raises(ValueError, match="invalid sequential state"):
        SequentialState.from_dict(data)


def test_start_refuses_an_unknown_unit() -> None:
    with pytest.raises(ValueError, match="unit must be one of batch, row"):
        SequentialState.start(alpha=ALPHA, rho=10.0, unit="day")


def test_the_policy_knows_the_same_units() -> None:
    assert SHADOW_UNITS == UNITS == ("batch", "row")


# --------------------------------------------------------------------------------------------
# Simulation (slow): exact at every number of batches for normal batch means
# --------------------------------------------------------------------------------------------

STREAMS = 1_000
BATCHES = 30
#: A valid procedure exceeds it with probability about 0.1%, whatever the seed.
MISS_BOUND = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / STREAMS)


@pytest.mark.slow
@pytest.mark.parametrize("rows", [1, 30])
def test_the_confidence_sequence_misses_the_mean_in_at_most_alpha_of_the_streams(
    rows: int, record_property: Callable[[str, object], None]
) -> None:
    # rows = 1: each batch is one normal observation, the t-test's own model at its smallest
    # (a look from the second batch on); rows = 30: a batch mean of 30 normal rows.
    rng = np.random.default_rng(40 + rows)
    mu, sigma = 0.3, 2.0
    missed = 0
    for _ in range(STREAMS):
        state = SequentialState.start(alpha=ALPHA, rho=0.25 * rows * 4.0, min_rows=2)
        for _b in range(BATCHES):
            state = state.update(rng.normal(mu, sigma, rows))
            if not state.cs_low <= mu <= state.cs_high:
                missed += 1
                break

    rate = missed / STREAMS
    record_property(f"batch_cs_miss_rate_{rows}", rate)
    print(f"batch means of {rows} rows: the sequence missed the mean in {rate:.2%} of streams")
    assert rate <= MISS_BOUND

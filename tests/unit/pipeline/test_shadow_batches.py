"""Shadow mode when the rows of a batch share a day effect (pure, simulated; issue 17).

A day's rows share what happened that day, so the two models' losses move together within a
batch. Counting rows as independent then makes an equal challenger look better (or worse) by
chance far more often than alpha says: the row unit promoted it in 38-48% of streams with
an intra-batch correlation of 0.01. The batch unit (the default) takes each batch as one
observation and must hold its level there, while a real 2-point accuracy gain is still
promoted within 1.5 times the row unit's batches on batches of 500 rows.

Every stream runs under the default policy (``ShadowRule()``: horizon 10,000 rows,
``min_rows`` 200, at most 50 batches) and stops at the first decision of
:func:`~mlflow_retrain.pipeline.shadow.decide`. Rates carry 95% Clopper-Pearson intervals.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from helpers.streams import add_batch
from scipy import stats

from mlflow_retrain.pipeline.shadow import decide
from mlflow_retrain.policy import ShadowRule
from mlflow_retrain.stats import SequentialState, optimal_rho

ALPHA = 0.05
STREAMS = 400
#: The issue's bar: every false-promotion rate's whole interval at or below 5.5%.
LEVEL_BOUND = 0.055

#: One batch: the loss differences, or the challenger's and the champion's losses.
Draw = Callable[[np.random.Generator], Any]


def _gaussian(rows: int | tuple[int, int], icc: float) -> Draw:
    """Equal models: differences of mean 0 and variance 1, a share ``icc`` of it per day."""

    def draw(rng: np.random.Generator) -> np.ndarray:
        size = rows if isinstance(rows, int) else int(rng.integers(*rows))
        day = rng.normal(0.0, math.sqrt(icc))
        return day + rng.normal(0.0, math.sqrt(1.0 - icc), size)

    return draw


def _zero_one(rows: int, disagree: float, right: float, day_sd: float = 0.0) -> Draw:
    """0/1-loss differences: the models disagree on ``disagree`` of the rows, the challenger
    is right on ``right`` of those (that share moving by ``day_sd`` from day to day)."""

    def draw(rng: np.random.Generator) -> np.ndarray:
        share = min(1.0, max(0.0, right + rng.normal(0.0, day_sd))) if day_sd else right
        differs = rng.random(rows) < disagree
        sign = np.where(rng.random(rows) < share, 1.0, -1.0)
        return np.where(differs, sign, 0.0)

    return draw


def _streams(draw: Draw, unit: str, seed: int) -> tuple[int, int, list[int]]:
    """Promotions and rejections over :data:`STREAMS` streams, and the batches to promote."""
    rule = replace(ShadowRule(), unit=unit)
    rng = np.random.default_rng(seed)
    promoted = rejected = 0
    batches: list[int] = []
    for _ in range(STREAMS):
        state = SequentialState.start(alpha=ALPHA, rho=optimal_rho(rule.horizon_rows, ALPHA),
                                      null_value=rule.min_improvement,
                                      min_rows=rule.min_rows, unit=unit)  # fmt: skip
        for batch in range(1, rule.max_batches + 1):
            state = add_batch(state, draw(rng))
            decision, _ = decide(state, rule)
            if decision == "promote":
                promoted += 1
                batches.append(batch)
            rejected += decision == "reject"
            if decision != "continue":
                break
    return promoted, rejected, batches


def _interval(k: int, n: int = STREAMS) -> tuple[float, float]:
    """The 95% Clopper-Pearson interval of ``k`` in ``n``."""
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return float(ci.low), float(ci.high)


# The row unit here is the normal mixture (no bound): today's test, and what the row unit
# does with an unbounded loss. With a 0/1 loss the row unit bets instead; that sequence's own
# level is simulated in tests/unit/stats/test_betting.py, and it too assumes independent rows.
H0_CASES: dict[str, tuple[Draw, bool]] = {
    # name: (draw, the row unit is known to fail on it)
    "independent rows, batches of 500": (_gaussian(500, 0.0), False),
    "day effect icc 0.01, batches of 500": (_gaussian(500, 0.01), True),
    "day effect icc 0.001, batches of 2000": (_gaussian(2000, 0.001), True),
    "day effect icc 0.01, batches of 2000": (_gaussian(2000, 0.01), True),
    "day effect icc 0.01, batches of 125-1000": (_gaussian((125, 1000), 0.01), True),
    "0/1 loss, day effect, batches of 500": (_zero_one(500, 0.2, 0.5, 0.1), True),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(H0_CASES))
def test_an_equal_challenger_is_promoted_in_at_most_alpha_of_the_streams(
    case: str, record_property: Callable[[str, object], None]
) -> None:
    draw, row_fails = H0_CASES[case]
    seed = 1700 + list(H0_CASES).index(case)
    by_batch, _, _ = _streams(draw, "batch", seed)
    by_row, _, _ = _streams(draw, "row", seed)

    low, high = _interval(by_batch)
    record_property("false_promotions_batch", by_batch / STREAMS)
    record_property("false_promotions_row", by_row / STREAMS)
    print(
        f"{case}: promoted by the batch unit in {by_batch / STREAMS:.1%} "
        f"[{low:.1%}, {high:.1%}], by the row unit in {by_row / STREAMS:.1%}"
    )
    assert high <= LEVEL_BOUND
    if row_fails:  # the simulated problem is real: the row unit's level breaks on it
        assert _interval(by_row)[0] > ALPHA
    else:  # and where rows are independent, the row unit holds its level too
        assert _interval(by_row)[1] <= LEVEL_BOUND


def _t3_squared(rows: int) -> Draw:
    """Equal MSE: the challenger's errors are t3 (variance 3), the champion's normal (variance
    3). The challenger's squared errors have an infinite variance."""

    def draw(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return rng.standard_t(3, rows) ** 2, rng.normal(0.0, math.sqrt(3.0), rows) ** 2

    return draw


@pytest.mark.slow
@pytest.mark.parametrize("unit", ["row", "batch"])
def test_a_heavy_tailed_challenger_at_equal_mse_is_promoted_in_at_most_alpha_of_the_streams(
    unit: str,
) -> None:
    # Before the tail check the row unit promoted it in 32% of streams (issue 17's table).
    promoted, _, _ = _streams(_t3_squared(2000), unit, seed=1790)

    low, high = _interval(promoted)
    print(f"t3 at equal MSE, {unit} unit: promoted in {promoted / STREAMS:.1%} "
          f"[{low:.1%}, {high:.1%}]")  # fmt: skip
    assert high <= LEVEL_BOUND


POWER_CASES = {
    "disagree on 10% of rows": _zero_one(500, 0.10, 0.60),
    "disagree on 30% of rows": _zero_one(500, 0.30, 0.5 + 0.02 / 0.6),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(POWER_CASES))
def test_a_two_point_accuracy_gain_is_promoted_within_one_and_a_half_times_the_row_batches(
    case: str, record_property: Callable[[str, object], None]
) -> None:
    # 0/1 loss, batches of 500 rows, independent rows (where the row unit is right), against
    # today's test: the row unit's normal mixture.
    seed = 1750 + list(POWER_CASES).index(case)
    promoted_batch, _, batches_batch = _streams(POWER_CASES[case], "batch", seed)
    promoted_row, _, batches_row = _streams(POWER_CASES[case], "row", seed)

    mean_batch, mean_row = float(np.mean(batches_batch)), float(np.mean(batches_row))
    record_property("batches_to_promote_batch", mean_batch)
    record_property("batches_to_promote_row", mean_row)
    print(
        f"+2 points of accuracy, {case}, batches of 500: promoted in "
        f"{promoted_batch / STREAMS:.1%} of streams after {mean_batch:.1f} batches (batch "
        f"unit), {promoted_row / STREAMS:.1%} after {mean_row:.1f} (row unit): "
        f"{mean_batch / mean_row:.2f}x"
    )
    assert promoted_batch >= 0.95 * STREAMS
    assert mean_batch <= 1.5 * mean_row

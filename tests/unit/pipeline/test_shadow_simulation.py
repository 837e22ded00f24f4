"""Shadow mode's decision on sparse differences: a challenger that rarely disagrees (pure).

When the two models disagree on 0.1-0.5% of rows, a whole batch often has identical losses.
Such a batch is no evidence either way, so it must not retire a challenger that is better
where it disagrees (issue 17 measured 27-36% early rejections when it did). A challenger that
never disagrees is still retired, after the rows the test was planned for.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats

from mlflow_retrain.pipeline.shadow import decide, identical_rows
from mlflow_retrain.policy import ShadowRule
from mlflow_retrain.stats import SequentialState, optimal_rho

ALPHA = 0.05
RULE = ShadowRule()  # the defaults: horizon 10,000 rows, min_rows 200, 50 batches
STREAMS = 400
BATCH_ROWS = 400


def _start() -> SequentialState:
    # As shadow mode starts a test under the default policy (pipeline.shadow._start_state).
    return SequentialState.start(
        alpha=ALPHA,
        rho=optimal_rho(RULE.horizon_rows, ALPHA),
        null_value=RULE.min_improvement,
        min_rows=RULE.min_rows,
    )


def _zero_one_differences(
    rng: np.random.Generator, disagree: float, challenger_right: float, size: int
) -> np.ndarray:
    """``champion loss - challenger loss`` under 0/1 loss (+1: only the challenger is right)."""
    differs = rng.random(size) < disagree
    sign = np.where(rng.random(size) < challenger_right, 1.0, -1.0)
    return np.where(differs, sign, 0.0)


def _clopper_pearson_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """The one-sided upper Clopper-Pearson bound: the top of the two-sided 2c - 1 interval."""
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=2 * confidence - 1, method="exact")
    return float(ci.high)


@pytest.mark.slow
@pytest.mark.parametrize("disagree", [0.001, 0.003, 0.005])
def test_a_better_rarely_disagreeing_challenger_survives_its_first_batch(
    disagree: float, record_property: Callable[[str, object], None]
) -> None:
    rng = np.random.default_rng(1700 + int(disagree * 1e4))
    rejected = 0
    for _ in range(STREAMS):
        # Right on 70% of the rows where the models disagree: better than the champion.
        state = _start().update(_zero_one_differences(rng, disagree, 0.7, BATCH_ROWS))
        rejected += decide(state, RULE)[0] == "reject"

    upper = _clopper_pearson_upper(rejected, STREAMS)
    record_property(f"first_batch_rejections_{disagree}", rejected / STREAMS)
    print(
        f"disagree on {disagree:.1%} of rows, batches of {BATCH_ROWS}: rejected after the first "
        f"batch in {rejected}/{STREAMS} streams (95% Clopper-Pearson upper bound {upper:.2%})"
    )
    assert upper <= 0.01


@pytest.mark.slow
def test_a_better_rarely_disagreeing_challenger_is_never_retired_as_identical() -> None:
    # Whole streams (up to the 50-batch budget): identical losses never end one early.
    rng = np.random.default_rng(1717)
    reasons = []
    for _ in range(STREAMS // 4):
        state = _start()
        for _batch in range(RULE.max_batches):
            state = state.update(_zero_one_differences(rng, 0.003, 0.7, BATCH_ROWS))
            decision, reason = decide(state, RULE)
            if decision != "continue":
                reasons.append(reason)
                break

    assert not [r for r in reasons if "equal the champion's" in r]


def test_an_identical_challenger_is_retired_after_the_planned_10000_rows() -> None:
    state = _start()
    decisions = []
    while not decisions or decisions[-1] == "continue":
        state = state.update(np.zeros(BATCH_ROWS))
        decisions.append(decide(state, RULE)[0])

    assert identical_rows(state) == RULE.horizon_rows == 10_000
    assert decisions == ["continue"] * 24 + ["reject"]  # 25 batches of 400 rows
    assert state.p_value == 1.0

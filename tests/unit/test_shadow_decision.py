"""Shadow mode's decision after each batch, and the per-row losses it compares (pure)."""

from __future__ import annotations

import numpy as np
import pytest

from mlflow_retrain.comparison import ModelOutput, per_row_loss
from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.pipeline.shadow import decide, identical_rows
from mlflow_retrain.policy import ShadowRule
from mlflow_retrain.stats import SequentialState, optimal_rho, rho_for_effect

RULE = ShadowRule(min_improvement=0.01, min_rows=100, max_batches=5)


def _state(*batches: np.ndarray, unit: str = "row") -> SequentialState:
    # The decision rules are the unit's; most cases here look after one batch, so on rows.
    state = SequentialState.start(
        alpha=0.05,
        rho=optimal_rho(1000, 0.05),
        null_value=RULE.min_improvement,
        min_rows=100,
        unit=unit,
    )
    for batch in batches:
        state = state.update(batch)
    return state


def _normal(mean: float, n: int = 500, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, 0.1, n)


def test_a_clear_improvement_beyond_the_margin_promotes() -> None:
    decision, reason = decide(_state(_normal(0.05)), RULE)

    assert decision == "promote"
    assert "better by more than 0.01" in reason


def test_an_improvement_within_the_margin_is_rejected() -> None:
    # Better than the champion, but surely by less than the margin: it cannot reach it.
    decision, reason = decide(_state(_normal(0.001, n=20000)), RULE)

    assert decision == "reject"
    assert "cannot reach the margin 0.01" in reason


def test_no_look_before_min_rows() -> None:
    decision, reason = decide(_state(_normal(0.5, n=50)), RULE)

    assert decision == "continue"
    assert "50 of the 100 rows" in reason


def test_identical_batches_are_no_evidence_and_the_test_continues() -> None:
    # A challenger that differs on 0.3% of rows shows no difference in a 300-row batch 41%
    # of the time; such a batch must not retire it.
    decision, reason = decide(_state(np.zeros(300)), RULE)

    assert decision == "continue"
    assert "equal the champion's on all 300 rows so far" in reason
    assert "retired once identical on 1000" in reason


def test_identical_models_are_retired_at_the_planned_horizon_never_promoted() -> None:
    # _state's mixture is tuned for a 1,000-row horizon.
    assert identical_rows(_state()) == 1000
    assert decide(_state(*[np.zeros(333)] * 3), RULE)[0] == "continue"  # 999 rows

    decision, reason = decide(_state(*[np.zeros(333)] * 3, np.zeros(1)), RULE)

    assert decision == "reject"
    assert "equal the champion's on all 1000 rows (the test was planned for 1000)" in reason


def test_one_differing_row_resumes_the_sequential_test() -> None:
    batch = np.zeros(2000)
    batch[7] = 1.0

    decision, reason = decide(_state(batch), RULE)

    assert decision == "reject"  # 1/2000 improvement: surely below the 0.01 margin
    assert "cannot reach the margin" in reason


@pytest.mark.parametrize(
    ("rule", "rows"),
    [
        (ShadowRule(), 10_000),  # the default horizon_rows
        (ShadowRule(horizon_rows=50), 200),  # never before min_rows
        (ShadowRule(expected_effect=0.1), 619),  # the horizon the effect implies
    ],
)
def test_identical_rows_follow_the_planned_horizon(rule: ShadowRule, rows: int) -> None:
    rho = (
        rho_for_effect(rule.expected_effect, 0.05)
        if rule.expected_effect is not None
        else optimal_rho(rule.horizon_rows, 0.05)
    )
    state = SequentialState.start(alpha=0.05, rho=rho, min_rows=rule.min_rows)

    assert identical_rows(state) == rows


def test_a_constant_nonzero_difference_never_promotes() -> None:
    decision, _ = decide(_state(np.full(300, 0.5)), RULE)

    assert decision == "continue"


def test_the_batch_and_row_budgets_end_an_undecided_test() -> None:
    undecided = [_normal(0.01, n=30, seed=i) for i in range(5)]
    assert decide(_state(*undecided[:4]), RULE)[0] == "continue"

    assert decide(_state(*undecided), RULE) == (
        "reject",
        "No decision within the budget of 5 batches.",
    )
    rows = ShadowRule(min_improvement=0.01, min_rows=100, max_batches=50, max_rows=120)
    assert decide(_state(*undecided[:4]), rows)[0] == "reject"


def _output(p1: list[float]) -> ModelOutput:
    p = np.asarray(p1)
    return ModelOutput(
        predictions=(p >= 0.5).astype(int),
        scores=np.column_stack([1 - p, p]),
        classes=np.array([0, 1]),
    )


@pytest.mark.parametrize(
    ("loss", "expected"),
    [
        # Binary: scikit-learn 1.9's brier_score_loss, (p - y)^2 of the positive class (half
        # the sum over both classes). It used to be the unhalved sum, twice as large.
        ("brier", [0.2**2, 0.6**2]),
        ("log_loss", [-np.log(0.8), -np.log(0.4)]),
        ("zero_one", [0.0, 1.0]),
    ],
)
def test_per_row_classification_losses(loss: str, expected: list[float]) -> None:
    values = per_row_loss(loss, np.array([1, 0]), _output([0.8, 0.6]))

    np.testing.assert_allclose(values, expected)


def test_per_row_regression_losses() -> None:
    output = ModelOutput(predictions=np.array([1.0, 4.0]))
    y = np.array([2.0, 2.0])

    np.testing.assert_allclose(per_row_loss("squared_error", y, output), [1.0, 4.0])
    np.testing.assert_allclose(per_row_loss("absolute_error", y, output), [1.0, 2.0])


def test_probability_losses_need_probabilities_and_known_labels() -> None:
    with pytest.raises(InvalidInputError, match="needs class probabilities"):
        per_row_loss("brier", np.array([1]), ModelOutput(predictions=np.array([1])))
    with pytest.raises(InvalidInputError, match="label 2, which the models were not trained"):
        per_row_loss("log_loss", np.array([1, 2]), _output([0.8, 0.6]))


def test_a_state_without_rows_never_promotes() -> None:
    fresh = _state()
    # A record that claims a look but holds no rows (hand-written, or damaged) is no evidence.
    no_rows = SequentialState(alpha=0.05, rho=100.0, min_rows=100, batches=1, looks=1,
                              cs_low=0.5, cs_high=0.6)  # fmt: skip

    assert decide(fresh, RULE) == ("continue", "0 of the 100 rows needed before the first look.")
    assert decide(no_rows, RULE)[0] == "continue"


def test_an_empty_running_intersection_never_decides() -> None:
    # The first look bounds the improvement near 0; the next batch's mean is far above it,
    # so the running intersection [max of the lows, min of the highs] is empty.
    state = _state(_normal(0.0), _normal(1.0, n=5000, seed=1))
    assert state.cs_low > state.cs_high > RULE.min_improvement

    decision, reason = decide(state, RULE)

    assert decision == "continue"
    assert "confidence sequence is empty" in reason
    assert decide(_state(_normal(0.0), _normal(-1.0, n=5000, seed=1)), RULE)[0] == "continue"


def test_an_empty_running_intersection_ends_at_the_budget() -> None:
    batches = [_normal(0.0), _normal(1.0, n=5000, seed=1)]
    batches += [_normal(1.0, seed=i) for i in range(2, 5)]

    assert decide(_state(*batches), RULE) == (
        "reject",
        "No decision within the budget of 5 batches.",
    )


def test_the_batch_unit_waits_for_batches_however_clear_the_first_one() -> None:
    decision, reason = decide(_state(_normal(0.05, n=5000), unit="batch"), RULE)

    assert decision == "continue"
    assert "1 of the at least 3 batches the batch test needs" in reason


def test_the_batch_unit_promotes_a_clear_improvement_once_the_batches_show_their_spread() -> None:
    batches = [_normal(0.05, seed=seed) for seed in range(4)]
    decisions = [decide(_state(*batches[:k], unit="batch"), RULE)[0] for k in range(1, 5)]

    assert decisions[0] == "continue"
    assert decisions[-1] == "promote"


def _heavy_tailed_challenger(n: int = 2500) -> tuple[np.ndarray, np.ndarray]:
    # The challenger's loss is 0.5 on most rows, its largest floor(sqrt(n)) + 1 follow exact
    # Pareto quantiles of index 0.7 (Hill reads about 0.65); the champion's is about 1.0 on
    # every row. Far better on the mean, but by losses whose variance looks infinite.
    k = int(np.sqrt(n))
    challenger = np.full(n, 0.5)
    challenger[: k + 1] = (np.arange(1, k + 2) / (k + 1)) ** -0.7
    champion = 1.0 + np.random.default_rng(3).normal(0, 0.01, n)
    return challenger, champion


def test_a_heavy_tailed_challenger_is_not_promoted_on_its_mean() -> None:
    challenger, champion = _heavy_tailed_challenger()
    state = SequentialState.start(alpha=0.05, rho=optimal_rho(1000, 0.05),
                                  null_value=RULE.min_improvement, min_rows=100,
                                  unit="row")  # fmt: skip
    blind = state.update(champion - challenger)
    seen = state.update(champion - challenger, losses=(challenger, champion))
    assert blind.cs_low > RULE.min_improvement  # the sequence alone would promote

    decision, reason = decide(seen, RULE)

    assert decide(blind, RULE)[0] == "promote"
    assert decision == "continue"
    assert "is above the margin, but the challenger's losses are heavy-tailed" in reason
    assert seen.tail().challenger > 0.6


def test_a_heavy_tailed_champion_does_not_hold_back_a_better_challenger() -> None:
    challenger, champion = _heavy_tailed_challenger()
    # Swapped: the champion has the heavy tail and the higher mean loss.
    state = SequentialState.start(alpha=0.05, rho=optimal_rho(1000, 0.05),
                                  null_value=RULE.min_improvement, min_rows=100,
                                  unit="row")  # fmt: skip
    light = champion - 0.9  # about 0.1 on every row
    state = state.update(challenger - light, losses=(light, challenger))

    assert state.tail().champion > state.tail().challenger
    assert decide(state, RULE)[0] == "promote"

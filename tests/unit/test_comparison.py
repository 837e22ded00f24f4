"""The comparison's decision rule on outputs of known quality (pure, no MLflow)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import stats as st

from mlflow_retrain.comparison import ModelOutput, choose_loss_test, compare_models, metric_value
from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.policy import PromotionPolicy, default_policy
from mlflow_retrain.stats import delong_test

N = 3000


def _scores(y: np.ndarray, signal: float, rng: np.random.Generator) -> ModelOutput:
    latent = signal * (2 * y - 1) + rng.normal(size=len(y))
    p = 1 / (1 + np.exp(-latent))
    scores = np.column_stack([1 - p, p])
    return ModelOutput(predictions=(p > 0.5).astype(int), scores=scores, classes=np.array([0, 1]))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


@pytest.fixture
def y(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 2, N)


def test_a_clearly_better_challenger_is_promoted(y, rng) -> None:
    evidence = compare_models(
        y, _scores(y, 1.5, rng), _scores(y, 0.8, rng), policy=default_policy("classification")
    )

    assert evidence.decision == "promote"
    (auc,) = evidence.metrics
    assert auc.passed
    assert auc.ci_low > 0
    assert auc.difference == pytest.approx(auc.challenger - auc.champion)


def test_a_clearly_worse_challenger_is_rejected(y, rng) -> None:
    evidence = compare_models(
        y, _scores(y, 0.5, rng), _scores(y, 1.2, rng), policy=default_policy("classification")
    )

    assert evidence.decision == "reject"
    assert "significantly worse on roc_auc" in evidence.reason


def test_an_equal_challenger_is_inconclusive(y, rng) -> None:
    evidence = compare_models(
        y, _scores(y, 1.0, rng), _scores(y, 1.0, rng), policy=default_policy("classification")
    )

    assert evidence.decision == "inconclusive"
    assert "No significant improvement" in evidence.reason


def test_min_improvement_demands_practical_significance(y, rng) -> None:
    policy = PromotionPolicy.from_dict({"primary": [{"metric": "roc_auc",
                                                     "min_improvement": 0.2}]})  # fmt: skip

    evidence = compare_models(y, _scores(y, 1.5, rng), _scores(y, 0.8, rng), policy=policy)

    assert evidence.decision == "inconclusive"


def test_a_broken_guardrail_rejects_even_a_better_primary(y, rng) -> None:
    better = _scores(y, 1.5, rng)
    # Same labels, but certain of every one: right as often, far worse calibrated.
    hard = np.column_stack([1 - better.predictions, better.predictions]).astype(float)
    overconfident = ModelOutput(
        predictions=better.predictions, scores=np.clip(hard, 1e-4, 1 - 1e-4),
        classes=better.classes,
    )  # fmt: skip
    policy = PromotionPolicy.from_dict(
        {"primary": ["accuracy"], "guardrails": [{"metric": "log_loss", "margin": 0.01}]}
    )

    evidence = compare_models(y, overconfident, _scores(y, 1.4, rng), policy=policy)

    assert evidence.decision == "reject"
    assert "log_loss guardrail" in evidence.reason


def test_holm_adjusts_across_primary_metrics(y, rng) -> None:
    policy = PromotionPolicy.from_dict({"primary": ["roc_auc", "accuracy"]})

    evidence = compare_models(y, _scores(y, 1.5, rng), _scores(y, 0.8, rng), policy=policy)

    raw = sorted(m.p_value for m in evidence.metrics)
    adjusted = sorted(m.p_value_adjusted for m in evidence.metrics)
    assert adjusted[0] == pytest.approx(min(1.0, 2 * raw[0]))
    assert evidence.decision == "promote"


def _normal_regression(rng: np.random.Generator) -> tuple[np.ndarray, ModelOutput, ModelOutput]:
    """Targets, and a challenger with normal errors of sd 0.5 against a champion's 0.7."""
    y = rng.normal(size=N)
    good = ModelOutput(predictions=y + rng.normal(scale=0.5, size=N))
    bad = ModelOutput(predictions=y + rng.normal(scale=0.7, size=N))
    return y, good, bad


def test_regression_rmse_interval_is_in_rmse_units(rng) -> None:
    evidence = compare_models(*_normal_regression(rng), policy=default_policy("regression"))

    (rmse,) = evidence.metrics
    assert evidence.decision == "promote"
    assert rmse.ci_low < rmse.difference < rmse.ci_high < 0
    assert rmse.difference == pytest.approx(-0.2, abs=0.03)


def test_first_deployment_uses_the_floor(y, rng) -> None:
    policy = PromotionPolicy.from_dict({"floor": {"roc_auc": 0.99}})

    evidence = compare_models(y, _scores(y, 1.0, rng), None, policy=policy)

    assert evidence.first_deployment
    assert evidence.decision == "reject"
    assert "misses the policy floor 0.99" in evidence.reason
    promoted = compare_models(
        y, _scores(y, 1.0, rng), None, policy=default_policy("classification")
    )
    assert promoted.decision == "promote"


def test_the_default_policy_judges_a_first_deployment_against_chance(y, rng) -> None:
    useless = _scores(y, 0.0, rng)  # scores independent of the labels: AUC about 0.5

    evidence = compare_models(y, useless, None, policy=default_policy("classification"))

    (row,) = evidence.metrics
    assert (row.role, row.test, row.threshold) == ("floor", "floor", 0.5)
    assert evidence.decision in ("reject", "inconclusive")
    assert not row.passed
    assert "policy floor 0.5" in evidence.reason


def test_a_floor_is_cleared_only_with_confidence() -> None:
    # AUC 0.55 on 200 rows (DeLong SE about 0.04): above the floor as a point, not beyond doubt.
    y = np.repeat([0, 1], 100)
    p = np.r_[np.linspace(0.0, 0.9, 100), np.linspace(0.0, 0.9, 100) + 0.045]
    weak = ModelOutput(predictions=(p > 0.5).astype(int), scores=np.column_stack([1 - p, p]),
                       classes=np.array([0, 1]))  # fmt: skip
    policy = PromotionPolicy.from_dict({"floor": {"roc_auc": 0.5}})

    evidence = compare_models(y, weak, None, policy=policy)

    (row,) = evidence.metrics
    assert row.challenger > 0.5
    assert row.ci_low < 0 < row.ci_high  # the interval of (AUC - floor) straddles zero
    assert evidence.decision == "inconclusive"
    assert "is not shown to clear the policy floor 0.5 (90% interval" in evidence.reason


def test_a_cleared_floor_is_named_with_its_interval(y, rng) -> None:
    evidence = compare_models(
        y, _scores(y, 1.0, rng), None, policy=default_policy("classification")
    )

    (row,) = evidence.metrics
    assert evidence.decision == "promote"
    assert row.ci_low > 0
    assert row.difference == pytest.approx(row.challenger - 0.5)
    assert evidence.reason.startswith(
        "No champion yet; the challenger clears the policy floor with 90% confidence: roc_auc "
    )
    assert evidence.reason.endswith("> 0.5.")


def test_no_floor_set_says_so(y, rng) -> None:
    policy = PromotionPolicy.from_dict({"floor": {}})

    evidence = compare_models(y, _scores(y, 0.0, rng), None, policy=policy)

    assert evidence.decision == "promote"
    assert evidence.reason == (
        "No champion yet and no floor set: first deployment without a minimum."
    )
    assert "meets" not in evidence.reason


def test_a_regression_first_deployment_must_beat_the_mean(rng) -> None:
    y = rng.normal(size=500)
    noise = ModelOutput(predictions=rng.normal(size=500))  # R² well below zero
    fitted = ModelOutput(predictions=y + rng.normal(scale=0.5, size=500))

    refused = compare_models(y, noise, None, policy=default_policy("regression"))
    accepted = compare_models(y, fitted, None, policy=default_policy("regression"))

    assert refused.decision == "reject"
    assert "misses the policy floor 0" in refused.reason
    assert accepted.decision == "promote"
    assert [(m.name, m.role) for m in accepted.metrics] == [("rmse", "primary"), ("r2", "floor")]


def test_outputs_must_match_the_rows(y, rng) -> None:
    short = ModelOutput(predictions=np.zeros(10))

    with pytest.raises(InvalidInputError, match=r"gave 10 predictions for 3000 rows"):
        compare_models(y, short, _scores(y, 1.0, rng), policy=default_policy("classification"))


def test_probability_metrics_need_probabilities(y) -> None:
    with pytest.raises(InvalidInputError, match=r"needs class probabilities"):
        metric_value("roc_auc", y, ModelOutput(predictions=y))


def _dm_policy(alpha: float) -> PromotionPolicy:
    primary = [{"metric": "mae", "test": "diebold-mariano"}]
    return PromotionPolicy.from_dict({"task": "regression", "alpha": alpha, "primary": primary})


def _regression_pair(
    rng: np.random.Generator, n: int, effect: float
) -> tuple[np.ndarray, ModelOutput, ModelOutput]:
    y = rng.normal(size=n)
    challenger = ModelOutput(predictions=y + rng.normal(0, 1 - effect, n))
    champion = ModelOutput(predictions=y + rng.normal(0, 1, n))
    return y, challenger, champion


def test_the_diebold_mariano_interval_is_the_hand_computed_one_minus_two_alpha_interval() -> None:
    y, challenger, champion = _regression_pair(np.random.default_rng(3), 250, 0.05)

    (row,) = compare_models(y, challenger, champion, policy=_dm_policy(0.1)).metrics

    # Harvey, Leybourne & Newbold (1997), h = 1: se = sqrt(gamma_0 / n) / sqrt((n - 1) / n),
    # gamma_0 = sum((d - mean d)^2) / n; the 80% interval is mean d +- t_{0.9, n-1} se.
    d = np.abs(challenger.predictions - y) - np.abs(champion.predictions - y)
    n = len(d)
    gamma_0 = float(((d - d.mean()) ** 2).sum()) / n
    se = np.sqrt(gamma_0 / n) / np.sqrt((n - 1) / n)
    q = st.t.ppf(0.9, n - 1)
    assert row.test == "diebold-mariano"
    assert row.difference == pytest.approx(d.mean())
    assert (row.ci_low, row.ci_high) == pytest.approx((d.mean() - q * se, d.mean() + q * se))
    assert row.result.confidence == pytest.approx(0.8)


@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_the_diebold_mariano_interval_agrees_with_its_one_sided_test(alpha: float) -> None:
    # The one-sided test at alpha rejects exactly when the 1 - 2 alpha interval's end clears
    # zero (t quantiles are symmetric); a 95% interval disagrees for p in (0.025, alpha).
    rng = np.random.default_rng(11)
    p_values = []
    for _ in range(200):
        y, challenger, champion = _regression_pair(rng, 120, rng.uniform(0.0, 0.12))
        evidence = compare_models(y, challenger, champion, policy=_dm_policy(alpha))
        (row,) = evidence.metrics
        significant = row.p_value < alpha
        assert (row.ci_high < 0) == significant, (row.p_value, row.ci_high)
        assert row.passed == significant
        assert (evidence.decision == "promote") == significant
        p_values.append(row.p_value)
    # The cases reach the band where the two interval levels would disagree.
    assert sum(0.025 < p < alpha for p in p_values) >= 5


# --- 'auto': the paired t, or the bootstrap-t where the losses' skew calls for it -------------


@pytest.mark.parametrize(
    ("n", "skew", "chosen"),
    # The Edgeworth term 0.011 |skew| / sqrt(n / 100) (alpha = 0.05) against the 0.5-point limit.
    [(100, 0.40, "t"), (100, 0.50, "bootstrap-t"), (1000, 1.3, "t"), (1000, 1.5, "bootstrap-t")],
)
def test_auto_takes_the_bootstrap_t_where_skew_would_move_the_t_tests_level(
    n: int, skew: float, chosen: str
) -> None:
    # A two-point distribution with exactly this skew: p = 1/2 - skew / (2 sqrt(skew^2 + 4)).
    p = 0.5 - skew / (2 * np.sqrt(skew**2 + 4))
    differences = (np.arange(n) < round(p * n)).astype(float)

    test, reason = choose_loss_test(differences, alpha=0.05)

    assert test == chosen
    shown = re.match(r"auto: the loss differences' skew (\S+) over (\d+) rows", reason)
    assert shown is not None, reason
    assert float(shown[1]) == pytest.approx(skew, abs=0.03)
    assert int(shown[2]) == n


def _absolute_errors(rng: np.random.Generator, n: int, skewed: bool) -> tuple[np.ndarray, ...]:
    """Targets 0; the champion's absolute errors are 1, the challenger's have mean 1 too."""
    sizes = rng.exponential(1.0, n) if skewed else 1.0 + rng.uniform(-0.5, 0.5, n)
    signs = rng.choice([-1.0, 1.0], n)
    return np.zeros(n), signs * sizes, rng.choice([-1.0, 1.0], n)


def test_compare_records_which_test_auto_took_and_why() -> None:
    rng = np.random.default_rng(3)
    policy = PromotionPolicy.from_dict({"task": "regression", "primary": ["mae"]})
    results = {}
    for skewed in (False, True):
        y, challenger, champion = _absolute_errors(rng, 200, skewed)
        evidence = compare_models(y, ModelOutput(predictions=challenger),
                                  ModelOutput(predictions=champion), policy=policy)  # fmt: skip
        results[skewed] = evidence.metrics[0]

    assert results[False].test == "paired-t"
    assert results[True].test == "bootstrap-t"
    for row in results.values():
        assert row.test_choice is not None
        assert row.to_dict()["test_choice"] == row.test_choice
    assert results[True].test_choice.endswith(": bootstrap-t")


@pytest.mark.slow
def test_a_challenger_with_skewed_errors_and_the_same_mae_is_promoted_at_most_alpha() -> None:
    # Exponential absolute errors (skew 2) against constant ones, equal MAE, 50 rows: the
    # paired t promotes in about 7.8 % of replications (tests/unit/stats/test_bootstrap_t.py).
    rng = np.random.default_rng(21)
    policy = PromotionPolicy.from_dict(
        {"task": "regression", "primary": ["mae"], "n_resamples": 999}
    )
    reps, promoted = 1000, 0
    for _ in range(reps):
        y, challenger, champion = _absolute_errors(rng, 50, skewed=True)
        evidence = compare_models(y, ModelOutput(predictions=challenger),
                                  ModelOutput(predictions=champion), policy=policy)  # fmt: skip
        promoted += evidence.decision == "promote"

    assert promoted / reps <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / reps)


def test_delong_with_too_few_events_leaves_the_evidence_inconclusive_and_says_why(
    rng: np.random.Generator,
) -> None:
    # 8 positives in 3,000 rows: far better in every row, yet too few of the rarer class for
    # the DeLong test's level, so no promotion on it.
    y = np.zeros(N, dtype=int)
    y[:8] = 1

    evidence = compare_models(
        y, _scores(y, 3.0, rng), _scores(y, 0.3, rng), policy=default_policy("classification")
    )

    assert evidence.decision == "inconclusive"
    assert "only 8 rows of the rarer class" in evidence.reason
    assert "needs 10 of each class" in evidence.reason
    (auc,) = evidence.metrics
    assert auc.result is not None
    assert auc.result.inconclusive_reason is not None
    assert auc.difference > 0.2


def test_the_gates_delong_refers_z_to_t_on_the_rarer_class(rng: np.random.Generator) -> None:
    y = np.zeros(N, dtype=int)
    y[:12] = 1
    challenger, champion = _scores(y, 1.2, rng), _scores(y, 0.6, rng)

    evidence = compare_models(y, challenger, champion, policy=default_policy("classification"))

    (auc,) = evidence.metrics
    assert auc.result is not None
    assert auc.result.details["df"] == 11.0
    corrected = delong_test(y, challenger.scores[:, 1], champion.scores[:, 1],
                            alternative="greater", reference="t")  # fmt: skip
    plain = delong_test(y, challenger.scores[:, 1], champion.scores[:, 1], alternative="greater")
    assert auc.p_value == pytest.approx(corrected.p_value)
    assert corrected.p_value == pytest.approx(st.t.sf(plain.statistic, df=11))
    assert corrected.p_value > plain.p_value


# --- the heavy-tail check: no mean test on losses whose variance looks infinite ---------------


def _t3_against_normal(rng: np.random.Generator, n: int, better: float = 1.0) -> tuple:
    """Targets 0; the challenger's errors are t3 (variance 3) times ``better``, the champion's
    normal with variance 3: equal MSE at ``better = 1``."""
    challenger = better * rng.standard_t(3, n)
    champion = rng.normal(0, np.sqrt(3), n)
    return np.zeros(n), ModelOutput(predictions=challenger), ModelOutput(predictions=champion)


def test_a_heavy_tailed_challenger_leaves_an_rmse_comparison_inconclusive_and_says_why() -> None:
    # Half the champion's RMSE: every mean test would promote it, on too little evidence of
    # the rare huge errors that make up its mean.
    y, challenger, champion = _t3_against_normal(np.random.default_rng(4), 1000, better=0.5)

    evidence = compare_models(y, challenger, champion, policy=default_policy("regression"))

    (rmse,) = evidence.metrics
    assert evidence.decision == "inconclusive"
    assert rmse.result is not None
    assert rmse.result.inconclusive
    assert "heavy-tailed (Hill tail index" in evidence.reason
    tail = rmse.to_dict()["tail_index"]
    assert tail["k"] == 31
    assert tail["challenger"] > 0.45 > tail["champion"]


def test_normal_errors_keep_the_mean_test_and_record_their_tail_index(rng) -> None:
    evidence = compare_models(*_normal_regression(rng), policy=default_policy("regression"))

    (rmse,) = evidence.metrics
    assert evidence.decision == "promote"
    assert rmse.tail_index is not None
    assert rmse.tail_index["k"] == 54
    assert rmse.tail_index["challenger"] < 0.45


def test_a_bounded_loss_has_no_tail_check(y, rng) -> None:
    policy = PromotionPolicy.from_dict({"task": "classification", "primary": ["accuracy"]})

    evidence = compare_models(y, _scores(y, 2.0, rng), _scores(y, 0.5, rng), policy=policy)

    assert evidence.metrics[0].to_dict()["tail_index"] is None


@pytest.mark.slow
@pytest.mark.parametrize("n", [300, 1000])
def test_a_t3_challenger_at_equal_rmse_is_promoted_at_most_alpha(n: int) -> None:
    # Without the check, 17-23 % of these comparisons promoted (docs/statistics.md).
    rng = np.random.default_rng(n)
    policy = default_policy("regression")
    reps, promoted = 600, 0
    for _ in range(reps):
        evidence = compare_models(*_t3_against_normal(rng, n), policy=policy)
        promoted += evidence.decision == "promote"

    assert promoted / reps <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / reps)


def _guardrail_at_margin(rng: np.random.Generator, n: int, margin: float, laplace: bool) -> tuple:
    """Targets 0; the challenger's RMSE exactly ``margin`` above the champion's (1.0)."""
    draw = (lambda: rng.laplace(size=n) / np.sqrt(2)) if laplace else (lambda: rng.normal(size=n))
    shared, own = draw(), draw()
    challenger = (1 + margin) * (0.8 * shared + 0.6 * own)
    return np.zeros(n), ModelOutput(predictions=challenger), ModelOutput(predictions=shared)


GUARDRAIL_POLICY = {"task": "regression", "primary": ["mae"], "n_resamples": 499}


@pytest.mark.slow
@pytest.mark.parametrize("n", [300, 1000])
def test_an_rmse_guardrail_exactly_at_its_margin_passes_at_most_alpha(n: int) -> None:
    # Laplace errors: with the MSE interval mapped to RMSE units it passed 6-8 % here.
    rng = np.random.default_rng(40 + n)
    policy = PromotionPolicy.from_dict(
        {**GUARDRAIL_POLICY, "guardrails": [{"metric": "rmse", "margin": 0.1}]}
    )
    reps, passed = 500, 0
    for _ in range(reps):
        evidence = compare_models(*_guardrail_at_margin(rng, n, 0.1, laplace=True), policy=policy)
        passed += evidence.metrics[1].passed

    assert passed / reps <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / reps)


def test_an_rmse_guardrail_with_room_to_spare_passes() -> None:
    # The challenger's RMSE equals the champion's; the margin is 0.1 (10 % of it).
    rng = np.random.default_rng(2)
    policy = PromotionPolicy.from_dict(
        {**GUARDRAIL_POLICY, "guardrails": [{"metric": "rmse", "margin": 0.1}]}
    )
    passed = [
        compare_models(*_guardrail_at_margin(rng, 1000, 0.0, laplace=False), policy=policy)
        .metrics[1]
        .passed
        for _ in range(20)
    ]

    # Measured power at 1,000 rows: about 0.99 (docs/statistics.md).
    assert sum(passed) >= 18

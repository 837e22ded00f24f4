"""The first-deployment floor holds its level under H0 and has power (simulation, ``slow``).

H0 for a floor: the challenger's metric is no better than the floor. At the boundary (a model
whose true ROC AUC is exactly 0.5, or whose true R² is exactly 0) a first deployment must be
promoted in at most ``alpha`` of the replications, plus sampling tolerance; a model with real
skill must clear the floor nearly always.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlflow_retrain.comparison import ModelOutput, compare_models
from mlflow_retrain.policy import default_policy

pytestmark = pytest.mark.slow

ALPHA = 0.05


def _tolerance(reps: int) -> float:
    return 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)


def _classifier(y: np.ndarray, signal: float, rng: np.random.Generator) -> ModelOutput:
    latent = signal * (2 * y - 1) + rng.normal(size=len(y))
    p = 1 / (1 + np.exp(-latent))
    return ModelOutput(predictions=(p > 0.5).astype(int), scores=np.column_stack([1 - p, p]),
                       classes=np.array([0, 1]))  # fmt: skip


def _promote_rate_classification(signal: float, *, reps: int, n: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    policy = default_policy("classification")
    promoted = 0
    for _ in range(reps):
        y = rng.integers(0, 2, n)
        evidence = compare_models(y, _classifier(y, signal, rng), None, policy=policy)
        promoted += evidence.decision == "promote"
    return promoted / reps


def test_a_chance_level_classifier_is_promoted_at_most_alpha_of_the_time() -> None:
    reps = 1000

    rate = _promote_rate_classification(0.0, reps=reps, n=400, seed=11)

    assert rate <= ALPHA + _tolerance(reps)


def test_a_classifier_with_skill_clears_the_floor() -> None:
    # signal 0.3 gives a true ROC AUC of about 0.62; 400 rows.
    rate = _promote_rate_classification(0.3, reps=300, n=400, seed=12)

    assert rate >= 0.95


def test_a_regressor_without_skill_is_promoted_at_most_alpha_of_the_time() -> None:
    # pred = 0.5 y + e with Var(e) = 0.75: E[(y - pred)^2] = Var(y), so the true R² is 0.
    rng = np.random.default_rng(13)
    policy = default_policy("regression")
    reps, promoted = 200, 0
    for _ in range(reps):
        y = rng.normal(size=300)
        pred = 0.5 * y + rng.normal(scale=math.sqrt(0.75), size=300)
        promoted += compare_models(y, ModelOutput(predictions=pred), None,
                                   policy=policy).decision == "promote"  # fmt: skip

    assert promoted / reps <= ALPHA + _tolerance(reps)

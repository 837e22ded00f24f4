"""The model's feature importance, by permutation, as the share each column carries.

Drift weighs a column by how much the champion depends on it (``drift.weights:
importance``), so one clearly drifted column that the model leans on moves the dataset
decision, and a drifted column it ignores does not. The importance is scikit-learn's
permutation importance (Breiman, Machine Learning 45, 2001; ``sklearn.inspection.
permutation_importance``): the loss of the tuning metric on held-out rows when one column's
values are shuffled, averaged over a few shuffles. It is model-agnostic, so it also holds for
pipelines whose one-hot encoding spreads a column over many model inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mlflow_retrain.metrics import Metric, score
from mlflow_retrain.tuning.metrics import predict_scores

__all__ = ["importance_shares"]

#: Shuffles per column, and the most held-out rows scored (a seeded sample beyond that).
REPEATS = 5
MAX_ROWS = 5_000


def importance_shares(
    model: Any,
    frame: pd.DataFrame,
    target: pd.Series,
    *,
    features: Sequence[str],
    metric: Metric,
    seed: int = 0,
) -> dict[str, float]:
    """Each feature's share of the model's permutation importance on held-out rows.

    A column's importance is the mean loss of ``metric`` (in its better direction) over
    :data:`REPEATS` shuffles of that column, the other columns kept; negative means (the
    column does not help beyond noise) count as 0. The shares are the importances over their
    sum; when no column helps (or there are fewer than two rows), every column gets an
    equal share.

    Args:
        model: The fitted model (``predict`` / ``predict_proba`` on ``frame[features]``).
        frame: Held-out rows (the gate split), at most :data:`MAX_ROWS` of them scored.
        target: Their targets.
        features: The model's input columns.
        metric: The metric to lose (the tuning metric).
        seed: Seeds the row sample and the shuffles.

    Returns:
        Shares by feature, non-negative, summing to 1.
    """
    rng = np.random.default_rng(seed)
    X = frame[list(features)].reset_index(drop=True)
    y = np.asarray(target)
    if len(X) < 2 or not features:  # nothing to shuffle: no column stands out
        return dict.fromkeys(features, 1.0 / len(features)) if features else {}
    if len(X) > MAX_ROWS:
        rows = np.sort(rng.choice(len(X), MAX_ROWS, replace=False))
        X, y = X.iloc[rows].reset_index(drop=True), y[rows]
    labels = getattr(model, "classes_", None)
    sign = 1.0 if metric.greater_is_better else -1.0

    def value(table: pd.DataFrame) -> float:
        return sign * score(metric, y, predict_scores(model, table, metric=metric), labels=labels)

    baseline = value(X)
    drops: dict[str, float] = {}
    for name in features:
        losses = []
        for _ in range(REPEATS):
            shuffled = X.copy()
            shuffled[name] = X[name].to_numpy()[rng.permutation(len(X))]
            losses.append(baseline - value(shuffled))
        mean = float(np.nanmean(losses)) if not np.all(np.isnan(losses)) else 0.0
        drops[name] = max(0.0, mean)
    total = sum(drops.values())
    if not total > 0:
        return dict.fromkeys(features, 1.0 / len(features))
    return {name: drop / total for name, drop in drops.items()}

"""The champion's permutation importance, as the shares drift weighs its columns by."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LinearRegression, LogisticRegression

from mlflow_retrain.metrics import lookup_metric
from mlflow_retrain.tuning.importance import importance_shares


def _data(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(4)})


def test_a_classifier_leaning_on_one_column_gives_it_nearly_all_the_share() -> None:
    rng = np.random.default_rng(5)
    X = _data(rng, 3000)
    y = (2 * X["x0"] + 0.3 * X["x1"] + rng.normal(size=3000) > 0).astype(int)
    model = LogisticRegression().fit(X[:2000], y[:2000])

    shares = importance_shares(model, X[2000:], y[2000:], features=list(X),
                               metric=lookup_metric("roc_auc"))  # fmt: skip

    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["x0"] > 0.85
    assert shares["x1"] > shares["x2"]
    assert min(shares.values()) >= 0.0


def test_the_shares_follow_scikit_learns_permutation_importance() -> None:
    # A loss metric (RMSE, lower is better): the shares are scikit-learn's mean importances
    # (same metric, held-out rows), clipped at 0 and rescaled; the ranking is the same.
    rng = np.random.default_rng(6)
    X = _data(rng, 3000)
    y = 3 * X["x0"] + 1.5 * X["x1"] + 0.5 * X["x2"] + rng.normal(size=3000)
    model = LinearRegression().fit(X[:2000], y[:2000])

    shares = importance_shares(model, X[2000:], y[2000:], features=list(X),
                               metric=lookup_metric("rmse"))  # fmt: skip
    reference = permutation_importance(model, X[2000:], y[2000:], n_repeats=20, random_state=0,
                                       scoring="neg_root_mean_squared_error")  # fmt: skip
    expected = np.clip(reference.importances_mean, 0, None)
    expected /= expected.sum()

    assert [shares[c] for c in X] == pytest.approx(expected, abs=0.03)
    assert sorted(shares, key=shares.get, reverse=True)[:3] == ["x0", "x1", "x2"]


def test_a_model_that_no_column_helps_gives_equal_shares() -> None:
    rng = np.random.default_rng(7)
    X = _data(rng, 400)
    y = pd.Series(np.r_[np.zeros(200), np.ones(200)].astype(int))
    model = DummyClassifier(strategy="most_frequent").fit(X, y)  # one answer for every row

    shares = importance_shares(model, X, y, features=list(X), metric=lookup_metric("accuracy"))

    assert shares == dict.fromkeys(X, 0.25)

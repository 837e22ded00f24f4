"""Feature engineering of the churn model: ratios the raw subscriber table does not have."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

#: The text columns, kept as pandas categories (LightGBM splits on them natively).
CATEGORICAL = ("contract", "plan", "payment_method")


class ChurnFeatures(BaseEstimator, TransformerMixin):
    """Add engineered columns and fix the categories seen in training.

    * ``avg_charge``: what a subscriber paid per month so far (total / tenure);
    * ``price_gap``: the current monthly charge above that average (a recent price rise);
    * ``calls_per_year``: support calls scaled by tenure;
    * the text columns become categories with the training levels (unseen levels: missing).
    """

    def fit(self, X: pd.DataFrame, y: Any = None) -> ChurnFeatures:
        self.categories_ = {
            column: sorted(pd.Series(X[column]).dropna().astype(str).unique())
            for column in CATEGORICAL
            if column in X
        }
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame(X).copy()
        tenure = pd.to_numeric(out["tenure_months"], errors="coerce").clip(lower=1)
        total = pd.to_numeric(out["total_charges"], errors="coerce")
        monthly = pd.to_numeric(out["monthly_charges"], errors="coerce")
        out["avg_charge"] = total / tenure
        out["price_gap"] = monthly - out["avg_charge"]
        out["calls_per_year"] = pd.to_numeric(out["support_calls"], errors="coerce") * 12 / tenure
        for column, levels in self.categories_.items():
            text = out[column].astype("string").astype(object).where(out[column].notna(), np.nan)
            out[column] = pd.Categorical(text, categories=levels)
        return out

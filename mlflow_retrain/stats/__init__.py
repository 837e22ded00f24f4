"""Statistical tests used by drift detection and the promotion gate (pure numpy/scipy)."""

from __future__ import annotations

from mlflow_retrain.stats.multitest import AdjustMethod, adjust_pvalues

__all__ = ["AdjustMethod", "adjust_pvalues"]

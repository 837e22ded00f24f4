"""Statistical tests for drift and the promotion gate (pure numpy/scipy; no mlflow import).

Paired tests compare model ``a`` (the challenger) with model ``b`` (the champion) on the same
rows and return a :class:`TestResult`; ``adjust_pvalues`` corrects a family of p-values.
:class:`SequentialState` is shadow mode's always-valid sequential test (normal-mixture mSPRT).
"""

from __future__ import annotations

from mlflow_retrain.stats.delong import auc_variance, delong_test
from mlflow_retrain.stats.multitest import AdjustMethod, adjust_pvalues
from mlflow_retrain.stats.paired import (
    diebold_mariano_test,
    mcnemar_test,
    paired_bootstrap_test,
    paired_t_test,
    wilcoxon_test,
)
from mlflow_retrain.stats.result import Alternative, TestResult
from mlflow_retrain.stats.sequential import (
    SequentialState,
    mixture_bound,
    mixture_log_likelihood_ratio,
    optimal_rho,
    rho_for_effect,
)

__all__ = [
    "AdjustMethod",
    "Alternative",
    "SequentialState",
    "TestResult",
    "adjust_pvalues",
    "auc_variance",
    "delong_test",
    "diebold_mariano_test",
    "mcnemar_test",
    "mixture_bound",
    "mixture_log_likelihood_ratio",
    "optimal_rho",
    "paired_bootstrap_test",
    "paired_t_test",
    "rho_for_effect",
    "wilcoxon_test",
]

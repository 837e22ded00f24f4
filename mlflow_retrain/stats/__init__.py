"""Statistical tests for drift and the promotion gate (pure numpy/scipy; no mlflow import).

One module per test: :mod:`~mlflow_retrain.stats.mcnemar`, :mod:`~mlflow_retrain.stats.delong`,
:mod:`~mlflow_retrain.stats.paired_t`, :mod:`~mlflow_retrain.stats.bootstrap_t` (studentized
bootstrap of a mean loss difference), :mod:`~mlflow_retrain.stats.wilcoxon`,
:mod:`~mlflow_retrain.stats.bootstrap`, :mod:`~mlflow_retrain.stats.diebold_mariano`;
:mod:`~mlflow_retrain.stats.tails` (Hill's tail index, the heavy-tail check that guards every
mean-loss test); ``adjust_pvalues`` corrects a family of p-values, and
:class:`SequentialState` is shadow mode's always-valid sequential test. Import the names from here.

Paired tests compare model ``a`` (the challenger) with model ``b`` (the champion) on the same
rows and return a :class:`TestResult`. They follow one sign convention, the one of scipy:
``estimate`` is a difference "a minus b" and ``alternative`` refers to its sign. What that
means depends on whether the compared quantity is a score or a loss:

- scores (accuracy, ROC AUC): ``estimate = metric(a) - metric(b)``; a is better when it is
  positive, so ``alternative="greater"`` asks "is a better?";
- losses (paired t, bootstrap-t, Wilcoxon, Diebold-Mariano, the loss metrics of the
  bootstrap):
  ``estimate`` is built from ``loss_a - loss_b``; a is better when it is *negative*, so
  ``alternative="less"`` asks "is a better?".

``details["better_sign"]`` records which sign favours ``a`` (``+1`` or ``-1``) so a caller
never has to guess. Confidence intervals follow ``alternative`` like scipy's do: two-sided
for ``"two-sided"`` and one-sided (an infinite end) otherwise, so the interval always agrees
with the test it accompanies.

Degenerate input (no discordant pairs, every difference zero, too few rows) never raises: the
functions warn with a :class:`RuntimeWarning` and return an inconclusive result that names the
reason. Malformed input (different lengths, NaN, wrong shape, unknown option) raises
:class:`~mlflow_retrain.exceptions.InvalidInputError`.
"""

from __future__ import annotations

from mlflow_retrain.stats.betting import BettingState
from mlflow_retrain.stats.bootstrap import (
    BootstrapMetric,
    ResampledMetric,
    paired_bootstrap_test,
    paired_bootstrap_tests,
)
from mlflow_retrain.stats.bootstrap_t import bootstrap_t_test, root_ratio_interval
from mlflow_retrain.stats.delong import auc_variance, delong_test
from mlflow_retrain.stats.diebold_mariano import VarianceEstimator, diebold_mariano_test
from mlflow_retrain.stats.mcnemar import McNemarMethod, mcnemar_test
from mlflow_retrain.stats.multitest import AdjustMethod, adjust_pvalues
from mlflow_retrain.stats.paired_t import paired_t_test
from mlflow_retrain.stats.result import Alternative, TestResult
from mlflow_retrain.stats.sequential import (
    UNITS,
    SequentialState,
    batches_before_a_bound,
    mixture_bound,
    mixture_log_likelihood_ratio,
    optimal_rho,
    rho_for_effect,
    t_mixture_interval,
    t_mixture_log_likelihood_ratio,
)
from mlflow_retrain.stats.tails import TailCheck, hill_index, tail_check
from mlflow_retrain.stats.wilcoxon import WilcoxonMethod, ZeroMethod, wilcoxon_test

__all__ = [
    "UNITS",
    "AdjustMethod",
    "Alternative",
    "BettingState",
    "BootstrapMetric",
    "McNemarMethod",
    "ResampledMetric",
    "SequentialState",
    "TailCheck",
    "TestResult",
    "VarianceEstimator",
    "WilcoxonMethod",
    "ZeroMethod",
    "adjust_pvalues",
    "auc_variance",
    "batches_before_a_bound",
    "bootstrap_t_test",
    "delong_test",
    "diebold_mariano_test",
    "hill_index",
    "mcnemar_test",
    "mixture_bound",
    "mixture_log_likelihood_ratio",
    "optimal_rho",
    "paired_bootstrap_test",
    "paired_bootstrap_tests",
    "paired_t_test",
    "rho_for_effect",
    "root_ratio_interval",
    "t_mixture_interval",
    "t_mixture_log_likelihood_ratio",
    "tail_check",
    "wilcoxon_test",
]

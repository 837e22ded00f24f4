"""The paired t-test on per-row losses (``scipy.stats.ttest_rel``).

Pure numpy/scipy; see :mod:`mlflow_retrain.stats` for the sign convention every paired test
follows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from mlflow_retrain.stats._common import check_options, inconclusive, paired_losses
from mlflow_retrain.stats.result import Alternative, TestResult

__all__ = ["paired_t_test"]


def paired_t_test(
    loss_a: Any,
    loss_b: Any,
    *,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
) -> TestResult:
    """Paired t-test on per-row losses (``scipy.stats.ttest_rel``).

    With ``d = loss_a - loss_b`` and ``estimate = mean(d)`` (negative: a has the lower loss):

    - H0: ``E[d] = 0``.
    - H1: ``"two-sided"`` ``E[d] != 0``; ``"less"`` ``E[d] < 0`` (a is better);
      ``"greater"`` ``E[d] > 0`` (a is worse).

    Assumptions: the ``d`` are independent and identically distributed with finite variance;
    by the central limit theorem the t reference is fine for moderate ``n`` even when ``d``
    is skewed, but not for a few heavy-tailed rows (use :func:`wilcoxon_test`). Rows must not
    be cross-validation folds that share training data (the t-test is then anti-conservative;
    see Nadeau & Bengio 2003). Minimum sample size: 2 rows with differences that are not all
    equal.

    The interval is ``ttest_rel(...).confidence_interval(confidence)`` (one-sided for
    one-sided ``alternative``). Checked against R's ``t.test(extra ~ group, data = sleep,
    paired = TRUE)`` (t = -4.0621, df = 9, p = 0.002833, CI -2.4598858 to -0.7001142).

    Args:
        loss_a: Per-row losses of the challenger.
        loss_b: Per-row losses of the champion, on the same rows.
        alternative: Sign of ``estimate`` under H1; ``"less"`` means a has lower loss.
        confidence: Level of the confidence interval.

    Returns:
        A ``TestResult`` with ``details`` ``df``, ``se``, ``mean_loss_a``, ``mean_loss_b``
        and ``better_sign`` (-1). Inconclusive when ``n < 2`` or every difference is equal.

    Raises:
        InvalidInputError: On arrays of different lengths, non-1-D or non-finite input, or an
            invalid ``alternative``/``confidence``.
    """
    check_options(alternative, confidence)
    a, b = paired_losses(loss_a, loss_b)
    n = len(a)
    d = a - b
    estimate = float(d.mean()) if n else math.nan
    if n < 2:
        return inconclusive(
            "paired-t",
            f"need at least 2 paired rows, got {n}",
            n=n,
            alternative=alternative,
            confidence=confidence,
            estimate=estimate,
        )
    if np.ptp(d) == 0:
        return inconclusive(
            "paired-t",
            f"the loss differences are constant (all {float(d[0])!r}), so their variance is "
            "zero and t is undefined",
            n=n,
            alternative=alternative,
            confidence=confidence,
            estimate=estimate,
        )
    res = stats.ttest_rel(a, b, alternative=alternative)
    ci = res.confidence_interval(confidence_level=confidence)
    return TestResult(
        method="paired-t",
        statistic=float(res.statistic),
        p_value=float(res.pvalue),
        estimate=estimate,
        ci_low=float(ci.low),
        ci_high=float(ci.high),
        n=n,
        alternative=alternative,
        confidence=confidence,
        details={
            "df": float(res.df),
            "se": float(d.std(ddof=1) / math.sqrt(n)),
            "mean_loss_a": float(a.mean()),
            "mean_loss_b": float(b.mean()),
            "better_sign": -1.0,
        },
    )

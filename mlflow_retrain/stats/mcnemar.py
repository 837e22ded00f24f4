"""McNemar's test of equal accuracy for two classifiers scored on the same rows.

Pure numpy/scipy; see :mod:`mlflow_retrain.stats` for the sign convention every paired test
follows.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from scipy import stats

from mlflow_retrain import _errors as errors
from mlflow_retrain.stats._common import (
    check_options,
    inconclusive,
    normal_interval,
    same_length,
    vector,
)
from mlflow_retrain.stats.result import Alternative, TestResult

__all__ = ["McNemarMethod", "mcnemar_test"]

McNemarMethod = Literal["mid-p", "exact", "asymptotic", "corrected"]

_MCNEMAR_METHODS = ("mid-p", "exact", "asymptotic", "corrected")


def mcnemar_test(
    y_true: Any,
    pred_a: Any,
    pred_b: Any,
    *,
    method: McNemarMethod = "mid-p",
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
) -> TestResult:
    """McNemar's test of equal accuracy for two classifiers scored on the same rows.

    Only the discordant rows carry information: ``c`` rows where only ``a`` is right
    (``details["n_a_only_correct"]``) and ``b`` rows where only ``b`` is right
    (``details["n_b_only_correct"]``). Conditional on ``m = b + c``, ``c ~ Binomial(m, p)``.

    - H0: ``p = 1/2`` (equal accuracy; ``estimate = accuracy(a) - accuracy(b) = (c - b) / n``
      has mean zero).
    - H1: ``"two-sided"`` ``p != 1/2``; ``"greater"`` ``p > 1/2`` (a is more accurate);
      ``"less"`` ``p < 1/2``.

    Methods (Fagerland, Lydersen & Laake 2013, "The McNemar test for binary matched-pairs
    data: mid-p and asymptotic are better than exact conditional", BMC Med. Res. Methodol.
    13:91, recommend ``mid-p`` and ``asymptotic``; ``exact`` is conservative and ``corrected``
    more so):

    - ``exact``: binomial tail; two-sided ``min(1, 2 P(X <= min(b, c)))``.
    - ``mid-p``: the exact p-value minus half the point probability of the observed count in
      each tail used; two-sided ``2 P(X <= min(b, c)) - P(X = min(b, c))``.
    - ``asymptotic``: ``z = (c - b) / sqrt(b + c)``; two-sided ``chi2 = z**2`` on 1 df.
    - ``corrected``: Edwards' continuity correction, ``chi2 = (|c - b| - 1)**2 / (b + c)`` (R's
      ``mcnemar.test`` default); one-sided ``z = (c - b -+ 1) / sqrt(b + c)``. The correction is
      floored at zero when ``b = c`` (R would report ``1 / (b + c)``).

    Assumptions: rows are independent; predictions are compared to ``y_true`` by equality, so
    any label type works. Minimum sample size: one discordant row for ``exact``/``mid-p``;
    the normal approximations are reasonable from about 10 discordant rows (Fagerland et al.
    found ``asymptotic`` close to nominal even below that).

    The confidence interval of ``estimate`` is the Wald interval for a difference of paired
    proportions, ``se = sqrt(b + c - (c - b)**2 / n) / n`` (Agresti 2013, Categorical Data
    Analysis, 3rd ed., section 11.1), clipped to [-1, 1]. It is simple and matches the
    bootstrap standard error but under-covers with few discordant rows; prefer the p-value
    there.

    Checked against R's ``mcnemar.test`` example (Agresti 1990, p. 350: chi-squared 16.818,
    p = 4.115e-05 corrected; 17.356, p = 3.099e-05 uncorrected) and ``scipy.stats.binomtest``.

    Args:
        y_true: True labels, one per row.
        pred_a: Predicted labels of the challenger.
        pred_b: Predicted labels of the champion.
        method: ``"mid-p"`` (default), ``"exact"``, ``"asymptotic"`` or ``"corrected"``.
        alternative: Sign of ``estimate`` under H1; ``"greater"`` means a is more accurate.
        confidence: Level of the confidence interval.

    Returns:
        A ``TestResult``. ``statistic`` is ``c`` (the count of rows only ``a`` gets right) for
        ``exact``/``mid-p`` and the chi-squared value for ``asymptotic``/``corrected`` (the
        signed ``z`` is in ``details["z"]``). ``details`` holds ``n_a_only_correct``,
        ``n_b_only_correct``, ``n_discordant``, ``accuracy_a``, ``accuracy_b``, ``se`` and
        ``better_sign`` (+1). Inconclusive when there are no rows or no discordant rows.

    Raises:
        InvalidInputError: On arrays of different lengths, non-1-D or NaN input, or an
            unknown ``method``/``alternative``/``confidence``.
    """
    check_options(alternative, confidence)
    if method not in _MCNEMAR_METHODS:
        raise errors.InvalidInputError(
            f"method must be one of 'mid-p', 'exact', 'asymptotic', 'corrected'; got "
            f"{method!r}. Use 'mid-p' unless you need R's default ('corrected')."
        )
    truth = vector(y_true, "y_true", numeric=False)
    a = vector(pred_a, "pred_a", numeric=False)
    b = vector(pred_b, "pred_b", numeric=False)
    n = same_length(y_true=truth, pred_a=a, pred_b=b)
    name = f"mcnemar-{method}"
    if n == 0:
        return inconclusive(
            name, "no rows to compare", n=0, alternative=alternative, confidence=confidence
        )
    correct_a = np.asarray(a == truth, dtype=bool)
    correct_b = np.asarray(b == truth, dtype=bool)
    n_a_only = int(np.count_nonzero(correct_a & ~correct_b))
    n_b_only = int(np.count_nonzero(~correct_a & correct_b))
    m = n_a_only + n_b_only
    acc_a = float(correct_a.mean())
    acc_b = float(correct_b.mean())
    estimate = (n_a_only - n_b_only) / n
    details: dict[str, float] = {
        "n_a_only_correct": float(n_a_only),
        "n_b_only_correct": float(n_b_only),
        "n_discordant": float(m),
        "accuracy_a": acc_a,
        "accuracy_b": acc_b,
        "better_sign": 1.0,
    }
    if m == 0:
        return inconclusive(
            name,
            "the models agree on every row (no discordant pairs), so McNemar's test has no "
            "information",
            n=n,
            alternative=alternative,
            confidence=confidence,
            estimate=estimate,
            details=details,
        )

    diff = n_a_only - n_b_only
    if method in ("exact", "mid-p"):
        binom = stats.binom(m, 0.5)
        half_point = method == "mid-p"
        statistic = float(n_a_only)
        if alternative == "two-sided":
            low = min(n_a_only, n_b_only)
            tail_below = float(binom.cdf(low - 1))
            point = float(binom.pmf(low))
            p_value = 2.0 * tail_below + (point if half_point else 2.0 * point)
        elif alternative == "greater":  # P(X >= c), or P(X > c) + P(X = c) / 2
            point = float(binom.pmf(n_a_only))
            p_value = float(binom.sf(n_a_only)) + (0.5 if half_point else 1.0) * point
        else:  # P(X <= c), or P(X < c) + P(X = c) / 2
            point = float(binom.pmf(n_a_only))
            p_value = float(binom.cdf(n_a_only - 1)) + (0.5 if half_point else 1.0) * point
        z = diff / math.sqrt(m)
    else:
        shift = 1.0 if method == "corrected" else 0.0
        if alternative == "two-sided":
            magnitude = max(abs(diff) - shift, 0.0)
            statistic = magnitude**2 / m
            z = math.copysign(magnitude, diff) / math.sqrt(m)
            p_value = float(stats.chi2.sf(statistic, 1))
        elif alternative == "greater":
            z = (diff - shift) / math.sqrt(m)
            statistic = z**2
            p_value = float(stats.norm.sf(z))
        else:
            z = (diff + shift) / math.sqrt(m)
            statistic = z**2
            p_value = float(stats.norm.cdf(z))
    se = math.sqrt(max(m - diff**2 / n, 0.0)) / n
    low_ci, high_ci = normal_interval(estimate, se, alternative, confidence)
    details.update(z=z, se=se)
    return TestResult(
        method=name,
        statistic=statistic,
        p_value=min(1.0, p_value),
        estimate=estimate,
        ci_low=max(low_ci, -1.0),
        ci_high=min(high_ci, 1.0),
        n=n,
        alternative=alternative,
        confidence=confidence,
        details=details,
    )

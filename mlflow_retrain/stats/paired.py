"""Paired comparisons of a challenger ``a`` with a champion ``b`` on the same evaluation rows.

Every test returns a :class:`~mlflow_retrain.stats.result.TestResult` and follows one sign
convention, the one of scipy: ``estimate`` is a difference "a minus b" and ``alternative``
refers to its sign. What that means depends on whether the compared quantity is a score or a
loss:

- scores (accuracy): ``estimate = accuracy(a) - accuracy(b)``; a is better when it is
  positive, so ``alternative="greater"`` asks "is a better?";
- losses (paired t, Wilcoxon, Diebold-Mariano, the loss metrics of the bootstrap):
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

This module is pure numpy/scipy and never imports mlflow itself.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

import numpy as np
from scipy import stats

from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.stats.result import Alternative, TestResult

__all__ = [
    "BootstrapMetric",
    "McNemarMethod",
    "diebold_mariano_test",
    "mcnemar_test",
    "paired_bootstrap_test",
    "paired_t_test",
    "wilcoxon_test",
]

McNemarMethod = Literal["mid-p", "exact", "asymptotic", "corrected"]
BootstrapMetric = Literal["accuracy", "mae", "mse", "log_loss", "brier"]

_ALTERNATIVES = ("two-sided", "greater", "less")
_MCNEMAR_METHODS = ("mid-p", "exact", "asymptotic", "corrected")
# Per-row metric name -> the sign of ``estimate`` that favours ``a``.
_ROW_METRICS: dict[str, float] = {
    "accuracy": 1.0,
    "mae": -1.0,
    "mse": -1.0,
    "log_loss": -1.0,
    "brier": -1.0,
}
# Bound on the int64 indices materialised at once by the bootstrap (64 MB).
_MAX_INDICES_PER_CHUNK = 8_000_000
# The multinomial shortcut is used up to this many distinct per-row differences (and at most
# a quarter of the rows); beyond that, drawing the counts costs as much as gathering rows.
_MAX_DISTINCT_FOR_MULTINOMIAL = 1000
# Walsh averages are enumerated up to this count; beyond it order statistics are bisected.
_MAX_WALSH_ENUMERATED = 1_000_000
# The exact null distribution of the signed-rank statistic is used up to this many pairs.
_MAX_EXACT_SIGNRANK = 50


# --------------------------------------------------------------------------------------------
# Validation and small helpers
# --------------------------------------------------------------------------------------------


def _check_options(alternative: str, confidence: float) -> None:
    if alternative not in _ALTERNATIVES:
        raise InvalidInputError(
            f"alternative must be one of 'two-sided', 'greater', 'less'; got {alternative!r}. "
            "Pick the sign of the estimate you want to detect."
        )
    if isinstance(confidence, bool) or not 0.0 < float(confidence) < 1.0:
        raise InvalidInputError(
            f"confidence must lie strictly between 0 and 1; got {confidence!r}. "
            "Pass e.g. confidence=0.95."
        )


def _vector(values: Any, name: str, *, numeric: bool = True) -> np.ndarray:
    """Return ``values`` as a 1-D array, float when ``numeric``, rejecting NaN and inf."""
    try:
        arr = np.asarray(values, dtype=float) if numeric else np.asarray(values)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"{name} must be numeric; could not convert it to float ({err}). "
            "Pass one number per evaluation row."
        ) from err
    if arr.ndim != 1:
        raise InvalidInputError(
            f"{name} must be 1-D with one value per evaluation row; got shape {arr.shape}. "
            "Flatten it or pass a single column."
        )
    if arr.dtype.kind in "fc":
        bad = ~np.isfinite(arr)
        if bad.any():
            raise InvalidInputError(
                f"{name} must be finite; found {int(bad.sum())} NaN/inf value(s) "
                f"(first at index {int(np.argmax(bad))}). Drop or impute those rows in both "
                "models before comparing."
            )
    return arr


def _same_length(**arrays: np.ndarray) -> int:
    lengths = {name: len(arr) for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name}={length}" for name, length in lengths.items())
        raise InvalidInputError(
            f"Paired inputs must have the same length; got {shown}. "
            "Evaluate both models on the same rows, in the same order."
        )
    return next(iter(lengths.values()))


def _inconclusive(
    method: str,
    reason: str,
    *,
    n: int,
    alternative: Alternative,
    confidence: float,
    estimate: float = math.nan,
    details: Mapping[str, float] | None = None,
) -> TestResult:
    # stacklevel=3: point at the caller of the public test function.
    warnings.warn(f"{method}: {reason}", RuntimeWarning, stacklevel=3)
    result = TestResult.inconclusive_result(
        method,
        reason,
        n=n,
        estimate=estimate,
        alternative=alternative,
        confidence=confidence,
    )
    if details:
        result = dataclasses.replace(result, details=dict(details))
    return result


def _normal_interval(
    estimate: float, se: float, alternative: str, confidence: float
) -> tuple[float, float]:
    if alternative == "two-sided":
        q = float(stats.norm.ppf(0.5 + confidence / 2))
        return estimate - q * se, estimate + q * se
    q = float(stats.norm.ppf(confidence))
    if alternative == "greater":
        return estimate - q * se, math.inf
    return -math.inf, estimate + q * se


# --------------------------------------------------------------------------------------------
# McNemar
# --------------------------------------------------------------------------------------------


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
    _check_options(alternative, confidence)
    if method not in _MCNEMAR_METHODS:
        raise InvalidInputError(
            f"method must be one of 'mid-p', 'exact', 'asymptotic', 'corrected'; got "
            f"{method!r}. Use 'mid-p' unless you need R's default ('corrected')."
        )
    truth = _vector(y_true, "y_true", numeric=False)
    a = _vector(pred_a, "pred_a", numeric=False)
    b = _vector(pred_b, "pred_b", numeric=False)
    n = _same_length(y_true=truth, pred_a=a, pred_b=b)
    name = f"mcnemar-{method}"
    if n == 0:
        return _inconclusive(
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
        return _inconclusive(
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
    low_ci, high_ci = _normal_interval(estimate, se, alternative, confidence)
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


# --------------------------------------------------------------------------------------------
# Paired t and Wilcoxon signed-rank on per-row losses
# --------------------------------------------------------------------------------------------


def _paired_losses(loss_a: Any, loss_b: Any) -> tuple[np.ndarray, np.ndarray]:
    a = _vector(loss_a, "loss_a")
    b = _vector(loss_b, "loss_b")
    _same_length(loss_a=a, loss_b=b)
    return a, b


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
    _check_options(alternative, confidence)
    a, b = _paired_losses(loss_a, loss_b)
    n = len(a)
    d = a - b
    estimate = float(d.mean()) if n else math.nan
    if n < 2:
        return _inconclusive(
            "paired-t",
            f"need at least 2 paired rows, got {n}",
            n=n,
            alternative=alternative,
            confidence=confidence,
            estimate=estimate,
        )
    if np.ptp(d) == 0:
        return _inconclusive(
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


def _signrank_cdf(n: int) -> np.ndarray:
    """Exact null CDF of the signed-rank sum for ``n`` untied, non-zero differences."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for rank in range(1, n + 1):
        counts[rank:] = counts[rank:] + counts[:-rank].copy()
    # Counts stay below 2**50 for n <= 50, so float64 holds them exactly.
    return np.cumsum(counts) / 2.0**n


def _walsh_order_statistics(sorted_d: np.ndarray, ks: list[int]) -> list[float]:
    """The ``k``-th smallest (1-based) Walsh averages ``(d_i + d_j) / 2``, ``i <= j``."""
    n = len(sorted_d)
    if n * (n + 1) // 2 <= _MAX_WALSH_ENUMERATED:
        i, j = np.triu_indices(n)
        walsh = np.partition((sorted_d[i] + sorted_d[j]) / 2.0, [k - 1 for k in ks])
        return [float(walsh[k - 1]) for k in ks]
    # Too many to enumerate: bisect on the value, counting the averages <= t in O(n log n).
    offsets = np.arange(n)

    def count_at_most(t: float) -> int:
        upper = np.searchsorted(sorted_d, 2.0 * t - sorted_d, side="right")
        return int(np.maximum(upper - offsets, 0).sum())

    values = []
    for k in ks:
        low, high = float(sorted_d[0]), float(sorted_d[-1])
        if count_at_most(low) >= k:
            values.append(low)
            continue
        for _ in range(200):
            mid = (low + high) / 2.0
            if mid in (low, high):
                break
            if count_at_most(mid) >= k:
                high = mid
            else:
                low = mid
        values.append(high)
    return values


def _hodges_lehmann(
    nonzero: np.ndarray, alternative: str, confidence: float
) -> tuple[float, float, float, float]:
    """Hodges-Lehmann estimate, its signed-rank interval and the interval's exact level."""
    s = np.sort(nonzero)
    n = len(s)
    total = n * (n + 1) // 2
    alpha = 1.0 - confidence
    tail = alpha / 2.0 if alternative == "two-sided" else alpha
    achieved = math.nan
    if n <= _MAX_EXACT_SIGNRANK:
        cdf = _signrank_cdf(n)
        # R's qsignrank(tail, n): the smallest x with P(V <= x) >= tail.
        q = int(np.searchsorted(cdf, tail - 1e-12, side="left"))
        q = max(q, 1)
        achieved_tail = float(cdf[q - 1])
        achieved = 1.0 - (2.0 if alternative == "two-sided" else 1.0) * achieved_tail
    else:
        mean = total / 2.0
        sd = math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0)
        q = math.ceil(mean + sd * float(stats.norm.ppf(tail)) - 0.5)
        q = min(max(q, 1), total)
    middle = [(total + 1) // 2] if total % 2 else [total // 2, total // 2 + 1]
    values = _walsh_order_statistics(s, [*middle, q, total + 1 - q])
    estimate = float(np.mean(values[: len(middle)]))
    low = values[-2] if alternative != "less" else -math.inf
    high = values[-1] if alternative != "greater" else math.inf
    return estimate, low, high, achieved


def wilcoxon_test(
    loss_a: Any,
    loss_b: Any,
    *,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
) -> TestResult:
    """Wilcoxon signed-rank test on per-row losses (``scipy.stats.wilcoxon``).

    With ``d = loss_a - loss_b`` (zeros dropped, ``zero_method="wilcox"``, as R does):

    - H0: the distribution of ``d`` is symmetric about zero.
    - H1: ``"two-sided"`` it is not; ``"less"`` ``d`` is stochastically smaller than a
      symmetric distribution (a has lower loss, a is better); ``"greater"`` the reverse.

    The p-value comes from ``scipy.stats.wilcoxon(loss_a, loss_b, zero_method="wilcox",
    correction=False, method="auto")``, pinned because the defaults changed across SciPy
    versions. In SciPy 1.17 ``method="auto"`` means: more than 50 rows (zeros included) ->
    normal approximation with tie correction; otherwise exact null distribution when there
    are no ties or zeros, exhaustive permutation when there are and ``n <= 13``, normal
    approximation otherwise. R's ``wilcox.test`` instead falls back to the normal
    approximation with continuity correction as soon as there are ties or zeros, so the two
    can differ on small tied samples (sleep data: R 0.009091, here the exact 0.00390625).

    ``estimate`` is the Hodges-Lehmann estimate (median of the Walsh averages of the non-zero
    differences; negative: a is better). The interval inverts the signed-rank test like R's
    ``wilcox.test(conf.int = TRUE)``: order statistics of the Walsh averages at the exact
    critical rank for up to 50 non-zero differences (ignoring ties; the level reached is in
    ``details["ci_achieved_confidence"]``), the normal-approximation rank above that. Cost:
    the Walsh averages are enumerated up to a million of them (about 1,400 differences);
    above that each order statistic is found by bisection on its value, O(n log n) per step
    (1,000,000 rows take about 8 s in all).

    Assumptions: independent pairs; ``d`` measured on an interval scale so that ranking
    ``|d|`` is meaningful. Minimum sample size: 2 rows with at least one non-zero difference;
    a two-sided test at 5 % can only reject with 6 or more non-zero differences.

    Checked against R's ``wilcox.test`` on Hollander & Wolfe (1973, p. 29) depression data
    (V = 40, p = 0.01953 "greater") and on the sleep data (exact permutation p = 4/1024).

    Args:
        loss_a: Per-row losses of the challenger.
        loss_b: Per-row losses of the champion, on the same rows.
        alternative: Sign of ``estimate`` under H1; ``"less"`` means a has lower loss.
        confidence: Level of the Hodges-Lehmann confidence interval.

    Returns:
        A ``TestResult`` whose ``statistic`` is R's ``V``: the sum of the ranks of the
        positive differences (for every ``alternative``; scipy reports ``min(V+, V-)`` for a
        two-sided test). ``details`` holds ``r_plus``, ``r_minus``, ``n_zero``,
        ``n_nonzero``, ``ci_achieved_confidence`` (NaN when approximate) and ``better_sign``
        (-1). Inconclusive when ``n < 2`` or every difference is zero.

    Raises:
        InvalidInputError: On arrays of different lengths, non-1-D or non-finite input, or an
            invalid ``alternative``/``confidence``.
    """
    _check_options(alternative, confidence)
    a, b = _paired_losses(loss_a, loss_b)
    n = len(a)
    d = a - b
    if n < 2:
        return _inconclusive(
            "wilcoxon",
            f"need at least 2 paired rows, got {n}",
            n=n,
            alternative=alternative,
            confidence=confidence,
            estimate=float(d[0]) if n else math.nan,
        )
    nonzero = d[d != 0]
    if nonzero.size == 0:
        return _inconclusive(
            "wilcoxon",
            "every loss difference is zero, so there is nothing to rank",
            n=n,
            alternative=alternative,
            confidence=confidence,
            estimate=0.0,
        )
    res = stats.wilcoxon(
        a,
        b,
        zero_method="wilcox",
        correction=False,
        alternative=alternative,
        method="auto",
    )
    ranks = stats.rankdata(np.abs(nonzero))
    r_plus = float(ranks[nonzero > 0].sum())
    r_minus = float(ranks[nonzero < 0].sum())
    estimate, low, high, achieved = _hodges_lehmann(nonzero, alternative, confidence)
    return TestResult(
        method="wilcoxon",
        statistic=r_plus,
        p_value=float(res.pvalue),
        estimate=estimate,
        ci_low=low,
        ci_high=high,
        n=n,
        alternative=alternative,
        confidence=confidence,
        details={
            "r_plus": r_plus,
            "r_minus": r_minus,
            "n_zero": float(n - nonzero.size),
            "n_nonzero": float(nonzero.size),
            "ci_achieved_confidence": achieved,
            "better_sign": -1.0,
        },
    )


# --------------------------------------------------------------------------------------------
# Paired bootstrap
# --------------------------------------------------------------------------------------------


def _row_values(metric: str, truth: np.ndarray, out: np.ndarray, name: str) -> np.ndarray:
    """Per-row contributions whose mean is ``metric``."""
    if metric == "accuracy":
        return np.asarray(out == truth, dtype=float)
    y = truth.astype(float)
    p = out.astype(float)
    if metric == "mae":
        return np.abs(y - p)
    if metric == "mse":
        return (y - p) ** 2
    if np.any((p < 0) | (p > 1)):
        raise InvalidInputError(
            f"{name} must hold probabilities of the positive class in [0, 1] for {metric}; "
            f"got values in [{p.min()!r}, {p.max()!r}]. Pass predict_proba(X)[:, 1]."
        )
    if metric == "brier":
        return (p - y) ** 2
    eps = np.finfo(float).eps  # clip like scikit-learn's log_loss
    p = np.clip(p, eps, 1 - eps)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def _strata(stratify: Any, n: int) -> list[np.ndarray]:
    if stratify is None:
        return [np.arange(n)]
    labels = _vector(stratify, "stratify", numeric=False)
    _same_length(y_true=np.empty(n), stratify=labels)
    _, inverse = np.unique(labels, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.flatnonzero(np.diff(inverse[order])) + 1
    return np.split(order, bounds)


def _index_chunks(
    rng: np.random.Generator, strata: list[np.ndarray], n: int, n_resamples: int
) -> Iterator[np.ndarray]:
    """Yield (k, n) row-index matrices, k resamples at a time, resampling within strata."""
    per_chunk = max(1, _MAX_INDICES_PER_CHUNK // max(n, 1))
    done = 0
    while done < n_resamples:
        k = min(per_chunk, n_resamples - done)
        if len(strata) == 1 and len(strata[0]) == n:
            idx = rng.integers(0, n, size=(k, n))
        else:
            idx = np.concatenate(
                [
                    members[rng.integers(0, len(members), size=(k, len(members)))]
                    for members in strata
                ],
                axis=1,
            )
        done += k
        yield idx


def _bootstrap_mean_differences(
    d: np.ndarray, strata: list[np.ndarray], n_resamples: int, rng: np.random.Generator
) -> tuple[np.ndarray, bool]:
    """Bootstrap distribution of ``mean(d)``; returns it and whether the shortcut was used."""
    n = len(d)
    groups = [np.unique(d[members], return_counts=True) for members in strata]
    distinct = sum(len(values) for values, _ in groups)
    if distinct <= _MAX_DISTINCT_FOR_MULTINOMIAL and 4 * distinct <= n:
        # The resampled mean only depends on how often each distinct value is drawn, and
        # those counts are Multinomial(n_s, freq / n_s) per stratum: the exact bootstrap
        # distribution in O(n_resamples * distinct) instead of O(n_resamples * n).
        sums = np.zeros(n_resamples)
        for (values, counts), members in zip(groups, strata, strict=True):
            draws = rng.multinomial(len(members), counts / len(members), size=n_resamples)
            sums += draws @ values
        return sums / n, True
    means = np.concatenate(
        [d[idx].mean(axis=1) for idx in _index_chunks(rng, strata, n, n_resamples)]
    )
    return means, False


def paired_bootstrap_test(
    y_true: Any,
    out_a: Any,
    out_b: Any,
    metric: BootstrapMetric | Callable[[Any, Any], float],
    *,
    n_resamples: int = 2000,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
    random_state: int | np.random.Generator | None = None,
    stratify: Any = None,
) -> TestResult:
    """Paired bootstrap test of ``metric(a) - metric(b)`` (rows resampled jointly).

    ``estimate = metric(y_true, out_a) - metric(y_true, out_b)``. For ``"accuracy"`` a
    positive estimate favours ``a``; for the losses ``"mae"``, ``"mse"``, ``"log_loss"``
    and ``"brier"`` a negative one does (``details["better_sign"]``); for a callable the
    caller knows.

    - H0: the difference of the population metrics is zero.
    - H1: ``"two-sided"`` it is not; ``"greater"``/``"less"`` it is positive/negative.

    The p-value inverts the percentile interval (Efron & Tibshirani 1993, An Introduction to
    the Bootstrap, ch. 13 and 16): with ``delta*`` the resampled differences, ``"greater"``
    uses ``(1 + #{delta* <= 0}) / (B + 1)``, ``"less"`` ``(1 + #{delta* >= 0}) / (B + 1)``,
    two-sided twice the smaller, capped at 1. So ``p <= 1 - confidence`` essentially iff the
    percentile interval excludes 0 (up to one resample and the quantile interpolation).
    The interval is the percentile interval of ``delta*`` (one-sided for one-sided
    ``alternative``); no BCa correction.

    Assumptions: rows are independent (or ``stratify`` names the strata that were sampled
    independently, e.g. ``y_true`` for AUC so every resample keeps both classes, as pROC's
    ``boot.stratified``); the metric is a smooth function of the empirical distribution.
    Minimum sample size: 2 rows; use at least 2,000 resamples for a decision at 5 % and
    rows in the hundreds for the percentile interval to be accurate.

    Cost. String metrics are means of per-row values, so only ``d = value_a - value_b`` is
    resampled. When ``d`` has at most 1,000 distinct values, and at most ``n / 4`` of them
    (accuracy: -1, 0, 1), the counts of each value are drawn from a multinomial, which *is*
    the bootstrap distribution of the mean, in O(n_resamples x distinct): 1,000,000 rows x
    2,000 resamples take well under a second. Otherwise row indices are gathered in chunks of
    at most 8 million (64 MB), O(n_resamples x n): about 1 s per 100,000 rows x 2,000
    resamples. A callable is evaluated ``2 x n_resamples`` times on gathered rows:
    fine for thousands of rows, slow for millions. Replicates where a callable returns a
    non-finite value are dropped (counted in ``details["n_invalid_resamples"]``, with a
    warning).

    Reproducibility: the same ``random_state`` gives the same result. Callable and
    non-shortcut string paths draw the same index stream, so they agree on the same seed.

    Checked against the analytic bootstrap standard error of a paired accuracy difference,
    ``sqrt(b + c - (c - b)**2 / n) / n`` (the plug-in variance of the mean of ``d``).

    Args:
        y_true: True labels or targets, one per row.
        out_a: Challenger outputs: labels (accuracy), predictions (mae, mse), probabilities
            of the positive class (log_loss, brier, binary only), or anything the callable
            accepts (its first axis must be the rows).
        out_b: Champion outputs, same form as ``out_a``.
        metric: A name among ``"accuracy"``, ``"mae"``, ``"mse"``, ``"log_loss"``,
            ``"brier"`` or a callable ``metric(y_true, out) -> float``.
        n_resamples: Bootstrap resamples ``B``.
        alternative: Sign of ``estimate`` under H1.
        confidence: Level of the percentile interval.
        random_state: Seed or ``numpy.random.Generator``; None draws fresh entropy.
        stratify: Optional stratum label per row; rows are resampled within strata.

    Returns:
        A ``TestResult`` whose ``statistic`` is the estimate over the bootstrap standard
        error; ``details`` holds ``se``, ``metric_a``, ``metric_b``, ``n_resamples``,
        ``n_strata``, ``exact_multinomial`` (1 when the shortcut was used) and, for names,
        ``better_sign``. Inconclusive when ``n < 2`` or every resample gives the same
        difference.

    Raises:
        InvalidInputError: On arrays of different lengths or shapes, NaN, an unknown metric
            name, probabilities outside [0, 1], ``n_resamples < 1`` or a bad
            ``alternative``/``confidence``.
    """
    _check_options(alternative, confidence)
    if isinstance(n_resamples, bool) or int(n_resamples) != n_resamples or n_resamples < 1:
        raise InvalidInputError(
            f"n_resamples must be a positive integer; got {n_resamples!r}. Use 2000 or more "
            "for a decision at alpha = 0.05."
        )
    n_resamples = int(n_resamples)
    method = "paired-bootstrap"
    details: dict[str, float] = {"n_resamples": float(n_resamples)}
    if isinstance(metric, str):
        if metric not in _ROW_METRICS:
            raise InvalidInputError(
                f"Unknown bootstrap metric {metric!r}; use one of "
                f"{', '.join(sorted(_ROW_METRICS))} or pass a callable metric(y_true, out)."
            )
        numeric = metric != "accuracy"
        truth = _vector(y_true, "y_true", numeric=numeric)
        a = _vector(out_a, "out_a", numeric=numeric)
        b = _vector(out_b, "out_b", numeric=numeric)
        n = _same_length(y_true=truth, out_a=a, out_b=b)
        values_a = _row_values(metric, truth, a, "out_a")
        values_b = _row_values(metric, truth, b, "out_b")
        metric_a = float(values_a.mean()) if n else math.nan
        metric_b = float(values_b.mean()) if n else math.nan
        details["better_sign"] = _ROW_METRICS[metric]
    elif callable(metric):
        truth, a, b = (np.asarray(x) for x in (y_true, out_a, out_b))
        for name, arr in (("y_true", truth), ("out_a", a), ("out_b", b)):
            if arr.ndim not in (1, 2):
                raise InvalidInputError(
                    f"{name} must be 1-D or 2-D with rows first; got shape {arr.shape}. "
                    "Reshape it to (n_rows,) or (n_rows, n_columns)."
                )
            if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
                raise InvalidInputError(
                    f"{name} must be finite; found NaN/inf. Drop or impute those rows in "
                    "both models before comparing."
                )
        if a.shape != b.shape:
            raise InvalidInputError(
                f"out_a and out_b must have the same shape; got {a.shape} and {b.shape}. "
                "Score both models the same way."
            )
        n = _same_length(y_true=truth, out_a=a, out_b=b)
        metric_a = float(metric(truth, a)) if n else math.nan
        metric_b = float(metric(truth, b)) if n else math.nan
    else:
        raise InvalidInputError(
            f"metric must be a metric name or a callable; got {type(metric).__name__}. "
            "Pass e.g. 'accuracy' or sklearn.metrics.roc_auc_score."
        )
    estimate = metric_a - metric_b
    details.update(metric_a=metric_a, metric_b=metric_b)
    strata = _strata(stratify, n)
    details["n_strata"] = float(len(strata))
    if n < 2:
        return _inconclusive(
            method,
            f"need at least 2 rows to resample, got {n}",
            n=n,
            alternative=alternative,
            confidence=confidence,
            estimate=estimate,
            details=details,
        )
    rng = np.random.default_rng(random_state)
    if isinstance(metric, str):
        deltas, shortcut = _bootstrap_mean_differences(
            values_a - values_b, strata, n_resamples, rng
        )
    else:
        shortcut = False
        collected = []
        for idx in _index_chunks(rng, strata, n, n_resamples):
            for rows in idx:
                collected.append(
                    float(metric(truth[rows], a[rows])) - float(metric(truth[rows], b[rows]))
                )
        deltas = np.asarray(collected)
        valid = np.isfinite(deltas)
        n_invalid = int(np.count_nonzero(~valid))
        details["n_invalid_resamples"] = float(n_invalid)
        if n_invalid:
            warnings.warn(
                f"{method}: the metric was not finite on {n_invalid} of {n_resamples} "
                "resamples (e.g. one class only); they were dropped. Pass stratify=y_true.",
                RuntimeWarning,
                stacklevel=2,
            )
            deltas = deltas[valid]
    details["exact_multinomial"] = 1.0 if shortcut else 0.0
    if deltas.size == 0 or np.ptp(deltas) == 0:
        return _inconclusive(
            method,
            "every bootstrap resample gives the same difference, so the bootstrap "
            "distribution has no spread (are the per-row values of a and b identical?)",
            n=n,
            alternative=alternative,
            confidence=confidence,
            estimate=estimate,
            details=details,
        )
    b_eff = deltas.size
    p_greater = (1.0 + np.count_nonzero(deltas <= 0)) / (b_eff + 1.0)
    p_less = (1.0 + np.count_nonzero(deltas >= 0)) / (b_eff + 1.0)
    alpha = 1.0 - confidence
    if alternative == "two-sided":
        p_value = min(1.0, 2.0 * min(p_greater, p_less))
        low, high = np.quantile(deltas, [alpha / 2.0, 1.0 - alpha / 2.0])
    elif alternative == "greater":
        p_value = p_greater
        low, high = float(np.quantile(deltas, alpha)), math.inf
    else:
        p_value = p_less
        low, high = -math.inf, float(np.quantile(deltas, confidence))
    se = float(deltas.std(ddof=1))
    details["se"] = se
    return TestResult(
        method=method,
        statistic=estimate / se if se > 0 else math.nan,
        p_value=float(p_value),
        estimate=estimate,
        ci_low=float(low),
        ci_high=float(high),
        n=n,
        alternative=alternative,
        confidence=confidence,
        details=details,
    )


# --------------------------------------------------------------------------------------------
# Diebold-Mariano
# --------------------------------------------------------------------------------------------


def _dm_variance(d: np.ndarray, h: int) -> float:
    """``(gamma_0 + 2 sum_{k<h} gamma_k) / n`` with autocovariances over ``n`` (R's acf)."""
    n = len(d)
    centred = d - d.mean()
    gammas = [float(centred[k:] @ centred[: n - k]) / n for k in range(h)]
    return (gammas[0] + 2.0 * sum(gammas[1:])) / n


def diebold_mariano_test(
    loss_a: Any,
    loss_b: Any,
    *,
    h: int = 1,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
) -> TestResult:
    """Diebold-Mariano test of equal forecast accuracy, with the HLN small-sample correction.

    With the loss differential ``d_t = loss_a[t] - loss_b[t]`` (time-ordered) and
    ``estimate = mean(d)`` (negative: a forecasts better):

    - H0: ``E[d_t] = 0``.
    - H1: ``"two-sided"`` ``E[d_t] != 0``; ``"less"`` ``E[d_t] < 0`` (a is more accurate);
      ``"greater"`` ``E[d_t] > 0``. Note R's ``forecast::dm.test`` uses the same convention
      (``"less"``: the first forecast is more accurate) while the PyPI ``dieboldmariano``
      package's ``one_sided=True`` is ``"less"``.

    Statistic (Diebold & Mariano 1995, JBES 13:253-263; Harvey, Leybourne & Newbold 1997,
    IJF 13:281-291): ``DM = mean(d) / sqrt(V / n)`` with the long-run variance ``V = gamma_0
    + 2 sum_{k=1}^{h-1} gamma_k`` (sample autocovariances with divisor ``n``), multiplied by
    ``sqrt((n + 1 - 2h + h(h - 1) / n) / n)`` and referred to Student-t with ``n - 1`` df.
    When ``V <= 0`` for ``h > 1`` the test falls back to ``h = 1`` with a warning, like R's
    ``forecast::dm.test`` (``details["h_used"]`` records it). The interval inverts the test:
    ``mean(d) +- t_{n-1} * sqrt(V / n) / correction``.

    Assumptions: ``d_t`` is covariance-stationary and, for ``h``-step forecasts, at most
    ``(h - 1)``-dependent. Minimum sample size: ``n >= 2`` and ``n > h``; the HLN correction
    targets small samples but the test is still unreliable below about 10-20 points.

    Checked against the ``dieboldmariano`` 1.1 package (README and its test suite, stated to
    match R ``forecast::dm.test``) and an independent implementation of the HLN formulas.

    Args:
        loss_a: Per-period losses of the challenger, in time order.
        loss_b: Per-period losses of the champion, same periods.
        h: Forecast horizon (positive integer): autocovariances up to lag ``h - 1``.
        alternative: Sign of ``estimate`` under H1; ``"less"`` means a has lower loss.
        confidence: Level of the confidence interval.

    Returns:
        A ``TestResult`` with ``details`` ``h``, ``h_used``, ``df``, ``long_run_variance``,
        ``hln_factor``, ``mean_loss_a``, ``mean_loss_b`` and ``better_sign`` (-1).
        Inconclusive when ``n < 2``, ``h >= n`` or the differential is constant.

    Raises:
        InvalidInputError: On arrays of different lengths, non-1-D or non-finite input, a
            non-positive or non-integer ``h``, or a bad ``alternative``/``confidence``.
    """
    _check_options(alternative, confidence)
    if isinstance(h, bool) or not isinstance(h, int | np.integer) or h < 1:
        raise InvalidInputError(
            f"h must be a positive integer forecast horizon; got {h!r}. Use h=1 for "
            "one-step-ahead forecasts."
        )
    h = int(h)
    a, b = _paired_losses(loss_a, loss_b)
    n = len(a)
    d = a - b
    estimate = float(d.mean()) if n else math.nan
    method = "diebold-mariano"
    if n < 2 or h >= n:
        return _inconclusive(
            method,
            f"need at least 2 periods and more periods than the horizon; got n={n}, h={h}",
            n=n,
            alternative=alternative,
            confidence=confidence,
            estimate=estimate,
        )
    if np.ptp(d) == 0:
        return _inconclusive(
            method,
            f"the loss differential is constant (all {float(d[0])!r}), so its variance is zero",
            n=n,
            alternative=alternative,
            confidence=confidence,
            estimate=estimate,
        )
    h_used = h
    variance = _dm_variance(d, h)
    if variance <= 0:
        warnings.warn(
            f"{method}: the long-run variance with h={h} is not positive ({variance:.3g}); "
            "falling back to h=1 as R's forecast::dm.test does.",
            RuntimeWarning,
            stacklevel=2,
        )
        h_used = 1
        variance = _dm_variance(d, 1)
    factor = math.sqrt((n + 1 - 2 * h_used + h_used * (h_used - 1) / n) / n)
    se = math.sqrt(variance) / factor
    statistic = estimate / se
    df = n - 1
    t_dist = stats.t(df)
    if alternative == "two-sided":
        p_value = 2.0 * float(t_dist.sf(abs(statistic)))
        q = float(t_dist.ppf(0.5 + confidence / 2))
        low, high = estimate - q * se, estimate + q * se
    elif alternative == "greater":
        p_value = float(t_dist.sf(statistic))
        low, high = estimate - float(t_dist.ppf(confidence)) * se, math.inf
    else:
        p_value = float(t_dist.cdf(statistic))
        low, high = -math.inf, estimate + float(t_dist.ppf(confidence)) * se
    return TestResult(
        method=method,
        statistic=statistic,
        p_value=min(1.0, p_value),
        estimate=estimate,
        ci_low=low,
        ci_high=high,
        n=n,
        alternative=alternative,
        confidence=confidence,
        details={
            "h": float(h),
            "h_used": float(h_used),
            "df": float(df),
            "long_run_variance": variance * n,
            "hln_factor": factor,
            "mean_loss_a": float(a.mean()),
            "mean_loss_b": float(b.mean()),
            "better_sign": -1.0,
        },
    )

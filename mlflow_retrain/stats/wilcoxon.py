"""The Wilcoxon signed-rank test on per-row losses, with the Hodges-Lehmann estimate.

Pure numpy/scipy; see :mod:`mlflow_retrain.stats` for the sign convention every paired test
follows.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal

import numpy as np
from scipy import stats

from mlflow_retrain import _errors as errors
from mlflow_retrain.stats._common import (
    check_choice,
    check_options,
    inconclusive,
    paired_losses,
)
from mlflow_retrain.stats.result import Alternative, TestResult

__all__ = ["WilcoxonMethod", "ZeroMethod", "wilcoxon_test"]

WilcoxonMethod = Literal["auto", "exact", "approx", "asymptotic"]
ZeroMethod = Literal["wilcox", "pratt", "zsplit"]

_METHODS = ("auto", "exact", "approx", "asymptotic")
_ZERO_METHODS = ("wilcox", "pratt", "zsplit")

# Walsh averages are enumerated up to this count; beyond it order statistics are bisected.
_MAX_WALSH_ENUMERATED = 1_000_000
# method="auto" uses the exact null distribution for the interval up to this many ranked
# differences (scipy's own exact/asymptotic switch for the p-value is at 50 rows too).
_MAX_EXACT_SIGNRANK = 50


def _signrank_cdf(n: int) -> np.ndarray:
    """Exact null CDF of the signed-rank sum for ``n`` untied, non-zero differences.

    Each rank joins the positive sum with probability 1/2, so the pmf is convolved with
    ``(delta_0 + delta_rank) / 2`` once per rank: ``O(n^3)`` work (n = 1,000 takes about 1 s).
    Halving at every step is exact in binary floating point, so for ``n <= 50`` (counts below
    2**53) the probabilities are the exact dyadic fractions ``count / 2**n``, and larger ``n``
    cannot overflow.
    """
    pmf = np.zeros(n * (n + 1) // 2 + 1)
    pmf[0] = 1.0
    for rank in range(1, n + 1):
        pmf[rank:] = (pmf[rank:] + pmf[:-rank].copy()) / 2.0
        pmf[:rank] /= 2.0
    return np.cumsum(pmf)


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
    ranked: np.ndarray, alternative: str, confidence: float, *, exact: bool
) -> tuple[float, float, float, float]:
    """Hodges-Lehmann estimate, its signed-rank interval and the interval's exact level."""
    s = np.sort(ranked)
    n = len(s)
    total = n * (n + 1) // 2
    alpha = 1.0 - confidence
    tail = alpha / 2.0 if alternative == "two-sided" else alpha
    achieved = math.nan
    if exact:
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
    method: WilcoxonMethod = "auto",
    correction: bool = False,
    zero_method: ZeroMethod = "wilcox",
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
) -> TestResult:
    """Wilcoxon signed-rank test on per-row losses (``scipy.stats.wilcoxon``).

    With ``d = loss_a - loss_b``:

    - H0: the distribution of ``d`` is symmetric about zero.
    - H1: ``"two-sided"`` it is not; ``"less"`` ``d`` is stochastically smaller than a
      symmetric distribution (a has lower loss, a is better); ``"greater"`` the reverse.

    The p-value is ``scipy.stats.wilcoxon(loss_a, loss_b, zero_method=zero_method,
    correction=correction, method=...)`` with every option pinned, because SciPy's defaults
    changed across versions. The defaults (``method="auto"``, ``correction=False``,
    ``zero_method="wilcox"``) are this function's historical behaviour; R's ``wilcox.test``
    defaults to ``correct = TRUE``.

    ``method`` (R's ``exact``):

    - ``"auto"``: as SciPy 1.17 chooses. More than 50 rows (zeros included): the normal
      approximation; otherwise the exact null distribution when there are no ties or zeros,
      an exhaustive permutation of the signs when there are and ``n <= 13`` (the exact
      conditional p-value, as R coin's ``wilcoxsign_test(distribution = "exact")``), and the
      normal approximation above that. R's ``wilcox.test`` instead switches to the normal
      approximation as soon as there are ties or zeros, so the two differ on small tied
      samples (sleep data: R 0.009091, here the exact 0.00390625).
    - ``"exact"``: the exact null distribution of the untied statistic for any ``n``. With
      ties or zeros it is not exact: SciPy rounds the statistic conservatively, and the test
      warns (R would warn and use the normal approximation).
    - ``"approx"`` (or SciPy's name ``"asymptotic"``): the normal approximation with the tie
      variance correction, and ``correction`` applies.

    ``correction``: continuity correction of the normal approximation (``z`` moved by
    ``0.5 / sd`` towards zero, R's ``correct = TRUE``); ignored by the exact and permutation
    p-values.

    ``zero_method`` (zero differences, as SciPy):

    - ``"wilcox"``: drop them before ranking (Wilcoxon 1945; R's ``wilcox.test``).
    - ``"pratt"``: rank them with the others, then drop their ranks (Pratt 1959; R coin's
      default ``zero.method = "Pratt"``); the normal approximation uses Cureton's (1967)
      adjusted mean and variance.
    - ``"zsplit"``: rank them with the others and split their ranks equally between the
      positive and the negative sum.

    ``statistic`` is R's ``V``: the sum of the ranks of the positive differences (plus half the
    zeros' ranks for ``zsplit``), for every ``alternative`` (SciPy reports ``min(V+, V-)`` for a
    two-sided test).

    ``estimate`` is the Hodges-Lehmann estimate: the median of the Walsh averages
    ``(d_i + d_j) / 2, i <= j`` of the ranked differences (the non-zero ones for ``wilcox``,
    all of them for ``pratt`` and ``zsplit``; negative: a is better). The interval inverts the
    signed-rank test like R's ``wilcox.test(conf.int = TRUE)``: order statistics of the Walsh
    averages at the critical rank of the exact null distribution (ignoring ties; the level
    reached is in ``details["ci_achieved_confidence"]``) for ``method="exact"``, and for
    ``"auto"`` up to 50 ranked differences; at the normal-approximation rank otherwise. R
    finds its approximate interval by root-finding instead, so approximate ends agree with R
    to about the 4th significant digit. ``correction`` does not change the interval. Cost: the
    Walsh averages are enumerated up to a million of them (about 1,400 differences); above
    that each order statistic is found by bisection on its value, O(n log n) per step
    (1,000,000 rows take about 8 s in all); the exact critical rank costs ``O(n^3)``.

    Assumptions: independent pairs; ``d`` measured on an interval scale so that ranking
    ``|d|`` is meaningful. Minimum sample size: 2 rows with at least one non-zero difference;
    a two-sided test at 5 % can only reject with 6 or more non-zero differences.

    Checked against R (see ``tests/unit/stats/test_paired_reference.py``): ``?wilcox.test`` on
    Hollander & Wolfe (1973, p. 29) depression data (exact: V = 40, p = 0.01953 "greater";
    ``exact = FALSE, correct = FALSE``: V = 5, p = 0.01908 "less" on ``y - x``), the sleep data
    (``correct = TRUE``: p = 0.009091), PSI CAMIS's 240-pair blood-pressure comparison
    (exact, corrected and uncorrected p-values, exact 90 % interval), and coin's regression
    tests for zero handling (exact conditional p 0.4741211 Wilcoxon, 0.4609375 Pratt). No R
    function implements ``zsplit``; it is checked against SciPy and the textbook formulas.

    Args:
        loss_a: Per-row losses of the challenger.
        loss_b: Per-row losses of the champion, on the same rows.
        method: ``"auto"`` (default), ``"exact"``, ``"approx"`` or ``"asymptotic"``.
        correction: Continuity correction of the normal approximation (default False).
        zero_method: ``"wilcox"`` (default), ``"pratt"`` or ``"zsplit"``.
        alternative: Sign of ``estimate`` under H1; ``"less"`` means a has lower loss.
        confidence: Level of the Hodges-Lehmann confidence interval.

    Returns:
        A ``TestResult`` whose ``statistic`` is ``V``. ``details`` holds ``r_plus``,
        ``r_minus``, ``n_zero``, ``n_nonzero``, ``ci_achieved_confidence`` (NaN when
        approximate) and ``better_sign`` (-1). Inconclusive when ``n < 2`` or every difference
        is zero.

    Raises:
        InvalidInputError: On arrays of different lengths, non-1-D or non-finite input, an
            unknown ``method``/``zero_method``, a non-boolean ``correction``, or an invalid
            ``alternative``/``confidence``.
    """
    check_options(alternative, confidence)
    check_choice(
        method,
        "method",
        _METHODS,
        "Use 'auto', 'exact' (R's exact = TRUE) or 'approx' (the normal approximation).",
    )
    check_choice(
        zero_method,
        "zero_method",
        _ZERO_METHODS,
        "Use 'wilcox' (drop zeros, as R), 'pratt' or 'zsplit'.",
    )
    if not isinstance(correction, bool | np.bool_):
        raise errors.InvalidInputError(
            f"correction must be True or False; got {correction!r}. Pass correction=True for "
            "R's continuity-corrected normal approximation."
        )
    a, b = paired_losses(loss_a, loss_b)
    n = len(a)
    d = a - b
    if n < 2:
        return inconclusive(
            "wilcoxon",
            f"need at least 2 paired rows, got {n}",
            n=n,
            alternative=alternative,
            confidence=confidence,
            estimate=float(d[0]) if n else math.nan,
        )
    nonzero = d[d != 0]
    if nonzero.size == 0:
        return inconclusive(
            "wilcoxon",
            "every loss difference is zero, so there is nothing to rank",
            n=n,
            alternative=alternative,
            confidence=confidence,
            estimate=0.0,
        )
    ranked = nonzero if zero_method == "wilcox" else d
    ranks = stats.rankdata(np.abs(ranked))
    r_plus = float(ranks[ranked > 0].sum())
    r_minus = float(ranks[ranked < 0].sum())
    if zero_method == "zsplit":
        half_zeros = float(ranks[ranked == 0].sum()) / 2.0
        r_plus += half_zeros
        r_minus += half_zeros
    if method == "exact" and (nonzero.size < n or len(np.unique(np.abs(ranked))) < ranked.size):
        warnings.warn(
            "wilcoxon: method='exact' with ties or zero differences: the exact null "
            "distribution assumes neither, so the p-value is only approximately exact "
            "(method='auto' permutes the signs for n <= 13).",
            RuntimeWarning,
            stacklevel=2,
        )
    res = stats.wilcoxon(
        a,
        b,
        zero_method=zero_method,
        correction=correction,
        alternative=alternative,
        method="asymptotic" if method in ("approx", "asymptotic") else method,
    )
    exact_interval = method == "exact" or (method == "auto" and ranked.size <= _MAX_EXACT_SIGNRANK)
    estimate, low, high, achieved = _hodges_lehmann(
        ranked, alternative, confidence, exact=exact_interval
    )
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

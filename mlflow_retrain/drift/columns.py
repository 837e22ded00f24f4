"""Per-column drift tests and effect sizes (pure numpy/scipy; no mlflow import).

The reference side of every numeric test is a weighted step distribution: the distinct values of
a column with their counts (exact), or a compressed quantile sketch (see
:mod:`mlflow_retrain.drift.profile`). The current side is always the raw, sorted batch. Against
an exact reference the results equal scipy's on the raw samples:
``ks_statistic`` equals ``scipy.stats.ks_2samp(...).statistic`` and ``wasserstein_distance``
equals ``scipy.stats.wasserstein_distance`` (tested). The work is one sort of the current batch
and ``O(k + m)`` vectorised passes, where ``k`` is the number of reference points and ``m`` the
batch size.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.spatial import distance

__all__ = [
    "CategoricalTest",
    "NumericTest",
    "categorical_test",
    "ks_p_value",
    "missing_rate_test",
    "numeric_test",
]

#: Below this many non-missing values on either side, a column's test is inconclusive.
MIN_VALUES = 2
#: scipy's ``ks_2samp`` uses the exact distribution when both samples are at most this large.
KS_EXACT_MAX_N = 10_000
#: Proportions are clipped to this floor inside PSI's logarithm (the usual convention).
PSI_EPSILON = 1e-4


@dataclass(frozen=True)
class NumericTest:
    """Result of :func:`numeric_test`.

    Attributes:
        statistic: Two-sample Kolmogorov-Smirnov D.
        p_value: Its two-sided p-value.
        wasserstein: Wasserstein-1 distance, in the column's units.
        wasserstein_std: Wasserstein-1 over the reference standard deviation (floored at 1e-3
            of the reference scale, so a constant reference does not divide by zero).
        psi: Population stability index over reference-quantile bins.
    """

    statistic: float
    p_value: float
    wasserstein: float
    wasserstein_std: float
    psi: float


@dataclass(frozen=True)
class CategoricalTest:
    """Result of :func:`categorical_test`.

    Attributes:
        statistic: Chi-square statistic of the 2 x k homogeneity table.
        p_value: Its p-value (``dof`` degrees of freedom).
        dof: Degrees of freedom after pooling sparse levels.
        jensen_shannon: Jensen-Shannon distance (base 2, in [0, 1]) of the level shares.
        unseen: Current levels absent from the reference, with their counts, most frequent
            first.
        unseen_share: Share of current values at unseen levels.
    """

    statistic: float
    p_value: float
    dof: int
    jensen_shannon: float
    unseen: tuple[tuple[str, int], ...]
    unseen_share: float


def numeric_test(
    ref_values: np.ndarray,
    ref_weights: np.ndarray,
    current: np.ndarray,
    *,
    ref_std: float,
    psi_bins: int = 10,
    exact_reference: bool = True,
) -> NumericTest:
    """Compare a numeric column's reference distribution with a current batch.

    H0: both samples come from the same continuous distribution. H1 (two-sided): they do not.
    The KS p-value follows ``scipy.stats.ks_2samp(method="auto")``: exact when both samples
    have at most 10,000 values and the reference is exact, Smirnov's asymptotic distribution
    otherwise. Ties make the test conservative. Checked against scipy on random and tied data.

    Args:
        ref_values: Sorted distinct reference points.
        ref_weights: Mass at each point (counts, or sketch weights).
        current: Sorted, finite, non-missing current values (at least one).
        ref_std: Reference standard deviation, for the normalised Wasserstein distance.
        psi_bins: Number of reference-quantile bins for PSI.
        exact_reference: ``ref_weights`` are integer counts of every value (not a sketch).

    Returns:
        The test result.
    """
    n_ref = float(ref_weights.sum())
    m = current.size
    cdf_ref = np.cumsum(ref_weights)
    cdf_ref /= n_ref  # F_ref at each point, right-continuous
    # Current values before (left) and up to (right) every reference point: F_cur just
    # before and just after it, times m. One binary search; ties fix up `right`.
    left = np.searchsorted(current, ref_values, side="left")
    right = _count_at_most(current, ref_values, left)
    d = _ks_statistic(cdf_ref, right, left, m)
    w1 = _wasserstein(ref_values, cdf_ref, current, right)
    n_ref_int = round(n_ref)
    if exact_reference and max(n_ref_int, m) <= KS_EXACT_MAX_N:
        reference = np.repeat(ref_values, np.round(ref_weights).astype(np.int64))
        with warnings.catch_warnings():
            # When its exact recursion hits a floating-point error (seen for p close to 1 on
            # tied 0/1 data), scipy returns the asymptotic p-value with a RuntimeWarning: the
            # documented fallback, so not worth alarming the user about.
            warnings.filterwarnings(
                "ignore", "ks_2samp: Exact calculation unsuccessful", RuntimeWarning
            )
            p_value = float(stats.ks_2samp(reference, current, method="exact").pvalue)
    else:
        p_value = ks_p_value(d, n_ref_int, m)
    scale = max(ref_std, 1e-3 * max(abs(ref_values[0]), abs(ref_values[-1]), 1.0))
    return NumericTest(
        statistic=d,
        p_value=p_value,
        wasserstein=w1,
        wasserstein_std=w1 / scale if math.isfinite(scale) and scale > 0 else math.inf,
        psi=_psi(ref_values, cdf_ref, current, psi_bins),
    )


def ks_p_value(d: float, n_ref: int, n_cur: int) -> float:
    """Two-sided two-sample KS p-value from Smirnov's limit distribution.

    This is exactly what ``scipy.stats.ks_2samp`` computes in its ``asymp`` mode:
    ``kstwo.sf(d, round(n m / (n + m)))``.
    """
    m, n = sorted([float(n_ref), float(n_cur)], reverse=True)
    en = m * n / (m + n)
    return float(np.clip(stats.kstwo.sf(d, np.round(en)), 0.0, 1.0))


def _count_at_most(current: np.ndarray, points: np.ndarray, left: np.ndarray) -> np.ndarray:
    """Number of current values <= each point, given the number < it (``left``)."""
    m = current.size
    tied = np.flatnonzero(current[np.minimum(left, m - 1)] == points)
    if tied.size == 0:
        return left
    right = left.copy()
    right[tied] = np.searchsorted(current, points[tied], side="right")
    return right


def _ks_statistic(cdf_ref: np.ndarray, right: np.ndarray, left: np.ndarray, m: int) -> float:
    # Between consecutive reference points F_ref is constant and F_cur is monotone, so the
    # supremum of |F_ref - F_cur| on each interval is at its ends: F_cur right after the left
    # point, or just before the right point. Below the first point F_ref = 0.
    d_right = np.abs(cdf_ref - right / m).max()
    d_next = np.abs(cdf_ref[:-1] - left[1:] / m).max(initial=0.0)
    return float(max(d_right, d_next, left[0] / m))


def _wasserstein(
    ref_values: np.ndarray, cdf_ref: np.ndarray, current: np.ndarray, right: np.ndarray
) -> float:
    """W1 = integral of |F_ref - F_cur|, exact for a step reference and a raw batch.

    Works in units of ``m`` (counts instead of shares) and divides once at the end.
    ``area(x, k) = k x - prefix[k]`` is the integral of ``m F_cur`` from -inf to x when the
    k smallest current values are exactly those below x, give or take values equal to x
    (which add nothing). Temporaries are updated in place: on million-row columns, fresh
    arrays cost about as much in page faults as the arithmetic.
    """
    m = current.size
    prefix = np.empty(m + 1)
    prefix[0] = 0.0
    np.cumsum(current, out=prefix[1:])
    area = right * ref_values
    area -= prefix[right]  # at every reference point

    a, b = ref_values[:-1], ref_values[1:]
    level = cdf_ref[:-1] * m
    # On [a, b) m F_ref = level; m F_cur reaches it at the q-th smallest current value,
    # q = ceil(level) (the tolerance absorbs rounding of whole levels). Before that point x
    # the gap is level - m F_cur, after it m F_cur - level.
    scratch = level - 1e-9
    q = np.ceil(scratch, out=scratch).astype(np.int64)
    np.clip(q, 1, m, out=q)
    q -= 1
    x = np.take(current, q, mode="clip")
    q += 1
    # The count at x is known without another search: the reference point's count when x is
    # clipped to an end of the interval, q when the crossing is inside it.
    before, after = x < a, x > b
    np.copyto(q, right[:-1], where=before)
    np.copyto(q, right[1:], where=after)
    np.copyto(x, a, where=before)
    np.copyto(x, b, where=after)
    area_x = np.multiply(q, x, out=scratch)
    area_x -= np.take(prefix, q, mode="clip")
    # level (x - a) - (area_x - area_a) + (area_b - area_x) - level (b - x)
    inner = x
    inner *= 2.0
    inner -= a
    inner -= b
    inner *= level
    gap = np.subtract(area[:-1], area_x, out=level)
    inner += gap
    np.subtract(area[1:], area_x, out=gap)
    inner += gap
    k_top = right[-1]
    above = (prefix[m] - prefix[k_top]) - (m - k_top) * ref_values[-1]
    return float((inner.sum() + area[0] + above) / m)  # m F_ref = 0 left of the first point


def _psi(ref_values: np.ndarray, cdf_ref: np.ndarray, current: np.ndarray, bins: int) -> float:
    # Interior edges at the reference's quantiles; bins are (e_{i-1}, e_i].
    probs = np.arange(1, bins) / bins
    idx = np.minimum(np.searchsorted(cdf_ref, probs - 1e-12, side="left"), ref_values.size - 1)
    edges = np.unique(ref_values[idx])
    edges = edges[edges < ref_values[-1]]
    ref_cdf_at = cdf_ref[np.searchsorted(ref_values, edges, side="right") - 1]
    cur_cdf_at = np.searchsorted(current, edges, side="right") / current.size
    p_ref = np.clip(np.diff(np.r_[0.0, ref_cdf_at, 1.0]), PSI_EPSILON, None)
    p_cur = np.clip(np.diff(np.r_[0.0, cur_cdf_at, 1.0]), PSI_EPSILON, None)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


def categorical_test(
    ref_counts: Mapping[str, int],
    cur_counts: Mapping[str, int],
    *,
    min_expected: int = 5,
    pooled_reference: bool = False,
) -> CategoricalTest:
    """Compare a categorical column's level counts between reference and current.

    H0: the level shares are the same in both populations (chi-square test of homogeneity on
    the 2 x k table over the union of levels, ``scipy.stats.chi2_contingency`` without Yates'
    correction). Levels whose combined count is below ``min_expected`` are pooled into one bin
    so sparse levels do not inflate the statistic; levels seen only in the current batch stay
    in the table (they are the commonest real-world categorical drift). Large-sample test:
    each bin should have an expected count of about 5 or more.

    Args:
        ref_counts: Reference count per level (may include the pooled ``__other__`` level).
        cur_counts: Current count per level.
        min_expected: Pool levels whose combined count is below this.
        pooled_reference: The reference pooled rare levels under ``__other__``; current levels
            it does not list may be among them, so they are compared with that bin and not
            reported as unseen.

    Returns:
        The test result; ``p_value`` is 1.0 when only one level remains.
    """
    from mlflow_retrain.drift.profile import OTHER_LEVEL

    levels = list(dict.fromkeys([*ref_counts, *cur_counts]))
    ref = np.array([ref_counts.get(level, 0) for level in levels], dtype=float)
    cur = np.array([cur_counts.get(level, 0) for level in levels], dtype=float)
    if pooled_reference and OTHER_LEVEL in ref_counts:
        known = np.array([level in ref_counts for level in levels])
        other = levels.index(OTHER_LEVEL)
        cur[other] += cur[~known].sum()
        cur[~known] = 0.0
        unseen: list[tuple[str, int]] = []
    else:
        unseen = sorted(
            ((lvl, int(c)) for lvl, c in cur_counts.items() if lvl not in ref_counts and c > 0),
            key=lambda kv: (-kv[1], kv[0]),
        )
    total_cur = cur.sum()
    jsd = float(distance.jensenshannon(ref / ref.sum(), cur / total_cur, base=2))
    jsd = 0.0 if not math.isfinite(jsd) else jsd

    sparse = (ref + cur) < min_expected
    if sparse.any():
        ref = np.r_[ref[~sparse], ref[sparse].sum()]
        cur = np.r_[cur[~sparse], cur[sparse].sum()]
    keep = (ref + cur) > 0
    table = np.vstack([ref[keep], cur[keep]])
    if table.shape[1] < 2:
        statistic, p_value, dof = 0.0, 1.0, 0
    else:
        result = stats.chi2_contingency(table, correction=False)
        statistic, p_value, dof = float(result.statistic), float(result.pvalue), int(result.dof)
    unseen_total = sum(c for _, c in unseen)
    return CategoricalTest(
        statistic=statistic,
        p_value=p_value,
        dof=dof,
        jensen_shannon=jsd,
        unseen=tuple(unseen),
        unseen_share=unseen_total / total_cur if total_cur else 0.0,
    )


def missing_rate_test(missing_ref: int, n_ref: int, missing_cur: int, n_cur: int) -> float:
    """Two-sided two-proportion z-test of the missing rates (pooled variance).

    H0: the missing rate is the same in both populations. Equivalent to the chi-square test
    of the 2 x 2 table without continuity correction (``z**2 == chi2``). Large-sample test.

    Returns:
        The p-value; 1.0 when neither or both samples are entirely missing.
    """
    pooled = (missing_ref + missing_cur) / (n_ref + n_cur)
    if n_ref == 0 or n_cur == 0 or pooled in (0.0, 1.0):
        return 1.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_ref + 1 / n_cur))
    z = (missing_cur / n_cur - missing_ref / n_ref) / se
    return float(2 * stats.norm.sf(abs(z)))

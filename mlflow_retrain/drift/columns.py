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
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.spatial import distance

__all__ = [
    "CategoricalTest",
    "NumericTest",
    "categorical_test",
    "chi_square_monte_carlo",
    "chi_square_statistic",
    "ks_p_value",
    "missing_rate_test",
    "numeric_test",
    "pool_sparse_levels",
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
        jensen_shannon: Jensen-Shannon distance (base 2, in [0, 1]) of the tested bins' shares,
            less its sampling noise (bias-corrected, :func:`categorical_test`): about 0 when
            nothing changed, at any sample size.
        unseen: Current levels absent from the reference, with their counts, most frequent
            first.
        unseen_share: Share of current values at unseen levels.
        jensen_shannon_raw: The plug-in Jensen-Shannon distance over the union of levels, with
            no correction (what ``scipy.spatial.distance.jensenshannon`` gives on the shares;
            large on small batches even without change).
        method: How ``p_value`` was found: ``asymptotic`` (the chi-square distribution, on
            the pooled bins) or ``monte_carlo`` (the table too sparse to pool into two
            trustworthy bins: :func:`chi_square_monte_carlo` on every level).
    """

    statistic: float
    p_value: float
    dof: int
    jensen_shannon: float
    unseen: tuple[tuple[str, int], ...]
    unseen_share: float
    jensen_shannon_raw: float = 0.0
    method: str = "asymptotic"


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
    correction). A large-sample test: it holds its level when every bin's expected count is
    about 5 or more in the *smaller* sample, which is where a rare level's count is small. A
    reference of 10,000 rows against a batch of 50 expects a level with 1% of the rows half a
    time in the batch, however often the reference saw it; tested apart, 500 such levels
    flag an unchanged column in about one batch of five. So the levels whose expected count
    in the smaller sample (their pooled share times its rows) is below ``min_expected`` are
    pooled into one bin, and while that bin itself expects fewer, the least expected of the
    other levels joins it (:func:`pool_sparse_levels`). When that cannot leave two bins each
    expected ``min_expected`` times (a batch of 50 rows over 100 levels of 1% each), every
    level is tested on its own with the statistic's exact conditional distribution instead
    (:func:`chi_square_monte_carlo`, ``method`` ``monte_carlo``). Levels seen only in the
    current batch stay in the test (alone, or in the pooled bin, whose excess they then
    show): they are the commonest real-world categorical drift.

    The effect size is the Jensen-Shannon distance of the tested bins, corrected for its
    noise. Under H0 the plug-in divergence ``JS`` (base 2) of two samples of ``n1`` and
    ``n2`` rows over ``k`` bins averages about ``(k - 1) (1 / n1 + 1 / n2) / (8 ln 2)``: its
    second-order expansion is ``sum (p - q)**2 / m / (8 ln 2)``, whose expectation under
    equal shares is that, the same term that makes the chi-square statistic average its
    degrees of freedom. The reported distance is ``sqrt(max(0, JS - that))``, so 500 levels in
    a batch of 50 show no effect where the plug-in distance shows 0.6, while a real change
    keeps its size once the batch can show it (a level going from 10% to 15% of the rows:
    0.064 at 5,000 rows).

    Args:
        ref_counts: Reference count per level (may include the pooled ``__other__`` level).
        cur_counts: Current count per level.
        min_expected: Pool levels expected fewer times than this in the smaller sample.
        pooled_reference: The reference pooled rare levels under ``__other__``; current levels
            it does not list may be among them, so they are compared with that bin and not
            reported as unseen.

    Returns:
        The test result; ``p_value`` is 1.0 when only one bin remains.
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
    raw = _jensen_shannon(ref, cur)

    ref_bins, cur_bins = pool_sparse_levels(ref, cur, min_expected)
    method = "asymptotic"
    seen = (ref + cur) > 0
    if np.count_nonzero(seen) >= 2 and (
        ref_bins.size < 2 or _expected_in_smaller(ref_bins, cur_bins).min() < min_expected
    ):
        # Too sparse to pool into two trustworthy bins: every level on its own, with the
        # statistic's exact conditional distribution instead of the chi-square one.
        ref_bins, cur_bins, method = ref[seen], cur[seen], "monte_carlo"
    if ref_bins.size < 2 or ref_bins.sum() == 0 or cur_bins.sum() == 0:
        statistic, p_value, dof, corrected = 0.0, 1.0, 0, 0.0
    else:
        statistic = chi_square_statistic(ref_bins, cur_bins[None, :])[0]
        dof = ref_bins.size - 1
        p_value = (
            chi_square_monte_carlo(ref_bins, cur_bins, statistic)
            if method == "monte_carlo"
            else float(stats.chi2.sf(statistic, dof))
        )
        noise = dof * (1 / ref_bins.sum() + 1 / cur_bins.sum()) / (8 * math.log(2))
        corrected = math.sqrt(max(0.0, _jensen_shannon(ref_bins, cur_bins) ** 2 - noise))
    unseen_total = sum(c for _, c in unseen)
    return CategoricalTest(
        statistic=float(statistic),
        p_value=float(p_value),
        dof=dof,
        jensen_shannon=corrected,
        unseen=tuple(unseen),
        unseen_share=unseen_total / total_cur if total_cur else 0.0,
        jensen_shannon_raw=raw,
        method=method,
    )


def chi_square_statistic(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Pearson's statistic of 2 x k tables that share the column totals of ``ref + cur[0]``.

    Args:
        ref: Reference counts per bin (of the observed table).
        cur: Current counts per bin, one row per table (the observed and any drawn ones,
            each with the observed table's column totals and current rows).

    Returns:
        One statistic per row of ``cur``.
    """
    totals = ref + cur[0]
    n_ref, n_cur = ref.sum(), cur[0].sum()
    n = n_ref + n_cur
    expected_cur = totals * (n_cur / n)
    # (cur - E_cur)^2 / E_cur + (ref - E_ref)^2 / E_ref, where ref - E_ref = -(cur - E_cur).
    scale = 1 / expected_cur + 1 / (totals * (n_ref / n))
    return np.asarray(((cur - expected_cur) ** 2 * scale).sum(axis=1), dtype=float)


#: Random tables behind a Monte Carlo p-value (its smallest value is 1 / 2001).
MONTE_CARLO_TABLES = 2000
#: Up to this many rows in all, the tables are drawn by numpy's "count" method.
_COUNT_METHOD_MAX = 1_000_000


def chi_square_monte_carlo(ref: np.ndarray, cur: np.ndarray, statistic: float) -> float:
    """The conditional Monte Carlo p-value of Pearson's statistic on a sparse 2 x k table.

    Given the column totals and the two samples' sizes, the current row of a table under H0
    (the same shares in both) is multivariate hypergeometric, so tables drawn that way give
    the statistic's exact null distribution, whatever the counts (Hope, JRSS-B 30(3), 1968;
    what R's ``chisq.test(simulate.p.value = TRUE)`` does). The p-value is ``(1 + #{drawn
    >= observed}) / (1 + MONTE_CARLO_TABLES)``, which is valid at any number of tables. The
    draws are seeded by the table itself, so the same counts always give the same p-value.

    Args:
        ref: Reference counts per level (no level empty on both sides).
        cur: Current counts per level.
        statistic: Pearson's statistic of the observed table.

    Returns:
        The p-value.
    """
    if cur.sum() > ref.sum():  # the statistic is symmetric: draw the smaller sample's row
        ref, cur = cur, ref
    totals = (ref + cur).astype(np.int64)
    seed = zlib.crc32(np.vstack([ref, cur]).astype(np.int64).tobytes())
    # "count" draws in time per drawn row, with memory per unit of the totals.
    rng = np.random.default_rng(seed)
    if totals.sum() <= _COUNT_METHOD_MAX:
        drawn = rng.multivariate_hypergeometric(
            totals, int(cur.sum()), size=MONTE_CARLO_TABLES, method="count"
        )
    else:
        drawn = rng.multivariate_hypergeometric(totals, int(cur.sum()), size=MONTE_CARLO_TABLES)
    values = chi_square_statistic(ref, np.vstack([cur, drawn]).astype(float))[1:]
    # Ties up to rounding count as at least as extreme.
    extreme = np.count_nonzero(values >= statistic * (1 - 1e-9))
    return float((1 + extreme) / (1 + MONTE_CARLO_TABLES))


def _expected_in_smaller(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Each bin's expected count in the smaller sample, under equal shares."""
    total = ref.sum() + cur.sum()
    return np.asarray((ref + cur) / total * min(ref.sum(), cur.sum()), dtype=float)


def pool_sparse_levels(
    ref: np.ndarray, cur: np.ndarray, min_expected: float
) -> tuple[np.ndarray, np.ndarray]:
    """The bins a chi-square test of ``ref`` against ``cur`` counts can trust.

    A level's expected count in the smaller sample is its pooled share, ``(ref + cur) /
    total``, times that sample's rows. Levels expected fewer than ``min_expected`` times form
    one bin (appended last); while that bin expects fewer, the least expected other level
    joins it, until it does or only one other level is left. Levels with no count on either
    side are dropped.

    Args:
        ref: Reference counts per level.
        cur: Current counts per level, aligned with ``ref``.
        min_expected: The fewest expected rows per bin in the smaller sample.

    Returns:
        The reference and current counts per bin.
    """
    seen = (ref + cur) > 0
    ref, cur = ref[seen], cur[seen]
    if ref.sum() + cur.sum() == 0:
        return ref, cur
    expected = _expected_in_smaller(ref, cur)
    sparse = expected < min_expected
    if not sparse.any():
        return ref, cur
    # The other levels, least expected first, that the pool takes in until it expects enough
    # (always leaving one of them out).
    others = np.flatnonzero(~sparse)[np.argsort(expected[~sparse], kind="stable")][:-1]
    reach = expected[sparse].sum() + np.r_[0.0, np.cumsum(expected[others])]
    taken = int(np.argmax(reach >= min_expected)) if reach[-1] >= min_expected else others.size
    sparse[others[:taken]] = True
    return np.r_[ref[~sparse], ref[sparse].sum()], np.r_[cur[~sparse], cur[sparse].sum()]


def _jensen_shannon(ref: np.ndarray, cur: np.ndarray) -> float:
    """The Jensen-Shannon distance (base 2) of two count vectors' shares; 0 if one is empty."""
    if ref.sum() == 0 or cur.sum() == 0:
        return 0.0
    value = float(distance.jensenshannon(ref / ref.sum(), cur / cur.sum(), base=2))
    return value if math.isfinite(value) else 0.0


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

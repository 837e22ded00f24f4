"""Multiple-comparison adjustment of p-values (pure numpy/scipy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import stats

__all__ = ["AdjustMethod", "adjust_pvalues"]

AdjustMethod = Literal["bh", "by", "holm", "hochberg", "bonferroni", "none"]


def adjust_pvalues(
    pvalues: Sequence[float] | np.ndarray, *, method: AdjustMethod = "bh"
) -> np.ndarray:
    """Adjust a family of p-values for multiple comparisons.

    Methods and what they control:

    - ``bh``: Benjamini-Hochberg (1995) step-up, false discovery rate under independence or
      positive dependence (``scipy.stats.false_discovery_control``).
    - ``by``: Benjamini-Yekutieli (2001), false discovery rate under any dependence.
    - ``holm``: Holm (1979) step-down, family-wise error rate under any dependence.
    - ``hochberg``: Hochberg (1988) step-up, family-wise error rate under independence.
    - ``bonferroni``: ``min(1, m p)``.
    - ``none``: the p-values unchanged.

    Adjusted values match R's ``p.adjust`` (checked against its documented examples).

    Args:
        pvalues: The p-values, each in [0, 1]. NaN entries are left NaN and excluded from
            the family size.
        method: The adjustment.

    Returns:
        Adjusted p-values, in the input order.

    Raises:
        ValueError: If a p-value is outside [0, 1] or the method is unknown.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = ~np.isnan(p)
    q = p[valid]
    if q.size == 0:
        return out
    if np.any((q < 0) | (q > 1)):
        raise ValueError("p-values must lie in [0, 1].")
    m = q.size
    if method == "none":
        adjusted = q.copy()
    elif method == "bonferroni":
        adjusted = np.minimum(q * m, 1.0)
    elif method in ("bh", "by"):
        adjusted = stats.false_discovery_control(q, method=method)
    elif method == "holm":
        order = np.argsort(q, kind="stable")
        steps = q[order] * (m - np.arange(m))
        adjusted = np.empty(m)
        adjusted[order] = np.minimum(np.maximum.accumulate(steps), 1.0)
    elif method == "hochberg":
        order = np.argsort(q, kind="stable")[::-1]  # largest first
        steps = q[order] * (np.arange(m) + 1)
        adjusted = np.empty(m)
        adjusted[order] = np.minimum(np.minimum.accumulate(steps), 1.0)
    else:
        raise ValueError(
            f"Unknown adjustment method {method!r}; use bh, by, holm, hochberg, bonferroni "
            "or none."
        )
    out[valid] = adjusted
    return out

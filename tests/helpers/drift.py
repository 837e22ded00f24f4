"""``FeatureDrift`` results with every field filled in, for the report writers' tests; and the
categorical test's replaced pooling rule, the baseline of the small-batch simulations."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from mlflow_retrain.drift.report import FeatureDrift


def pooled_by_combined_count(ref: dict[str, int], cur: dict[str, int]) -> float:
    """The replaced rule's p-value: pool levels whose combined count is below 5, chi-square."""
    levels = list(dict.fromkeys([*ref, *cur]))
    r = np.array([ref.get(level, 0) for level in levels], dtype=float)
    c = np.array([cur.get(level, 0) for level in levels], dtype=float)
    sparse = (r + c) < 5
    r, c = np.r_[r[~sparse], r[sparse].sum()], np.r_[c[~sparse], c[sparse].sum()]
    keep = (r + c) > 0
    return float(stats.chi2_contingency(np.vstack([r[keep], c[keep]]), correction=False).pvalue)


def feature_drift(
    name: str = "x", *, kind: str = "numeric", shifted: bool = True, **changes: object
) -> FeatureDrift:
    """One column's result: a clear, drifted shift when ``shifted``, else a null result.

    A numeric column is tested with KS and sized by Wasserstein distance, a categorical one
    with chi-square and Jensen-Shannon distance; 1,000 reference and 500 current rows, no
    missing values. ``changes`` overrides any field (``drifted=True`` on a column whose
    distribution did not shift, say, for a drifted missing rate).
    """
    numeric = kind == "numeric"
    fields: dict[str, object] = {
        "name": name,
        "kind": kind,
        "test": "ks" if numeric else "chi2",
        "statistic": 0.3 if shifted else 0.05,
        "p_value": 1e-7 if shifted else 0.4,
        "p_value_adjusted": 5e-7 if shifted else 0.6,
        "effect_size": 0.4 if shifted else 0.02,
        "effect_metric": "wasserstein" if numeric else "jensen_shannon",
        "min_effect": 0.1,
        "drifted": shifted,
        "distribution_drifted": shifted,
        "critical": False,
        "n_reference": 1000,
        "n_current": 500,
        "missing_rate_reference": 0.0,
        "missing_rate_current": 0.0,
        "missing_p_value": math.nan,
        "missing_p_value_adjusted": math.nan,
        "missing_drifted": False,
    }
    fields.update(changes)
    return FeatureDrift(**fields)  # type: ignore[arg-type]

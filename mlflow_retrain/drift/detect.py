"""Dataset drift: per-column tests, false-discovery control, and the dataset decision.

Pure numpy/scipy/pandas; no mlflow import. The MLflow step that logs a report lives in
:mod:`mlflow_retrain.pipeline`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Literal

import numpy as np
import pandas as pd

from mlflow_retrain import _errors as errors
from mlflow_retrain.config import DriftConfig
from mlflow_retrain.drift.columns import (
    MIN_VALUES,
    categorical_test,
    missing_rate_test,
    numeric_test,
)
from mlflow_retrain.drift.profile import (
    CategoricalSummary,
    ColumnSummary,
    NumericSummary,
    ReferenceProfile,
    build_profile,
    category_counts,
    column_kinds,
    level_label,
    numeric_values,
    summarise_column,
)
from mlflow_retrain.drift.report import DriftReport, FeatureDrift, SkippedColumn, share_label
from mlflow_retrain.stats.multitest import adjust_pvalues

__all__ = ["detect_drift", "reference_profile"]

logger = logging.getLogger(__name__)

#: A numeric target with at most this many distinct reference values is tested as labels.
MAX_TARGET_CLASSES = 20
#: Level cap of an exact profile: keep every level.
_UNCAPPED_LEVELS = 2**62


def reference_profile(
    reference: pd.DataFrame | ReferenceProfile,
    *,
    config: DriftConfig | None = None,
    max_points: int | None = None,
    source: str | None = None,
) -> ReferenceProfile:
    """Return ``reference`` as a profile, building an exact one from a table.

    Args:
        reference: A reference table or an existing profile (returned as is).
        config: Supplies column kind overrides and the categorical level cap.
        max_points: Sketch size; ``None`` keeps every distinct value (exact).
        source: Where the table came from.

    Returns:
        The profile.
    """
    if isinstance(reference, ReferenceProfile):
        return reference
    config = config or DriftConfig()
    return build_profile(
        reference,
        kinds=config.columns,
        max_points=max_points,
        max_levels=config.categorical.max_levels if max_points else _UNCAPPED_LEVELS,
        source=source,
    )


def detect_drift(
    reference: pd.DataFrame | ReferenceProfile,
    current: pd.DataFrame,
    *,
    config: DriftConfig | None = None,
    target: str | None = None,
    ignore: Sequence[str] = (),
) -> DriftReport:
    """Test every column of ``current`` against the reference and decide on dataset drift.

    Numeric columns: two-sample Kolmogorov-Smirnov with Wasserstein-1 over the reference std
    and PSI as effect sizes. Categorical columns: chi-square homogeneity over the union of
    levels with the Jensen-Shannon distance (base 2) as effect size. Every column's missing
    rate: a two-proportion z-test with the absolute rate change as effect size. All p-values
    form one family adjusted with ``config.fdr_method``. A column drifts when its adjusted
    p-value is below ``alpha`` and its effect size reaches the minimum (for its distribution,
    or for its missing rate), so huge samples do not flag trivial shifts.

    The dataset drifts when at least one column drifted and the drifted columns' share
    reaches ``drift_share``, or when a critical column drifted. The share weighs each tested
    column by its share of the champion's feature importance when ``config.weights`` is
    ``importance`` and ``reference`` is a profile that carries it (a retrained version's
    profile does); otherwise every tested column weighs the same.

    Args:
        reference: The reference table, or its :class:`ReferenceProfile`. A table is used
            exactly, one column at a time (as its exact profile, without holding every
            column's summary at once); results from a sketched profile agree within the
            sketch accuracy.
        current: The batch to test (already validated: same columns, finite numbers).
        config: Thresholds; defaults to :class:`DriftConfig` defaults.
        target: Label column: tested for label shift and reported apart from the features.
        ignore: Columns to leave out (added to ``config.ignore``).

    Returns:
        The drift report.

    Raises:
        InvalidInputError: If a reference column is missing from ``current``, a numeric column
            holds text, or a critical column is not in the reference.
    """
    config = config or DriftConfig()
    source: Literal["table", "profile"]
    summary_of: Callable[[str], ColumnSummary]
    if isinstance(reference, ReferenceProfile):
        source = "profile"
        kinds, date_columns = reference.kinds, reference.skipped
        n_reference = reference.n_rows
        summary_of = reference.columns.__getitem__
    else:
        # Summarise the table column by column while testing (an exact profile, as
        # `reference_profile` builds), so only one column's summary is held at a time.
        source = "table"
        resolved, date_columns = column_kinds(reference, config.columns)
        kinds = {name: kind for name, (_, kind) in resolved.items()}
        n_reference = len(reference)

        def summary_of(name: str) -> ColumnSummary:
            label, kind = resolved[name]
            return summarise_column(
                reference[label], kind, max_points=None, max_levels=_UNCAPPED_LEVELS
            )

    ignored = set(config.ignore) | set(ignore)
    skipped = [SkippedColumn(name, "ignored by configuration") for name in kinds]
    skipped = [s for s in skipped if s.name in ignored]
    skipped += [
        SkippedColumn(name, "date/time column: not tested for drift")
        for name in date_columns
        if name not in ignored
    ]
    missing = [
        name for name in kinds if name not in ignored and name != target and name not in current
    ]
    if missing:
        raise errors.InvalidInputError(
            f"Column '{missing[0]}' is in the reference but not in the current batch "
            f"({len(missing)} missing in all). Add it to the batch or list it under "
            "drift.ignore in retrain.yaml."
        )
    unknown_critical = [c for c in config.critical_columns if c not in kinds]
    if unknown_critical:
        raise errors.InvalidInputError(
            f"Critical column '{unknown_critical[0]}' is not in the reference. Fix "
            "drift.critical_columns in retrain.yaml."
        )

    names = [n for n in kinds if n not in ignored and n != target]
    raw = [_test_column(n, summary_of(n), current[n], config) for n in names]

    # One family: every distribution p-value and every missing-rate p-value that was tested.
    dist_p = np.array([r.p_value for r in raw], dtype=float)
    miss_p = np.array([r.missing_p_value for r in raw], dtype=float)
    adjusted = adjust_pvalues(np.r_[dist_p, miss_p], method=config.fdr_method)
    dist_adj, miss_adj = adjusted[: len(raw)], adjusted[len(raw) :]
    features = tuple(
        _decide(r, d, m, config, critical=r.name in config.critical_columns)
        for r, d, m in zip(raw, dist_adj, miss_adj, strict=True)
    )

    target_result = None
    if target is not None and target in kinds and target in current:
        summary = summary_of(target)
        if isinstance(summary, NumericSummary) and summary.values.size <= MAX_TARGET_CLASSES:
            summary = _as_categorical(summary)
        t = _test_column(target, summary, current[target], config)
        target_result = _decide(t, t.p_value, t.missing_p_value, config, critical=False)

    importance = (
        reference.importance
        if config.weights == "importance" and isinstance(reference, ReferenceProfile)
        else None
    )
    weighting: Literal["importance", "equal"] = "equal"
    tested_weight = sum((importance or {}).get(f.name, 0.0) for f in features)
    if importance is not None and tested_weight > 0:
        weighting = "importance"
        features = tuple(
            replace(f, weight=importance.get(f.name, 0.0) / tested_weight) for f in features
        )
    else:
        features = tuple(replace(f, weight=1 / len(features)) for f in features)
    drifted = tuple(f.name for f in features if f.drifted)
    critical = tuple(f.name for f in features if f.drifted and f.critical)
    share = min(1.0, sum(f.weight for f in features if f.drifted))
    detected = bool(drifted) and (share >= config.drift_share - 1e-12 or bool(critical))
    report = DriftReport(
        drift_detected=detected,
        n_reference=n_reference,
        n_current=len(current),
        features=features,
        target=target_result,
        n_drifted=len(drifted),
        share_drifted=share,
        drifted_columns=drifted,
        critical_drifted=critical,
        reason=_reason(
            drifted, critical, len(features), share, config.drift_share, weighting=weighting
        ),
        alpha=config.alpha,
        fdr_method=config.fdr_method,
        drift_share=config.drift_share,
        reference_source=source,
        skipped=tuple(skipped),
        weighting=weighting,
    )
    logger.info("Drift: %s", report.reason)
    return report


def _reason(
    drifted: Sequence[str],
    critical: Sequence[str],
    n: int,
    share: float,
    threshold: float,
    *,
    weighting: str,
) -> str:
    if not drifted:
        return f"No column drifted ({n} tested)."
    listed = ", ".join(drifted[:10]) + (", ..." if len(drifted) > 10 else "")
    counted = f"{len(drifted)} of {n} columns drifted ({share_label(weighting)} {share:.2f}"
    if critical:
        return f"Critical column(s) {', '.join(critical)} drifted; {counted}): {listed}."
    relation = ">=" if share >= threshold else "<"
    return f"{counted} {relation} threshold {threshold:.2f}): {listed}."


def _as_categorical(summary: NumericSummary) -> CategoricalSummary:
    counts = {
        level_label(v): round(w) for v, w in zip(summary.values, summary.weights, strict=True)
    }
    return CategoricalSummary(
        n_total=summary.n_total, n_missing=summary.n_missing, counts=counts, dtype=summary.dtype
    )


def _test_column(
    name: str, summary: ColumnSummary, series: pd.Series, config: DriftConfig
) -> FeatureDrift:
    """Run one column's tests; p-values are filled in unadjusted, decisions left False."""
    n_total = len(series)
    numeric = isinstance(summary, NumericSummary)
    if numeric:
        values = numeric_values(series)
        n_cur = values.size
    else:
        counts = category_counts(series)
        n_cur = sum(counts.values())
    missing_cur = n_total - n_cur
    has_missing = summary.n_missing + missing_cur > 0
    base = FeatureDrift(
        name=name,
        kind="numeric" if numeric else "categorical",
        test="ks" if numeric else "chi2",
        statistic=math.nan,
        p_value=math.nan,
        p_value_adjusted=math.nan,
        effect_size=math.nan,
        effect_metric=config.numeric.effect_metric if numeric else "jensen_shannon",
        min_effect=config.numeric.min_effect if numeric else config.categorical.min_effect,
        drifted=False,
        distribution_drifted=False,
        critical=False,
        n_reference=summary.n,
        n_current=n_cur,
        missing_rate_reference=summary.missing_rate,
        missing_rate_current=missing_cur / n_total if n_total else 0.0,
        missing_p_value=(
            missing_rate_test(summary.n_missing, summary.n_total, missing_cur, n_total)
            if has_missing
            else math.nan
        ),
        missing_p_value_adjusted=math.nan,
        missing_drifted=False,
    )
    if summary.n < MIN_VALUES or n_cur < MIN_VALUES:
        reason = (
            f"fewer than {MIN_VALUES} non-missing values (reference {summary.n}, current {n_cur})"
        )
        return replace(base, inconclusive_reason=reason)
    if isinstance(summary, NumericSummary):
        result = numeric_test(
            summary.values,
            summary.weights,
            np.sort(values),  # a copy: `values` may be the caller's memory
            ref_std=summary.std,
            psi_bins=config.numeric.psi_bins,
            exact_reference=summary.exact,
        )
        effects = {"wasserstein": result.wasserstein_std, "psi": result.psi}
        return replace(
            base,
            statistic=result.statistic,
            p_value=result.p_value,
            effect_size=effects[base.effect_metric],
            effects={**effects, "wasserstein_raw": result.wasserstein},
        )
    cat = categorical_test(
        summary.counts,
        counts,
        min_expected=config.categorical.min_expected,
        pooled_reference=summary.pooled > 0,
    )
    return replace(
        base,
        test="chi2" if cat.method == "asymptotic" else "chi2_monte_carlo",
        statistic=cat.statistic,
        p_value=cat.p_value,
        effect_size=cat.jensen_shannon,
        unseen_categories=tuple(level for level, _ in cat.unseen[:20]),
        n_unseen_categories=len(cat.unseen),
        unseen_share=cat.unseen_share,
        effects={
            "jensen_shannon": cat.jensen_shannon,
            "jensen_shannon_raw": cat.jensen_shannon_raw,
        },
    )


def _decide(
    raw: FeatureDrift, p_adj: float, miss_adj: float, config: DriftConfig, *, critical: bool
) -> FeatureDrift:
    distribution = bool(
        raw.inconclusive_reason is None
        and p_adj < config.alpha
        and raw.effect_size >= raw.min_effect
    )
    missing_change = abs(raw.missing_rate_current - raw.missing_rate_reference)
    missing = bool(
        not math.isnan(miss_adj)
        and miss_adj < config.alpha
        and missing_change >= config.missing.min_effect
    )
    return replace(
        raw,
        p_value_adjusted=float(p_adj),
        missing_p_value_adjusted=float(miss_adj),
        distribution_drifted=distribution,
        missing_drifted=missing,
        drifted=distribution or missing,
        critical=critical,
        effects={**raw.effects, "missing_rate_change": missing_change},
    )

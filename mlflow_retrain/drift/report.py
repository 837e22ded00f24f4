"""Result types of drift detection: one :class:`FeatureDrift` per column, one :class:`DriftReport`.

The JSON form (:meth:`DriftReport.to_dict`) is a documented, stable contract
(docs/schemas.md, "Drift report JSON"). Add fields; never rename or remove one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["DriftReport", "FeatureDrift", "SkippedColumn", "share_label"]

SCHEMA_VERSION = 1


def _num(value: float | None) -> float | None:
    """JSON has no NaN or infinity: map them to ``None``."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@dataclass(frozen=True)
class FeatureDrift:
    """Drift evidence for one column.

    Attributes:
        name: Column name.
        kind: ``numeric`` or ``categorical``.
        test: Distribution test: ``ks`` (two-sample Kolmogorov-Smirnov), ``chi2``
            (chi-square homogeneity over the levels, sparse ones pooled) or
            ``chi2_monte_carlo`` (the same statistic with its exact conditional p-value, on a
            table too sparse to pool).
        statistic: The test statistic (KS D, or the chi-square statistic).
        p_value: Unadjusted p-value of the distribution test (NaN when inconclusive).
        p_value_adjusted: The p-value after the configured multiple-comparison adjustment.
        effect_size: Value of ``effect_metric``.
        effect_metric: ``wasserstein`` (W1 over the reference std), ``psi`` or
            ``jensen_shannon`` (base 2).
        min_effect: The minimum effect size that was required.
        drifted: The column counts as drifted: distribution drift (adjusted p < alpha and
            effect >= minimum) or missing-rate drift.
        distribution_drifted: The distribution test and effect size both passed.
        critical: The column is listed in ``drift.critical_columns``.
        n_reference: Non-missing reference values.
        n_current: Non-missing current values.
        missing_rate_reference: Share of missing values in the reference.
        missing_rate_current: Share of missing values in the current batch.
        missing_p_value: Two-proportion test of the missing rates (1.0 when neither has any).
        missing_p_value_adjusted: The same after adjustment.
        missing_drifted: The missing rate changed significantly by at least its minimum.
        unseen_categories: Current levels absent from the reference, most frequent first
            (at most 20; ``n_unseen_categories`` counts all of them).
        n_unseen_categories: Number of distinct unseen levels.
        unseen_share: Share of current values whose level is unseen.
        effects: Every effect size computed (``wasserstein``, ``psi``, ``jensen_shannon``).
        inconclusive_reason: Why no test could be run (too few values), else ``None``.
        weight: The column's share in the dataset decision: its share of the champion's
            feature importance (``weighting`` ``importance``), or one over the tested columns.
    """

    name: str
    kind: Literal["numeric", "categorical"]
    test: str
    statistic: float
    p_value: float
    p_value_adjusted: float
    effect_size: float
    effect_metric: str
    min_effect: float
    drifted: bool
    distribution_drifted: bool
    critical: bool
    n_reference: int
    n_current: int
    missing_rate_reference: float
    missing_rate_current: float
    missing_p_value: float
    missing_p_value_adjusted: float
    missing_drifted: bool
    unseen_categories: tuple[str, ...] = ()
    n_unseen_categories: int = 0
    unseen_share: float = 0.0
    effects: Mapping[str, float] = field(default_factory=dict)
    inconclusive_reason: str | None = None
    weight: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (NaN becomes ``null``)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "test": self.test,
            "statistic": _num(self.statistic),
            "p_value": _num(self.p_value),
            "p_value_adjusted": _num(self.p_value_adjusted),
            "effect_size": _num(self.effect_size),
            "effect_metric": self.effect_metric,
            "min_effect": self.min_effect,
            "drifted": self.drifted,
            "distribution_drifted": self.distribution_drifted,
            "critical": self.critical,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "missing_rate_reference": _num(self.missing_rate_reference),
            "missing_rate_current": _num(self.missing_rate_current),
            "missing_p_value": _num(self.missing_p_value),
            "missing_p_value_adjusted": _num(self.missing_p_value_adjusted),
            "missing_drifted": self.missing_drifted,
            "unseen_categories": list(self.unseen_categories),
            "n_unseen_categories": self.n_unseen_categories,
            "unseen_share": _num(self.unseen_share),
            "effects": {k: _num(v) for k, v in self.effects.items()},
            "inconclusive_reason": self.inconclusive_reason,
            "weight": self.weight,
        }


def share_label(weighting: str) -> str:
    """What a report's share counts: ``importance share`` or ``share`` (of the columns)."""
    return "importance share" if weighting == "importance" else "share"


@dataclass(frozen=True)
class SkippedColumn:
    """A column left out of drift detection, with the reason (ignored, datetime, ...)."""

    name: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"name": self.name, "reason": self.reason}


@dataclass(frozen=True)
class DriftReport:
    """The dataset-level drift decision and its per-column evidence.

    Attributes:
        drift_detected: The dataset drifted (share rule or a critical column).
        n_reference: Rows in the reference.
        n_current: Rows in the current batch.
        features: Per-column results, in column order (the target excluded).
        target: Drift of the target column (label shift), when a target was given and is in
            both datasets; it does not count towards the share.
        n_drifted: Number of drifted feature columns.
        share_drifted: The drifted feature columns' share of the weights: of the champion's
            feature importance (``weighting`` ``importance``), else their number over the
            tested feature columns.
        drifted_columns: Names of the drifted feature columns.
        critical_drifted: Drifted columns that are marked critical.
        reason: One sentence explaining the decision.
        alpha: Significance level used.
        fdr_method: Multiple-comparison adjustment used.
        drift_share: Share threshold used.
        reference_source: ``table`` or ``profile``.
        skipped: Columns that were not tested, with reasons.
        run_id: The MLflow run that recorded the report, once logged.
        weighting: How the columns are weighed: ``importance`` (the reference profile's share
            of the model's feature importance) or ``equal``.
    """

    drift_detected: bool
    n_reference: int
    n_current: int
    features: tuple[FeatureDrift, ...]
    target: FeatureDrift | None
    n_drifted: int
    share_drifted: float
    drifted_columns: tuple[str, ...]
    critical_drifted: tuple[str, ...]
    reason: str
    alpha: float
    fdr_method: str
    drift_share: float
    reference_source: Literal["table", "profile"]
    skipped: tuple[SkippedColumn, ...] = ()
    run_id: str | None = None
    weighting: Literal["importance", "equal"] = "equal"

    def feature(self, name: str) -> FeatureDrift:
        """Return the result for column ``name``.

        Raises:
            KeyError: If the column was not tested.
        """
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form documented in docs/schemas.md."""
        return {
            "schema_version": SCHEMA_VERSION,
            "drift_detected": self.drift_detected,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "n_features": len(self.features),
            "n_drifted": self.n_drifted,
            "share_drifted": self.share_drifted,
            "drifted_columns": list(self.drifted_columns),
            "critical_drifted": list(self.critical_drifted),
            "reason": self.reason,
            "alpha": self.alpha,
            "fdr_method": self.fdr_method,
            "drift_share": self.drift_share,
            "weighting": self.weighting,
            "reference_source": self.reference_source,
            "features": [f.to_dict() for f in self.features],
            "target": None if self.target is None else self.target.to_dict(),
            "skipped": [s.to_dict() for s in self.skipped],
            "run_id": self.run_id,
        }

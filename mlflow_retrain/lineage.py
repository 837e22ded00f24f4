"""Tag and metric keys, defined once, and helpers that log lineage to MLflow.

Every key mlflow-retrain writes to MLflow is a constant here; no other module spells a tag key
as a string literal.
"""

from __future__ import annotations

import re

__all__ = [
    "TAG_CIRCUIT_BREAKER",
    "TAG_DRIFTED_COLUMNS",
    "TAG_DRIFT_DETECTED",
    "TAG_DRIFT_REASON",
    "TAG_FAILURE_REASON",
    "TAG_PREFIX",
    "TAG_STEP",
    "TAG_VERSION",
    "drift_metric_key",
    "metric_safe",
]

TAG_PREFIX = "mlflow_retrain."

#: The pipeline step a run belongs to (``drift``, ``retrain``, ``compare``, ...).
TAG_STEP = TAG_PREFIX + "step"
#: The mlflow-retrain version that wrote the run.
TAG_VERSION = TAG_PREFIX + "version"
#: One-line reason a run ended FAILED.
TAG_FAILURE_REASON = TAG_PREFIX + "failure_reason"
#: ``open`` when a circuit breaker stopped the step.
TAG_CIRCUIT_BREAKER = TAG_PREFIX + "circuit_breaker"

#: ``true`` or ``false``: the dataset-level drift decision.
TAG_DRIFT_DETECTED = TAG_PREFIX + "drift.detected"
#: Comma-separated names of the drifted columns (truncated to MLflow's tag length).
TAG_DRIFTED_COLUMNS = TAG_PREFIX + "drift.columns"
#: One sentence explaining the dataset-level decision.
TAG_DRIFT_REASON = TAG_PREFIX + "drift.reason"

# Dataset-level drift metrics.
METRIC_DRIFT_SHARE = "drift.share_drifted"
METRIC_DRIFT_N_DRIFTED = "drift.n_drifted"
METRIC_DRIFT_N_FEATURES = "drift.n_features"
METRIC_DRIFT_DETECTED = "drift.detected"

_UNSAFE = re.compile(r"[^\w\-. /:]")


def metric_safe(name: str) -> str:
    """Return ``name`` with characters MLflow rejects in metric keys replaced by ``_``."""
    return _UNSAFE.sub("_", name)


def drift_metric_key(column: str, statistic: str) -> str:
    """Return the metric key of one per-column drift statistic, e.g. ``drift.amount.p_value``."""
    return f"drift.{metric_safe(column)}.{statistic}"

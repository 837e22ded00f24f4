"""Tag and metric keys, defined once, and helpers that log lineage to MLflow.

Every key mlflow-retrain writes to MLflow is a constant here; no other module spells a tag key
as a string literal.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlflow.data.dataset_source import DatasetSource as _DatasetSourceBase

__all__ = [
    "CONTEXT_CURRENT",
    "CONTEXT_REFERENCE",
    "METRIC_DRIFT_DETECTED",
    "METRIC_DRIFT_N_DRIFTED",
    "METRIC_DRIFT_N_FEATURES",
    "METRIC_DRIFT_SHARE",
    "TAG_CIRCUIT_BREAKER",
    "TAG_DRIFTED_COLUMNS",
    "TAG_DRIFT_DETECTED",
    "TAG_DRIFT_REASON",
    "TAG_FAILURE_REASON",
    "TAG_PREFIX",
    "TAG_STEP",
    "TAG_VERSION",
    "UriDatasetSource",
    "dataset_source",
    "drift_metric_key",
    "metric_safe",
    "truncate_tag",
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


# --------------------------------------------------------------------------------------------
# Dataset lineage
# --------------------------------------------------------------------------------------------

#: Contexts under which datasets are logged with ``mlflow.log_input``.
CONTEXT_REFERENCE = "reference"
CONTEXT_CURRENT = "current"

#: MLflow's limit on a tag value is 8,000 characters in 3.x; keep well inside it.
MAX_TAG_LENGTH = 5000


def truncate_tag(value: str, limit: int = MAX_TAG_LENGTH) -> str:
    """Return ``value`` cut to ``limit`` characters, marking the cut with an ellipsis."""
    return value if len(value) <= limit else value[: limit - 3] + "..."


def dataset_source(uri: str) -> Any:
    """Return an MLflow ``DatasetSource`` for a data URI.

    Local paths become absolute ``LocalArtifactDatasetSource`` objects and ``s3://`` URIs
    ``S3ArtifactDatasetSource`` objects; MLflow artifact URIs (``runs:/``, ``models:/``,
    ``mlflow-artifacts:``), which MLflow cannot resolve as dataset sources, become a
    :class:`UriDatasetSource` that records the URI verbatim.
    """
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.exceptions import MlflowException

    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        uri = Path(parsed.path if parsed.scheme else uri).resolve().as_uri()
    elif parsed.scheme in ("runs", "models", "mlflow-artifacts"):
        return UriDatasetSource(uri)
    with warnings.catch_warnings():
        # MLflow warns that a file URI "can be interpreted in multiple ways"; it picks the
        # local artifact source, which is the right one.
        warnings.simplefilter("ignore")
        try:
            return resolve_dataset_source(uri)
        except MlflowException:
            return UriDatasetSource(uri)


class UriDatasetSource(_DatasetSourceBase):
    """A dataset source that records a URI MLflow has no resolver for (``runs:/...``)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    @staticmethod
    def _get_source_type() -> str:
        return "mlflow_artifact"

    def load(self) -> Any:
        """Load the table the URI points at."""
        from mlflow_retrain.data.io import load_table

        return load_table(self.uri)

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return False

    @classmethod
    def _resolve(cls, raw_source: Any) -> UriDatasetSource:
        return cls(str(raw_source))

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form MLflow stores with the dataset input."""
        return {"uri": self.uri}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> UriDatasetSource:
        """Rebuild from :meth:`to_dict` output."""
        return cls(str(source_dict["uri"]))

"""MLflow dataset sources for the data URIs mlflow-retrain reads (for ``mlflow.log_input``)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlflow.data.dataset_source import DatasetSource as _DatasetSourceBase

from mlflow_retrain.data.io import load_table

__all__ = ["UriDatasetSource", "dataset_source"]


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

"""The model registry: version lifecycle now; the promotion gate and store plugin later."""

from __future__ import annotations

from mlflow_retrain.registry.lifecycle import RegisteredVersion, find_version, register_challenger

__all__ = ["RegisteredVersion", "find_version", "register_challenger"]

"""The model registry: version lifecycle now; the promotion gate and store plugin later."""

from __future__ import annotations

from mlflow_retrain.registry.lifecycle import (
    RegisteredVersion,
    alias_version,
    find_version,
    register_challenger,
)

__all__ = ["RegisteredVersion", "alias_version", "find_version", "register_challenger"]

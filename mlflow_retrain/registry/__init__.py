"""The model registry: version lifecycle and the promotion gate's decision rules.

The store plugin that enforces the gate on every alias change comes next (issue 5).
"""

from __future__ import annotations

from mlflow_retrain.registry.gate import AliasChange, GateDecision, ModelFacts, decide_alias_change
from mlflow_retrain.registry.lifecycle import (
    RegisteredVersion,
    alias_version,
    find_version,
    register_challenger,
)

__all__ = [
    "AliasChange",
    "GateDecision",
    "ModelFacts",
    "RegisteredVersion",
    "alias_version",
    "decide_alias_change",
    "find_version",
    "register_challenger",
]

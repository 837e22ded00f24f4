"""The model registry: the promotion gate, the store plugins, and every fact the registry keeps.

The registry owns its state; pipeline steps hand it values and never write its tags themselves.

- ``gate``: the pure decision on an alias change, and the plan of a permitted move (no mlflow).
- ``store``: the store plugins (``retrain+sqlite|postgresql|mysql|mssql|http|https``); each
  asks the gate and applies its plan.
- ``versions``: look versions up (by alias, number or tag) and check that a model exists.
- ``policies``: the model's stored promotion policy, else ``retrain.yaml``'s, else the default
  (read once per cycle as a ``ModelPolicy``).
- ``evidence``: the gate's evidence tags (offline and shadow) and the champion's decay reference.
- ``halt``: the loop's consecutive rejections, the halt, and ``resume``.
- ``lifecycle``: register challengers; promote, roll back and override through the gate; set the
  policy.
- ``describe``: the descriptions a reviewer reads in the MLflow UI.
- ``audit``: read the audit trail back with each promotion's signature checked; verify
  that a version to serve matches its signed evidence (read-only).

Names are imported on first use, so a server importing the store plugin loads only the gate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlflow_retrain._lazy import lazy_namespace

if TYPE_CHECKING:
    from mlflow_retrain.registry.evidence import write_offline_evidence, write_shadow_evidence
    from mlflow_retrain.registry.gate import (
        AliasChange,
        AuditEntry,
        GateDecision,
        ModelFacts,
        MovePlan,
        decide_alias_change,
    )
    from mlflow_retrain.registry.halt import ResumeResult, resume
    from mlflow_retrain.registry.lifecycle import (
        AliasMove,
        RegisteredVersion,
        override,
        promote,
        register_challenger,
        rollback,
        set_policy,
    )
    from mlflow_retrain.registry.policies import ModelPolicy, load_policy, read_policy
    from mlflow_retrain.registry.versions import alias_version, find_version, resolve_version

_MODULES = {
    "write_offline_evidence": "mlflow_retrain.registry.evidence",
    "write_shadow_evidence": "mlflow_retrain.registry.evidence",
    "AliasChange": "mlflow_retrain.registry.gate",
    "AuditEntry": "mlflow_retrain.registry.gate",
    "GateDecision": "mlflow_retrain.registry.gate",
    "ModelFacts": "mlflow_retrain.registry.gate",
    "MovePlan": "mlflow_retrain.registry.gate",
    "decide_alias_change": "mlflow_retrain.registry.gate",
    "ResumeResult": "mlflow_retrain.registry.halt",
    "resume": "mlflow_retrain.registry.halt",
    "AliasMove": "mlflow_retrain.registry.lifecycle",
    "RegisteredVersion": "mlflow_retrain.registry.lifecycle",
    "override": "mlflow_retrain.registry.lifecycle",
    "promote": "mlflow_retrain.registry.lifecycle",
    "register_challenger": "mlflow_retrain.registry.lifecycle",
    "rollback": "mlflow_retrain.registry.lifecycle",
    "set_policy": "mlflow_retrain.registry.lifecycle",
    "ModelPolicy": "mlflow_retrain.registry.policies",
    "load_policy": "mlflow_retrain.registry.policies",
    "read_policy": "mlflow_retrain.registry.policies",
    "alias_version": "mlflow_retrain.registry.versions",
    "find_version": "mlflow_retrain.registry.versions",
    "resolve_version": "mlflow_retrain.registry.versions",
}

__all__ = [
    "AliasChange",
    "AliasMove",
    "AuditEntry",
    "GateDecision",
    "ModelFacts",
    "ModelPolicy",
    "MovePlan",
    "RegisteredVersion",
    "ResumeResult",
    "alias_version",
    "decide_alias_change",
    "find_version",
    "load_policy",
    "override",
    "promote",
    "read_policy",
    "register_challenger",
    "resolve_version",
    "resume",
    "rollback",
    "set_policy",
    "write_offline_evidence",
    "write_shadow_evidence",
]


__getattr__, __dir__ = lazy_namespace(__name__, _MODULES, globals())

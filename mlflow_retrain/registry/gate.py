"""The promotion gate's decision: may this alias change happen? (pure; no mlflow import)

The registry store plugin gathers the facts (the model's aliases, the target version's tags,
the policy's evidence age limit) and asks :func:`decide_alias_change`; it holds no statistics
and no rules of its own. The rules, from the design:

- Setting ``champion`` on a version is allowed when the version's evidence says ``promote``,
  was computed against the version that is champion now (stale evidence is refused: the
  optimistic lock that makes concurrent promotions safe), and is younger than the policy's
  maximum age;
  When the policy's ``mode`` is ``shadow`` or ``both``, that evidence must come from shadow
  mode (``both`` also needs a passing offline comparison against the same champion);
- or there is no champion yet and the version's first-deployment evidence passes the floor;
- or it is a rollback to the current ``previous-champion``;
- or the version carries an override reason (audited).
- Deleting ``champion`` is refused (roll back, or override onto another version).
- ``previous-champion`` is maintained by the gate alone; nobody sets or deletes it directly.
- Every other alias (``challenger`` included) is not gated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["AliasChange", "GateDecision", "ModelFacts", "decide_alias_change"]

DAY_MS = 86_400_000

#: Tag keys the gate reads (the values match :mod:`mlflow_retrain.lineage`, which imports
#: mlflow; the gate stays pure, and a test pins that both agree).
DECISION_TAG = "mlflow_retrain.decision"
BASELINE_TAG = "mlflow_retrain.evidence.baseline_version"
EVIDENCE_TIME_TAG = "mlflow_retrain.evidence.timestamp_ms"
EVIDENCE_RUN_TAG = "mlflow_retrain.evidence.run_id"
OVERRIDE_TAG = "mlflow_retrain.override.reason"
POLICY_TAG = "mlflow_retrain.policy"
SOURCE_TAG = "mlflow_retrain.evidence.source"
SUMMARY_TAG = "mlflow_retrain.evidence.summary"
OFFLINE_DECISION_TAG = "mlflow_retrain.offline.decision"
OFFLINE_BASELINE_TAG = "mlflow_retrain.offline.baseline_version"

Kind = Literal[
    "not_gated", "unchanged", "promotion", "first_deployment", "rollback", "override", "refused"
]


@dataclass(frozen=True)
class AliasChange:
    """A requested alias change.

    Attributes:
        action: ``set`` or ``delete``.
        alias: The alias.
        version: Target version for ``set`` (as text); ``None`` for ``delete``.
    """

    action: Literal["set", "delete"]
    alias: str
    version: str | None = None


@dataclass(frozen=True)
class ModelFacts:
    """What the registry knows when the change is requested.

    Attributes:
        aliases: Current alias -> version (as text).
        version_tags: Tags of the target version (``set``) or of the current holder
            (``delete``).
        policy: The registered model's ``mlflow_retrain.policy`` JSON, if any.
        now_ms: The current time (epoch milliseconds).
        champion_alias: Alias of the production model.
        previous_alias: Alias kept for rollback.
    """

    aliases: Mapping[str, str]
    version_tags: Mapping[str, str]
    policy: str | None
    now_ms: int
    champion_alias: str = "champion"
    previous_alias: str = "previous-champion"


@dataclass(frozen=True)
class GateDecision:
    """The gate's answer.

    Attributes:
        allowed: The change may happen.
        kind: Why: ``not_gated``, ``unchanged``, ``promotion``, ``first_deployment``,
            ``rollback``, ``override``, or ``refused``.
        reason: One sentence; for a refusal, what is missing and the command that produces it.
        old_champion: The champion being replaced, if any (becomes ``previous-champion``).
    """

    allowed: bool
    kind: Kind
    reason: str
    old_champion: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (the audit record's core)."""
        return {
            "allowed": self.allowed,
            "kind": self.kind,
            "reason": self.reason,
            "old_champion": self.old_champion,
        }


DEFAULT_MAX_AGE_DAYS = 30.0


def _max_age_days(policy: str | None) -> float:
    if not policy:
        return DEFAULT_MAX_AGE_DAYS
    try:
        value = json.loads(policy).get("max_evidence_age_days", DEFAULT_MAX_AGE_DAYS)
        return float(value)
    except (ValueError, TypeError, AttributeError):
        # A damaged policy must not open the gate: fall back to the strict default.
        return DEFAULT_MAX_AGE_DAYS


def _mode(policy: str | None) -> str:
    """The policy's evidence mode; a damaged policy asks for the strictest (``both``)."""
    if not policy:
        return "offline"
    try:
        mode = json.loads(policy).get("mode", "offline")
    except (ValueError, TypeError, AttributeError):
        return "both"
    return mode if mode in ("offline", "shadow", "both") else "both"


def _redo(target: str, tags: Mapping[str, str]) -> str:
    """The command that renews this version's evidence."""
    step = "shadow" if tags.get(SOURCE_TAG) == "shadow" else "compare"
    return f"`mlflow-retrain {step} --challenger {target}`"


def _mode_refusal(target: str, champion: str, tags: Mapping[str, str], mode: str) -> str | None:
    """Why evidence of this source does not satisfy the policy's mode, or ``None``."""
    shadow = f"`mlflow-retrain shadow --challenger {target} --batch URI`"
    if mode in ("shadow", "both") and tags.get(SOURCE_TAG) != "shadow":
        return (
            f"The policy (mode '{mode}') needs shadow evidence for version {target}, and its "
            f"evidence comes from an offline comparison. Run {shadow} on labelled batches."
        )
    if mode == "both" and (
        tags.get(OFFLINE_DECISION_TAG) != "promote" or tags.get(OFFLINE_BASELINE_TAG) != champion
    ):
        return (
            f"The policy (mode 'both') needs a passing offline comparison of version {target} "
            f"against champion {champion} before shadow mode. Run `mlflow-retrain compare "
            f"--challenger {target}`."
        )
    return None


def _floor_text(tags: Mapping[str, str]) -> str:
    """What the first-deployment evidence says about the policy's floor, in words.

    Read from the evidence summary the comparison wrote (rows with ``role: floor``); a
    summary that cannot be read makes no claim.
    """
    try:
        rows = json.loads(tags.get(SUMMARY_TAG) or "")
        floors = [
            f"{r['metric']} {r['floor']:g}"
            for r in rows
            if isinstance(r, Mapping) and r.get("role") == "floor"
        ]
    except (ValueError, TypeError, KeyError):
        return "judged by its comparison without a champion"
    if not floors:
        return "no floor set, so its comparison judged no minimum"
    return f"its evidence clears the policy floor ({', '.join(floors)}) with confidence"


def decide_alias_change(change: AliasChange, facts: ModelFacts) -> GateDecision:
    """Decide whether ``change`` may happen given ``facts``.

    Args:
        change: The requested alias change.
        facts: The registry's state at the time of the request.

    Returns:
        The decision; refusals name what is missing and how to get it.
    """
    champion = facts.aliases.get(facts.champion_alias)
    previous = facts.aliases.get(facts.previous_alias)
    if change.alias == facts.previous_alias:
        return GateDecision(
            False,
            "refused",
            f"The '{facts.previous_alias}' alias is kept by the promotion gate for rollbacks "
            "and cannot be set or deleted directly. Promote with `mlflow-retrain promote`.",
        )
    if change.alias != facts.champion_alias:
        return GateDecision(True, "not_gated", f"Alias '{change.alias}' is not gated.")
    if change.action == "delete":
        return GateDecision(
            False,
            "refused",
            f"The '{facts.champion_alias}' alias cannot be removed: production would have no "
            "model. Use `mlflow-retrain rollback` or `mlflow-retrain override` instead.",
        )
    target = str(change.version)
    tags = facts.version_tags
    if champion == target:
        return GateDecision(True, "unchanged", f"Version {target} is already champion.")
    override = (tags.get(OVERRIDE_TAG) or "").strip()
    if override:
        return GateDecision(
            True, "override", f"Audited override: {override}", old_champion=champion
        )
    if previous is not None and previous == target:
        return GateDecision(
            True,
            "rollback",
            f"Rollback to the previous champion, version {target}.",
            old_champion=champion,
        )
    decision = tags.get(DECISION_TAG)
    baseline = tags.get(BASELINE_TAG)
    if decision is None:
        return GateDecision(
            False,
            "refused",
            f"Version {target} has no comparison evidence. Run `mlflow-retrain compare "
            f"--challenger {target}` first.",
        )
    if decision != "promote":
        return GateDecision(
            False,
            "refused",
            f"The evidence for version {target} says '{decision}', not 'promote' (run "
            f"{tags.get(EVIDENCE_RUN_TAG, 'unknown')}). Only a significantly better "
            "challenger can become champion.",
        )
    expected_baseline = champion if champion is not None else "none"
    if baseline != expected_baseline:
        against = "no champion" if baseline == "none" else f"version {baseline}"
        now = "there is no champion" if champion is None else f"the champion is now {champion}"
        return GateDecision(
            False,
            "refused",
            f"The evidence for version {target} was computed against {against}, but {now}: "
            f"it is stale. Run {_redo(target, tags)} again.",
        )
    try:
        computed = int(tags.get(EVIDENCE_TIME_TAG, ""))
    except ValueError:
        return GateDecision(
            False,
            "refused",
            f"The evidence for version {target} has no valid timestamp. Run "
            f"{_redo(target, tags)} again.",
        )
    max_age = _max_age_days(facts.policy)
    age_days = (facts.now_ms - computed) / DAY_MS
    if age_days > max_age:
        return GateDecision(
            False,
            "refused",
            f"The evidence for version {target} is {age_days:.1f} days old, older than the "
            f"policy's {max_age:g} days. Run {_redo(target, tags)} again.",
        )
    if champion is not None:
        refusal = _mode_refusal(target, champion, tags, _mode(facts.policy))
        if refusal is not None:
            return GateDecision(False, "refused", refusal)
    if champion is None:
        return GateDecision(
            True, "first_deployment", f"First deployment of version {target}: "
            f"{_floor_text(tags)}.",
        )  # fmt: skip
    return GateDecision(
        True,
        "promotion",
        f"Version {target} is significantly better than champion {champion}.",
        old_champion=champion,
    )

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
- or the version carries an override reason that the store recorded as written by the user
  who now makes the move (audited). Valid evidence comes first: an override counts only
  where the evidence would refuse, and an override without a recorded writer, or written by
  someone else, does not count at all.
- Deleting ``champion`` is refused (roll back, or override onto another version).
- ``previous-champion`` is maintained by the gate alone; nobody sets or deletes it directly.
- Every other alias (``challenger`` included) is not gated, except a spelling of a gated
  alias (``Champion``, ``CHAMPION``, ``chámpion``): MySQL's and SQL Server's usual collations
  compare aliases without case or accents, so such a spelling *is* ``champion`` there, and
  it is refused on every backend (:func:`gated_alias`).

When the server holds an evidence key, the store hands the gate the signature check of the
version's evidence (:class:`SignedEvidence`), and the evidence rules read the verified record
alone, never the loose tags: evidence that is unsigned, forged, tampered with, for another
version, or computed on other data than the version's gate split (or the policy's named
holdout) is refused; evidence judged under another policy, or for other artifacts than the
version holds now, is stale.

A permitted move of ``champion`` comes with its :class:`MovePlan`: every alias and tag the move
writes (the old holder becomes ``previous-champion`` with status ``retired`` or
``rolled_back``, the promoted version loses ``challenger`` and gets status ``promoted``; an
override it carries, used or not, is removed) and the audit record's content. Both stores
apply that one plan (the SQL store in its transaction, the REST store call by call), so they
cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mlflow_retrain import lineage
from mlflow_retrain.registry.access import fold
from mlflow_retrain.registry.signing import EvidenceCheck, EvidenceRecord, policy_digest

__all__ = [
    "GATED_ALIASES",
    "AliasChange",
    "AuditEntry",
    "GateDecision",
    "ModelFacts",
    "MovePlan",
    "SignedEvidence",
    "decide_alias_change",
    "gated_alias",
]

#: The aliases only the gate moves.
GATED_ALIASES = (lineage.ALIAS_CHAMPION, lineage.ALIAS_PREVIOUS_CHAMPION)

DAY_MS = 86_400_000

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
class SignedEvidence:
    """What a server with an evidence key knows of the target version's signed evidence.

    Attributes:
        model_name: The registered model.
        check: The signature check of the version's evidence record.
        offline: The check of its offline record (policy mode ``both``), if it has one.
        model_id: The version's logged model id, from its source (``None``: none).
        artifact_digest: The digest of the version's artifacts as the server computed it
            (``None``: it could not, and the evidence cannot be bound to them).
    """

    model_name: str
    check: EvidenceCheck
    offline: EvidenceCheck | None
    model_id: str | None
    artifact_digest: str | None


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
        challenger_alias: Alias of the version waiting for its decision (a promoted version
            loses it).
        evidence: The signed evidence, when the server holds an evidence key; ``None``
            (keyless mode): the evidence tags are trusted as written.
        override_writer: Who wrote the target's override reason, as the store recorded it
            (tag ``mlflow_retrain.override.by``): a user name, ``""`` for a writer without an
            identity (a server without authentication, in-process use), ``None`` when the
            store recorded no writer (the override then does not count).
        mover: The user asking for the change; ``""`` without an identity.
    """

    aliases: Mapping[str, str]
    version_tags: Mapping[str, str]
    policy: str | None
    now_ms: int
    champion_alias: str = lineage.ALIAS_CHAMPION
    previous_alias: str = lineage.ALIAS_PREVIOUS_CHAMPION
    challenger_alias: str = lineage.ALIAS_CHALLENGER
    evidence: SignedEvidence | None = None
    override_writer: str | None = None
    mover: str = ""


@dataclass(frozen=True)
class AuditEntry:
    """An alias move's audit record, without what only the store knows when it writes it.

    Attributes:
        from_version: The champion replaced (``None``: there was none).
        to_version: The new champion.
        kind: ``promotion``, ``first_deployment``, ``rollback`` or ``override``.
        reason: The gate's reason; a rollback's adds the reason recorded on the version.
        evidence_run: The run whose evidence the version carries, if any.
    """

    from_version: str | None
    to_version: str
    kind: Kind
    reason: str
    evidence_run: str | None

    def to_dict(self, *, time_ms: int, user: str | None) -> dict[str, Any]:
        """The record as stored (JSON in a ``mlflow_retrain.audit.<ms>-<hex>`` tag).

        Args:
            time_ms: When the store applied the move (epoch milliseconds).
            user: The authenticated user of the request, if any.
        """
        return {
            "from": self.from_version,
            "to": self.to_version,
            "kind": self.kind,
            "reason": self.reason,
            "evidence_run": self.evidence_run,
            "time_ms": time_ms,
            "user": user,
        }


@dataclass(frozen=True)
class MovePlan:
    """Everything a permitted move of ``champion`` writes, for a store to apply as it is.

    Attributes:
        set_aliases: ``(alias, version)`` to point: the move itself (``champion``) first, then
            ``previous-champion`` on the champion replaced.
        delete_aliases: Aliases to remove: ``challenger``, when the new champion held it.
        set_version_tags: ``(version, key, value)`` to write: the statuses of both versions.
        delete_version_tags: ``(version, key)`` to remove: the override on the new champion,
            spent or made moot by the move, and the record of its writer (the version cannot
            ride on it into production again without a fresh one).
        audit: The audit record's content; the store adds the time, the user and the nonce of
            the record's key.
    """

    set_aliases: tuple[tuple[str, str], ...]
    delete_aliases: tuple[str, ...]
    set_version_tags: tuple[tuple[str, str, str], ...]
    delete_version_tags: tuple[tuple[str, str], ...]
    audit: AuditEntry


@dataclass(frozen=True)
class GateDecision:
    """The gate's answer.

    Attributes:
        allowed: The change may happen.
        kind: Why: ``not_gated``, ``unchanged``, ``promotion``, ``first_deployment``,
            ``rollback``, ``override``, or ``refused``.
        reason: One sentence; for a refusal, what is missing and the command that produces it.
        old_champion: The champion being replaced, if any (becomes ``previous-champion``).
        plan: What the move writes, for a permitted move of ``champion``; ``None`` for a
            refusal and for changes that write nothing of the gate's (``not_gated``,
            ``unchanged``).
    """

    allowed: bool
    kind: Kind
    reason: str
    old_champion: str | None = None
    plan: MovePlan | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (the audit record's core)."""
        return {
            "allowed": self.allowed,
            "kind": self.kind,
            "reason": self.reason,
            "old_champion": self.old_champion,
        }


DEFAULT_MAX_AGE_DAYS = 30.0


def gated_alias(alias: str, gated: tuple[str, ...] = GATED_ALIASES) -> str | None:
    """The gated alias that ``alias`` spells, exactly or as a look-alike; ``None`` if none.

    A look-alike differs only in case, accents or Unicode compatibility forms (``Champion``,
    ``CHAMPION``, ``chámpion``, a full-width letter). The stores send every such change to
    :func:`decide_alias_change`, which refuses the look-alikes.

    Args:
        alias: The alias as the client spelled it.
        gated: The gated aliases.
    """
    folded = fold(alias)
    return next((g for g in gated if alias == g or folded == fold(g)), None)


def _policy_field(policy: str | None, key: str) -> Any:
    """One key of the stored policy JSON, or ``None`` (also for a damaged policy)."""
    try:
        data = json.loads(policy or "{}")
    except ValueError:
        return None
    return data.get(key) if isinstance(data, dict) else None


def _binding_failure(
    record: EvidenceRecord, target: str, signed: SignedEvidence, facts: ModelFacts
) -> tuple[str, bool] | None:
    """Why a verified ``record`` does not vouch for ``target`` now, and whether it is stale."""
    if record.model_name != signed.model_name or record.version != target:
        return (
            f"its signed record is for version {record.version} of '{record.model_name}'",
            False,
        )
    if record.model_id != signed.model_id:
        held = f"logged model {signed.model_id}" if signed.model_id else "no logged model"
        return (
            f"it was computed for logged model {record.model_id}, and the version holds {held}",
            True,
        )
    if signed.artifact_digest is None:
        return "the server could not read the version's artifacts to check their digest", False
    if record.artifact_digest != signed.artifact_digest:
        return "it was computed for other artifacts than the version holds now", True
    if record.policy_digest != policy_digest(facts.policy):
        return "it was judged under another policy than the model's stored one", True
    if record.source == lineage.SOURCE_COMPARE:
        allowed = {facts.version_tags.get(lineage.TAG_GATE_DIGEST)}
        holdout = _policy_field(facts.policy, "holdout_digest")
        if isinstance(holdout, str) and holdout:
            allowed.add(holdout)
        if record.data_digest is None or record.data_digest not in allowed:
            return (
                f"it was computed on data (digest {record.data_digest}) that is neither the "
                "version's gate split nor the policy's holdout_digest",
                False,
            )
    return None


def _record_tags(
    record: EvidenceRecord | None, prefix: Literal["evidence", "offline"]
) -> dict[str, str | None]:
    """The evidence facts the gate reads, from a verified record (``None``: no evidence)."""
    if prefix == "offline":
        if record is None or record.source != lineage.SOURCE_COMPARE:
            return {lineage.TAG_OFFLINE_DECISION: None, lineage.TAG_OFFLINE_BASELINE: None}
        return {
            lineage.TAG_OFFLINE_DECISION: record.decision,
            lineage.TAG_OFFLINE_BASELINE: record.baseline,
        }
    if record is None:
        return {}
    return {
        lineage.TAG_DECISION: record.decision,
        lineage.TAG_EVIDENCE_BASELINE: record.baseline,
        lineage.TAG_EVIDENCE_TIME: str(record.time_ms),
        lineage.TAG_EVIDENCE_SOURCE: record.source,
        lineage.TAG_EVIDENCE_RUN: record.run_id,
        lineage.TAG_EVIDENCE_SUMMARY: json.dumps(list(record.tests)),
    }


def _signed_view(target: str, facts: ModelFacts) -> tuple[Mapping[str, str], GateDecision | None]:
    """The version's tags with every evidence fact taken from its verified signed record.

    Returns the tags the evidence rules read, or a refusal when the evidence cannot be
    trusted or bound to the version, its data and the policy.
    """
    signed = facts.evidence
    tags = dict(facts.version_tags)
    if signed is None:
        return tags, None
    redo = f"Run {_redo(target, tags)} with the pipeline's evidence key"
    check = signed.check
    if check.record is None:
        return tags, GateDecision(
            False,
            "refused",
            f"The evidence for version {target} cannot be trusted: {check.failure}. Only "
            f"the pipeline holding the evidence key can sign evidence. {redo}.",
        )
    failure = _binding_failure(check.record, target, signed, facts)
    if failure is not None:
        reason, stale = failure
        what = "is stale" if stale else "cannot be trusted"
        return tags, GateDecision(
            False, "refused", f"The evidence for version {target} {what}: {reason}. {redo}."
        )
    offline = None if signed.offline is None else signed.offline.record
    if offline is not None and _binding_failure(offline, target, signed, facts) is not None:
        offline = None
    # Every fact the rules read comes from a verified record; a loose tag counts for nothing.
    view: dict[str, Any] = {
        **tags,
        **_record_tags(check.record, "evidence"),
        **_record_tags(offline, "offline"),
    }
    return {k: v for k, v in view.items() if v is not None}, None


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
    shadow = tags.get(lineage.TAG_EVIDENCE_SOURCE) == lineage.SOURCE_SHADOW
    step = lineage.SOURCE_SHADOW if shadow else lineage.SOURCE_COMPARE
    return f"`mlflow-retrain {step} --challenger {target}`"


def _mode_refusal(target: str, champion: str, tags: Mapping[str, str], mode: str) -> str | None:
    """Why evidence of this source does not satisfy the policy's mode, or ``None``."""
    shadow = f"`mlflow-retrain shadow --challenger {target} --batch URI`"
    source = tags.get(lineage.TAG_EVIDENCE_SOURCE)
    if mode in ("shadow", "both") and source != lineage.SOURCE_SHADOW:
        return (
            f"The policy (mode '{mode}') needs shadow evidence for version {target}, and its "
            f"evidence comes from an offline comparison. Run {shadow} on labelled batches."
        )
    if mode == "both" and (
        tags.get(lineage.TAG_OFFLINE_DECISION) != lineage.DECISION_PROMOTE
        or tags.get(lineage.TAG_OFFLINE_BASELINE) != champion
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
        rows = json.loads(tags.get(lineage.TAG_EVIDENCE_SUMMARY) or "")
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
    spelled = gated_alias(change.alias, (facts.champion_alias, facts.previous_alias))
    if spelled is not None and spelled != change.alias:
        return GateDecision(
            False,
            "refused",
            f"The alias '{change.alias}' is a spelling of the gated alias '{spelled}', which "
            "some databases treat as the same alias. Use another name, or move "
            f"'{spelled}' itself with `mlflow-retrain promote`.",
        )
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
    if champion == target:
        return GateDecision(True, "unchanged", f"Version {target} is already champion.")
    if previous is not None and previous == target:
        return _permit(
            "rollback",
            f"Rollback to the previous champion, version {target}.",
            target,
            champion,
            facts,
        )
    by_evidence = _judge_evidence(target, champion, facts)
    override = (facts.version_tags.get(lineage.TAG_OVERRIDE_REASON) or "").strip()
    if by_evidence.allowed or not override:
        return by_evidence
    writer = facts.override_writer
    if writer is None:
        return GateDecision(
            False,
            "refused",
            f"{by_evidence.reason} Its override reason does not count: the store has no record "
            f"of who wrote it. Set it with `mlflow-retrain override --version {target}`.",
        )
    if writer != facts.mover:
        return GateDecision(
            False,
            "refused",
            f"{by_evidence.reason} Its override was written by {_who(writer)} and counts only "
            f"when they make the move, not {_who(facts.mover)}.",
        )
    return _permit("override", f"Audited override: {override}", target, champion, facts)


def _who(user: str) -> str:
    return f"user '{user}'" if user else "a request without a user"


def _judge_evidence(target: str, champion: str | None, facts: ModelFacts) -> GateDecision:
    """Whether the target's evidence lets it become champion (the rules without overrides)."""
    tags, untrusted = _signed_view(target, facts)
    if untrusted is not None:
        return untrusted
    decision = tags.get(lineage.TAG_DECISION)
    baseline = tags.get(lineage.TAG_EVIDENCE_BASELINE)
    if decision is None or decision == lineage.DECISION_PENDING:
        written = "" if decision is None else " complete"
        return GateDecision(
            False,
            "refused",
            f"Version {target} has no{written} comparison evidence. Run `mlflow-retrain "
            f"compare --challenger {target}` first.",
        )
    if decision != lineage.DECISION_PROMOTE:
        return GateDecision(
            False,
            "refused",
            f"The evidence for version {target} says '{decision}', not 'promote' (run "
            f"{tags.get(lineage.TAG_EVIDENCE_RUN, 'unknown')}). Only a significantly better "
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
        computed = int(tags.get(lineage.TAG_EVIDENCE_TIME, ""))
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
        return _permit(
            "first_deployment",
            f"First deployment of version {target}: {_floor_text(tags)}.",
            target,
            None,
            facts,
            evidence_run=tags.get(lineage.TAG_EVIDENCE_RUN),
        )
    return _permit(
        "promotion",
        f"Version {target} is significantly better than champion {champion}.",
        target,
        champion,
        facts,
        evidence_run=tags.get(lineage.TAG_EVIDENCE_RUN),
    )


def _permit(
    kind: Kind,
    reason: str,
    target: str,
    champion: str | None,
    facts: ModelFacts,
    *,
    evidence_run: str | None = None,
) -> GateDecision:
    """Allow the champion alias to move to ``target`` (from ``champion``), with its plan."""
    plan = _plan(kind, reason, target, champion, facts, evidence_run=evidence_run)
    return GateDecision(True, kind, reason, old_champion=champion, plan=plan)


def _plan(
    kind: Kind,
    reason: str,
    target: str,
    champion: str | None,
    facts: ModelFacts,
    *,
    evidence_run: str | None,
) -> MovePlan:
    """What moving the champion alias from ``champion`` to ``target`` writes."""
    tags = facts.version_tags
    aliases = [(facts.champion_alias, target)]
    statuses: list[tuple[str, str, str]] = []
    if champion is not None:
        aliases.append((facts.previous_alias, champion))
        old_status = lineage.STATUS_ROLLED_BACK if kind == "rollback" else lineage.STATUS_RETIRED
        statuses.append((champion, lineage.TAG_STATUS, old_status))
    statuses.append((target, lineage.TAG_STATUS, lineage.STATUS_PROMOTED))
    held = facts.aliases.get(facts.challenger_alias) == target
    rollback_reason = tags.get(lineage.TAG_ROLLBACK_REASON)
    if kind == "rollback" and rollback_reason:
        reason = f"{reason} Reason: {rollback_reason}"
    return MovePlan(
        set_aliases=tuple(aliases),
        delete_aliases=(facts.challenger_alias,) if held else (),
        set_version_tags=tuple(statuses),
        delete_version_tags=tuple(
            (target, key)
            for key in (lineage.TAG_OVERRIDE_REASON, lineage.TAG_OVERRIDE_BY)
            if key in tags
        ),
        audit=AuditEntry(
            from_version=champion,
            to_version=target,
            kind=kind,
            reason=reason,
            evidence_run=evidence_run or tags.get(lineage.TAG_EVIDENCE_RUN),
        ),
    )

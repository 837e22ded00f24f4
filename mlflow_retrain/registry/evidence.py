"""The evidence the registry keeps on versions: the gate's evidence tags, and the decay reference.

The gate (:mod:`mlflow_retrain.registry.gate`) decides from a challenger's evidence tags:
the decision, the champion it was computed against, when, from which step (``compare`` or
``shadow``), and a compact summary. Both steps hand their results here, so the tags are
written in one way:

* the decision tag is removed first and written last: the gate reads it, so a crash
  between the writes leaves no decision at all (the gate then asks for the comparison again),
  never a fresh decision beside stale facts, nor an old decision beside fresh ones;
* a rejected challenger gets status ``rejected`` with its evidence;
* the evidence is also written as one signed record (``mlflow_retrain.evidence.record`` and
  ``.signature``, :mod:`mlflow_retrain.registry.signing`), bound to the version's logged model
  and artifacts, the champion, the data and the stored policy; a tracking server holding the
  evidence key decides from that record alone. Without a key (``MLFLOW_RETRAIN_EVIDENCE_KEY``
  or ``..._KEY_FILE``) the record is written unsigned, with a warning.

A champion version also caches its metric on its own gate split, the reference of the loop's
decay check (:func:`cached_reference`, :func:`cache_reference`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlflow_retrain import lineage
from mlflow_retrain.metrics import DEFINITIONS_VERSION
from mlflow_retrain.registry.signing import EvidenceRecord, policy_digest

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from mlflow_retrain.comparison import Evidence
    from mlflow_retrain.stats.sequential import SequentialState

__all__ = [
    "cache_reference",
    "cached_reference",
    "write_offline_evidence",
    "write_shadow_evidence",
]


def write_offline_evidence(
    client: MlflowClient,
    name: str,
    version: str,
    evidence: Evidence,
    *,
    baseline: str | None,
    run_id: str,
    data_digest: str,
    policy: str | None = None,
) -> None:
    """Record an offline comparison's evidence on the challenger version.

    The offline decision and its champion are also kept apart (``mlflow_retrain.offline.*``):
    under policy mode ``both`` the gate needs them beside the shadow evidence that follows.

    Args:
        client: Registry client.
        name: Registered model.
        version: The challenger version judged.
        evidence: The comparison's result.
        baseline: The champion version compared against (``None``: first deployment).
        run_id: The comparison run holding the full evidence.
        data_digest: Digest of the rows compared on.
        policy: The stored policy text it was judged under (``None``: the model stores none).
    """
    summary = [
        {
            "metric": m.name,
            "role": m.role,
            "diff": _round(m.difference),
            "ci": [_round(m.ci_low), _round(m.ci_high)],
            "p": _round(m.p_value_adjusted),
            "passed": m.passed,
            **({"floor": m.threshold} if m.role == "floor" else {}),
        }
        for m in evidence.metrics
    ]
    against = baseline or "none"
    now = _now_ms()
    record, signature = _signed_record(
        client, name, version, baseline=against, decision=evidence.decision,
        source=lineage.SOURCE_COMPARE, tests=summary, data_digest=data_digest, policy=policy,
        run_id=run_id, time_ms=now,
    )  # fmt: skip
    facts = {
        lineage.TAG_EVIDENCE_BASELINE: against,
        lineage.TAG_EVIDENCE_RUN: run_id,
        lineage.TAG_EVIDENCE_TIME: str(now),
        lineage.TAG_EVIDENCE_SUMMARY: lineage.truncate_tag(json.dumps(summary)),
        lineage.TAG_EVIDENCE_DATA_DIGEST: data_digest,
        lineage.TAG_EVIDENCE_SOURCE: lineage.SOURCE_COMPARE,
        lineage.TAG_OFFLINE_DECISION: evidence.decision,
        lineage.TAG_OFFLINE_BASELINE: against,
        lineage.TAG_EVIDENCE_RECORD: record,
        lineage.TAG_EVIDENCE_SIGNATURE: signature,
        lineage.TAG_OFFLINE_RECORD: record,
        lineage.TAG_OFFLINE_SIGNATURE: signature,
    }
    _write_evidence(client, name, version, facts, decision=evidence.decision)


def write_shadow_evidence(
    client: MlflowClient,
    name: str,
    version: str,
    state: SequentialState,
    *,
    decision: str,
    loss: str,
    min_improvement: float,
    champion: str,
    run_id: str,
    policy: str | None = None,
) -> dict[str, Any]:
    """Record a shadow step's state on the version in shadow, and its evidence once decided.

    Every batch updates the version's shadow run, summary and status (``shadow``); a
    ``promote`` or ``reject`` also becomes the gate's evidence, from source ``shadow``. A
    ``continue`` leaves the evidence tags (an offline comparison's) as they are.

    Args:
        client: Registry client.
        name: Registered model.
        version: The version in shadow.
        state: The sequential test after the latest batch.
        decision: ``promote``, ``reject`` or ``continue``.
        loss: The per-row loss compared.
        min_improvement: The policy's margin, in loss units.
        champion: The champion the version runs beside.
        run_id: The accumulating shadow run.
        policy: The stored policy text it was judged under (``None``: the model stores none).

    Returns:
        The summary written (tag ``mlflow_retrain.shadow.summary``), for the description.
    """
    summary: dict[str, Any] = {
        "decision": decision,
        "batches": state.batches,
        "rows": state.n,
        "estimate": float(f"{state.mean:.4g}"),
        "cs": [_round(state.cs_low), _round(state.cs_high)],
        "p": float(f"{state.p_value:.4g}"),
        "unit": state.unit,
        "loss": loss,
        "margin": min_improvement,
        "champion": champion,
    }
    progress = {
        lineage.TAG_SHADOW_RUN: run_id,
        lineage.TAG_SHADOW_SUMMARY: json.dumps(summary, sort_keys=True),
        lineage.TAG_STATUS: lineage.STATUS_SHADOW,
    }
    if decision == lineage.DECISION_CONTINUE:
        for key, value in progress.items():
            client.set_model_version_tag(name, version, key, value)
        return summary
    evidence_summary = [{
        "metric": f"shadow.{loss}",
        "diff": summary["estimate"],
        "ci": summary["cs"],
        "p": summary["p"],
        "passed": decision == lineage.DECISION_PROMOTE,
    }]  # fmt: skip
    now = _now_ms()
    # Live batches are not data the server can check against the version: no data digest.
    record, signature = _signed_record(
        client, name, version, baseline=champion, decision=decision,
        source=lineage.SOURCE_SHADOW, tests=evidence_summary, data_digest=None, policy=policy,
        run_id=run_id, time_ms=now,
    )  # fmt: skip
    facts = {
        **progress,
        lineage.TAG_EVIDENCE_BASELINE: champion,
        lineage.TAG_EVIDENCE_RUN: run_id,
        lineage.TAG_EVIDENCE_TIME: str(now),
        lineage.TAG_EVIDENCE_SOURCE: lineage.SOURCE_SHADOW,
        lineage.TAG_EVIDENCE_SUMMARY: lineage.truncate_tag(json.dumps(evidence_summary)),
        lineage.TAG_EVIDENCE_RECORD: record,
        lineage.TAG_EVIDENCE_SIGNATURE: signature,
    }
    _write_evidence(client, name, version, facts, decision=decision)
    return summary


def _signed_record(
    client: MlflowClient,
    name: str,
    version: str,
    *,
    baseline: str,
    decision: str,
    source: str,
    tests: list[dict[str, Any]],
    data_digest: str | None,
    policy: str | None,
    run_id: str,
    time_ms: int,
) -> tuple[str, str]:
    """The evidence record of ``version`` and its signature (``""`` without a key).

    Without a key the record is unsigned, which a keyed server refuses and a keyless one does
    not check: its artifacts are then not read (``artifact_digest`` is ``""``).
    """
    from mlflow_retrain.registry.signing import load_keyring
    from mlflow_retrain.registry.trust import model_id_of, sign, version_binding

    keyring = load_keyring()
    held = client.get_model_version(name, version)
    digest = ""
    if keyring is not None:
        digest = version_binding(
            client.get_model_version_download_uri(name, version),
            # The client's own server, not the process default: MlflowClient keeps it only
            # on its tracking client (no public attribute in MLflow 3.17).
            tracking_uri=getattr(getattr(client, "_tracking_client", None), "tracking_uri", None),
        )
    record = EvidenceRecord(
        model_name=name,
        version=str(version),
        model_id=model_id_of(held.source),
        artifact_digest=digest,
        baseline=baseline,
        decision=decision,
        source=source,
        tests=tuple(tests),
        data_digest=data_digest,
        policy_digest=policy_digest(policy),
        run_id=run_id,
        time_ms=time_ms,
    )
    return sign(record, keyring)


def _write_evidence(
    client: MlflowClient, name: str, version: str, facts: Mapping[str, str], *, decision: str
) -> None:
    """Write ``facts`` and then ``decision``, with no usable decision on the version between.

    The decision is first set to ``pending`` (an overwrite, not a delete: MLflow's basic-auth
    lets EDIT set tags, and deleting one needs MANAGE, which the pipeline account never has),
    so a crash midway leaves a decision the gate refuses, never an old ``promote`` beside new
    facts.
    """
    client.set_model_version_tag(name, version, lineage.TAG_DECISION, lineage.DECISION_PENDING)
    tags = dict(facts)
    if decision == lineage.DECISION_REJECT:
        tags[lineage.TAG_STATUS] = lineage.STATUS_REJECTED
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    client.set_model_version_tag(name, version, lineage.TAG_DECISION, decision)


def cached_reference(tags: Mapping[str, str], metric: str) -> tuple[float, float, float] | None:
    """The champion's cached decay reference for ``metric``: ``(value, low, high)``, if any.

    Args:
        tags: The champion version's tags.
        metric: The decay check's metric.

    Returns:
        The cached value and interval; ``None`` when there is none, or an older or damaged
        one that must be computed again.
    """
    cached = tags.get(lineage.TAG_REFERENCE_PREFIX + metric)
    if cached is None:
        return None
    numbers, _, definitions = cached.partition(";")
    if definitions != _DEFINITIONS:
        return None  # computed under an older metric definition (or damaged): recompute
    try:
        value, low, high = (float(v) for v in numbers.split(","))
    except ValueError:
        return None
    return value, low, high


def cache_reference(
    client: MlflowClient, name: str, version: str, metric: str, found: tuple[float, float, float]
) -> None:
    """Cache the champion's decay reference ``(value, low, high)`` for ``metric`` on it.

    Six significant digits, like the CV score tag: exact enough for the decay check, short
    enough to read in the UI's tag table; then the metric definitions it was computed under
    (``;metrics-v2``), so a change of definition recomputes it.
    """
    cached = ",".join(f"{v:.6g}" for v in found) + ";" + _DEFINITIONS
    client.set_model_version_tag(name, version, lineage.TAG_REFERENCE_PREFIX + metric, cached)


#: The suffix that ties a cached reference to the metric definitions it was computed under,
#: and to its rows: ``served``, the first labelled batch the champion served (references of
#: earlier releases, on the gate split that selected it, are computed again).
_DEFINITIONS = f"metrics-v{DEFINITIONS_VERSION}+served"


def _now_ms() -> int:
    return int(time.time() * 1000)


def _round(value: float | None) -> float | None:
    """Four significant digits, or ``None`` for a missing or infinite value."""
    return None if value is None or not math.isfinite(value) else float(f"{value:.4g}")

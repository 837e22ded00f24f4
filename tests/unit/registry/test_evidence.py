"""The registry's one writer of the gate's evidence tags, and the champion's decay reference."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from helpers.evidence import comparison_evidence, metric_comparison
from helpers.registry import version_tags
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.registry.evidence import (
    cache_reference,
    cached_reference,
    write_offline_evidence,
    write_shadow_evidence,
)
from mlflow_retrain.stats.sequential import SequentialState

OLD_EVIDENCE = {
    lineage.TAG_DECISION: "promote",
    lineage.TAG_EVIDENCE_BASELINE: "1",
    lineage.TAG_EVIDENCE_TIME: "1",
    lineage.TAG_EVIDENCE_RUN: "old-run",
    lineage.TAG_EVIDENCE_SOURCE: "compare",
}


#: A comparison the challenger wins, on a primary metric and a guardrail.
BETTER = comparison_evidence(
    metric_comparison("roc_auc"),
    metric_comparison("log_loss", role="guardrail", test="bootstrap"),
)
#: The same comparison lost: both rows fail.
WORSE = comparison_evidence(
    *(replace(row, passed=False) for row in BETTER.metrics), decision=lineage.DECISION_REJECT
)


class _Crash(Exception):
    """The process died mid-write."""


class _CrashingClient(MlflowClient):
    """A client whose ``after``-th version-tag write (counting from 0) never happens."""

    def __init__(self, uri: str, *, after: int) -> None:
        super().__init__(tracking_uri=uri, registry_uri=uri)
        self.after = after
        self.writes = 0

    def set_model_version_tag(self, *args: Any, **kwargs: Any) -> None:
        if self.writes == self.after:
            raise _Crash
        self.writes += 1
        super().set_model_version_tag(*args, **kwargs)


def test_offline_evidence_is_what_the_gate_reads(client: MlflowClient, model: str) -> None:
    evidence = BETTER

    write_offline_evidence(
        client, model, "3", evidence, baseline="2", run_id="run-9", data_digest="d1"
    )

    tags = version_tags(client, model, "3")
    assert tags[lineage.TAG_DECISION] == evidence.decision
    assert tags[lineage.TAG_EVIDENCE_BASELINE] == "2"
    assert tags[lineage.TAG_EVIDENCE_RUN] == "run-9"
    assert tags[lineage.TAG_EVIDENCE_SOURCE] == lineage.SOURCE_COMPARE
    assert tags[lineage.TAG_EVIDENCE_DATA_DIGEST] == "d1"
    assert tags[lineage.TAG_OFFLINE_DECISION] == evidence.decision
    assert tags[lineage.TAG_OFFLINE_BASELINE] == "2"
    summary = json.loads(tags[lineage.TAG_EVIDENCE_SUMMARY])
    assert [row["metric"] for row in summary] == [m.name for m in evidence.metrics]


def test_a_first_deployment_is_evidence_against_no_champion(
    client: MlflowClient, model: str
) -> None:
    write_offline_evidence(client, model, "3", BETTER, baseline=None, run_id="r", data_digest="d")

    tags = version_tags(client, model, "3")
    assert tags[lineage.TAG_EVIDENCE_BASELINE] == "none"
    assert tags[lineage.TAG_OFFLINE_BASELINE] == "none"


def test_a_rejected_challenger_gets_status_rejected(client: MlflowClient, model: str) -> None:
    evidence = WORSE
    assert evidence.decision == lineage.DECISION_REJECT

    write_offline_evidence(client, model, "3", evidence, baseline="2", run_id="r", data_digest="d")

    assert version_tags(client, model, "3")[lineage.TAG_STATUS] == lineage.STATUS_REJECTED


def _state(differences: np.ndarray) -> SequentialState:
    start = SequentialState.start(alpha=0.05, rho=0.05, null_value=0.0, min_rows=20)
    return start.update(differences)


def _write_shadow(client: MlflowClient, model: str, decision: str) -> dict[str, Any]:
    return write_shadow_evidence(
        client, model, "3", _state(np.full(200, 0.1) + np.linspace(-0.01, 0.01, 200)),
        decision=decision, loss="log_loss", min_improvement=0.0, champion="2",
        run_id="shadow-run",
    )  # fmt: skip


def test_a_decided_shadow_test_becomes_the_gate_evidence(client: MlflowClient, model: str) -> None:
    summary = _write_shadow(client, model, lineage.DECISION_PROMOTE)

    tags = version_tags(client, model, "3")
    assert tags[lineage.TAG_DECISION] == lineage.DECISION_PROMOTE
    assert tags[lineage.TAG_EVIDENCE_SOURCE] == lineage.SOURCE_SHADOW
    assert tags[lineage.TAG_EVIDENCE_BASELINE] == "2"
    assert tags[lineage.TAG_EVIDENCE_RUN] == "shadow-run"
    assert tags[lineage.TAG_STATUS] == lineage.STATUS_SHADOW
    assert json.loads(tags[lineage.TAG_SHADOW_SUMMARY]) == summary
    (row,) = json.loads(tags[lineage.TAG_EVIDENCE_SUMMARY])
    assert (row["metric"], row["passed"]) == ("shadow.log_loss", True)


def test_a_rejected_shadow_challenger_gets_status_rejected(
    client: MlflowClient, model: str
) -> None:
    _write_shadow(client, model, lineage.DECISION_REJECT)

    tags = version_tags(client, model, "3")
    assert tags[lineage.TAG_DECISION] == lineage.DECISION_REJECT
    assert tags[lineage.TAG_STATUS] == lineage.STATUS_REJECTED


def test_a_shadow_test_not_decided_yet_leaves_the_evidence_alone(
    client: MlflowClient, model: str
) -> None:
    for key, value in OLD_EVIDENCE.items():
        client.set_model_version_tag(model, "3", key, value)

    summary = _write_shadow(client, model, lineage.DECISION_CONTINUE)

    tags = version_tags(client, model, "3")
    assert {k: tags[k] for k in OLD_EVIDENCE} == OLD_EVIDENCE
    assert tags[lineage.TAG_SHADOW_RUN] == "shadow-run"
    assert json.loads(tags[lineage.TAG_SHADOW_SUMMARY]) == summary
    assert summary["decision"] == lineage.DECISION_CONTINUE


def _offline(client: MlflowClient, model: str) -> None:
    write_offline_evidence(
        client, model, "3", BETTER, baseline="2", run_id="new-run",
        data_digest="d",
    )  # fmt: skip


@pytest.mark.parametrize(
    "write",
    [_offline, lambda c, m: _write_shadow(c, m, lineage.DECISION_PROMOTE)],
    ids=["offline", "shadow"],
)
def test_a_crash_mid_write_never_leaves_a_usable_decision_beside_other_facts(
    client: MlflowClient, model: str, registry_uri: str, write: Any
) -> None:
    # Older evidence that said promote: a crash must not let it stand beside fresh facts.
    for key, value in OLD_EVIDENCE.items():
        client.set_model_version_tag(model, "3", key, value)
    after = 0
    while True:
        crashing = _CrashingClient(registry_uri, after=after)
        try:
            write(crashing, model)
        except _Crash:
            # Before the first write the old evidence stands whole; after it, the decision
            # is pending (the gate refuses it) until the new decision is the last write.
            left = version_tags(client, model, "3").get(lineage.TAG_DECISION)
            expected = OLD_EVIDENCE[lineage.TAG_DECISION] if after == 0 else "pending"
            assert left == expected, f"crash after {after} writes left decision {left!r}"
            after += 1
            continue
        break

    tags = version_tags(client, model, "3")
    assert after > 3  # the crash was tried at every write before the decision, and at it
    assert tags[lineage.TAG_DECISION] == lineage.DECISION_PROMOTE
    assert tags[lineage.TAG_EVIDENCE_BASELINE] == "2"
    assert tags[lineage.TAG_EVIDENCE_RUN] != "old-run"


def test_the_decay_reference_is_cached_on_the_champion(client: MlflowClient, model: str) -> None:
    cache_reference(client, model, "2", "roc_auc", (0.6784131205673759, 0.61540, 0.7414234))

    tags = version_tags(client, model, "2")
    assert tags[lineage.TAG_REFERENCE_PREFIX + "roc_auc"] == (
        "0.678413,0.6154,0.741423;metrics-v2+served"
    )
    assert cached_reference(tags, "roc_auc") == pytest.approx((0.678413, 0.6154, 0.741423))
    assert cached_reference(tags, "accuracy") is None


def test_a_reference_cached_under_older_metric_definitions_is_computed_again() -> None:
    # Before metrics-v2, binary Brier was twice today's value: that cache would mislead decay.
    old = {lineage.TAG_REFERENCE_PREFIX + "brier": "0.308,0.29,0.326"}
    older = {lineage.TAG_REFERENCE_PREFIX + "brier": "0.308,0.29,0.326;metrics-v1"}
    # And a reference on the gate split that selected the champion (before "served").
    selected = {lineage.TAG_REFERENCE_PREFIX + "brier": "0.154,0.145,0.163;metrics-v2"}

    assert cached_reference(old, "brier") is None
    assert cached_reference(older, "brier") is None
    assert cached_reference(selected, "brier") is None


def test_a_damaged_decay_reference_counts_as_none() -> None:
    tags = {lineage.TAG_REFERENCE_PREFIX + "roc_auc": "0.7,0.6"}

    assert cached_reference(tags, "roc_auc") is None

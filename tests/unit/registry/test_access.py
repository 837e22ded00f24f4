"""Who may write which tag (pure rules; the server's store enforces them)."""

from __future__ import annotations

import pytest

from mlflow_retrain import lineage
from mlflow_retrain.registry.access import (
    STRUCTURE_RULE,
    Requester,
    is_gated,
    refusal,
    tag_rule,
)

BOB = Requester("bob", authenticated=True)  # EDIT, not a pipeline account
PIPELINE = Requester("pipeline", authenticated=True, pipeline=True)
ALICE = Requester("alice", authenticated=True, manage=True)
ADMIN = Requester("admin", authenticated=True, pipeline=True, manage=True)
NOBODY = Requester(None, authenticated=False)  # a server without authentication

VERSION_KEYS = {
    lineage.TAG_DECISION: "pipeline",
    lineage.TAG_EVIDENCE_BASELINE: "pipeline",
    lineage.TAG_EVIDENCE_PREFIX + "signature": "pipeline",  # a new key of the family
    lineage.TAG_OFFLINE_DECISION: "pipeline",
    lineage.TAG_SHADOW_SUMMARY: "pipeline",
    lineage.TAG_REFERENCE_PREFIX + "roc_auc": "pipeline",
    lineage.TAG_GATE_URI: "pipeline",
    lineage.TAG_TRAINING_RUN: "pipeline",
    lineage.TAG_PIPELINE_RUN: "pipeline",
    lineage.TAG_OVERRIDE_REASON: "manage",
    lineage.TAG_ROLLBACK_REASON: "manage",
    lineage.TAG_OVERRIDE_BY: "store",
    lineage.TAG_PREFIX + "made_up": "store",
}
MODEL_KEYS = {
    lineage.TAG_POLICY: "manage",
    lineage.TAG_RESUMED_PREFIX + "1": "manage",
    lineage.TAG_AUDIT_PREFIX + "1-abcdef": "store",
    lineage.TAG_CHANGE_PREFIX + "1-abcdef": "store",
    lineage.TAG_PREFIX + "made_up": "store",
}
WHO = {
    "pipeline": {BOB: False, PIPELINE: True, ALICE: False, ADMIN: True, NOBODY: True},
    "manage": {BOB: False, PIPELINE: False, ALICE: True, ADMIN: True, NOBODY: True},
    "store": {BOB: False, PIPELINE: False, ALICE: False, ADMIN: False, NOBODY: False},
}


@pytest.mark.parametrize(
    ("on", "key", "writer"),
    [("version", k, w) for k, w in VERSION_KEYS.items()]
    + [("model", k, w) for k, w in MODEL_KEYS.items()],
)
def test_each_key_of_the_namespace_has_its_writers(on: str, key: str, writer: str) -> None:
    rule = tag_rule(key, "x", on=on, gated=True)  # type: ignore[arg-type]

    assert rule is not None
    assert {r: r.may(rule) for r in WHO[writer]} == WHO[writer]


@pytest.mark.parametrize("status", ["candidate", "shadow", "rejected", "superseded"])
def test_the_pipeline_writes_a_challengers_status(status: str) -> None:
    rule = tag_rule(lineage.TAG_STATUS, status, on="version", gated=True)

    assert rule is not None
    assert PIPELINE.may(rule)
    assert not BOB.may(rule)


@pytest.mark.parametrize("status", ["promoted", "retired", "rolled_back", None])
def test_the_statuses_of_a_move_are_the_stores(status: str | None) -> None:
    rule = tag_rule(lineage.TAG_STATUS, status, on="version", gated=True)

    assert rule is not None
    assert not any(r.may(rule) for r in (BOB, PIPELINE, ALICE, ADMIN, NOBODY))


def test_the_pipeline_halts_and_only_manage_lifts_the_halt() -> None:
    halt = tag_rule(lineage.TAG_HALTED, "3 rejections", on="model", gated=True)
    blank = tag_rule(lineage.TAG_HALTED, "", on="model", gated=True)
    lift = tag_rule(lineage.TAG_HALTED, None, on="model", gated=True)

    assert halt is not None
    assert blank is not None
    assert lift is not None
    assert (PIPELINE.may(halt), PIPELINE.may(blank), PIPELINE.may(lift)) == (True, False, False)
    assert (ALICE.may(halt), ALICE.may(blank), ALICE.may(lift)) == (True, True, True)
    assert all(rule.audited for rule in (halt, blank, lift))


def test_keys_outside_the_namespace_are_free_except_prompt_tags_of_a_gated_model() -> None:
    assert tag_rule("team", "fraud", on="model", gated=True) is None
    assert tag_rule("mlflow.prompt.is_prompt", "true", on="model", gated=False) is None
    rule = tag_rule("mlflow.prompt.is_prompt", "true", on="version", gated=True)
    assert rule is not None
    assert (BOB.may(rule), ALICE.may(rule)) == (False, True)


def test_a_model_is_gated_by_its_aliases_or_its_namespace_tags() -> None:
    assert not is_gated({"challenger": 2}, {"team": "fraud"})
    assert is_gated({"champion": 1}, {})
    assert is_gated({}, {lineage.TAG_POLICY: "{}"})


def test_a_refusal_is_one_line_naming_what_is_protected_and_who_may_change_it() -> None:
    rule = tag_rule(lineage.TAG_DECISION, "promote", on="version", gated=True)
    assert rule is not None

    message = refusal("Setting tag 'mlflow_retrain.decision' on version 2 of 'fraud'", rule, BOB)

    assert message == (
        "Setting tag 'mlflow_retrain.decision' on version 2 of 'fraud' is refused: it is "
        "evidence the gate reads; only the pipeline's accounts (MLFLOW_RETRAIN_PIPELINE_USERS "
        "on the server) and admins may do it, and user 'bob' is not one of them."
    )


def test_a_refusal_of_what_only_the_store_writes_names_no_writer() -> None:
    rule = tag_rule(lineage.TAG_AUDIT_PREFIX + "1-a", None, on="model", gated=True)
    assert rule is not None

    message = refusal("Deleting tag 'x' on 'fraud'", rule, NOBODY)

    assert message.endswith("is append-only. No client may set or delete it.")


def test_structure_changes_need_manage_and_are_audited() -> None:
    assert STRUCTURE_RULE.audited
    assert (BOB.may(STRUCTURE_RULE), PIPELINE.may(STRUCTURE_RULE)) == (False, False)
    assert (ALICE.may(STRUCTURE_RULE), NOBODY.may(STRUCTURE_RULE)) == (True, True)


@pytest.mark.parametrize(
    "spelling", ["MLFLOW_RETRAIN.DECISION", "Mlflow_Retrain.Decision", "mlflow_retrain.decisión"]
)
def test_a_key_spelt_another_way_is_judged_as_the_key_a_collation_takes_it_for(
    spelling: str,
) -> None:
    # On MariaDB (utf8mb4_general_ci) each spelling is the same row as the decision tag.
    expected = tag_rule(lineage.TAG_DECISION, "promote", on="version", gated=True)

    assert tag_rule(spelling, "promote", on="version", gated=True) == expected

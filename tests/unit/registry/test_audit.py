"""The audit trail read back, and the checks of ``audit`` and ``verify``, from tags alone."""

from __future__ import annotations

import dataclasses
import json
from typing import get_args

import pytest
from helpers.cli import invoke

from mlflow_retrain import lineage
from mlflow_retrain.registry.audit import (
    AuditTrail,
    ModelRef,
    SignatureStatus,
    SignatureVerdict,
    Verification,
    audit_records,
    check_signature,
    compare_binding,
    format_audit,
    format_verification,
    parse_model_ref,
)
from mlflow_retrain.registry.signing import ENV_KEY, ENV_KEY_FILE, EvidenceRecord, Keyring

K1 = "1" * 64
KEYRING = Keyring({"k1": K1})
MS = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC
#: The version the record of ``_record()`` is for.
BINDING = {"name": "fraud", "version": "2", "model_id": "m-abc", "artifact_digest": "sha256:aa"}


def _record(**changes: object) -> EvidenceRecord:
    record = EvidenceRecord(
        model_name="fraud", version="2", model_id="m-abc", artifact_digest="sha256:aa",
        baseline="1", decision="promote", source="compare", tests=(), data_digest="d",
        policy_digest="none", run_id="run-2", time_ms=MS,
    )  # fmt: skip
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def _signed(record: EvidenceRecord | None = None, keyring: Keyring = KEYRING) -> dict[str, str]:
    text = (record or _record()).to_json()
    return {lineage.TAG_EVIDENCE_RECORD: text, lineage.TAG_EVIDENCE_SIGNATURE: keyring.sign(text)}


def _check(tags: dict[str, str], keyring: Keyring | None = KEYRING, **kwargs: object) -> str:
    options = {"model_names": {"fraud"}, "version": "2", "evidence_run": "run-2", **kwargs}
    return check_signature(tags, keyring, **options).status  # type: ignore[arg-type]


# --- parse_model_ref ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("fraud@champion", ModelRef("fraud", alias="champion")),
        ("fraud@previous-champion", ModelRef("fraud", alias="previous-champion")),
        ("fraud/3", ModelRef("fraud", version="3")),
        ("models:/fraud/12", ModelRef("fraud", version="12")),
        ("models:/fraud@champion", ModelRef("fraud", alias="champion")),
        ("team@x@champion", ModelRef("team@x", alias="champion")),
    ],
)
def test_a_model_ref_is_name_at_alias_or_name_slash_version(text: str, ref: ModelRef) -> None:
    assert parse_model_ref(text) == ref


@pytest.mark.parametrize("text", ["fraud", "fraud@", "@champion", "fraud/", "fraud/v2", "fraud/0"])
def test_anything_else_is_refused_with_both_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"write NAME@ALIAS .* or NAME/VERSION"):
        parse_model_ref(text)


# --- check_signature ----------------------------------------------------------------------------


def test_genuine_evidence_for_this_version_is_ok_with_its_key_id() -> None:
    verdict = check_signature(_signed(), KEYRING, model_names={"fraud"}, version="2")

    assert verdict.status == "ok"
    assert verdict.text() == "signature ok (key id k1)"
    assert not verdict.failed


@pytest.mark.parametrize(
    ("tags", "status"),
    [
        ({}, "unsigned"),
        ({lineage.TAG_EVIDENCE_RECORD: _record().to_json()}, "unsigned"),
        ({**_signed(), lineage.TAG_EVIDENCE_RECORD: _record(baseline="none").to_json()},
         "tampered"),
        ({**_signed(), lineage.TAG_EVIDENCE_SIGNATURE: "v1:k1:00"}, "tampered"),
        ({**_signed(), lineage.TAG_EVIDENCE_SIGNATURE: "garbage"}, "tampered"),
        (_signed(keyring=Keyring({"k9": "9" * 64})), "unknown_key"),
        (_signed(_record(version="3")), "mismatch"),
        (_signed(_record(model_name="other")), "mismatch"),
        (_signed(_record(run_id="run-9")), "replaced"),
    ],
)  # fmt: skip
def test_each_kind_of_evidence_gets_its_verdict(tags: dict[str, str], status: str) -> None:
    assert _check(tags) == status


@pytest.mark.parametrize("status", get_args(SignatureStatus))
def test_only_altered_or_unverifiable_evidence_fails(status: SignatureStatus) -> None:
    assert SignatureVerdict(status).failed == (status in {"tampered", "unknown_key", "mismatch"})


def test_without_a_keyring_nothing_is_verified() -> None:
    assert _check(_signed(), keyring=None) == "no_key"


def test_a_record_under_the_models_former_name_is_still_its_own() -> None:
    tags = _signed(_record(model_name="fraud-old"))

    assert _check(tags) == "mismatch"
    assert _check(tags, model_names={"fraud", "fraud-old"}) == "ok"


def test_a_tampered_offline_record_fails_beside_a_genuine_one() -> None:
    offline = _signed(_record(source="compare"))
    tags = {
        **_signed(_record(source="shadow")),
        lineage.TAG_OFFLINE_RECORD: offline[lineage.TAG_EVIDENCE_RECORD].replace("promote", "x"),
        lineage.TAG_OFFLINE_SIGNATURE: offline[lineage.TAG_EVIDENCE_SIGNATURE],
    }

    verdict = check_signature(tags, KEYRING, model_names={"fraud"}, version="2")

    assert verdict.status == "tampered"
    assert verdict.detail.startswith("its offline record: ")


# --- audit_records and the trail ---------------------------------------------------------------


def _move(ms: int, **fields: object) -> tuple[str, str]:
    record = {"from": "1", "to": "2", "kind": "promotion", "reason": "Better.",
              "evidence_run": "run-2", "time_ms": ms, "user": "pipeline", **fields}  # fmt: skip
    return f"{lineage.TAG_AUDIT_PREFIX}{ms}-abcdef", json.dumps(record)


def _change(ms: int, **fields: object) -> tuple[str, str]:
    record = {"kind": "tag_set", "key": lineage.TAG_POLICY, "version": None, "before": None,
              "after": '{"mode": "offline"}', "user": "alice", "time_ms": ms,
              **fields}  # fmt: skip
    return f"{lineage.TAG_CHANGE_PREFIX}{ms}-123456", json.dumps(record)


def test_records_come_oldest_first_whatever_their_kind() -> None:
    tags = dict([_move(MS + 2000), _change(MS), _move(MS + 1000, kind="first_deployment"),
                 (lineage.TAG_POLICY, "{}"), ("other", "x")])  # fmt: skip

    records = audit_records(tags)

    assert [(r.source, r.kind) for r in records] == [
        ("change", "tag_set"), ("move", "first_deployment"), ("move", "promotion")
    ]  # fmt: skip


def test_an_unreadable_record_is_listed_at_the_time_of_its_key() -> None:
    (record,) = audit_records({f"{lineage.TAG_AUDIT_PREFIX}{MS}-abcdef": "{not json"})

    assert (record.kind, record.time_ms) == ("unreadable", MS)


def test_a_line_has_time_kind_alias_versions_user_reason_and_signature() -> None:
    (record,) = audit_records(dict([_move(MS)]))
    signed = check_signature(_signed(), KEYRING, model_names={"fraud"}, version="2")
    trail = AuditTrail("fraud", (dataclasses.replace(record, signature=signed),), ("k1",))

    assert format_audit(trail).splitlines() == [
        "2026-01-01 00:00:00 UTC | promotion | champion | 1 -> 2 | user pipeline | Better. | "
        "signature ok (key id k1)",
        "1 record(s), oldest first; 1 promotion(s) checked: 1 ok.",
    ]
    assert trail.failure is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, f"set {lineage.TAG_POLICY} = '{{\"mode\": \"offline\"}}'"),
        ({"kind": "tag_delete", "key": lineage.TAG_HALTED, "before": "3 rejections",
          "after": None}, f"deleted {lineage.TAG_HALTED} (was '3 rejections')"),
        ({"kind": "rename", "before": "a", "after": "b"}, "renamed 'a' to 'b'"),
        ({"kind": "delete_version", "version": "4", "before": "previous-champion"},
         "deleted version 4"),
    ],
)  # fmt: skip
def test_a_change_record_says_what_was_written(fields: dict[str, object], reason: str) -> None:
    (record,) = audit_records(dict([_change(MS, **fields)]))

    assert record.reason == reason
    assert format_audit(AuditTrail("fraud", (record,))).splitlines()[0].endswith(
        f" | user alice | {reason}"
    )  # fmt: skip


def test_a_failed_check_makes_one_line_naming_the_version() -> None:
    (record,) = audit_records(dict([_move(MS)]))
    tampered = {**_signed(), lineage.TAG_EVIDENCE_SIGNATURE: "v1:k1:00"}
    verdict = check_signature(tampered, KEYRING, model_names={"fraud"}, version="2")
    trail = AuditTrail("fraud", (dataclasses.replace(record, signature=verdict),), ("k1",))

    assert trail.failure is not None
    assert "\n" not in trail.failure
    assert (
        "1 of 1 promotion record(s) of 'fraud' does not verify: version 2 (forged/tampered)"
        in (trail.failure)
    )
    assert trail.to_dict()["verified"] is False
    assert trail.to_dict()["signatures"] == {"tampered": 1}


def test_a_model_without_records_says_so() -> None:
    assert format_audit(AuditTrail("fraud", ())) == (
        "'fraud' has no audit records: no move of champion and no protected change was "
        "recorded on it."
    )


# --- verify --------------------------------------------------------------------------------------


def test_the_binding_matches_the_version_it_was_signed_for() -> None:
    binding = {
        "name": "fraud",
        "version": "2",
        "model_id": "m-abc",
        "artifact_digest": "sha256:aa",
    }

    assert compare_binding(_record(), **binding) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("name", "other", "is for model 'fraud', not 'other'"),
        ("version", "3", "is for version 2, not 3"),
        ("model_id", "m-zzz", "is for logged model m-abc, and the version holds m-zzz"),
        ("model_id", None, "and the version holds no logged model"),
        ("artifact_digest", "sha256:bb", "its artifacts are sha256:bb, but its signed evidence "
         "is for sha256:aa"),
    ],
)  # fmt: skip
def test_each_difference_is_named(field: str, value: str | None, says: str) -> None:
    binding = {
        "name": "fraud",
        "version": "2",
        "model_id": "m-abc",
        "artifact_digest": "sha256:aa",
    }

    assert says in (compare_binding(_record(), **{**binding, field: value}) or "")  # type: ignore[arg-type]


def test_a_verified_version_prints_one_line() -> None:
    result = Verification(
        ref="fraud@champion", model_name="fraud", version="2", model_id="m-abc",
        artifact_digest="sha256:aa", key_id="k1", problem=None,
    )  # fmt: skip

    assert format_verification(result) == (
        "verified: fraud version 2 (model id m-abc, artifacts sha256:aa) matches its evidence "
        "signed with key k1"
    )


def test_verify_without_a_key_exits_1_naming_both_variables() -> None:
    code, stdout, stderr = invoke("verify", "--model", "fraud@champion")

    assert (code, stdout) == (1, "")
    assert stderr.startswith("mlflow-retrain: error: verify needs the evidence key")
    assert ENV_KEY in stderr
    assert ENV_KEY_FILE in stderr
    assert stderr.count("\n") == 1


def test_verify_of_a_bare_name_is_a_usage_error() -> None:
    code, _, stderr = invoke("verify", "--model", "fraud")

    assert code == 2
    assert "write NAME@ALIAS (e.g. fraud@champion) or NAME/VERSION" in stderr


def test_audit_of_a_model_that_does_not_exist_exits_1(tracking_uri: str) -> None:
    code, _, stderr = invoke("audit", "--model", "nope")

    assert code == 1
    assert stderr == (
        "mlflow-retrain: error: Registered model 'nope' does not exist. Check the name (the "
        "MLflow UI's Models page lists them), or register a first version with `mlflow-retrain "
        "retrain`.\n"
    )

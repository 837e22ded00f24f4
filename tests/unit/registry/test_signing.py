"""The signed evidence record: canonical form, signatures, the keyring and its rotation."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from mlflow_retrain.exceptions import InvalidConfigError
from mlflow_retrain.registry.signing import (
    ENV_KEY,
    ENV_KEY_FILE,
    EvidenceRecord,
    Keyring,
    artifacts_digest,
    check_evidence,
    load_keyring,
    policy_digest,
)

OLD = "a" * 64
NEW = "b" * 64


def _record(**changes: object) -> EvidenceRecord:
    record = EvidenceRecord(
        model_name="fraud",
        version="2",
        model_id="m-0123",
        artifact_digest="sha256:" + "1" * 64,
        baseline="1",
        decision="promote",
        source="compare",
        tests=(
            {
                "metric": "roc_auc",
                "role": "primary",
                "diff": 0.0213,
                "p": 0.0012,
                "ci": [0.011, 0.03],
                "passed": True,
            },
        ),
        data_digest="3f2a9c1d",
        policy_digest=policy_digest('{"alpha": 0.05}'),
        run_id="run-1",
        time_ms=1_800_000_000_000,
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def test_the_canonical_form_is_stable_sorted_and_compact() -> None:
    text = _record().to_json()

    assert text == _record().to_json()
    assert " " not in text
    assert text.startswith('{"artifact_digest":')
    assert EvidenceRecord.from_json(text) == _record()


def test_a_signed_record_verifies() -> None:
    keys = Keyring({"k1": OLD})
    text = _record().to_json()

    check = check_evidence(text, keys.sign(text), keys)

    assert check.failure is None
    assert check.record == _record()


@pytest.mark.parametrize(
    "field",
    [f.name for f in dataclasses.fields(EvidenceRecord)],
)
def test_tampering_with_any_field_breaks_the_signature(field: str) -> None:
    keys = Keyring({"k1": OLD})
    signature = keys.sign(_record().to_json())
    value = getattr(_record(), field)
    changed = {
        int: lambda v: v + 1,
        tuple: lambda v: ({**v[0], "passed": False},),
    }.get(type(value), lambda v: f"{v}x")(value)

    check = check_evidence(_record(**{field: changed}).to_json(), signature, keys)

    assert check.record is None
    assert "forged or tampered" in str(check.failure)


def test_a_record_signed_with_another_key_is_refused() -> None:
    text = _record().to_json()
    forged = Keyring({"k1": NEW}).sign(text)

    check = check_evidence(text, forged, Keyring({"k1": OLD}))

    assert check.record is None
    assert "does not match its record under key id 'k1'" in str(check.failure)


def test_an_unknown_key_id_is_refused() -> None:
    text = _record().to_json()

    check = check_evidence(text, Keyring({"k9": OLD}).sign(text), Keyring({"k1": OLD}))

    assert "key id 'k9', which this server does not hold" in str(check.failure)


@pytest.mark.parametrize(
    ("record", "signature", "failure"),
    [
        (None, None, "no signed evidence record"),
        ("{}", None, "unsigned"),
        ("{}", "hmac:abc", "not of the form v1:<key id>:<hex>"),
    ],
    ids=["no_record", "unsigned", "bad_form"],
)
def test_missing_or_malformed_signatures_are_refused(
    record: str | None, signature: str | None, failure: str
) -> None:
    check = check_evidence(record, signature, Keyring({"k1": OLD}))

    assert check.record is None
    assert failure in str(check.failure)


def test_after_a_rotation_old_evidence_verifies_and_the_new_key_signs(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# rotated 2026-02\nk2 {NEW}\nk1 {OLD}\n", encoding="utf-8")
    path.chmod(0o600)
    text = _record().to_json()
    old_signature = Keyring({"k1": OLD}).sign(text)

    rotated = load_keyring({ENV_KEY_FILE: str(path)})

    assert rotated is not None
    assert rotated.key_ids == ("k2", "k1")
    assert rotated.sign(text).startswith("v1:k2:")
    assert check_evidence(text, old_signature, rotated).record == _record()


def test_the_key_variable_reads_key_id_and_secret() -> None:
    keys = load_keyring({ENV_KEY: f"2026-01:{OLD}"})

    assert keys is not None
    assert keys.signing_id == "2026-01"


def test_no_variable_means_no_keyring() -> None:
    assert load_keyring({}) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (OLD, "must read <key id>:<secret>"),
        ("k1:short", "secret is 5 characters long; use at least 32"),
        (f"bad id!:{OLD}", "key id is not valid"),
    ],
    ids=["no_id", "short", "bad_id"],
)
def test_malformed_keys_are_refused_without_showing_the_secret(value: str, message: str) -> None:
    with pytest.raises(InvalidConfigError, match=message) as raised:
        load_keyring({ENV_KEY: value})

    assert OLD not in str(raised.value)


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"k1 {OLD}\n", encoding="utf-8")
    path.chmod(0o640)

    with pytest.raises(InvalidConfigError, match=r"accessible by its group or others.*chmod 600"):
        load_keyring({ENV_KEY_FILE: str(path)})


def test_secrets_never_appear_in_repr_str_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    keys = Keyring({"k2": NEW, "k1": OLD})
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").info("keyring %s %r", keys, keys)

    shown = f"{keys!r} {keys!s} {caplog.text} {vars(keys) if hasattr(keys, '__dict__') else ''}"

    assert NEW not in shown
    assert OLD not in shown
    assert "k2" in repr(keys)


def test_the_policy_digest_follows_the_stored_text() -> None:
    assert policy_digest(None) == "none"
    assert policy_digest('{"alpha": 0.05}') != policy_digest('{"alpha": 0.1}')


def test_the_artifacts_digest_ignores_order_and_sees_every_file() -> None:
    files = [("MLmodel", "aa"), ("model.pkl", "bb")]

    assert artifacts_digest(files) == artifacts_digest(reversed(files))
    assert artifacts_digest(files) != artifacts_digest([("MLmodel", "aa"), ("model.pkl", "bc")])
    assert artifacts_digest(files) != artifacts_digest(files[:1])


def test_an_oversized_record_keeps_each_tests_result() -> None:
    tests = tuple({"metric": f"m{i}", "role": "primary", "passed": True, "note": "x" * 200}
                  for i in range(40))  # fmt: skip

    text = _record(tests=tests).to_json()

    assert len(text) <= 5000
    assert EvidenceRecord.from_json(text).tests[39] == {
        "metric": "m39", "role": "primary", "passed": True
    }  # fmt: skip


def test_the_environment_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_KEY, f"k1:{OLD}")
    monkeypatch.delenv(ENV_KEY_FILE, raising=False)

    keys = load_keyring()

    assert keys is not None
    assert keys.signing_id == "k1"

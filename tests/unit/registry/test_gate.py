"""Every rule of the promotion gate (pure decisions; the store enforces them)."""

from __future__ import annotations

import dataclasses
import functools
import json

import pytest
from helpers.evidence import evidence_tags

from mlflow_retrain import lineage
from mlflow_retrain.registry import gate
from mlflow_retrain.registry.gate import (
    AliasChange,
    ModelFacts,
    SignedEvidence,
    decide_alias_change,
)
from mlflow_retrain.registry.signing import (
    EvidenceRecord,
    Keyring,
    check_evidence,
    policy_digest,
)

NOW = 1_800_000_000_000
DAY = gate.DAY_MS


#: Fresh evidence tags (``evidence_tags``), written half a day before ``NOW`` by run ``run-1``.
_evidence = functools.partial(evidence_tags, now_ms=NOW, age_ms=DAY / 2, run_id="run-1")


def _facts(
    tags: dict,
    aliases: dict | None = None,
    policy: str | None = None,
    *,
    writer: str | None = None,
    mover: str = "",
) -> ModelFacts:
    return ModelFacts(
        aliases={"champion": "1", "previous-champion": "0"} if aliases is None else aliases,
        version_tags=tags,
        policy=policy,
        now_ms=NOW,
        override_writer=writer,
        mover=mover,
    )


def _set(version: str) -> AliasChange:
    return AliasChange("set", "champion", version)


def test_fresh_passing_evidence_against_the_champion_promotes() -> None:
    decision = decide_alias_change(_set("2"), _facts(_evidence()))

    assert decision.allowed
    assert decision.kind == "promotion"
    assert decision.old_champion == "1"


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({}, r"Version 2 has no comparison evidence. Run `mlflow-retrain compare --challenger 2`"),
        (_evidence(decision="reject"), r"says 'reject', not 'promote'"),
        (_evidence(decision="inconclusive"), r"says 'inconclusive', not 'promote'"),
        (
            _evidence(baseline="7"),
            r"computed against version 7, but the champion is now 1: "
            r"it is stale",
        ),
        (_evidence(age_ms=31 * DAY), r"31.0 days old, older than the policy's 30 days"),
        ({**_evidence(), lineage.TAG_EVIDENCE_TIME: "yesterday"}, r"no valid timestamp"),
    ],
    ids=["no_evidence", "rejected", "inconclusive", "stale", "too_old", "bad_time"],
)
def test_refusals_name_what_is_missing(tags: dict, message: str) -> None:
    import re

    decision = decide_alias_change(_set("2"), _facts(tags))

    assert not decision.allowed
    assert decision.kind == "refused"
    assert re.search(message, decision.reason), decision.reason


def test_the_policy_sets_the_evidence_age_limit() -> None:
    policy = json.dumps({"max_evidence_age_days": 60})

    decision = decide_alias_change(_set("2"), _facts(_evidence(age_ms=31 * DAY), policy=policy))

    assert decision.allowed


def test_evidence_still_being_written_is_refused() -> None:
    tags = {**_evidence(), lineage.TAG_DECISION: lineage.DECISION_PENDING}

    decision = decide_alias_change(_set("2"), _facts(tags))

    assert not decision.allowed
    assert decision.reason == (
        "Version 2 has no complete comparison evidence. Run `mlflow-retrain compare "
        "--challenger 2` first."
    )


@pytest.mark.parametrize("damaged", ["{oops", '{"max_evidence_age_days": "soon"}', "[]"])
def test_a_damaged_policy_keeps_the_strict_default_age(damaged: str) -> None:
    # Evidence that satisfies the strictest mode ("both": shadow evidence after a passing
    # offline comparison), so only the evidence age can refuse it.
    both = {lineage.TAG_EVIDENCE_SOURCE: "shadow", lineage.TAG_OFFLINE_DECISION: "promote",
            lineage.TAG_OFFLINE_BASELINE: "1"}  # fmt: skip
    young = _facts({**_evidence(age_ms=29 * DAY), **both}, policy=damaged)
    old = _facts({**_evidence(age_ms=31 * DAY), **both}, policy=damaged)

    assert decide_alias_change(_set("2"), young).allowed
    decision = decide_alias_change(_set("2"), old)
    assert not decision.allowed
    assert "31.0 days old, older than the policy's 30 days" in decision.reason


def test_first_deployment_needs_floor_evidence_against_no_champion() -> None:
    facts = _facts(_evidence(baseline="none"), aliases={})

    assert decide_alias_change(_set("2"), facts).kind == "first_deployment"
    refused = decide_alias_change(_set("2"), _facts(_evidence(baseline="1"), aliases={}))
    assert not refused.allowed
    assert "but there is no champion" in refused.reason


@pytest.mark.parametrize(
    ("summary", "says"),
    [
        ([{"metric": "roc_auc", "role": "floor", "floor": 0.5, "passed": True}],
         "its evidence clears the policy floor (roc_auc 0.5) with confidence"),
        ([{"metric": "roc_auc", "role": "primary", "passed": True}],
         "no floor set, so its comparison judged no minimum"),
        ("not json", "judged by its comparison without a champion"),
    ],
    ids=["floor", "no_floor", "unreadable_summary"],
)  # fmt: skip
def test_the_first_deployment_reason_says_what_the_floor_was(summary: object, says: str) -> None:
    tags = {**_evidence(baseline="none"),
            lineage.TAG_EVIDENCE_SUMMARY: summary if isinstance(summary, str)
            else json.dumps(summary)}  # fmt: skip

    decision = decide_alias_change(_set("2"), _facts(tags, aliases={}))

    assert decision.allowed
    assert decision.reason == f"First deployment of version 2: {says}."
    assert "meets the" not in decision.reason


def test_evidence_against_no_champion_is_stale_once_a_champion_exists() -> None:
    decision = decide_alias_change(_set("2"), _facts(_evidence(baseline="none")))

    assert not decision.allowed
    assert "computed against no champion, but the champion is now 1" in decision.reason


def test_rollback_to_the_previous_champion_needs_no_evidence() -> None:
    decision = decide_alias_change(_set("0"), _facts({}))

    assert decision.allowed
    assert decision.kind == "rollback"
    assert decision.old_champion == "1"


@pytest.mark.parametrize(("writer", "mover"), [("alice", "alice"), ("", "")],
                         ids=["authenticated", "no-identity"])  # fmt: skip
def test_an_override_lets_any_version_through_when_its_writer_moves_it(
    writer: str, mover: str
) -> None:
    tags = {lineage.TAG_OVERRIDE_REASON: "hotfix for incident 42"}

    decision = decide_alias_change(_set("5"), _facts(tags, writer=writer, mover=mover))

    assert decision.allowed
    assert decision.kind == "override"
    assert "hotfix for incident 42" in decision.reason


def test_a_blank_override_reason_does_not_count() -> None:
    tags = {lineage.TAG_OVERRIDE_REASON: "  "}

    decision = decide_alias_change(_set("5"), _facts(tags, writer="alice", mover="alice"))

    assert not decision.allowed


def test_an_override_without_a_recorded_writer_does_not_count() -> None:
    tags = {lineage.TAG_OVERRIDE_REASON: "hotfix"}

    decision = decide_alias_change(_set("5"), _facts(tags, writer=None, mover="alice"))

    assert not decision.allowed
    assert "no comparison evidence" in decision.reason
    assert "the store has no record of who wrote it" in decision.reason


@pytest.mark.parametrize(("writer", "mover"), [("alice", "carol"), ("alice", ""), ("", "bob")])
def test_an_override_counts_only_for_its_writer(writer: str, mover: str) -> None:
    tags = {lineage.TAG_OVERRIDE_REASON: "hotfix"}

    decision = decide_alias_change(_set("5"), _facts(tags, writer=writer, mover=mover))

    assert not decision.allowed
    assert "counts only when they make the move" in decision.reason
    assert "\n" not in decision.reason


def test_valid_evidence_takes_precedence_over_a_pending_override() -> None:
    tags = {**_evidence(), lineage.TAG_OVERRIDE_REASON: "hotfix", lineage.TAG_OVERRIDE_BY: "{}"}

    decision = decide_alias_change(_set("2"), _facts(tags, writer="alice", mover="alice"))

    assert decision.kind == "promotion"
    assert decision.plan is not None
    assert decision.plan.audit.kind == "promotion"
    # The override, made moot by the move, does not stay on the champion.
    assert decision.plan.delete_version_tags == (
        ("2", lineage.TAG_OVERRIDE_REASON), ("2", lineage.TAG_OVERRIDE_BY),
    )  # fmt: skip


def test_someone_elses_override_leaves_a_promotion_on_evidence_alone() -> None:
    tags = {**_evidence(), lineage.TAG_OVERRIDE_REASON: "hotfix"}

    decision = decide_alias_change(_set("2"), _facts(tags, writer="bob", mover="carol"))

    assert decision.kind == "promotion"


def test_setting_the_current_champion_again_is_a_no_op() -> None:
    assert decide_alias_change(_set("1"), _facts({})).kind == "unchanged"


def test_deleting_the_champion_is_refused() -> None:
    decision = decide_alias_change(AliasChange("delete", "champion"), _facts({}))

    assert not decision.allowed
    assert "mlflow-retrain rollback" in decision.reason


@pytest.mark.parametrize("action", ["set", "delete"])
def test_previous_champion_belongs_to_the_gate(action: str) -> None:
    change = AliasChange(action, "previous-champion", "3" if action == "set" else None)  # type: ignore[arg-type]

    decision = decide_alias_change(change, _facts({}))

    assert not decision.allowed
    assert "kept by the promotion gate" in decision.reason


@pytest.mark.parametrize("alias", ["challenger", "staging", "shadow-1"])
def test_other_aliases_are_not_gated(alias: str) -> None:
    for change in (AliasChange("set", alias, "3"), AliasChange("delete", alias)):
        assert decide_alias_change(change, _facts({})).kind == "not_gated"


def test_the_gate_module_imports_no_mlflow() -> None:
    import ast
    from pathlib import Path

    source = Path(gate.__file__).read_text()
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert "mlflow" not in imported


def _policy(mode: str) -> str:
    return json.dumps({"mode": mode})


def _shadow_evidence(**extra: str) -> dict:
    return {**_evidence(), lineage.TAG_EVIDENCE_SOURCE: "shadow", **extra}


@pytest.mark.parametrize("mode", ["shadow", "both"])
def test_offline_evidence_does_not_satisfy_a_shadow_policy(mode: str) -> None:
    tags = {**_evidence(), lineage.TAG_EVIDENCE_SOURCE: "compare"}

    decision = decide_alias_change(_set("2"), _facts(tags, policy=_policy(mode)))

    assert not decision.allowed
    assert f"(mode '{mode}') needs shadow evidence" in decision.reason
    assert "mlflow-retrain shadow --challenger 2" in decision.reason


def test_shadow_evidence_satisfies_every_mode_it_fits() -> None:
    for mode in ("offline", "shadow"):
        facts = _facts(_shadow_evidence(), policy=_policy(mode))
        assert decide_alias_change(_set("2"), facts).kind == "promotion"
    both = _shadow_evidence(
        **{lineage.TAG_OFFLINE_DECISION: "promote", lineage.TAG_OFFLINE_BASELINE: "1"}
    )
    assert decide_alias_change(_set("2"), _facts(both, policy=_policy("both"))).allowed


@pytest.mark.parametrize(
    "offline",
    [{}, {lineage.TAG_OFFLINE_DECISION: "inconclusive", lineage.TAG_OFFLINE_BASELINE: "1"},
     {lineage.TAG_OFFLINE_DECISION: "promote", lineage.TAG_OFFLINE_BASELINE: "0"}],
    ids=["none", "not-passed", "other-champion"],
)  # fmt: skip
def test_mode_both_also_needs_a_passing_offline_comparison(offline: dict) -> None:
    facts = _facts(_shadow_evidence(**offline), policy=_policy("both"))

    decision = decide_alias_change(_set("2"), facts)

    assert not decision.allowed
    assert "needs a passing offline comparison of version 2 against champion 1" in decision.reason


def test_a_damaged_policy_asks_for_the_strictest_mode() -> None:
    facts = _facts({**_evidence(), lineage.TAG_EVIDENCE_SOURCE: "compare"}, policy="{not json")

    assert not decide_alias_change(_set("2"), facts).allowed


def test_a_first_deployment_needs_no_shadow_evidence() -> None:
    facts = _facts(_evidence(baseline="none"), aliases={}, policy=_policy("shadow"))

    assert decide_alias_change(_set("2"), facts).kind == "first_deployment"


def test_stale_shadow_evidence_names_the_shadow_command() -> None:
    facts = _facts(_shadow_evidence(**{lineage.TAG_EVIDENCE_BASELINE: "0"}))

    decision = decide_alias_change(_set("2"), facts)

    assert "stale. Run `mlflow-retrain shadow --challenger 2` again" in decision.reason


# --- the plan of a permitted move ----------------------------------------------------------


def test_a_promotion_plans_every_follow_up_of_the_move() -> None:
    facts = _facts(_evidence(), aliases={"champion": "1", "challenger": "2"})

    plan = decide_alias_change(_set("2"), facts).plan

    assert plan == gate.MovePlan(
        set_aliases=(("champion", "2"), ("previous-champion", "1")),
        delete_aliases=("challenger",),
        set_version_tags=(
            ("1", lineage.TAG_STATUS, "retired"),
            ("2", lineage.TAG_STATUS, "promoted"),
        ),
        delete_version_tags=(),
        audit=gate.AuditEntry(
            from_version="1",
            to_version="2",
            kind="promotion",
            reason="Version 2 is significantly better than champion 1.",
            evidence_run="run-1",
        ),
    )


def test_a_version_without_the_challenger_alias_keeps_the_challenger_where_it_is() -> None:
    facts = _facts(_evidence(), aliases={"champion": "1", "challenger": "3"})

    plan = decide_alias_change(_set("2"), facts).plan

    assert plan is not None
    assert plan.delete_aliases == ()


def test_a_first_deployment_plans_no_previous_champion() -> None:
    facts = _facts(_evidence(baseline="none"), aliases={})

    plan = decide_alias_change(_set("2"), facts).plan

    assert plan is not None
    assert plan.set_aliases == (("champion", "2"),)
    assert plan.set_version_tags == (("2", lineage.TAG_STATUS, "promoted"),)
    assert (plan.audit.from_version, plan.audit.kind) == (None, "first_deployment")


def test_a_rollback_plan_marks_the_old_champion_rolled_back_and_audits_the_reason() -> None:
    tags = {lineage.TAG_ROLLBACK_REASON: "latency doubled"}

    plan = decide_alias_change(_set("0"), _facts(tags)).plan

    assert plan is not None
    assert plan.set_aliases == (("champion", "0"), ("previous-champion", "1"))
    assert ("1", lineage.TAG_STATUS, "rolled_back") in plan.set_version_tags
    assert plan.audit.reason == (
        "Rollback to the previous champion, version 0. Reason: latency doubled"
    )


def test_an_override_plan_spends_the_override_and_its_writer_record() -> None:
    tags = {lineage.TAG_OVERRIDE_REASON: "hotfix for incident 42", lineage.TAG_OVERRIDE_BY: "{}"}

    plan = decide_alias_change(_set("5"), _facts(tags, writer="alice", mover="alice")).plan

    assert plan is not None
    assert plan.delete_version_tags == (
        ("5", lineage.TAG_OVERRIDE_REASON), ("5", lineage.TAG_OVERRIDE_BY),
    )  # fmt: skip
    assert plan.audit.reason == "Audited override: hotfix for incident 42"
    assert plan.audit.evidence_run is None


def test_the_audit_record_gets_the_time_and_user_the_store_knows() -> None:
    plan = decide_alias_change(_set("2"), _facts(_evidence())).plan
    assert plan is not None

    record = plan.audit.to_dict(time_ms=NOW, user="ana")

    assert record == {
        "from": "1",
        "to": "2",
        "kind": "promotion",
        "reason": "Version 2 is significantly better than champion 1.",
        "evidence_run": "run-1",
        "time_ms": NOW,
        "user": "ana",
    }


@pytest.mark.parametrize(
    "change",
    [_set("1"), _set("7"), AliasChange("delete", "champion"), AliasChange("set", "staging", "3")],
    ids=["unchanged", "refused", "delete", "not_gated"],
)
def test_only_a_permitted_move_of_champion_has_a_plan(change: AliasChange) -> None:
    assert decide_alias_change(change, _facts({})).plan is None


@pytest.mark.parametrize(
    ("alias", "spells"),
    [
        ("champion", "champion"),
        ("Champion", "champion"),
        ("CHAMPION", "champion"),
        ("chámpion", "champion"),  # composed a-acute
        ("cha\u0301mpion", "champion"),  # a + combining acute
        ("\uff43hampion", "champion"),  # a full-width c
        ("Previous-Champion", "previous-champion"),
        ("challenger", None),
        ("champions", None),
        ("previous_champion", None),
    ],
)
def test_gated_alias_knows_the_spellings_of_the_gated_aliases(
    alias: str, spells: str | None
) -> None:
    assert gate.gated_alias(alias) == spells


@pytest.mark.parametrize("alias", ["Champion", "chámpion", "PREVIOUS-CHAMPION"])
def test_a_look_alike_of_a_gated_alias_is_refused_even_with_evidence(alias: str) -> None:
    for change in (AliasChange("set", alias, "3"), AliasChange("delete", alias)):
        decision = decide_alias_change(change, _facts(_evidence()))

        assert not decision.allowed
        assert f"'{alias}' is a spelling of the gated alias" in decision.reason


# --- Signed evidence (a server holding an evidence key) -------------------------------------

KEYS = Keyring({"k1": "s" * 64})
POLICY = json.dumps({"alpha": 0.05})
ARTIFACTS = "sha256:" + "a" * 64
GATE_SPLIT = "d1g35t"


def _record(**changes: object) -> EvidenceRecord:
    record = EvidenceRecord(
        model_name="fraud",
        version="2",
        model_id="m-2",
        artifact_digest=ARTIFACTS,
        baseline="1",
        decision="promote",
        source="compare",
        tests=({"metric": "roc_auc", "role": "primary", "passed": True},),
        data_digest=GATE_SPLIT,
        policy_digest=policy_digest(POLICY),
        run_id="run-7",
        time_ms=int(NOW - DAY / 2),
    )
    return dataclasses.replace(record, **changes)  # type: ignore[arg-type]


def _signed_facts(
    record: EvidenceRecord | None = None,
    *,
    signature: str | None = "sign",
    loose: dict | None = None,
    policy: str = POLICY,
    model_id: str | None = "m-2",
    artifacts: str | None = ARTIFACTS,
    offline: EvidenceRecord | None = None,
) -> ModelFacts:
    text = (record or _record()).to_json()
    sig = KEYS.sign(text) if signature == "sign" else signature
    off = None
    if offline is not None:
        off = check_evidence(offline.to_json(), KEYS.sign(offline.to_json()), KEYS)
    return ModelFacts(
        aliases={"champion": "1"},
        version_tags={lineage.TAG_GATE_DIGEST: GATE_SPLIT, **(loose or {})},
        policy=policy,
        now_ms=NOW,
        evidence=SignedEvidence(
            model_name="fraud",
            check=check_evidence(text, sig, KEYS),
            offline=off,
            model_id=model_id,
            artifact_digest=artifacts,
        ),
    )


def test_verified_signed_evidence_promotes_and_audits_its_run() -> None:
    decision = decide_alias_change(_set("2"), _signed_facts())

    assert decision.allowed
    assert decision.kind == "promotion"
    assert decision.plan is not None
    assert decision.plan.audit.evidence_run == "run-7"


def test_the_decision_comes_from_the_record_not_the_loose_tags() -> None:
    loose = _evidence(baseline="1")

    decision = decide_alias_change(_set("2"), _signed_facts(_record(decision="reject"),
                                                            loose=loose))  # fmt: skip

    assert not decision.allowed
    assert "says 'reject'" in decision.reason


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        (
            lambda: _signed_facts(signature=None, loose=_evidence()),
            r"cannot be trusted: its evidence is unsigned .*MLFLOW_RETRAIN_EVIDENCE_KEY",
        ),
        (
            lambda: _signed_facts(signature=Keyring({"k1": "f" * 64}).sign(_record().to_json())),
            r"cannot be trusted: its signature does not match .*forged or tampered",
        ),
        (
            lambda: _signed_facts(signature=KEYS.sign(_record(baseline="0").to_json())),
            r"forged or tampered",
        ),
        (
            lambda: ModelFacts(
                aliases={"champion": "1"},
                version_tags=_evidence(),
                policy=POLICY,
                now_ms=NOW,
                evidence=SignedEvidence(
                    "fraud", check_evidence(None, None, KEYS), None, "m-2", ARTIFACTS
                ),
            ),
            r"cannot be trusted: it has no signed evidence record",
        ),
        (
            lambda: _signed_facts(_record(version="3")),
            r"cannot be trusted: its signed record is for version 3 of 'fraud'",
        ),
        (
            lambda: _signed_facts(_record(model_name="other")),
            r"its signed record is for version 2 of 'other'",
        ),
        (
            lambda: _signed_facts(_record(data_digest="0th3r")),
            r"cannot be trusted: it was computed on data \(digest 0th3r\) that is neither",
        ),
        (
            lambda: _signed_facts(policy=json.dumps({"alpha": 0.1})),
            r"is stale: it was judged under another policy",
        ),
        (
            lambda: _signed_facts(artifacts="sha256:" + "b" * 64),
            r"is stale: it was computed for other artifacts",
        ),
        (
            lambda: _signed_facts(model_id="m-9"),
            r"is stale: it was computed for logged model m-2, and the version holds logged "
            r"model m-9",
        ),
        (
            lambda: _signed_facts(artifacts=None),
            r"could not read the version's artifacts",
        ),
        (
            lambda: _signed_facts(_record(baseline="0")),
            r"computed against version 0, but the champion is now 1: it is stale",
        ),
        (
            lambda: _signed_facts(_record(time_ms=NOW - 40 * DAY)),
            r"40.0 days old",
        ),
    ],
    ids=[
        "unsigned",
        "wrong_key",
        "tampered",
        "no_record",
        "other_version",
        "other_model",
        "other_data",
        "other_policy",
        "changed_artifacts",
        "other_model_id",
        "unreadable_artifacts",
        "other_champion",
        "too_old",
    ],
)
def test_signed_evidence_is_refused_unless_every_binding_holds(facts, message: str) -> None:
    import re

    decision = decide_alias_change(_set("2"), facts())

    assert not decision.allowed
    assert re.search(message, decision.reason), decision.reason
    assert "\n" not in decision.reason


def test_a_holdout_the_policy_names_is_accepted_as_the_data() -> None:
    policy = json.dumps({"alpha": 0.05, "holdout_digest": "h0ld0ut"})
    record = _record(data_digest="h0ld0ut", policy_digest=policy_digest(policy))

    decision = decide_alias_change(_set("2"), _signed_facts(record, policy=policy))

    assert decision.allowed


def test_mode_both_needs_a_verified_offline_record() -> None:
    policy = json.dumps({"mode": "both"})
    shadow = _record(source="shadow", data_digest=None, policy_digest=policy_digest(policy))
    offline = _record(policy_digest=policy_digest(policy))
    loose = {lineage.TAG_OFFLINE_DECISION: "promote", lineage.TAG_OFFLINE_BASELINE: "1"}

    without = decide_alias_change(_set("2"), _signed_facts(shadow, policy=policy, loose=loose))
    with_offline = decide_alias_change(
        _set("2"), _signed_facts(shadow, policy=policy, offline=offline)
    )

    assert not without.allowed
    assert "needs a passing offline comparison" in without.reason
    assert with_offline.allowed


def test_keyless_facts_still_trust_the_tags_as_written() -> None:
    decision = decide_alias_change(_set("2"), _facts(_evidence()))

    assert decision.allowed

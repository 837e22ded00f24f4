"""The `compare` step against a real tracking store, with registered versions of known quality.

A clearly better challenger is promoted, an equally good one is inconclusive, a worse one is
rejected; the evidence lands on the version (tags, description) and in a comparison run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.churn import CLASSIFIER_TAGS, MODEL, churn_data, churn_model, register_churn
from helpers.cli import invoke
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.report.markdown import CELL_GAP


def _tags(gate_uri: str) -> dict[str, str]:
    """A candidate's tags: it is a classifier, judged on the batch at ``gate_uri``."""
    return {
        **CLASSIFIER_TAGS,
        lineage.TAG_GATE_URI: gate_uri,
        lineage.TAG_STATUS: lineage.STATUS_CANDIDATE,
    }


@pytest.fixture
def registry(tracking_uri: str, tmp_path: Path) -> dict[str, str]:
    """Champion uses x1; challengers: x1+x2 (better), x1+noise (equal), noise (worse)."""
    client = MlflowClient(tracking_uri)
    train, gate = churn_data(1), churn_data(2)
    gate_path = tmp_path / "gate.csv"
    gate.to_csv(gate_path, index=False)
    gate_uri = str(gate_path)
    champion = register_churn(client, churn_model(["x1"], train), tags=_tags(gate_uri))
    client.set_registered_model_alias(MODEL, lineage.ALIAS_CHAMPION, champion)
    versions = {"champion": champion}
    refit = churn_data(3)
    for name, columns, data in [
        ("better", ["x1", "x2"], train),
        ("equal", ["x1", "noise"], refit),
        ("worse", ["noise"], train),
    ]:
        versions[name] = register_churn(client, churn_model(columns, data), tags=_tags(gate_uri))
    return versions


@pytest.mark.parametrize(
    ("which", "decision"),
    [("better", "promote"), ("equal", "inconclusive"), ("worse", "reject")],
)
def test_decision_follows_the_evidence(
    tracking_uri: str, registry: dict[str, str], tmp_path: Path, which: str, decision: str
) -> None:
    out = tmp_path / "compare.json"

    code, _, stderr = invoke(
        "compare", "--model", MODEL, "--challenger", registry[which], "--json-out", str(out)
    )

    assert code == 0, stderr
    data = json.loads(out.read_text())
    assert data["decision"] == decision, data
    assert data["champion_version"] == registry["champion"]
    assert data["challenger_version"] == registry[which]
    (auc,) = data["metrics"]
    assert auc["name"] == "roc_auc"
    assert auc["test"].startswith("delong")
    assert auc["ci_low"] <= auc["difference"] <= auc["ci_high"]
    client = MlflowClient(tracking_uri)
    version = client.get_model_version(MODEL, registry[which])
    assert version.tags[lineage.TAG_DECISION] == decision
    assert version.tags[lineage.TAG_EVIDENCE_BASELINE] == registry["champion"]
    assert version.tags[lineage.TAG_EVIDENCE_RUN] == data["run_id"]
    summary = json.loads(version.tags[lineage.TAG_EVIDENCE_SUMMARY])
    assert summary[0]["metric"] == "roc_auc"
    assert f"| roc_auc{CELL_GAP} | primary{CELL_GAP} |" in version.description
    expected_status = lineage.STATUS_REJECTED if decision == "reject" else lineage.STATUS_CANDIDATE
    assert version.tags[lineage.TAG_STATUS] == expected_status
    run = client.get_run(data["run_id"])
    assert run.data.tags[lineage.TAG_DECISION] == decision
    assert "challenger.roc_auc" in run.data.metrics
    assert "champion.roc_auc" in run.data.metrics
    files = {a.path for a in client.list_artifacts(run.info.run_id, "comparison")}
    assert {
        "comparison/evidence.json", "comparison/evidence.md",
        "comparison/differences.png", "comparison/roc.png",
    } <= files  # fmt: skip
    # The compare step never moves aliases; that is the registry gate's job.
    champion = client.get_model_version_by_alias(MODEL, lineage.ALIAS_CHAMPION)
    assert str(champion.version) == registry["champion"]


def test_a_stored_policy_is_used(tracking_uri: str, registry: dict[str, str],
                                 tmp_path: Path) -> None:  # fmt: skip
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "task: classification\nprimary:\n  - metric: accuracy\n"
        "guardrails:\n  - {metric: log_loss, margin: 0.05}\n"
    )
    code, _, stderr = invoke("policy", "set", "--model", MODEL, "--file", str(policy))
    assert code == 0, stderr
    _, shown, _ = invoke("policy", "show", "--model", MODEL)
    assert json.loads(shown)["primary"][0]["metric"] == "accuracy"
    out = tmp_path / "compare.json"

    code, _, stderr = invoke(
        "compare", "--model", MODEL, "--challenger", registry["better"], "--json-out", str(out)
    )

    assert code == 0, stderr
    data = json.loads(out.read_text())
    assert [m["name"] for m in data["metrics"]] == ["accuracy", "log_loss"]
    assert data["metrics"][0]["test"].startswith("mcnemar")
    assert data["metrics"][1]["passed"] is True


def test_first_deployment_is_judged_against_the_floor(tracking_uri: str, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri)
    gate_path = tmp_path / "gate.csv"
    churn_data(2).to_csv(gate_path, index=False)
    version = register_churn(
        client, churn_model(["noise"], churn_data(1)), tags=_tags(str(gate_path))
    )
    client.set_registered_model_tag(
        MODEL, lineage.TAG_POLICY,
        json.dumps({"task": "classification", "floor": {"roc_auc": 0.7}}),
    )  # fmt: skip

    code, stdout, stderr = invoke("compare", "--model", MODEL, "--challenger", version)

    assert code == 0, stderr
    assert stdout.startswith(f"REJECT: version {version} of {MODEL} against no champion")
    assert "misses the policy floor 0.7" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--model", "nope"],
            r"Registered model 'nope' does not exist\. Check the name",
        ),
        (["--model", MODEL, "--challenger", "99"], r"has no version 99"),
    ],
)
def test_unknown_model_or_version_is_a_clear_error(
    tracking_uri: str, registry: dict[str, str], args: list[str], message: str
) -> None:
    import re

    code, _, stderr = invoke("compare", *args)

    assert code == 1
    assert re.search(message, stderr), stderr

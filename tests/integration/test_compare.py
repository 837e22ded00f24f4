"""The `compare` step against a real tracking store, with registered versions of known quality.

A clearly better challenger is promoted, an equally good one is inconclusive, a worse one is
rejected; the evidence lands on the version (tags, description) and in a comparison run.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from mlflow_retrain import lineage
from mlflow_retrain.cli import main
from mlflow_retrain.report.markdown import CELL_GAP

pytestmark = pytest.mark.integration

MODEL = "churn"
N = 4000


def _data(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2, noise = rng.normal(size=(3, N))
    logit = 1.2 * x1 + 1.2 * x2
    y = (rng.random(N) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "noise": noise, "label": y})


def _model(columns: list[str], train: pd.DataFrame) -> Pipeline:
    pipeline = Pipeline(
        [
            ("pick", ColumnTransformer([("keep", "passthrough", columns)])),
            ("model", LogisticRegression()),
        ]
    )
    return pipeline.fit(train[["x1", "x2", "noise"]], train["label"])


def _register(client: MlflowClient, model: Pipeline, gate_uri: str) -> str:
    with mlflow.start_run():
        # Naming the requirements skips MLflow's slow inference of them (a subprocess).
        info = mlflow.sklearn.log_model(
            model, name="model", serialization_format="cloudpickle",
            pip_requirements=["scikit-learn"],
        )  # fmt: skip
        run_id = mlflow.active_run().info.run_id
    with contextlib.suppress(mlflow.exceptions.MlflowException):
        client.create_registered_model(MODEL)
    version = client.create_model_version(MODEL, info.model_uri, run_id=run_id)
    for key, value in {
        lineage.TAG_GATE_URI: gate_uri,
        lineage.TAG_TARGET: "label",
        lineage.TAG_TASK: "classification",
        lineage.TAG_STATUS: lineage.STATUS_CANDIDATE,
    }.items():
        client.set_model_version_tag(MODEL, version.version, key, value)
    return str(version.version)


@pytest.fixture
def registry(tracking_uri: str, tmp_path: Path) -> dict[str, str]:
    """Champion uses x1; challengers: x1+x2 (better), x1+noise (equal), noise (worse)."""
    client = MlflowClient(tracking_uri)
    train, gate = _data(1), _data(2)
    gate_path = tmp_path / "gate.csv"
    gate.to_csv(gate_path, index=False)
    gate_uri = str(gate_path)
    champion = _register(client, _model(["x1"], train), gate_uri)
    client.set_registered_model_alias(MODEL, lineage.ALIAS_CHAMPION, champion)
    versions = {"champion": champion}
    refit = _data(3)
    for name, columns, data in [
        ("better", ["x1", "x2"], train),
        ("equal", ["x1", "noise"], refit),
        ("worse", ["noise"], train),
    ]:
        versions[name] = _register(client, _model(columns, data), gate_uri)
    return versions


@pytest.mark.parametrize(
    ("which", "decision"),
    [("better", "promote"), ("equal", "inconclusive"), ("worse", "reject")],
)
def test_decision_follows_the_evidence(
    tracking_uri: str, registry: dict[str, str], tmp_path: Path, which: str, decision: str
) -> None:
    out = tmp_path / "compare.json"

    result = CliRunner().invoke(
        main,
        ["compare", "--model", MODEL, "--challenger", registry[which], "--json-out", str(out)],
        catch_exceptions=False,
    )

    assert result.exit_code == 0, result.stderr
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
    runner = CliRunner()
    stored = runner.invoke(main, ["policy", "set", "--model", MODEL, "--file", str(policy)])
    assert stored.exit_code == 0, stored.stderr
    shown = runner.invoke(main, ["policy", "show", "--model", MODEL])
    assert json.loads(shown.stdout)["primary"][0]["metric"] == "accuracy"
    out = tmp_path / "compare.json"

    result = runner.invoke(
        main,
        ["compare", "--model", MODEL, "--challenger", registry["better"], "--json-out", str(out)],
    )

    assert result.exit_code == 0, result.stderr
    data = json.loads(out.read_text())
    assert [m["name"] for m in data["metrics"]] == ["accuracy", "log_loss"]
    assert data["metrics"][0]["test"].startswith("mcnemar")
    assert data["metrics"][1]["passed"] is True


def test_first_deployment_is_judged_against_the_floor(tracking_uri: str, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri)
    gate_path = tmp_path / "gate.csv"
    _data(2).to_csv(gate_path, index=False)
    version = _register(client, _model(["noise"], _data(1)), str(gate_path))
    client.set_registered_model_tag(
        MODEL, lineage.TAG_POLICY,
        json.dumps({"task": "classification", "floor": {"roc_auc": 0.7}}),
    )  # fmt: skip

    result = CliRunner().invoke(main, ["compare", "--model", MODEL, "--challenger", version])

    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"REJECT: version {version} of {MODEL} against no champion")
    assert "misses the policy floor 0.7" in result.stdout


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

    result = CliRunner().invoke(main, ["compare", *args])

    assert result.exit_code == 1
    assert re.search(message, result.stderr), result.stderr

"""The example projects through `mlflow run`, as a user runs them, checked through MLflow.

The credit-default scenario (the README's main job) must replace its champion after the
concept shift with one that serves the later months better; the house-prices control
scenario, the season without the drift, must retrain nothing. Every promotion must have
passed the registry gate with evidence.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from helpers.registry import audit_records
from mlflow.tracking import MlflowClient
from sklearn.metrics import roc_auc_score

from mlflow_retrain import lineage

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def _mlflow_run(tracking_uri: str, project: Path, *args: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        [sys.executable, "-m", "mlflow", "run", str(project), "--env-manager", "local", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _assert_every_promotion_passed_the_gate(client: MlflowClient, name: str) -> list[dict]:
    audit = audit_records(client, name)
    assert audit[0]["kind"] == "first_deployment"
    for record in audit:
        assert record["kind"] in ("first_deployment", "promotion"), record
        tags = client.get_model_version(name, record["to"]).tags
        assert tags[lineage.TAG_DECISION] == "promote"
        assert tags[lineage.TAG_EVIDENCE_BASELINE] == (record["from"] or "none")
    return audit


def test_main_job_replaces_the_champion_after_the_concept_shift(tmp_path: Path) -> None:
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    data_dir = tmp_path / "example"

    stdout = _mlflow_run(tracking_uri, REPO, "-P", f"data_dir={data_dir}", cwd=tmp_path)

    assert "month_12.csv" in stdout
    assert f"mlflow ui --backend-store-uri {tracking_uri}" in stdout
    timeline = json.loads((data_dir / "timeline.json").read_text())["timeline"]
    assert [row["batch"] for row in timeline] == [f"month_{m:02d}.csv" for m in range(1, 13)]
    before_shift = timeline[6]["champion"]  # after month 7
    after = {row["champion"] for row in timeline[7:]}
    assert after - {before_shift}, timeline  # a new champion after the concept shift (month 8)
    client = MlflowClient(tracking_uri)
    audit = _assert_every_promotion_passed_the_gate(client, "credit-default")
    final = audit[-1]["to"]
    later = pd.concat([pd.read_csv(data_dir / f"month_{m:02d}.csv") for m in (11, 12)])
    mlflow.set_tracking_uri(tracking_uri)
    try:
        auc = {
            v: roc_auc_score(
                later["default"],
                mlflow.sklearn.load_model(f"models:/credit-default/{v}").predict_proba(
                    later.drop(columns=["default"])
                )[:, 1],
            )
            for v in (before_shift, final)
        }
    finally:
        mlflow.set_tracking_uri(None)
    assert auc[final] > auc[before_shift] + 0.02, auc
    replay = client.get_run(
        client.search_runs(["0"], filter_string="tags.`mlflow_retrain.step` = 'replay'")[
            0
        ].info.run_id
    )
    assert replay.data.tags["mlflow.source.type"] == "PROJECT"
    cycles = client.search_runs(["0"], filter_string="tags.`mlflow_retrain.step` = 'run'")
    assert len(cycles) == 12
    assert {c.data.tags["mlflow.parentRunId"] for c in cycles} == {replay.info.run_id}


def test_the_season_alone_retrains_nothing(tmp_path: Path) -> None:
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    data_dir = tmp_path / "houses"

    project = REPO / "projects" / "house_prices"
    stdout = _mlflow_run(
        tracking_uri, project, "-P", f"data_dir={data_dir}", "-P", "trend=false", cwd=tmp_path
    )

    assert "month_24.csv" in stdout
    timeline = json.loads((data_dir / "timeline.json").read_text())["timeline"]
    assert [row["batch"] for row in timeline] == [f"month_{m:02d}.csv" for m in range(13, 25)]
    assert [row["retrained"] for row in timeline] == ["1"] + [None] * 11, timeline
    client = MlflowClient(tracking_uri)
    audit = _assert_every_promotion_passed_the_gate(client, "house-prices")
    assert [a["kind"] for a in audit] == ["first_deployment"]


def test_a_teams_own_lightgbm_pipeline_goes_through_the_loop(tmp_path: Path) -> None:
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    data_dir = tmp_path / "churn"

    project = REPO / "projects" / "churn_lightgbm"
    stdout = _mlflow_run(tracking_uri, project, "-P", f"data_dir={data_dir}", cwd=tmp_path)

    assert "month_08.csv" in stdout
    timeline = json.loads((data_dir / "timeline.json").read_text())["timeline"]
    assert [row["batch"] for row in timeline] == [f"month_{m:02d}.csv" for m in range(1, 9)]
    assert {row["champion"] for row in timeline[:4]} == {"1"}
    # The price rise (month 5) is drift; the retrained pipeline replaces the champion.
    assert timeline[4]["drift"] == "drift", timeline[4]
    assert timeline[4]["retrained"]
    assert timeline[4]["champion"] == timeline[4]["retrained"]
    client = MlflowClient(tracking_uri)
    audit = _assert_every_promotion_passed_the_gate(client, "churn-lightgbm")
    assert len(audit) >= 2
    after = audit[-1]["to"]
    version = client.get_model_version("churn-lightgbm", after)
    trials = client.search_runs(
        [client.get_run(version.run_id).info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{version.run_id}'",
    )
    assert len(trials) == 8  # tuning.n_trials: each trial a child run of the retrain step
    later = pd.concat([pd.read_csv(data_dir / f"month_{m:02d}.csv") for m in (6, 7, 8)])
    mlflow.set_tracking_uri(tracking_uri)
    try:
        models = {
            v: mlflow.sklearn.load_model(f"models:/churn-lightgbm/{v}") for v in ("1", after)
        }
        folder = Path(mlflow.artifacts.download_artifacts(f"models:/churn-lightgbm/{after}"))
    finally:
        mlflow.set_tracking_uri(None)
    # The team's pipeline, as its factory built it, with the team's code shipped beside it.
    steps = [type(step).__name__ for _, step in models[after].steps]
    assert steps == ["ChurnFeatures", "LGBMClassifier"]
    assert (folder / "code" / "churn_model" / "features.py").is_file()
    requirements = (folder / "requirements.txt").read_text().split()
    assert any(r.startswith("lightgbm==") for r in requirements), requirements
    # The model takes the feature columns: not the label, the time axis or the identifier.
    features = later.drop(columns=["churned", "snapshot_date", "customer_id"])
    auc = {
        v: roc_auc_score(later["churned"], model.predict_proba(features)[:, 1])
        for v, model in models.items()
    }
    assert auc[after] > auc["1"] + 0.02, auc  # it learnt what the price rise changed

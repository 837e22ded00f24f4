"""`mlflow run` on this repository's MLproject, as a user runs it, checked through MLflow."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def _mlflow_run(tracking_uri: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    # --env-manager local runs the entry point with the `python` on PATH: use this venv's.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [sys.executable, "-m", "mlflow", "run", str(REPO), "--env-manager", "local", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_drift_entry_point_finds_the_known_downturn(tmp_path: Path) -> None:
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    data_dir = tmp_path / "example"
    generated = subprocess.run(
        [sys.executable, str(REPO / "projects" / "credit_default" / "generate.py"),
         "--out", str(data_dir)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    out = data_dir / "drift-result.json"

    result = _mlflow_run(
        tracking_uri, "-e", "drift",
        "-P", f"reference={data_dir / 'reference.csv'}",
        "-P", f"current={data_dir / 'current.csv'}",
        "-P", f"config={REPO / 'projects' / 'credit_default' / 'retrain.yaml'}",
        "-P", f"json_out={out}", cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-3000:]
    assert "DRIFT DETECTED" in result.stdout
    assert f"mlflow ui --backend-store-uri {tracking_uri}" in result.stdout
    report = json.loads(out.read_text())
    # The generator's known truth: a downturn moves income, utilisation, late payments and
    # the employment mix from month 5; age, credit lines, region and debt ratio stay put.
    # The application date is the time axis (retrain.yaml's timestamp), never a drift column.
    assert set(report["drifted_columns"]) == {
        "income", "utilization", "late_payments", "employment",
    }  # fmt: skip
    employment = next(f for f in report["features"] if f["name"] == "employment")
    assert employment["unseen_categories"] == ["gig"]
    client = MlflowClient(tracking_uri)
    run = client.get_run(report["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.source.type"] == "PROJECT"
    assert run.data.tags[lineage.TAG_DRIFT_DETECTED] == "true"
    assert {i.dataset.name for i in run.inputs.dataset_inputs} == {"reference.csv", "current.csv"}


def _documented_drift_example() -> str:
    """The drift page's example: the one ``mlflow run . -e drift`` line of a bash block."""
    page = (REPO / "docs" / "commands" / "drift.md").read_text(encoding="utf-8")
    (line,) = [li for li in re.findall(r"```bash\n(.+?)\n```", page, flags=re.DOTALL)
               if li.startswith("mlflow run . -e drift")]  # fmt: skip
    return line


def test_the_documented_drift_example_finds_the_downturn_as_written(tmp_path: Path) -> None:
    # The project folder holds this repository's MLproject; the data is where the quick
    # start's main job writes it, relative to that folder.
    for name in ("MLproject", "python_env.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    data_dir = tmp_path / ".mlflow-retrain" / "example"
    subprocess.run([sys.executable, str(REPO / "projects" / "credit_default" / "generate.py"),
                    "--out", str(data_dir)], capture_output=True, check=True)  # fmt: skip
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"

    result = subprocess.run(_documented_drift_example(), shell=True, cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600, check=False)  # fmt: skip

    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(tracking_uri)
    (run,) = client.search_runs(["0"])
    assert set(run.data.tags[lineage.TAG_DRIFTED_COLUMNS].split(",")) == {
        "income", "utilization", "late_payments", "employment",
    }  # fmt: skip
    features = {k.split(".")[1] for k in run.data.metrics if k.endswith(".effect_size")}
    # The label is tested apart (label shift); the date is never a drift column.
    assert "application_date" not in features
    assert run.data.metrics["drift.n_features"] == 8
    assert run.data.metrics["drift.default.drifted"] == 1.0
    assert "Target 'default': shifted." in result.stdout


def test_drift_entry_point_with_a_bad_batch_fails_the_run(tmp_path: Path) -> None:
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    reference = tmp_path / "reference.csv"
    pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": ["x", "y", "x", "y"]}).to_csv(
        reference, index=False
    )
    current = tmp_path / "current.csv"
    pd.DataFrame({"a": [1.0, float("inf"), 3.0], "b": ["x", "y", "x"]}).to_csv(
        current, index=False
    )

    result = _mlflow_run(
        tracking_uri, "-e", "drift", "-P", f"reference={reference}",
        "-P", f"current={current}", cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode != 0
    assert "mlflow-retrain: error: Column 'a' has 1 infinite values" in result.stderr
    client = MlflowClient(tracking_uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "FAILED"
    assert run.data.tags[lineage.TAG_CIRCUIT_BREAKER] == "open"
    assert "infinite" in run.data.tags[lineage.TAG_FAILURE_REASON]
    assert client.list_artifacts(run.info.run_id) == []

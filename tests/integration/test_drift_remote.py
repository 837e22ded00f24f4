"""The drift step against a real tracking server, with batches read from S3 (moto)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.cli import main

pytestmark = pytest.mark.integration


def _frame(seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 2000
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1, n),
            "y": rng.normal(0, 1, n),
            "c": rng.choice(["a", "b", "c"], n),
        }
    )


def test_drift_reads_s3_and_logs_to_a_tracking_server(
    mlflow_server: str, s3_env: str, s3_client: Any, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    s3_client.put_object(Bucket=s3_env, Key="ref/reference.parquet",
                         Body=_frame(1).to_parquet())  # fmt: skip
    s3_client.put_object(Bucket=s3_env, Key="batches/2026-11.csv",
                         Body=_frame(2, shift=0.5).to_csv(index=False).encode())  # fmt: skip
    out = tmp_path / "result.json"

    result = CliRunner().invoke(
        main,
        [
            "drift", "--reference", f"s3://{s3_env}/ref/reference.parquet",
            "--current", f"s3://{s3_env}/batches/2026-11.csv",
            "--experiment-name", "remote-drift", "--json-out", str(out),
        ],
        catch_exceptions=False,
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["drifted_columns"] == ["x"]
    client = MlflowClient(mlflow_server)
    run = client.get_run(report["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.tags[lineage.TAG_DRIFTED_COLUMNS] == "x"
    sources = {
        i.dataset.name: (i.dataset.source_type, json.loads(i.dataset.source))
        for i in run.inputs.dataset_inputs
    }
    assert sources["reference.parquet"] == ("s3", {"uri": f"s3://{s3_env}/ref/reference.parquet"})
    assert sources["2026-11.csv"][0] == "s3"
    html = client.download_artifacts(run.info.run_id, "drift/report.html", str(tmp_path))
    assert "<html" in Path(html).read_text().lower()


def test_missing_s3_key_fails_the_run_on_the_server(
    mlflow_server: str, s3_env: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    s3_client.put_object(Bucket=s3_env, Key="ref.csv", Body=_frame(1).to_csv(index=False))

    result = CliRunner().invoke(
        main,
        ["drift", "--reference", f"s3://{s3_env}/ref.csv",
         "--current", f"s3://{s3_env}/nope.csv", "--experiment-name", "remote-missing"],
    )  # fmt: skip

    assert result.exit_code == 1
    assert f"s3://{s3_env}/nope.csv" in result.stderr
    assert "testing" not in result.stderr  # the access key never shows
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("remote-missing")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"
    assert "nope.csv" in run.data.tags[lineage.TAG_FAILURE_REASON]

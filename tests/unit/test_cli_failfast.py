"""The CLI fails fast and says why: an unreachable tracking server, a bad policy file, and the
reason recorded on the ``mlflow run`` project run when the failure comes before any step."""

from __future__ import annotations

import re
import time
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from helpers.servers import free_port
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.cli import main


def test_an_unreachable_tracking_server_fails_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://bot:hunter2@127.0.0.1:{port}")
    for proxy in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    started = time.monotonic()

    result = CliRunner().invoke(main, ["promote", "--model", "m"])

    assert time.monotonic() - started < 10
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"mlflow-retrain: error: Cannot reach the MLflow tracking server at "
        f"http://***@127.0.0.1:{port} (nothing listens on port {port}). Start the server or "
        "fix MLFLOW_TRACKING_URI (and check the network or VPN)."
    ]


def test_profile_needs_no_tracking_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    data = tmp_path / "reference.csv"
    data.write_text("a,b\n1,x\n2,y\n3,x\n")

    result = CliRunner().invoke(main, ["profile", "--data", str(data), "--out",
                                       str(tmp_path / "p.json")])  # fmt: skip

    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"primary": [', r"is not valid YAML or JSON at line 1\. Fix the syntax"),
        ('{"alpha": 7}', r"p.json': Policy alpha must be in .* policy set` again"),
        ("primry: []", r"Unknown policy key 'primry'\. Did you mean 'primary'\?"),
    ],
)
def test_a_bad_policy_file_is_one_line_with_the_fix(
    tracking_uri: str, tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "p.json"
    path.write_text(content)

    result = CliRunner().invoke(main, ["policy", "set", "--model", "m", "--file", str(path)])

    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("mlflow-retrain: error: ")
    assert re.search(message, line), line


def test_a_failure_before_any_step_is_recorded_on_the_project_run(
    tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As under `mlflow run`: the run exists before the entry point starts.
    run = MlflowClient().create_run(mlflow.get_experiment_by_name("test").experiment_id)
    monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)
    config = tmp_path / "retrain.yaml"
    config.write_text("tuning:\n  n_trials: -1\n")

    result = CliRunner().invoke(
        main, ["retrain", "--train", "x.csv", "--model", "m", "--config", str(config)]
    )

    assert result.exit_code == 2
    reason = MlflowClient().get_run(run.info.run_id).data.tags[lineage.TAG_FAILURE_REASON]
    assert "'tuning.n_trials' must be in [1, inf], got -1" in reason

"""The `retrain` step in processes of its own and with a PostgreSQL study.

A study whose process is killed resumes without losing trials; two workers share a PostgreSQL
study. The in-process tests of the step are in ``tests/unit/pipeline/test_retrain.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from helpers.pipeline import child_runs, retrain_config, write_credit_csv
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.pipeline.retrain import run_retrain

pytestmark = pytest.mark.integration

MODEL = "credit"


@pytest.fixture
def train_csv(tmp_path: Path) -> Path:
    """``credit_frame()`` as ``train.csv``."""
    return write_credit_csv(tmp_path)


def _study_counts(storage: str, name: str) -> dict[str, int]:
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return {}
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


def _retrain_process(train_csv: Path, tracking_uri: str, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    return subprocess.Popen(
        [sys.executable, "-m", "mlflow_retrain.cli", "retrain", "--train", str(train_csv),
         "--model", MODEL, "--target", "default", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def test_a_killed_study_resumes_without_losing_trials(
    tracking_uri: str, train_csv: Path, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    config = tmp_path / "retrain.yaml"
    config.write_text("tuning:\n  heartbeat_interval: 1\n  pruner: none\n")
    args = ("--storage", storage, "--study-name", "resume-me", "--n-trials", "8",
            "--config", str(config))  # fmt: skip
    first = _retrain_process(train_csv, tracking_uri, *args)
    deadline = time.monotonic() + 240
    while _study_counts(storage, "resume-me").get("COMPLETE", 0) < 2:
        assert first.poll() is None, first.stderr.read().decode()[-2000:] if first.stderr else ""
        assert time.monotonic() < deadline, "the first run never completed two trials"
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed = _study_counts(storage, "resume-me")
    assert MlflowClient(tracking_uri).search_registered_models() == []

    second = _retrain_process(train_csv, tracking_uri, *args)
    _, err = second.communicate(timeout=600)

    assert second.returncode == 0, err.decode()[-3000:]
    final = _study_counts(storage, "resume-me")
    assert final["COMPLETE"] + final.get("PRUNED", 0) == 8
    assert final["COMPLETE"] >= killed.get("COMPLETE", 0)
    # A trial caught mid-flight by the kill is failed as stale and retried, never left RUNNING.
    assert "RUNNING" not in final
    versions = MlflowClient(tracking_uri).search_model_versions(f"name = '{MODEL}'")
    assert len(versions) == 1


def test_two_workers_share_a_postgresql_study(
    tracking_uri: str, train_csv: Path, postgres_url: str
) -> None:
    # The second worker is a new process that imports for seconds (more on a busy machine)
    # while this one starts tuning: enough trials that it arrives before they run out.
    config = retrain_config(n_trials=16, workers=2, storage=postgres_url, pruner="none")

    result = run_retrain(str(train_csv), model_name=MODEL, config=config, timestamp="day")

    # Optuna checks the budget after each trial, so a worker may finish one in-flight trial
    # past it: at most workers - 1 extra.
    finished = result.study.n_complete + result.study.n_pruned
    assert 16 <= finished <= 17
    client = MlflowClient(tracking_uri)
    trials = child_runs(client, result.run_id)
    assert len(trials) == result.study.n_trials
    workers = {t.data.tags[lineage.TAG_TRIAL_WORKER] for t in trials}
    assert len(workers) == 2
    password_free = json.dumps([t.data.tags for t in trials]) + json.dumps(
        client.get_run(result.run_id).data.params
    )
    assert postgres_url not in password_free

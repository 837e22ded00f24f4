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
import pandas as pd
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


#: A team's factory module, written into the project folder (the working directory).
TEAM_FACTORY = """
from sklearn.ensemble import ExtraTreesClassifier
from sklearn.pipeline import make_pipeline

from mlflow_retrain.tuning.models import preprocessor


def build(trial, *, task, columns):
    pre = preprocessor("onehot", numeric=columns.numeric, categorical=columns.categorical)
    trees = trial.suggest_int("n_estimators", 150, 300)
    return make_pipeline(pre, ExtraTreesClassifier(n_estimators=trees, n_jobs=1))
"""


def test_two_workers_share_a_postgresql_study_of_a_teams_factory(
    tracking_uri: str, train_csv: Path, postgres_url: str, tmp_path: Path
) -> None:
    (tmp_path / "team_factory.py").write_text(TEAM_FACTORY)  # tracking_uri: cwd is tmp_path
    config = retrain_config(n_trials=16, workers=2, storage=postgres_url, pruner="median",
                            model="team_factory:build")  # fmt: skip

    result = run_retrain(str(train_csv), model_name=MODEL, config=config, timestamp="day")

    assert result.study is not None
    assert 16 <= result.study.n_complete + result.study.n_pruned <= 17
    trials = child_runs(MlflowClient(tracking_uri), result.run_id)
    assert {t.data.tags[lineage.TAG_ESTIMATOR] for t in trials} == {"ExtraTreesClassifier"}
    assert len({t.data.tags[lineage.TAG_TRIAL_WORKER] for t in trials}) == 2
    assert set(result.best_params) == {"n_estimators"}


def test_two_workers_run_entry_point_trials_in_parallel(
    tracking_uri: str, train_csv: Path, tmp_path: Path
) -> None:
    project = Path(__file__).resolve().parents[1] / "helpers" / "entry_project"
    config = retrain_config(n_trials=4, workers=2, pruner="none").with_overrides(
        {"tuning.entry_point": "train", "tuning.project_uri": str(project),
         "tuning.space": {"train": {"C": {"low": 0.05, "high": 1.0, "log": True}}}}
    )  # fmt: skip

    result = run_retrain(str(train_csv), model_name=MODEL, config=config, timestamp="day")

    assert result.study is not None
    assert result.study.n_complete >= 4
    trials = child_runs(MlflowClient(tracking_uri), result.run_id)
    assert len(trials) == result.study.n_trials
    assert len({t.data.tags[lineage.TAG_TRIAL_WORKER] for t in trials}) == 2
    assert {t.info.status for t in trials} == {"FINISHED"}
    # Each trial's own run holds what the entry point logged: the columns it was given.
    client = MlflowClient(tracking_uri)
    seen = json.loads(
        Path(
            client.download_artifacts(trials[0].info.run_id, "columns.json", str(tmp_path))
        ).read_text()
    )
    assert seen["rows"] == result.n_train  # the training window only: no gate rows


def test_an_entry_point_trial_is_pruned_from_its_step_metrics(
    tracking_uri: str, train_csv: Path, tmp_path: Path
) -> None:
    from mlflow_retrain.config import RetrainConfig
    from mlflow_retrain.tuning.study import make_entry_point_objective, prepare_data

    project = Path(__file__).resolve().parents[1] / "helpers" / "entry_project"
    space = {"train": {"C": {"choices": [0.3]}, "behaviour": {"choices": ["slow"]}}}
    config = RetrainConfig.from_dict({"target": "default", "tuning": {
        "entry_point": "train", "project_uri": str(project), "space": space}})  # fmt: skip
    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment("pruning")
    parent = client.create_run(experiment).info.run_id
    prepared = prepare_data(pd.read_csv(train_csv), target="default", timestamp=None,
                            config=config)  # fmt: skip
    objective = make_entry_point_objective(
        prepared, target="default", timestamp=None, config=config, experiment_id=experiment,
        parent_run_id=parent, folder=tmp_path,
    )  # fmt: skip
    # The script logs 0.50, 0.51, ... one step a second: below 0.9 at its first step.
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.ThresholdPruner(lower=0.9))  # fmt: skip

    study.optimize(objective, n_trials=1)

    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert trial.intermediate_values
    assert max(trial.intermediate_values) < 5
    run = client.get_run(trial.user_attrs["run_id"])
    assert run.info.status == "KILLED"
    assert run.data.tags["mlflow.parentRunId"] == parent

"""The `retrain` step in-process, against a local tracking store (SQLite) and Optuna storages.

What a reviewer relies on: the run tree (one parent, one child per trial with its state), the
challenger version's tags and datasets, a gate split never seen by tuning, one version per
pipeline run, and nothing registered when tuning fails. A killed study and a PostgreSQL study
are in ``tests/integration/test_retrain_studies.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest
from helpers.cli import invoke
from helpers.pipeline import child_runs, credit_frame, retrain_config, write_credit_csv
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.config import RetrainConfig
from mlflow_retrain.drift import ReferenceProfile
from mlflow_retrain.metrics import lookup_metric
from mlflow_retrain.pipeline.retrain import run_retrain, run_tune_worker
from mlflow_retrain.report.markdown import section_text
from mlflow_retrain.tuning import resolve_threads
from mlflow_retrain.tuning.importance import importance_shares

MODEL = "credit"


@pytest.fixture
def train_csv(tmp_path: Path) -> Path:
    """``credit_frame()`` as ``train.csv``."""
    return write_credit_csv(tmp_path)


def _cli_retrain(train: Path, *args: str) -> tuple[int, str, str]:
    """Run ``mlflow-retrain retrain --train train --model MODEL *args`` in-process."""
    return invoke("retrain", "--train", str(train), "--model", MODEL, *args)


def test_retrain_registers_a_challenger_with_full_lineage(
    tracking_uri: str, train_csv: Path
) -> None:
    result = run_retrain(
        str(train_csv), model_name=MODEL, config=retrain_config(), timestamp="day"
    )

    client = MlflowClient(tracking_uri)
    parent = client.get_run(result.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags[lineage.TAG_STEP] == "retrain"
    assert parent.data.metrics[f"best_cv_{result.metric}"] == pytest.approx(result.cv_score)
    contexts = {i.tags[0].value for i in parent.inputs.dataset_inputs}
    assert contexts == {lineage.CONTEXT_TRAINING, lineage.CONTEXT_GATE}
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"gate", "profile", "tuning"} <= artifacts
    trials = child_runs(client, result.run_id)
    assert len(trials) == result.study.n_trials >= 6
    for trial in trials:
        state = trial.data.tags[lineage.TAG_TRIAL_STATE]
        expected = {"complete": "FINISHED", "pruned": "KILLED", "fail": "FAILED"}[state]
        assert trial.info.status == expected
        if state == "complete":
            assert f"cv_{result.metric}" in trial.data.metrics
            assert trial.data.params
    version = client.get_model_version_by_alias(MODEL, lineage.ALIAS_CHALLENGER)
    assert str(version.version) == result.version
    tags = version.tags
    assert tags[lineage.TAG_STATUS] == lineage.STATUS_CANDIDATE
    assert tags[lineage.TAG_TRAINING_RUN] == result.run_id
    assert tags[lineage.TAG_TRIGGER] == "manual"
    assert tags[lineage.TAG_GATE_URI] == result.gate_uri
    assert tags[lineage.TAG_GATE_DIGEST] == result.gate_digest
    assert json.loads(tags[lineage.TAG_BEST_PARAMS]) == result.best_params
    assert float(tags[lineage.TAG_CV_SCORE]) == pytest.approx(result.cv_score, rel=1e-5)
    assert version.run_id == result.run_id
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}@{lineage.ALIAS_CHALLENGER}")
    gate = pd.read_parquet(mlflow.artifacts.download_artifacts(result.gate_uri))
    predictions = model.predict(gate.drop(columns=["default"]))
    assert len(predictions) == len(gate) == result.n_gate


def test_the_versions_profile_carries_its_permutation_importance(
    tracking_uri: str, train_csv: Path
) -> None:
    result = run_retrain(str(train_csv), model_name=MODEL, config=retrain_config())

    client = MlflowClient(tracking_uri)
    version = client.get_model_version(MODEL, result.version)
    path = mlflow.artifacts.download_artifacts(version.tags[lineage.TAG_PROFILE_URI])
    profile = ReferenceProfile.from_json(Path(path).read_text())
    assert profile.importance is not None
    assert set(profile.importance) == set(profile.columns)
    assert sum(profile.importance.values()) == pytest.approx(1.0)
    # The same shares as the importance of the registered model on its gate split.
    model = mlflow.sklearn.load_model(f"models:/{MODEL}/{result.version}")
    gate = pd.read_parquet(mlflow.artifacts.download_artifacts(result.gate_uri))
    expected = importance_shares(model, gate, gate["default"], features=list(profile.columns),
                                 metric=lookup_metric(result.metric), seed=1)  # fmt: skip
    assert profile.importance == pytest.approx(expected)


def test_retrain_logs_its_tuning_figures_as_png(
    tracking_uri: str, train_csv: Path, tmp_path: Path
) -> None:
    config = retrain_config(n_trials=8, estimators=["hist_gradient_boosting", "linear"])

    result = run_retrain(str(train_csv), model_name=MODEL, config=config, timestamp="day")

    client = MlflowClient(tracking_uri)
    paths = {a.path for a in client.list_artifacts(result.run_id, "tuning")}
    assert paths == {"tuning/optimization_history.png", "tuning/slice.png",
                     "tuning/param_importances.png"}  # fmt: skip
    for path in paths:
        local = Path(client.download_artifacts(result.run_id, path, str(tmp_path)))
        assert local.read_bytes().startswith(b"\x89PNG\r\n\x1a\n"), path


def test_a_newer_challenger_supersedes_the_waiting_one_on_every_page(
    tracking_uri: str, train_csv: Path
) -> None:
    config = retrain_config(n_trials=2, estimators=["linear"])
    first = run_retrain(str(train_csv), model_name=MODEL, config=config, timestamp="day")

    second = run_retrain(str(train_csv), model_name=MODEL, config=config, timestamp="day")

    client = MlflowClient(tracking_uri)
    old = client.get_model_version(MODEL, first.version)
    assert old.tags[lineage.TAG_STATUS] == lineage.STATUS_SUPERSEDED
    status = section_text(old.description, "status")
    assert status is not None
    assert status.startswith("**Status: superseded** · no alias.")
    assert f"by version {second.version}" in status
    aliases = section_text(client.get_registered_model(MODEL).description, "aliases")
    assert aliases is not None
    assert f"Now: `challenger` → version {second.version}." in aliases


def test_gate_split_is_the_most_recent_slice_and_never_tuned_on(
    tracking_uri: str, train_csv: Path
) -> None:
    result = run_retrain(
        str(train_csv), model_name=MODEL, config=retrain_config(), timestamp="day"
    )

    gate = pd.read_parquet(mlflow.artifacts.download_artifacts(result.gate_uri))
    full = pd.read_csv(train_csv, parse_dates=["day"])
    training = full[~full["row_id"].isin(gate["row_id"])]
    assert len(gate) == result.n_gate
    assert len(training) == result.n_train
    assert pd.to_datetime(gate["day"]).min() > training["day"].max()
    client = MlflowClient(tracking_uri)
    run = client.get_run(result.run_id)
    digests = {i.tags[0].value: i.dataset.digest for i in run.inputs.dataset_inputs}
    assert digests[lineage.CONTEXT_GATE] == result.gate_digest
    assert digests[lineage.CONTEXT_TRAINING] != result.gate_digest


def test_a_pipeline_run_registers_one_version_only(tracking_uri: str, train_csv: Path) -> None:
    config = retrain_config(n_trials=3)
    first = run_retrain(str(train_csv), model_name=MODEL, config=config, pipeline_run_id="p-1")

    again = run_retrain(str(train_csv), model_name=MODEL, config=config, pipeline_run_id="p-1")

    assert again.reused is True
    assert again.version == first.version
    versions = MlflowClient(tracking_uri).search_model_versions(f"name = '{MODEL}'")
    assert len(versions) == 1


def _assert_nothing_registered(tracking_uri: str) -> None:
    client = MlflowClient(tracking_uri)
    assert client.search_registered_models() == []
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`{lineage.TAG_STEP}` = 'retrain'",
    )
    assert [r.info.status for r in runs] == ["FAILED"]
    assert runs[0].data.tags[lineage.TAG_FAILURE_REASON]


def test_cli_retrain_prints_and_writes_json(tracking_uri: str, train_csv: Path,
                                            tmp_path: Path) -> None:  # fmt: skip
    out = tmp_path / "result.json"

    code, stdout, stderr = _cli_retrain(
        train_csv, "--target", "default", "--timestamp", "day", "--n-trials", "3",
        "--json-out", str(out),
    )  # fmt: skip

    assert code == 0, stderr
    data = json.loads(out.read_text())
    assert data["version"] == "1"
    assert data["alias"] == "challenger"
    assert data["new_model"] is True
    assert f"Registered {MODEL} version 1 as @challenger (a new registered model:" in stdout
    code, stdout, stderr = _cli_retrain(
        train_csv, "--target", "default", "--n-trials", "1", "--json-out", str(out)
    )
    assert code == 0, stderr
    assert json.loads(out.read_text())["new_model"] is False
    assert "new registered model" not in stdout


def test_every_trial_failing_registers_nothing(
    tracking_uri: str, train_csv: Path, tmp_path: Path
) -> None:
    config = tmp_path / "retrain.yaml"
    config.write_text(
        "tuning:\n  estimators: [linear]\n"
        "  space:\n    linear:\n      max_iter: {low: 1, high: 1}\n"
    )

    code, _, stderr = _cli_retrain(
        train_csv, "--target", "default", "--n-trials", "3", "--config", str(config)
    )

    assert code == 1
    assert "No tuning trial succeeded (3 failed" in stderr
    assert "Nothing was registered" in stderr
    _assert_nothing_registered(tracking_uri)


def test_a_one_class_target_registers_nothing(tracking_uri: str, tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    credit_frame().assign(default=0).to_csv(path, index=False)

    code, _, stderr = _cli_retrain(path, "--target", "default", "--n-trials", "2")

    assert code == 1
    assert "Target column 'default' has a single class" in stderr
    _assert_nothing_registered(tracking_uri)


def test_a_window_that_selects_no_rows_registers_nothing(
    tracking_uri: str, train_csv: Path, tmp_path: Path
) -> None:
    config = tmp_path / "retrain.yaml"
    config.write_text("window:\n  kind: last_days\n  days: 30\n  reference: now\n")

    code, _, stderr = _cli_retrain(
        train_csv, "--target", "default", "--timestamp", "day", "--n-trials", "2",
        "--config", str(config),
    )  # fmt: skip

    assert code == 1
    assert "selects no rows" in stderr
    _assert_nothing_registered(tracking_uri)


def test_a_tune_worker_uses_its_own_machines_thread_setting(
    tracking_uri: str, train_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    config = retrain_config(n_trials=3, storage=storage, study_name="threads", pruner="none",
                     estimators=["linear"])  # fmt: skip
    run_retrain(str(train_csv), model_name=MODEL, config=config, timestamp="day")
    starter = resolve_threads("auto", workers=1)
    local = 1 if starter > 1 else 2  # differs from the starting machine's share
    monkeypatch.setenv("MLFLOW_RETRAIN_TUNING__THREADS", str(local))

    run_tune_worker("threads", storage=storage, n_trials=5)

    trials = optuna.load_study(study_name="threads", storage=storage).trials
    assert [t.user_attrs["native_threads"] for t in trials] == [starter] * 3 + [local] * 2


def test_an_unreachable_storage_fails_without_leaking_its_password(
    tracking_uri: str, train_csv: Path
) -> None:
    storage = "postgresql://postgres:s3cret-pw@127.0.0.1:1/nowhere"

    code, _, stderr = _cli_retrain(train_csv, "--target", "default", "--storage", storage)

    assert code == 1
    assert "Cannot open the Optuna storage postgresql://***@127.0.0.1:1/nowhere" in stderr
    assert "s3cret-pw" not in stderr
    _assert_nothing_registered(tracking_uri)
    client = MlflowClient(tracking_uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert "s3cret-pw" not in json.dumps(run.data.tags) + json.dumps(run.data.params)


def test_regression_targets_are_tuned_on_rmse(tracking_uri: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 600
    area = rng.uniform(40, 200, n)
    rooms = rng.integers(1, 6, n)
    district = rng.choice(["old town", "harbour", "suburb"], n)
    price = 2000 * area + 15000 * rooms + np.where(district == "harbour", 80000, 0)
    frame = pd.DataFrame(
        {"area": area, "rooms": rooms, "district": district,
         "price": price + rng.normal(0, 20000, n)}
    )  # fmt: skip
    path = tmp_path / "houses.csv"
    frame.to_csv(path, index=False)
    config = RetrainConfig.from_dict({"target": "price", "tuning": {"n_trials": 4, "seed": 2}})

    result = run_retrain(str(path), model_name="houses", config=config)

    assert result.task == "regression"
    assert result.metric == "rmse"
    assert result.study.direction == "minimize"
    assert 0 < result.cv_score < frame["price"].std()
    model = mlflow.pyfunc.load_model("models:/houses@challenger")
    assert model.predict(frame.drop(columns=["price"]).head(3)).shape == (3,)


def test_a_best_score_below_the_floor_registers_nothing(
    tracking_uri: str, train_csv: Path, tmp_path: Path
) -> None:
    config = tmp_path / "retrain.yaml"
    config.write_text("tuning:\n  min_score: 0.99\n")

    code, _, stderr = _cli_retrain(
        train_csv, "--target", "default", "--n-trials", "2", "--config", str(config)
    )

    assert code == 1
    assert "worse than the floor tuning.min_score = 0.99" in stderr
    _assert_nothing_registered(tracking_uri)


def test_tune_worker_needs_a_shared_storage() -> None:
    code, _, stderr = invoke("tune-worker", "--study-name", "s")

    assert code == 2
    assert "tune-worker needs the study's storage" in stderr


def test_tune_worker_refuses_an_unknown_study(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"

    code, _, stderr = invoke("tune-worker", "--study-name", "nope", "--storage", storage)

    assert code == 1
    assert "Optuna study 'nope' does not exist" in stderr


def test_a_policy_in_retrain_yaml_is_stored_on_the_model(
    tracking_uri: str, train_csv: Path, tmp_path: Path
) -> None:
    config = tmp_path / "retrain.yaml"
    config.write_text(
        "target: default\ntuning: {n_trials: 2}\n"
        "policy:\n  primary: [{metric: roc_auc, min_improvement: 0.01}]\n"
    )

    code, _, stderr = _cli_retrain(train_csv, "--config", str(config))

    assert code == 0, stderr
    stored = MlflowClient(tracking_uri).get_registered_model(MODEL).tags[lineage.TAG_POLICY]
    assert json.loads(stored)["primary"][0]["min_improvement"] == 0.01


def test_an_invalid_policy_fails_before_tuning(
    tracking_uri: str, train_csv: Path, tmp_path: Path
) -> None:
    config = tmp_path / "retrain.yaml"
    config.write_text("target: default\npolicy:\n  primary: [rmse]\n")

    code, _, stderr = _cli_retrain(train_csv, "--config", str(config))

    assert code == 2
    assert "Policy metric 'rmse' does not fit a classification model" in stderr
    client = MlflowClient(tracking_uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert run.info.status == "FAILED"
    assert (
        client.search_runs(
            [run.info.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'",
        )
        == []
    )


def _input_digests(client: MlflowClient, run_id: str) -> dict[str, str]:
    """The run's logged datasets by ``log_input`` context: context -> digest."""
    found = {}
    for item in client.get_run(run_id).inputs.dataset_inputs:
        context = {t.key: t.value for t in item.tags}.get("mlflow.data.context")
        found[str(context)] = item.dataset.digest
    return found


def test_the_gate_split_has_one_digest_wherever_it_is_shown(
    tracking_uri: str, tmp_path: Path
) -> None:
    from mlflow_retrain.pipeline.compare import run_compare

    # Shuffled rows: the time-ordered gate split is rows scattered over the file, so its
    # index is not 0..n-1 until it is stored (MLflow's digest hashes the index too).
    path = tmp_path / "train.csv"
    credit_frame(seed=4).sample(frac=1.0, random_state=3).to_csv(path, index=False)
    config = retrain_config(n_trials=2, estimators=["linear"], cv_folds=2)
    retrained = run_retrain(str(path), model_name=MODEL, config=config, timestamp="day")

    compared = run_compare(MODEL, challenger=retrained.version, config=config)

    client = MlflowClient(tracking_uri)
    version = client.get_model_version(MODEL, retrained.version)
    digest = version.tags[lineage.TAG_GATE_DIGEST]
    assert retrained.gate_digest == digest
    assert _input_digests(client, retrained.run_id)[lineage.CONTEXT_GATE] == digest
    assert _input_digests(client, compared.run_id)[lineage.CONTEXT_GATE] == digest
    assert version.tags[lineage.TAG_EVIDENCE_DATA_DIGEST] == digest
    assert digest in (version.description or "")  # the training section a reviewer reads
    # ... and the training window's digest is the one its dataset was logged with.
    training = _input_digests(client, retrained.run_id)[lineage.CONTEXT_TRAINING]
    assert version.tags[lineage.TAG_TRAINING_DIGEST] == training

"""A team's own model in the three forms, against a real tracking server, through the CLI.

Each form (a factory, a declarative class, an entry point of the team's own MLflow project)
tunes with one child run per trial, registers a challenger, and passes the registry gate as
the first deployment; a weak challenger then fails it. A broken form fails the step with a
one-line error and a FAILED run, and registers nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.cli import invoke
from helpers.pipeline import write_credit_csv
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage

pytestmark = pytest.mark.integration

ENTRY_PROJECT = Path(__file__).resolve().parents[1] / "helpers" / "entry_project"
N_TRIALS = 3

FORMS: dict[str, dict[str, Any]] = {
    "factory": {"model": "helpers.factories:recording"},
    "declarative": {
        "estimators": [
            {
                "class": "lightgbm.LGBMClassifier",
                "preprocess": "ordinal",
                "params": {"verbose": -1, "n_jobs": 1, "n_estimators": 30},
                "space": {"num_leaves": {"low": 4, "high": 16, "log": True}},
            }
        ]
    },
    "entry_point": {
        "entry_point": "train",
        "project_uri": str(ENTRY_PROJECT),
        "space": {"train": {"C": {"low": 0.05, "high": 1.0, "log": True}}},
    },
}


def _config(folder: Path, name: str, **tuning: Any) -> Path:
    path = folder / f"{name}.yaml"
    settings = {"n_trials": N_TRIALS, "cv_folds": 2, "pruner": "none", **tuning}
    path.write_text(yaml.safe_dump({"target": "default", "timestamp": "day", "tuning": settings}))
    return path


def _retrain(train: Path, model: str, config: Path) -> tuple[int, dict | None, str]:
    out = config.with_suffix(".json")
    code, _, err = invoke("retrain", "--train", str(train), "--model", model, "--config",
                          str(config), "--json-out", str(out))  # fmt: skip
    return code, json.loads(out.read_text()) if out.exists() else None, err


@pytest.mark.parametrize("form", list(FORMS))
def test_each_form_tunes_registers_and_passes_the_gate(
    server: MlflowClient, tmp_path: Path, form: str
) -> None:
    train = write_credit_csv(tmp_path)
    name = f"own-{form}"

    code, result, err = _retrain(train, name, _config(tmp_path, form, **FORMS[form]))

    assert code == 0, err
    assert result is not None
    trials = server.search_runs(
        [server.get_run(result["run_id"]).info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{result['run_id']}'",
    )
    assert len(trials) == N_TRIALS
    assert {t.data.tags[lineage.TAG_STEP] for t in trials} == {"trial"}
    assert all(t.data.params for t in trials)  # each trial's sampled parameters
    version = server.get_model_version(name, result["version"])
    assert server.get_model_version_by_alias(name, "challenger").version == version.version
    if form == "entry_point":  # the model the winning trial's own run logged
        logged = server.get_logged_model(version.source.rsplit("/", 1)[-1])
        assert logged.source_run_id in {t.info.run_id for t in trials}
    code, _, err = invoke("compare", "--model", name)
    assert code == 0, err
    code, _, err = invoke("promote", "--model", name)
    assert code == 0, err
    assert server.get_model_version_by_alias(name, "champion").version == version.version


def test_a_weak_challenger_of_a_factory_fails_the_gate(
    server: MlflowClient, tmp_path: Path
) -> None:
    train = write_credit_csv(tmp_path)
    name = "own-weak"
    assert _retrain(train, name, _config(tmp_path, "good", **FORMS["factory"]))[0] == 0
    assert invoke("compare", "--model", name)[0] == 0
    assert invoke("promote", "--model", name)[0] == 0

    code, result, err = _retrain(train, name, _config(tmp_path, "weak",
                                                      model="helpers.factories:weak"))  # fmt: skip
    assert code == 0, err
    assert result is not None
    code, _, _ = invoke("compare", "--model", name)
    code, _, err = invoke("promote", "--model", name)

    assert code == 1
    assert err.strip().splitlines()[-1].startswith("mlflow-retrain: error: ")
    assert server.get_model_version_by_alias(name, "champion").version == "1"
    decision = server.get_model_version(name, result["version"]).tags[lineage.TAG_DECISION]
    assert decision in ("reject", "inconclusive")


@pytest.mark.parametrize(
    ("tuning", "message"),
    [
        ({"model": "team_code_nowhere:build"},
         "module 'team_code_nowhere' is not on the Python path or in the project folder"),
        ({"model": "helpers.factories:raises"}, "raised KeyError: 'n_leaves' (trial 0)"),
        ({"model": "helpers.factories:not_an_estimator"}, "which is not an estimator"),
        ({"estimators": [{"class": "sklearn.linear_model.Ridge"}]},
         "gives a regressor (Ridge) but the task is classification"),
        ({**FORMS["entry_point"], "space": {"train": {"C": {"low": 0.1, "high": 1.0},
                                                      "behaviour": {"choices": ["no-metric"]}}}},
         "Entry point 'train' logged no metric 'roc_auc'"),
    ],
)  # fmt: skip
def test_a_broken_model_fails_the_step_in_one_line_and_registers_nothing(
    server: MlflowClient, tmp_path: Path, tuning: dict, message: str
) -> None:
    train = write_credit_csv(tmp_path)
    name = f"own-broken-{abs(hash(message)) % 10**6}"

    code, result, err = _retrain(train, name, _config(tmp_path, "broken", **tuning))

    assert code == 1, err
    assert result is None
    line = err.strip().splitlines()[-1]
    assert message in line
    assert line.startswith("mlflow-retrain: error: ")
    failed = [
        r for r in server.search_runs([e.experiment_id for e in server.search_experiments()],
                                      filter_string="attributes.status = 'FAILED'")
        if r.data.tags.get(lineage.TAG_STEP) == "retrain"
        and message in r.data.tags.get(lineage.TAG_FAILURE_REASON, "")
    ]  # fmt: skip
    assert failed
    assert server.search_model_versions(f"name = '{name}'") == []


def test_a_diverging_entry_point_trial_fails_and_the_study_goes_on(
    server: MlflowClient, tmp_path: Path
) -> None:
    train = write_credit_csv(tmp_path)
    # The script logs a NaN score when C > 1.
    space = {"train": {"C": {"choices": [0.3, 0.6, 2.0, 3.0]},
                       "behaviour": {"choices": ["nan"]}}}  # fmt: skip
    config = _config(tmp_path, "nan", **{**FORMS["entry_point"], "space": space}, n_trials=4)

    code, result, err = _retrain(train, "own-nan", config)

    assert code == 0, err
    assert result is not None
    study = result["study"]
    assert study["n_complete"] >= 1
    assert result["best_params"]["C"] <= 1.0
    reasons = [r["reason"] for r in study["fail_reasons"]]
    assert study["n_failed"] >= 1, study
    assert all("not finite" in r for r in reasons), reasons

"""A worker killed between creating a trial and its first heartbeat leaves no trial behind.

Optuna counts a RUNNING trial as stale only from its heartbeat; one that never had a heartbeat
would stay RUNNING forever and hold the study's budget. Our storage treats it as stale once it
started longer ago than the grace period, and the retry callback brings it back.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import optuna
from optuna.trial import TrialState

from mlflow_retrain.config import RetrainConfig
from mlflow_retrain.tuning.study import open_study


def _study(tmp_path: Path) -> optuna.Study:
    # Study.ask() on a heartbeat storage warns that heartbeats belong to optimize(); here we
    # stand in for a worker by hand on purpose.
    warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
    config = RetrainConfig.from_dict({"tuning": {"heartbeat_interval": 1, "max_retries": 1}})
    return open_study(
        "orphans", storage=f"sqlite:///{tmp_path / 'optuna.db'}", direction="maximize",
        config=config,
    )  # fmt: skip


def test_a_trial_without_a_heartbeat_is_stale_after_the_grace_period(tmp_path: Path) -> None:
    study = _study(tmp_path)
    orphan = study.ask()  # RUNNING, and no heartbeat: its worker "died" right here

    optuna.storages.fail_stale_trials(study)
    assert study.trials[orphan.number].state == TrialState.RUNNING  # within the grace period

    time.sleep(2.5)  # the grace period is 2 heartbeat intervals
    optuna.storages.fail_stale_trials(study)

    states = [t.state for t in study.trials]
    assert states[orphan.number] == TrialState.FAIL
    assert states.count(TrialState.WAITING) == 1  # retried with the same parameters


def test_a_trial_with_a_fresh_heartbeat_is_left_alone(tmp_path: Path) -> None:
    study = _study(tmp_path)
    trial = study.ask()
    time.sleep(2.5)
    study._storage.record_heartbeat(trial._trial_id)  # a live worker beats

    optuna.storages.fail_stale_trials(study)

    assert study.trials[trial.number].state == TrialState.RUNNING

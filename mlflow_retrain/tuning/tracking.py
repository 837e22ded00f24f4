"""Optuna trials as MLflow child runs, logged with explicit parent run ids.

MLflow's fluent API keeps the active run per thread, so ``nested=True`` loses the parent as soon
as trials run in other threads or processes (optuna-integration's ``MLflowCallback`` shows this
with ``n_jobs > 1``). Here every trial is logged through ``MlflowClient`` with the parent run id
passed explicitly, by whichever process ran it, in three calls: create, one batch, terminate.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import optuna
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
from optuna.trial import FrozenTrial, TrialState

from mlflow_retrain import lineage

__all__ = ["MlflowTrialLogger", "trial_status"]

logger = logging.getLogger(__name__)

_STATUS = {
    TrialState.COMPLETE: RunStatus.FINISHED,
    TrialState.PRUNED: RunStatus.KILLED,
    TrialState.FAIL: RunStatus.FAILED,
}


def trial_status(state: TrialState) -> str:
    """Return the MLflow run status of an Optuna trial state (pruned trials end KILLED)."""
    return RunStatus.to_string(_STATUS.get(state, RunStatus.FAILED))


def _ms(moment: datetime | None) -> int:
    return int((moment.timestamp() if moment else time.time()) * 1000)


class MlflowTrialLogger:
    """An Optuna callback that logs each finished trial as a child run of ``parent_run_id``.

    Thread- and process-safe: it keeps no per-trial state and uses its own client.

    Args:
        experiment_id: Experiment of the parent run.
        parent_run_id: The tuning step's run.
        metric_name: Name of the optimised metric (``roc_auc``, ``rmse``, ...).
        tracking_uri: Tracking server or store; ``None`` uses the process default.
        tags: Extra tags for every trial run (the pipeline run id, say).
    """

    def __init__(
        self,
        *,
        experiment_id: str,
        parent_run_id: str,
        metric_name: str,
        tracking_uri: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.metric_name = metric_name
        self.tracking_uri = tracking_uri
        self.tags = dict(tags or {})

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Log ``trial``; failures to log are reported, never raised into Optuna."""
        try:
            self.log(trial, study_name=study.study_name)
        except MlflowException as err:
            logger.warning("Could not log trial %d to MLflow: %s", trial.number, err.message)

    def log(self, trial: FrozenTrial, *, study_name: str, reason: str | None = None) -> str:
        """Log one trial as a child run and return the run id.

        Args:
            trial: The finished (or failed) trial.
            study_name: The Optuna study it belongs to.
            reason: Why it failed, when the trial's own ``fail_reason`` does not say.
        """
        client = MlflowClient(self.tracking_uri)
        tags = {
            MLFLOW_PARENT_RUN_ID: self.parent_run_id,
            MLFLOW_RUN_NAME: f"trial-{trial.number}",
            lineage.TAG_STEP: "trial",
            lineage.TAG_TRIAL_NUMBER: str(trial.number),
            lineage.TAG_TRIAL_STATE: trial.state.name.lower(),
            lineage.TAG_STUDY_NAME: study_name,
            lineage.TAG_TRIAL_WORKER: f"{socket.gethostname()}:{os.getpid()}",
            **self.tags,
        }
        estimator = trial.user_attrs.get("estimator") or trial.params.get("estimator")
        if estimator:
            tags[lineage.TAG_ESTIMATOR] = str(estimator)
        fail_reason = reason or trial.user_attrs.get("fail_reason")
        if trial.state == TrialState.FAIL:
            tags[lineage.TAG_FAILURE_REASON] = lineage.truncate_tag(
                str(fail_reason or "the trial raised an error (see the worker's log)")
            )
        if trial.state == TrialState.PRUNED:
            tags[lineage.TAG_PRUNED_AT] = str(max(trial.intermediate_values, default=-1))
        own = trial.user_attrs.get("run_id")
        if own:
            # The trial ran as an entry point's own run, which logged its metrics and status
            # itself: the trial's parameters and tags are added.
            params = [Param(k, _param(v)) for k, v in sorted(trial.params.items())]
            client.log_batch(str(own), params=params, tags=[RunTag(k, v) for k, v in tags.items()])
            return str(own)
        run = client.create_run(
            self.experiment_id, start_time=_ms(trial.datetime_start), tags=tags
        )
        now = _ms(trial.datetime_complete)
        metrics = [
            Metric(f"cv_{self.metric_name}_fold", float(v), now, int(step))
            for step, v in sorted(trial.intermediate_values.items())
            if math.isfinite(v)
        ]
        if trial.values and math.isfinite(trial.values[0]):
            metrics.append(Metric(f"cv_{self.metric_name}", float(trial.values[0]), now, 0))
        if trial.datetime_start and trial.datetime_complete:
            seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
            metrics.append(Metric("trial_seconds", seconds, now, 0))
        fit_seconds = trial.user_attrs.get("fit_seconds")
        if isinstance(fit_seconds, list):
            metrics += [
                Metric("fit_seconds_fold", float(s), now, i) for i, s in enumerate(fit_seconds)
            ]
        params = [Param(k, _param(v)) for k, v in sorted(trial.params.items())]
        client.log_batch(run.info.run_id, metrics=metrics, params=params, tags=[])
        client.set_terminated(run.info.run_id, trial_status(trial.state), end_time=now)
        return str(run.info.run_id)


def _param(value: Any) -> str:
    return lineage.truncate_tag(str(value), 6000)

"""The MLflow-native form of your own model: each trial runs your project's entry point.

With ``tuning.entry_point: train`` every Optuna trial is one run of that entry point of the
project at ``tuning.project_uri`` (default: the working directory, which is the project
being run under ``mlflow run``), started with ``mlflow.projects.run`` as a child run of the
retrain step. The contract (docs/models.md):

* **It receives** ``-P`` parameters: each sampled hyperparameter of ``tuning.space.<entry
  point>``; ``train``, the path of a Parquet file holding the training window (the gate
  split is not in it, and no path to it is given); ``target``; ``timestamp`` (empty when
  there is none); ``metric``, the name of the metric it must log; and ``weight_column``,
  the column of recency weights in that file (empty unless ``window.kind: half_life``).
* **It logs** ``metric`` (the objective: its value with the highest step counts), and may
  log it with ``step`` as it trains, which the pruner reads to stop a hopeless trial early;
  and one model (``mlflow.<flavor>.log_model``), which is registered when its trial wins.

The entry point runs in the same environment (``env_manager="local"``), so it needs no
environment build per trial. A run that fails or logs a NaN fails its trial (the study goes
on); a run that finishes without the metric or a model breaks the contract and stops the
study.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import optuna
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from mlflow_retrain.exceptions import InvalidConfigError
from mlflow_retrain.tuning.factory import ModelSourceError
from mlflow_retrain.tuning.metrics import Metric
from mlflow_retrain.tuning.objective import (
    ESTIMATOR_ATTR,
    FAIL_REASON_ATTR,
    TrialFailedError,
)
from mlflow_retrain.tuning.space import ParamRange, parse_range

__all__ = [
    "CONTRACT_PARAMS",
    "MODEL_URI_ATTR",
    "RUN_ID_ATTR",
    "EntryPointObjective",
    "entry_point_space",
]

logger = logging.getLogger(__name__)

#: Trial user attribute: the entry point run of the trial.
RUN_ID_ATTR = "run_id"
#: Trial user attribute: the model the trial's run logged (registered when it wins).
MODEL_URI_ATTR = "model_uri"
#: Parameters every trial passes besides the sampled ones.
CONTRACT_PARAMS = ("train", "target", "timestamp", "metric", "weight_column")

_DONE = {"FINISHED", "FAILED", "KILLED"}
_EXPERIMENT_VARS = ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID")


def entry_point_space(
    space: Mapping[str, Mapping[str, Mapping[str, Any]]], *, entry_point: str
) -> dict[str, ParamRange]:
    """The search space of an entry point: ``tuning.space.<entry point>``.

    Raises:
        InvalidConfigError: If there is none, a range is malformed, or a parameter takes a
            name the contract reserves.
    """
    raw = space.get(entry_point)
    if not raw:
        raise InvalidConfigError(
            f"'tuning.entry_point: {entry_point}' needs its search space in "
            f"'tuning.space.{entry_point}' (e.g. learning_rate: {{low: 0.01, high: 0.3, log: "
            "true}}): the entry point's parameters to tune."
        )
    reserved = sorted(set(raw) & set(CONTRACT_PARAMS))
    if reserved:
        raise InvalidConfigError(
            f"'tuning.space.{entry_point}.{reserved[0]}' is a parameter the step passes "
            f"itself ({', '.join(CONTRACT_PARAMS)}). Rename the entry point's parameter."
        )
    return {
        name: parse_range(spec, key=f"tuning.space.{entry_point}.{name}", integer=True)
        for name, spec in raw.items()
    }


class EntryPointObjective:
    """Optuna objective whose trial is one run of the user's MLflow entry point.

    Args:
        project_uri: The MLflow project (a folder or Git URI).
        entry_point: Its entry point.
        space: The sampled parameters (:func:`entry_point_space`).
        train_path: The Parquet file of the training window (no gate split).
        target: Label column.
        timestamp: Time column, or ``None``.
        weight_column: Column of recency weights in the file, or ``None``.
        metric: The metric the entry point logs.
        experiment_id: Experiment of the retrain run.
        parent_run_id: The retrain run (each trial run is its child).
        tags: Extra tags of every trial run.
        poll_seconds: How often a running trial's metrics are read (for pruning).
    """

    def __init__(
        self,
        *,
        project_uri: str,
        entry_point: str,
        space: Mapping[str, ParamRange],
        train_path: str,
        target: str,
        timestamp: str | None,
        weight_column: str | None,
        metric: Metric,
        experiment_id: str,
        parent_run_id: str,
        tags: Mapping[str, str] | None = None,
        poll_seconds: float = 0.5,
    ) -> None:
        self.project_uri = project_uri
        self.entry_point = entry_point
        self.space = dict(space)
        self.train_path = train_path
        self.target = target
        self.timestamp = timestamp
        self.weight_column = weight_column
        self.metric = metric
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.tags = dict(tags or {})
        self.poll_seconds = poll_seconds

    @property
    def direction(self) -> Literal["maximize", "minimize"]:
        """The study direction this objective needs."""
        return self.metric.direction

    def __call__(self, trial: optuna.Trial) -> float:
        """Run the entry point with the trial's parameters; return the metric it logged.

        Raises:
            optuna.TrialPruned: If the pruner stops the run on a step metric.
            TrialFailedError: If the run fails or logs a value that is not finite.
            ModelSourceError: If the run finishes without the metric or a model.
        """
        import mlflow.projects

        params = {name: spec.suggest(trial, name) for name, spec in self.space.items()}
        trial.set_user_attr(ESTIMATOR_ATTR, self.entry_point)
        client = MlflowClient()
        run = client.create_run(
            self.experiment_id,
            tags={
                MLFLOW_PARENT_RUN_ID: self.parent_run_id,
                MLFLOW_RUN_NAME: f"trial-{trial.number}",
                **self.tags,
            },
        )
        run_id = run.info.run_id
        trial.set_user_attr(RUN_ID_ATTR, run_id)
        parameters = {
            **params,
            "train": self.train_path,
            "target": self.target,
            "timestamp": self.timestamp or "",
            "metric": self.metric.name,
            "weight_column": self.weight_column or "",
        }
        _same_environment()
        try:
            with _launch_environment():
                submitted = mlflow.projects.run(
                    self.project_uri,
                    entry_point=self.entry_point,
                    parameters=parameters,
                    experiment_id=self.experiment_id,
                    run_id=run_id,
                    env_manager="local",
                    synchronous=False,
                )
        except MlflowException as err:
            client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
            raise ModelSourceError(
                f"Cannot run entry point '{self.entry_point}' of {self.project_uri}: "
                f"{_one_line(err.message)}. Fix tuning.entry_point / tuning.project_uri."
            ) from err
        reported: set[int] = set()
        while True:
            status = submitted.get_status()
            for m in sorted(client.get_metric_history(run_id, self.metric.name),
                            key=lambda m: (m.step, m.timestamp)):  # fmt: skip
                if m.step in reported or not math.isfinite(m.value):
                    continue
                reported.add(m.step)
                trial.report(m.value, m.step)
                if trial.should_prune():
                    _stop(submitted, client, run_id)
                    raise optuna.TrialPruned(
                        f"Trial {trial.number} pruned at step {m.step} ({self.metric.name} "
                        f"{m.value:.4g})."
                    )
            if status in _DONE:
                break
            time.sleep(self.poll_seconds)
        if status != "FINISHED":
            self._fail(
                trial,
                f"Entry point '{self.entry_point}' run {run_id} ended {status}; its log is in "
                "the step's output.",
            )
        return self._result(client, trial, run_id)

    def _result(self, client: MlflowClient, trial: optuna.Trial, run_id: str) -> float:
        history = client.get_metric_history(run_id, self.metric.name)
        if not history:
            raise ModelSourceError(
                f"Entry point '{self.entry_point}' logged no metric '{self.metric.name}' (run "
                f"{run_id}). Log the objective with mlflow.log_metric('{self.metric.name}', "
                "value), the name the 'metric' parameter passes."
            )
        last = max(history, key=lambda m: (m.step, m.timestamp))
        if not math.isfinite(last.value):
            self._fail(
                trial,
                f"Entry point '{self.entry_point}' logged {self.metric.name} = {last.value} "
                f"(run {run_id}, not finite). Check the data or narrow tuning.space.",
            )
        model_uri = logged_model(client, run_id, experiment_id=self.experiment_id)
        if model_uri is None:
            raise ModelSourceError(
                f"Entry point '{self.entry_point}' logged no model (run {run_id}). Log the "
                "trained model with mlflow.<flavor>.log_model(model, name='model')."
            )
        trial.set_user_attr(MODEL_URI_ATTR, model_uri)
        return float(last.value)

    @staticmethod
    def _fail(trial: optuna.Trial, reason: str) -> None:
        trial.set_user_attr(FAIL_REASON_ATTR, reason)
        logger.info("Trial %d failed: %s", trial.number, reason)
        raise TrialFailedError(reason)


def _stop(submitted: Any, client: MlflowClient, run_id: str) -> None:
    """Kill a pruned trial's run and record it KILLED (as a pruned built-in trial's run)."""
    submitted.cancel()
    try:
        submitted.wait()
    except Exception:  # a killed process's wait may report the kill; the run is ended below
        logger.debug("Waiting for pruned run %s to stop.", run_id, exc_info=True)
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.KILLED))


def logged_model(client: MlflowClient, run_id: str, *, experiment_id: str) -> str | None:
    """The URI of the model a run logged (the latest, if several), or ``None``."""
    models = client.search_logged_models(
        [experiment_id], filter_string=f"source_run_id = '{run_id}'"
    )
    if not models:
        return None
    latest = max(models, key=lambda m: m.creation_timestamp or 0)
    return str(latest.model_uri)


@contextlib.contextmanager
def _launch_environment() -> Iterator[None]:
    """Hide the caller's experiment choice from the launched ``mlflow run`` (the trial's run
    already has its experiment; ``mlflow run`` refuses a name beside an id), and quiet
    MLflow's launch messages."""
    saved = {k: os.environ.pop(k) for k in _EXPERIMENT_VARS if k in os.environ}
    level = os.environ.get("MLFLOW_LOGGING_LEVEL")
    # MLflow's own "=== Launching ... ===" lines, here and in the launched process: noise in
    # the step's output (the trial's run records what ran).
    os.environ["MLFLOW_LOGGING_LEVEL"] = "WARNING"
    projects = logging.getLogger("mlflow.projects")
    previous = projects.level
    projects.setLevel(logging.WARNING)
    try:
        yield
    finally:
        projects.setLevel(previous)
        os.environ.pop("MLFLOW_LOGGING_LEVEL")
        if level is not None:
            os.environ["MLFLOW_LOGGING_LEVEL"] = level
        os.environ.update(saved)


def _same_environment() -> None:
    """Put this interpreter's folder first on ``PATH``: the entry point's ``python`` (and the
    ``mlflow`` that launches it) are this environment's, as ``env_manager="local"`` means."""
    folder = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if path.split(os.pathsep)[0] != folder:
        os.environ["PATH"] = folder + os.pathsep + path


def default_project_uri() -> str:
    """The project being run: the working directory (``mlflow run`` runs in the project)."""
    return os.getcwd()


def _one_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else "unknown error"

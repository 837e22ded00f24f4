"""The Optuna study of a retraining step: data preparation, storage, workers, results.

Everything a worker needs to join a study is stored in the study itself (user attribute
``mlflow_retrain.spec``), so ``mlflow-retrain tune-worker --study-name NAME`` on any machine
with the storage URL (``MLFLOW_RETRAIN_TUNING__STORAGE``) and ``MLFLOW_TRACKING_URI`` joins it.
Data preparation is deterministic (seeded), so every worker rebuilds the same training window,
gate split and folds from the training data's URI.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.study import MaxTrialsCallback
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.exc import SQLAlchemyError

from mlflow_retrain.config import RetrainConfig
from mlflow_retrain.data.io import describe_uri
from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.tuning.entry_point import (
    EntryPointObjective,
    default_project_uri,
    entry_point_space,
)
from mlflow_retrain.tuning.factory import (
    FeatureColumns,
    ModelSource,
    ModelSourceError,
    model_source,
)
from mlflow_retrain.tuning.metrics import Metric, get_metric, infer_task
from mlflow_retrain.tuning.objective import Objective, TrialFailedError
from mlflow_retrain.tuning.splits import apply_window, cv_splits, split_columns, split_gate
from mlflow_retrain.tuning.threads import available_cores, resolve_threads
from mlflow_retrain.tuning.tracking import MlflowTrialLogger

__all__ = [
    "PreparedData",
    "TuningResult",
    "TuningSpec",
    "load_spec",
    "make_entry_point_objective",
    "make_objective",
    "make_source",
    "open_study",
    "prepare_data",
    "run_trials",
    "spawn_workers",
    "summarize",
]

logger = logging.getLogger(__name__)

#: Exceptions that fail one trial without stopping the study (a bad configuration, a
#: numerical breakdown, a non-converging fit); anything else is a bug and stops the step.
TRIAL_ERRORS: tuple[type[Exception], ...] = (
    TrialFailedError,
    ValueError,
    ArithmeticError,
    np.linalg.LinAlgError,
)

from mlflow_retrain.lineage import STUDY_SPEC_ATTR as SPEC_ATTR  # noqa: E402

STUDY_SPEC_ATTR = SPEC_ATTR


@dataclass(frozen=True)
class TuningSpec:
    """What a tuning worker needs, stored as JSON in the study.

    Attributes:
        train_uri: The training data's URI (read by every worker).
        target: Label column.
        timestamp: Time column, if any.
        config: The step's configuration (``RetrainConfig.to_dict()``) without the storage URL.
        experiment_id: Experiment of the parent run.
        parent_run_id: The tuning step's run; trials are logged as its children.
        pipeline_run_id: The pipeline run the step belongs to, if any.
    """

    train_uri: str
    target: str
    timestamp: str | None
    config: Mapping[str, Any]
    experiment_id: str
    parent_run_id: str
    pipeline_run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "train_uri": self.train_uri,
            "target": self.target,
            "timestamp": self.timestamp,
            "config": dict(self.config),
            "experiment_id": self.experiment_id,
            "parent_run_id": self.parent_run_id,
            "pipeline_run_id": self.pipeline_run_id,
        }

    def retrain_config(self) -> RetrainConfig:
        """Rebuild the configuration."""
        return RetrainConfig.from_dict(self.config)


@dataclass(frozen=True)
class PreparedData:
    """Training data split and described for tuning.

    Attributes:
        train: Rows of the training window (gate split removed), in time order when a
            timestamp is known.
        gate: The held-out gate split, never used in tuning.
        sample_weight: Recency weights for ``train`` (``half_life`` windows), else ``None``.
        numeric: Numeric feature columns.
        categorical: Categorical feature columns.
        task: ``classification`` or ``regression``.
        metric: The optimised metric.
        splits: Validation folds as index arrays into ``train``; the last is the most recent.
    """

    train: pd.DataFrame
    gate: pd.DataFrame
    sample_weight: np.ndarray | None
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    task: str
    metric: Metric
    splits: list[tuple[np.ndarray, np.ndarray]] = field(repr=False)

    @property
    def features(self) -> list[str]:
        """Feature columns, numeric first."""
        return [*self.numeric, *self.categorical]


@dataclass(frozen=True)
class TuningResult:
    """Outcome of a study.

    Attributes:
        study_name: The study.
        metric: Optimised metric name.
        direction: ``maximize`` or ``minimize``.
        n_trials: Finished trials (complete, pruned, failed).
        n_complete: Completed trials.
        n_pruned: Pruned trials.
        n_failed: Failed trials.
        best_value: Best mean CV score (``None`` if no trial completed).
        best_params: Parameters of the best trial.
        best_trial: Number of the best trial.
        fail_reasons: The most common failure reasons with their counts.
    """

    study_name: str
    metric: str
    direction: str
    n_trials: int
    n_complete: int
    n_pruned: int
    n_failed: int
    best_value: float | None
    best_params: Mapping[str, Any]
    best_trial: int | None
    fail_reasons: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "study_name": self.study_name,
            "metric": self.metric,
            "direction": self.direction,
            "n_trials": self.n_trials,
            "n_complete": self.n_complete,
            "n_pruned": self.n_pruned,
            "n_failed": self.n_failed,
            "best_value": self.best_value,
            "best_params": dict(self.best_params),
            "best_trial": self.best_trial,
            "fail_reasons": [{"reason": r, "count": c} for r, c in self.fail_reasons],
        }


def prepare_data(
    data: pd.DataFrame, *, target: str, timestamp: str | None, config: RetrainConfig
) -> PreparedData:
    """Split off the gate, apply the training window, and build the folds.

    Deterministic for a given input and configuration, so every worker prepares the same data.

    Raises:
        InvalidInputError: If the target is missing, the window selects no rows, or a split
            would be empty or single-class.
    """
    if target not in data.columns:
        raise InvalidInputError(
            f"Target column '{target}' is not in the training data. Pass the right name with "
            "--target or add the column."
        )
    if timestamp is not None and timestamp not in data.columns:
        raise InvalidInputError(
            f"Timestamp column '{timestamp}' is not in the training data. Pass the right name "
            "with --timestamp or leave it out."
        )
    data = data[data[target].notna()].reset_index(drop=True)
    tuning = config.tuning
    task = infer_task(data[target]) if tuning.task == "auto" else tuning.task
    if task == "classification" and data[target].nunique() < 2:
        only = data[target].iloc[0] if len(data) else None
        raise InvalidInputError(
            f"Target column '{target}' has a single class ({only!r}) in the training data; a "
            "classifier needs at least 2. Widen the training data or check the labels."
        )
    train, gate = split_gate(
        data,
        target=target,
        timestamp=timestamp,
        fraction=tuning.gate_fraction,
        task=task,
        random_state=tuning.seed,
    )
    train, weights = apply_window(train, config.window, timestamp=timestamp)
    # Columns ignored for drift (identifiers, free text) are not features either.
    numeric, categorical = split_columns(
        train.drop(columns=[c for c in config.drift.ignore if c in train.columns]),
        target=target,
        timestamp=timestamp,
        kinds=config.drift.columns,
    )
    n_classes = int(train[target].nunique()) if task == "classification" else 0
    metric = get_metric(tuning.metric, task=task, n_classes=n_classes)
    splits = cv_splits(
        train,
        y=train[target],
        timestamp=timestamp,
        task=task,
        n_splits=tuning.cv_folds,
        random_state=tuning.seed,
    )
    return PreparedData(
        train=train,
        gate=gate,
        sample_weight=weights,
        numeric=tuple(numeric),
        categorical=tuple(categorical),
        task=task,
        metric=metric,
        splits=splits,
    )


def make_source(prepared: PreparedData, *, config: RetrainConfig) -> ModelSource:
    """The model source of ``tuning`` (built-ins, declarative classes or a factory).

    Raises:
        InvalidInputError: If a factory or class does not import or does not fit the task.
        InvalidConfigError: If a range is malformed.
    """
    try:
        return model_source(
            config.tuning,
            task=prepared.task,
            columns=FeatureColumns(prepared.numeric, prepared.categorical),
            needs_proba=prepared.metric.needs_proba,
        )
    except ModelSourceError as err:
        raise InvalidInputError(err.message) from None


def make_objective(
    prepared: PreparedData,
    *,
    target: str,
    config: RetrainConfig,
    source: ModelSource | None = None,
) -> Objective:
    """Build the Optuna objective over the prepared training window.

    Its trials run under a native thread limit of ``tuning.threads``: with ``auto``, the
    usable cores divided among the ``tuning.workers`` processes tuning at once.

    Raises:
        InvalidInputError: If the model source is broken (see :func:`make_source`).
    """
    source = source or make_source(prepared, config=config)
    cores = available_cores()
    threads = resolve_threads(config.tuning.threads, workers=config.tuning.workers, cores=cores)
    logger.info(
        "Tuning with %d native thread(s) per trial (tuning.threads = %s, %d worker(s), %d "
        "usable core(s)).",
        threads, config.tuning.threads, config.tuning.workers, cores,
    )  # fmt: skip
    return Objective(
        prepared.train[prepared.features],
        prepared.train[target],
        numeric=prepared.numeric,
        categorical=prepared.categorical,
        task=prepared.task,
        metric=prepared.metric,
        splits=prepared.splits,
        sample_weight=prepared.sample_weight,
        source=source,
        window_fractions=config.window.tune_fractions if config.window.tune else None,
        random_state=config.tuning.seed,
        n_threads=threads,
    )


#: The column of recency weights in the training file an entry point receives.
WEIGHT_COLUMN = "mlflow_retrain_weight"


def make_entry_point_objective(
    prepared: PreparedData,
    *,
    target: str,
    timestamp: str | None,
    config: RetrainConfig,
    experiment_id: str,
    parent_run_id: str,
    folder: Path,
    tags: Mapping[str, str] | None = None,
) -> EntryPointObjective:
    """The objective of ``tuning.entry_point``: each trial a run of the user's entry point.

    Writes the training window (never the gate split) to ``folder/train.parquet``, with the
    recency weights as column ``mlflow_retrain_weight`` when the window has them.

    Raises:
        InvalidConfigError: If the entry point has no search space in ``tuning.space``.
    """
    tuning = config.tuning
    assert tuning.entry_point is not None
    space = entry_point_space(tuning.space, entry_point=tuning.entry_point)
    frame = prepared.train.copy()
    weight_column = None
    if prepared.sample_weight is not None:
        frame[WEIGHT_COLUMN] = prepared.sample_weight
        weight_column = WEIGHT_COLUMN
    path = folder / "train.parquet"
    frame.to_parquet(path, index=False)
    return EntryPointObjective(
        project_uri=tuning.project_uri or default_project_uri(),
        entry_point=tuning.entry_point,
        space=space,
        train_path=str(path),
        target=target,
        timestamp=timestamp,
        weight_column=weight_column,
        metric=prepared.metric,
        experiment_id=experiment_id,
        parent_run_id=parent_run_id,
        tags=tags,
    )


class _HeartbeatStorage(RDBStorage):
    """Optuna's RDB storage, which also finds trials orphaned before their first heartbeat.

    A worker creates a trial and then starts its heartbeat; killed in between, it leaves a
    RUNNING trial with no heartbeat at all, which Optuna never counts as stale, so it would
    stay RUNNING forever. Such a trial is stale once it started longer ago than the grace
    period: a live worker records its first heartbeat within one interval.
    """

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        stale = list(super()._get_stale_trial_ids(study_id))
        assert self.heartbeat_interval is not None
        grace = self.grace_period or 2 * self.heartbeat_interval
        try:
            from optuna.storages._rdb import models
            from optuna.storages._rdb.storage import _create_scoped_session

            # Optuna writes ``datetime_start`` with the worker's local clock: compare with it.
            now = datetime.now()
            with _create_scoped_session(self.scoped_session, True) as session:
                running = (
                    session.query(models.TrialModel)
                    .filter(models.TrialModel.state == TrialState.RUNNING)
                    .filter(models.TrialModel.study_id == study_id)
                    .all()
                )
                for trial in running:
                    started = trial.datetime_start
                    if (
                        not trial.heartbeats
                        and started is not None
                        and (now - started.replace(tzinfo=None)).total_seconds() > grace
                        and int(trial.trial_id) not in stale
                    ):
                        stale.append(int(trial.trial_id))
        except (ImportError, AttributeError) as err:  # an Optuna without these internals
            logger.debug("Cannot look for trials without a heartbeat: %s", err)
        return stale


def open_study(
    study_name: str,
    *,
    storage: str | None,
    direction: str,
    config: RetrainConfig,
    create: bool = True,
) -> optuna.Study:
    """Create or load a study: seeded TPE, median pruner, heartbeat on RDB storages.

    Raises:
        InvalidInputError: If ``create`` is false and the study does not exist.
    """
    tuning = config.tuning
    storage_obj: Any = storage
    if storage is not None and not storage.startswith(("journal", "redis")):
        # Heartbeats have been "experimental" since Optuna 2.8; they are what makes a killed
        # worker's trial come back, so we rely on them deliberately.
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        try:
            storage_obj = _HeartbeatStorage(
                storage,
                heartbeat_interval=tuning.heartbeat_interval,
                grace_period=2 * tuning.heartbeat_interval,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                    max_retry=tuning.max_retries
                ),
            )
        except (SQLAlchemyError, ImportError, ValueError) as err:
            raise _storage_error(storage, err) from None
    sampler = optuna.samplers.TPESampler(seed=tuning.seed)
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
        if tuning.pruner == "median"
        else optuna.pruners.NopPruner()
    )
    if not create:
        try:
            return optuna.load_study(
                study_name=study_name, storage=storage_obj, sampler=sampler, pruner=pruner
            )
        except KeyError as err:
            raise InvalidInputError(
                f"Optuna study '{study_name}' does not exist in the given storage. Start it "
                "with `mlflow-retrain retrain` first, or check --study-name and --storage."
            ) from err
    return optuna.create_study(
        study_name=study_name,
        storage=storage_obj,
        sampler=sampler,
        pruner=pruner,
        direction=direction,  # type: ignore[arg-type]
        load_if_exists=True,
    )


def _storage_error(storage: str, err: Exception) -> InvalidInputError:
    # The driver's message can quote the URL; show only the redacted form and the error type.
    return InvalidInputError(
        f"Cannot open the Optuna storage {describe_uri(storage)} "
        f"({err.__class__.__name__}). Check --storage / tuning.storage, that the database is "
        "reachable, and that its driver is installed (for PostgreSQL: "
        "pip install 'mlflow-retrain[postgres]')."
    )


def load_spec(study: optuna.Study) -> TuningSpec:
    """Read the job a worker has to do from the study.

    Raises:
        InvalidInputError: If the study was not started by ``mlflow-retrain retrain``.
    """
    raw = study.user_attrs.get(SPEC_ATTR)
    if not isinstance(raw, Mapping):
        raise InvalidInputError(
            f"Study '{study.study_name}' was not started by `mlflow-retrain retrain` (it has "
            f"no '{SPEC_ATTR}' attribute), so a worker cannot join it."
        )
    return TuningSpec(**raw)


def run_trials(
    study: optuna.Study,
    objective: Objective | EntryPointObjective,
    *,
    n_trials: int,
    timeout: float | None,
    trial_logger: MlflowTrialLogger | None,
) -> None:
    """Run trials until the study holds ``n_trials`` finished ones (complete or pruned).

    Trials stopped by a configuration or numerical problem fail (and are logged FAILED with
    their reason) without stopping the study. Progress shows as a bar on a terminal and as log
    lines otherwise.

    Raises:
        InvalidInputError: If the model source is broken (a factory that raises or returns
            no estimator): the study stops at once.
    """
    callbacks: list[Any] = [
        MaxTrialsCallback(n_trials, states=(TrialState.COMPLETE, TrialState.PRUNED)),
        _ProgressLog(n_trials),
    ]
    if trial_logger is not None:
        callbacks.insert(0, trial_logger)
    done = _count(study, (TrialState.COMPLETE, TrialState.PRUNED))
    if done >= n_trials:
        logger.info("Study %s already has %d finished trials.", study.study_name, done)
        return
    # A bound on this process's own trials, so a study where every trial fails still ends.
    try:
        study.optimize(
            objective,
            n_trials=n_trials,
            timeout=timeout,
            catch=TRIAL_ERRORS,
            callbacks=callbacks,
            show_progress_bar=sys.stderr.isatty(),
        )
    except ModelSourceError as err:
        raise InvalidInputError(err.message) from None


def spawn_workers(
    count: int, *, study_name: str, storage: str, n_trials: int
) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` ``tune-worker`` processes joining the study.

    The storage URL travels in the environment (``MLFLOW_RETRAIN_TUNING__STORAGE``), not on
    the command line, so a database password never shows in the process list.
    """
    import mlflow

    env = dict(os.environ)
    env["MLFLOW_RETRAIN_TUNING__STORAGE"] = storage
    env["MLFLOW_TRACKING_URI"] = mlflow.get_tracking_uri()
    command = [
        sys.executable, "-m", "mlflow_retrain.cli", "tune-worker",
        "--study-name", study_name, "--n-trials", str(n_trials),
    ]  # fmt: skip
    return [subprocess.Popen(command, env=env) for _ in range(count)]


def summarize(study: optuna.Study, *, metric: Metric) -> TuningResult:
    """Summarise a study's trials."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    best: FrozenTrial | None = study.best_trial if complete else None
    reasons = Counter(
        str(t.user_attrs.get("fail_reason") or "unknown error (see the worker's log)")
        for t in failed
    )
    return TuningResult(
        study_name=study.study_name,
        metric=metric.name,
        direction=metric.direction,
        n_trials=len(complete) + len(failed) + _count(study, (TrialState.PRUNED,)),
        n_complete=len(complete),
        n_pruned=_count(study, (TrialState.PRUNED,)),
        n_failed=len(failed),
        best_value=None if best is None else float(best.values[0]),
        best_params={} if best is None else dict(best.params),
        best_trial=None if best is None else best.number,
        fail_reasons=tuple(reasons.most_common(3)),
    )


def _count(study: optuna.Study, states: Sequence[TrialState]) -> int:
    return len(study.get_trials(deepcopy=False, states=tuple(states)))


class _ProgressLog:
    """Log one line per finished trial (the progress bar's stand-in off a terminal)."""

    def __init__(self, n_trials: int) -> None:
        self.n_trials = n_trials

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        done = _count(study, (TrialState.COMPLETE, TrialState.PRUNED))
        best = ""
        if _count(study, (TrialState.COMPLETE,)):
            best = f", best {study.best_value:.4g} (trial {study.best_trial.number})"
        value = f" {trial.values[0]:.4g}" if trial.values else ""
        logger.info(
            "Trial %d %s%s; %d/%d finished%s.",
            trial.number, trial.state.name.lower(), value, done, self.n_trials, best,
        )  # fmt: skip

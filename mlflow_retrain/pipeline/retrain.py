"""The ``retrain`` step and the tuning worker: Optuna-tuned retraining of a challenger."""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import math
import os
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.config import ENV_PREFIX, RetrainConfig, load_config
from mlflow_retrain.data.io import describe_uri, load_table
from mlflow_retrain.data.table import Table, as_table, write_parquet
from mlflow_retrain.data.validate import validate_reference
from mlflow_retrain.drift.profile import build_profile
from mlflow_retrain.exceptions import CircuitBreakerOpen, InvalidInputError
from mlflow_retrain.metrics import lookup_metric
from mlflow_retrain.pipeline.compare import LoadedModel
from mlflow_retrain.pipeline.steps import flatten, log_dataset, now_ms, step_params, step_run
from mlflow_retrain.registry.describe import (
    describe_model,
    describe_status,
    describe_version,
    experiment_of,
)
from mlflow_retrain.registry.lifecycle import register_challenger
from mlflow_retrain.registry.policies import policy_from_config, store_policy
from mlflow_retrain.registry.versions import find_version
from mlflow_retrain.report.figures import (
    plot_optimization_history,
    plot_param_importances,
    plot_slice,
)
from mlflow_retrain.report.html import format_number
from mlflow_retrain.report.markdown import training_markdown
from mlflow_retrain.tuning.entry_point import MODEL_URI_ATTR
from mlflow_retrain.tuning.factory import (
    ModelSource,
    ModelSourceError,
    model_packages,
    shipped_code,
    weight_params,
)
from mlflow_retrain.tuning.importance import importance_shares
from mlflow_retrain.tuning.objective import WINDOW_FRACTION_PARAM, most_recent
from mlflow_retrain.tuning.study import (
    STUDY_SPEC_ATTR,
    PreparedData,
    TuningResult,
    TuningSpec,
    load_spec,
    make_entry_point_objective,
    make_objective,
    make_source,
    open_study,
    prepare_data,
    run_trials,
    spawn_workers,
    summarize,
)
from mlflow_retrain.tuning.threads import limit_threads, resolve_threads
from mlflow_retrain.tuning.tracking import MlflowTrialLogger

__all__ = [
    "RetrainResult",
    "fit_best",
    "format_retrain",
    "format_tuning",
    "run_retrain",
    "run_tune_worker",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrainResult:
    """Result of :func:`run_retrain`.

    Attributes:
        model_name: Registered model name.
        version: The registered challenger version.
        alias: Alias set on it (``challenger``).
        run_id: The retrain step's run (parent of the trial runs).
        model_uri: The logged model.
        task: ``classification`` or ``regression``.
        metric: The optimised metric.
        cv_score: Best mean cross-validation score.
        best_params: The best trial's parameters.
        n_train: Rows in the training window.
        n_gate: Rows in the gate split.
        gate_uri: Where the gate split is stored (``runs:/<run>/gate/gate.parquet``).
        gate_digest: Digest of the gate split.
        training_digest: Digest of the training window.
        study: The study's summary.
        reused: The version had been registered by an earlier attempt of the same run.
        new_model: The registered model was created for this version (it did not exist).
        gate: The gate split as stored at ``gate_uri``, for a comparison in the same process
            (``run_compare(data=result.gate)`` reads nothing); ``None`` when an earlier
            attempt registered the version. Not part of the JSON form.
    """

    model_name: str
    version: str
    alias: str
    run_id: str
    model_uri: str
    task: str
    metric: str
    cv_score: float | None
    best_params: Mapping[str, Any]
    n_train: int
    n_gate: int
    gate_uri: str
    gate_digest: str
    training_digest: str
    study: TuningResult | None
    reused: bool = False
    new_model: bool = False
    gate: Table | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form documented in docs/schemas.md."""
        return {
            "model_name": self.model_name,
            "version": self.version,
            "alias": self.alias,
            "run_id": self.run_id,
            "model_uri": self.model_uri,
            "task": self.task,
            "metric": self.metric,
            "cv_score": self.cv_score,
            "best_params": dict(self.best_params),
            "n_train": self.n_train,
            "n_gate": self.n_gate,
            "gate_uri": self.gate_uri,
            "gate_digest": self.gate_digest,
            "training_digest": self.training_digest,
            "study": None if self.study is None else self.study.to_dict(),
            "reused": self.reused,
            "new_model": self.new_model,
        }


def format_retrain(result: RetrainResult) -> str:
    """What ``mlflow-retrain retrain`` prints: the version registered, its score, the split."""
    study = result.study
    counts = (
        f" ({study.n_complete} complete, {study.n_pruned} pruned, {study.n_failed} failed)"
        if study
        else ""
    )
    again = " (registered by an earlier attempt)" if result.reused else ""
    if result.new_model:
        again += f" (a new registered model: '{result.model_name}' did not exist)"
    return (
        f"Registered {result.model_name} version {result.version} as "
        f"@{result.alias}{again}: best cross-validated {result.metric} "
        f"{format_number(result.cv_score)} over the trials{counts}.\n"
        f"Training window {result.n_train} rows, gate split {result.n_gate} rows "
        f"(kept for the comparison step at {result.gate_uri}).\n"
        f"MLflow run: {result.run_id}"
    )


def format_tuning(result: TuningResult) -> str:
    """What ``mlflow-retrain tune-worker`` prints: the study's trials and best score."""
    return (
        f"Study {result.study_name}: {result.n_complete} complete, {result.n_pruned} pruned, "
        f"{result.n_failed} failed; best {result.metric} {format_number(result.best_value)}."
    )


def run_retrain(
    train: str | Table,
    *,
    model_name: str,
    config: RetrainConfig | None = None,
    target: str | None = None,
    timestamp: str | None = None,
    experiment_name: str | None = None,
    trigger: str = "manual",
    pipeline_run_id: str | None = None,
    run_name: str = "retrain",
) -> RetrainResult:
    """Tune, refit and register a challenger; log the whole lineage to MLflow.

    The step's run gets the training window and gate split as datasets, one child run per
    Optuna trial, the best parameters and CV score, Optuna figures, the gate split as an
    artifact, and the refitted model (with signature, input example and the training data's
    reference profile). The model is registered as a new version of ``model_name`` with the
    alias ``challenger`` and lineage tags. A pipeline run registers at most one version.

    Args:
        train: URI of the training data (history plus new data), or the data already read (a
            :class:`~mlflow_retrain.data.table.Table`, whose ``source`` the run and the version
            record as the training data's origin, and which tuning workers in other processes
            read).
        model_name: Registered model name.
        config: Settings (tuning, window, ...); CLI options are applied by the caller.
        target: Label column (default ``config.target``).
        timestamp: Time column (default ``config.timestamp``).
        experiment_name: Experiment to log to.
        trigger: Why the retrain happens (recorded on the version).
        pipeline_run_id: The pipeline run this step belongs to (the idempotency key).
        run_name: Name of the step's run.

    Returns:
        What was registered.

    Raises:
        InvalidInputError: Unreadable data, a missing target, an empty window.
        CircuitBreakerOpen: Every trial failed, or the best score is below the floor.
    """
    config = config or RetrainConfig()
    target = target or config.target
    timestamp = timestamp or config.timestamp
    if not target:
        raise InvalidInputError("No target column: pass --target or set 'target' in retrain.yaml.")
    client = MlflowClient()
    if pipeline_run_id is not None:
        done = find_version(
            client, model_name, tag=lineage.TAG_PIPELINE_RUN, value=pipeline_run_id
        )
        if done is not None:
            return _already_registered(client, done)
    with step_run("retrain", run_name=run_name, experiment_name=experiment_name) as run_id:
        run = client.get_run(run_id)
        parent = run.data.tags.get("mlflow.parentRunId")
        pipeline_run_id = pipeline_run_id or parent
        table = as_table(train)
        train_uri, data = table.source, table.frame
        validate_reference(data, name="training data")
        prepared = prepare_data(data, target=target, timestamp=timestamp, config=config)
        policy_from_config(prepared.task, config.policy)  # a bad policy fails now, not later
        entry_point = config.tuning.entry_point is not None
        # A factory or class that won't import fails now, before any trial.
        source = None if entry_point else make_source(prepared, config=config)
        tuning = config.tuning
        study_name = tuning.study_name or f"retrain-{run_id}"
        with contextlib.ExitStack() as stack:
            storage = tuning.storage
            if storage is None and tuning.workers > 1:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                storage = f"sqlite:///{folder / 'optuna.db'}"
            study = open_study(
                study_name, storage=storage, direction=prepared.metric.direction, config=config
            )
            spec = TuningSpec(
                train_uri=train_uri,
                target=target,
                timestamp=timestamp,
                config=_without_storage(config),
                experiment_id=run.info.experiment_id,
                parent_run_id=run_id,
                pipeline_run_id=pipeline_run_id,
            )
            study.set_user_attr(STUDY_SPEC_ATTR, spec.to_dict())
            trial_tags = {lineage.TAG_PIPELINE_RUN: pipeline_run_id} if pipeline_run_id else {}
            trial_logger = MlflowTrialLogger(
                experiment_id=run.info.experiment_id,
                parent_run_id=run_id,
                metric_name=prepared.metric.name,
                tracking_uri=mlflow.get_tracking_uri(),
                tags=trial_tags,
            )
            workers = (
                spawn_workers(
                    tuning.workers - 1,
                    study_name=study_name,
                    storage=str(storage),
                    n_trials=tuning.n_trials,
                )
                if tuning.workers > 1
                else []
            )
            try:
                objective: Any
                if source is None:
                    objective = make_entry_point_objective(
                        prepared, target=target, timestamp=timestamp, config=config,
                        experiment_id=run.info.experiment_id, parent_run_id=run_id,
                        folder=Path(stack.enter_context(tempfile.TemporaryDirectory())),
                        tags=trial_tags,
                    )  # fmt: skip
                else:
                    objective = make_objective(
                        prepared, target=target, config=config, source=source
                    )
                run_trials(
                    study,
                    objective,
                    n_trials=tuning.n_trials,
                    timeout=tuning.timeout,
                    trial_logger=trial_logger,
                )
            finally:
                for worker in workers:
                    if worker.wait() != 0:
                        logger.warning("A tuning worker exited with code %s.", worker.returncode)
            summary = summarize(study, metric=prepared.metric)
            figures = _optuna_figures(study, summary)
        _check_tuning(summary, config)
        assert summary.best_value is not None
        model_uri = None
        if source is None:  # the winning trial's run logged the model: it is registered
            model_uri = str(study.best_trial.user_attrs[MODEL_URI_ATTR])
            labels = (
                np.unique(prepared.train[target]) if prepared.task == "classification" else None
            )
            model = LoadedModel(model_uri, task=prepared.task, labels=labels)
        else:
            model = fit_best(
                prepared, summary.best_params, target=target, config=config, source=source
            )
        # Everything is computed and checked: now record it and register.
        return _record_retrain(
            client,
            run_id=run_id,
            model_name=model_name,
            model=model,
            prepared=prepared,
            summary=summary,
            figures=figures,
            train_uri=train_uri,
            target=target,
            timestamp=timestamp,
            config=config,
            trigger=trigger,
            pipeline_run_id=pipeline_run_id,
            source=source,
            model_uri=model_uri,
        )


def _check_tuning(summary: TuningResult, config: RetrainConfig) -> None:
    if summary.n_complete == 0:
        reason = summary.fail_reasons[0][0] if summary.fail_reasons else "all trials were pruned"
        raise CircuitBreakerOpen(
            f"No tuning trial succeeded ({summary.n_failed} failed, {summary.n_pruned} pruned; "
            f"most common reason: {reason}). Nothing was registered. Fix the cause or change "
            "tuning.estimators / tuning.space in retrain.yaml."
        )
    floor = config.tuning.min_score
    if floor is not None and summary.best_value is not None:
        worse = (
            summary.best_value < floor
            if summary.direction == "maximize"
            else summary.best_value > floor
        )
        if worse:
            raise CircuitBreakerOpen(
                f"The best cross-validated {summary.metric} is {summary.best_value:.4g}, worse "
                f"than the floor tuning.min_score = {floor:g}. Nothing was registered. Check "
                "the training data or lower the floor."
            )


def fit_best(
    prepared: PreparedData,
    best_params: Mapping[str, Any],
    *,
    target: str,
    config: RetrainConfig,
    source: ModelSource | None = None,
) -> Any:
    """Refit the best configuration on the whole training window (not the gate split).

    The best trial is replayed through the model source (``optuna.trial.FixedTrial``), so a
    factory builds exactly the tuned model. The refit runs after every local tuning worker
    has stopped, so with ``tuning.threads: auto`` it may use all the usable cores; an
    explicit ``tuning.threads`` caps it as it caps each trial.

    Raises:
        InvalidInputError: If the model source is broken.
    """
    import optuna

    source = source or make_source(prepared, config=config)
    # A tuned window keeps the most recent share of the rows, chosen as in tuning.
    rows = most_recent(
        np.arange(len(prepared.train)), float(best_params.get(WINDOW_FRACTION_PARAM, 1.0))
    )
    train = prepared.train.iloc[rows]
    weights = None if prepared.sample_weight is None else prepared.sample_weight[rows]
    try:
        _, model = source.build(optuna.trial.FixedTrial(dict(best_params)))
    except ModelSourceError as err:
        raise InvalidInputError(err.message) from None
    fit_params = weight_params(model, weights)
    with limit_threads(resolve_threads(config.tuning.threads, workers=1)):
        model.fit(train[prepared.features], train[target], **fit_params)
    return model


def _record_retrain(
    client: MlflowClient,
    *,
    run_id: str,
    model_name: str,
    model: Any,
    prepared: PreparedData,
    summary: TuningResult,
    figures: Mapping[str, bytes],
    train_uri: str,
    target: str,
    timestamp: str | None,
    config: RetrainConfig,
    trigger: str,
    pipeline_run_id: str | None,
    source: ModelSource | None,
    model_uri: str | None = None,
) -> RetrainResult:
    from mlflow.models import infer_signature

    features = prepared.features
    gate_uri = f"runs:/{run_id}/gate/gate.parquet"
    with tempfile.TemporaryDirectory() as tmp:
        # The gate split's digest is that of the stored gate.parquet as `compare` reads it
        # back (or is handed it), so the version, both runs and the evidence show one digest.
        gate_path = Path(tmp) / "gate.parquet"
        gate = write_parquet(prepared.gate, gate_path)
        mlflow.log_artifact(str(gate_path), artifact_path="gate")
    train_ds = log_dataset(prepared.train, source=train_uri, name="training",
                           context=lineage.CONTEXT_TRAINING, targets=target)  # fmt: skip
    gate_ds = log_dataset(gate, source=train_uri, name="gate", context=lineage.CONTEXT_GATE,
                          targets=target)  # fmt: skip
    example = prepared.train[features].head(5)
    signature = None
    if model_uri is None:  # a model an entry point logged has its own signature
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
            signature = infer_signature(example, model.predict(example))
    best = summary.best_params
    metric_key = f"best_cv_{summary.metric}"
    client.log_batch(
        run_id,
        metrics=[
            Metric(metric_key, float(summary.best_value or math.nan), now_ms(), 0),
            Metric("n_trials_complete", summary.n_complete, now_ms(), 0),
            Metric("n_trials_pruned", summary.n_pruned, now_ms(), 0),
            Metric("n_trials_failed", summary.n_failed, now_ms(), 0),
            Metric("n_train", len(prepared.train), now_ms(), 0),
            Metric("n_gate", len(prepared.gate), now_ms(), 0),
        ],
        params=step_params(
            run_id,
            [
                Param("train_uri", describe_uri(train_uri)),
                Param("target", target),
                Param("timestamp", timestamp or ""),
                Param("model_name", model_name),
                Param("task", prepared.task),
                Param("metric", summary.metric),
                *[Param(f"best.{k}", lineage.truncate_tag(str(v))) for k, v in best.items()],
                *[
                    Param(f"config.{k}", lineage.truncate_tag(str(v)))
                    for k, v in flatten(_without_storage(config), "").items()
                    if k.startswith(("tuning.", "window."))
                ],
            ],
        ),
        tags=[
            RunTag(lineage.TAG_STUDY_NAME, summary.study_name),
            RunTag(lineage.TAG_CV_METRIC, summary.metric),
            RunTag(lineage.TAG_CV_SCORE, f"{summary.best_value:.6g}"),
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if figures:
            (folder / "tuning").mkdir()
            for name, png in figures.items():
                (folder / "tuning" / f"{name}.png").write_bytes(png)
            mlflow.log_artifacts(str(folder / "tuning"), artifact_path="tuning")
        # The profile carries the model's importance, by which drift weighs its columns.
        importance = importance_shares(
            model, prepared.gate, prepared.gate[target], features=features,
            metric=lookup_metric(summary.metric), seed=config.tuning.seed,
        )  # fmt: skip
        profile = build_profile(
            prepared.train[features],
            kinds=dict.fromkeys(prepared.categorical, "categorical"),
            max_points=config.profile.max_points,
            max_levels=config.drift.categorical.max_levels,
            source=describe_uri(train_uri),
        ).with_importance(importance)
        profile_path = folder / "reference_profile.json"
        profile_path.write_text(profile.to_json(), encoding="utf-8")
        mlflow.log_artifact(str(profile_path), artifact_path="profile")
        if model_uri is None:
            code = [] if source is None else shipped_code(source)
            info = _log_model(
                model, example=example, signature=signature, extra=[profile_path], code=code
            )
            model_uri = str(info.model_uri)
    tags = {
        lineage.TAG_STATUS: lineage.STATUS_CANDIDATE,
        lineage.TAG_TRAINING_RUN: run_id,
        lineage.TAG_TRIGGER: trigger,
        lineage.TAG_TARGET: target,
        lineage.TAG_TASK: prepared.task,
        lineage.TAG_TRAINING_DIGEST: str(train_ds.digest),
        lineage.TAG_GATE_DIGEST: str(gate_ds.digest),
        lineage.TAG_GATE_URI: gate_uri,
        lineage.TAG_TRAINING_SOURCE: describe_uri(train_uri),
        lineage.TAG_WINDOW: json.dumps(config.to_dict()["window"], sort_keys=True),
        lineage.TAG_BEST_PARAMS: lineage.truncate_tag(json.dumps(dict(best), sort_keys=True)),
        lineage.TAG_CV_METRIC: summary.metric,
        lineage.TAG_CV_SCORE: f"{summary.best_value:.6g}",
        lineage.TAG_PROFILE_URI: f"runs:/{run_id}/profile/reference_profile.json",
        lineage.TAG_STUDY_NAME: summary.study_name,
    }
    if pipeline_run_id:
        tags[lineage.TAG_PIPELINE_RUN] = pipeline_run_id
    key = (lineage.TAG_PIPELINE_RUN, pipeline_run_id) if pipeline_run_id else (
        lineage.TAG_TRAINING_RUN, run_id
    )  # fmt: skip
    policy = policy_from_config(prepared.task, config.policy)
    version = register_challenger(
        client,
        model_name,
        model_uri=model_uri,
        run_id=run_id,
        tags=tags,
        idempotency_key=key,
    )
    if policy is not None:
        # `policy:` in retrain.yaml is the model's policy from now on (as `policy set`).
        store_policy(client, model_name, policy)
    _describe(client, model_name, version.version, tags, run_id=run_id,
              n_train=len(prepared.train), n_gate=len(prepared.gate))  # fmt: skip
    return RetrainResult(
        model_name=model_name,
        version=version.version,
        alias=lineage.ALIAS_CHALLENGER,
        run_id=run_id,
        model_uri=model_uri,
        task=prepared.task,
        metric=summary.metric,
        cv_score=summary.best_value,
        best_params=dict(best),
        n_train=len(prepared.train),
        n_gate=len(prepared.gate),
        gate_uri=gate_uri,
        gate_digest=str(gate_ds.digest),
        training_digest=str(train_ds.digest),
        study=summary,
        reused=version.reused,
        new_model=version.new_model,
        gate=Table(gate, gate_uri),
    )


def _describe(
    client: MlflowClient,
    name: str,
    version: str,
    tags: Mapping[str, str],
    *,
    run_id: str,
    n_train: int,
    n_gate: int,
) -> None:
    """Write the version description's ``training`` and ``status`` sections, and refresh the
    registered model's description, whose alias list now names the new ``challenger``."""
    body = training_markdown(
        tags,
        run_id=run_id,
        experiment_id=experiment_of(client, run_id),
        n_train=n_train,
        n_gate=n_gate,
    )
    describe_version(client, name, version, {"training": body})
    describe_status(client, name, [version])
    describe_model(client, name)


def _log_model(
    model: Any, *, example: pd.DataFrame, signature: Any, extra: list[Path], code: list[Path]
) -> Any:
    """Log a scikit-learn pipeline that loads without this package, with skops where MLflow
    defaults to it.

    The model ships :mod:`mlflow_retrain_runtime` (its column converters) and the user's
    factory code (``code``) as ``code_paths``, and pins what it needs: MLflow, the
    serialisation library, and every installed distribution its pickle refers to
    (scikit-learn, numpy, pandas, LightGBM, ...), so it loads and predicts in an environment
    with only its ``requirements.txt``; neither mlflow-retrain nor Optuna, boto3 or click.

    MLflow 3.17+ saves scikit-learn models with skops, which refuses to load types it does not
    trust (tree models' ``sklearn.tree._tree.Tree``, say). We built or fitted every object in
    this pipeline ourselves, so we trust exactly the types it contains.
    """
    import mlflow.sklearn

    import mlflow_retrain_runtime

    kwargs: dict[str, Any] = {}
    serializer = "cloudpickle"
    if "skops_trusted_types" in inspect.signature(mlflow.sklearn.log_model).parameters:
        import skops.io

        kwargs["serialization_format"] = "skops"
        kwargs["skops_trusted_types"] = skops.io.get_untrusted_types(data=skops.io.dumps(model))
        serializer = "skops"
    runtime = Path(mlflow_retrain_runtime.__file__).parent
    code_paths = [runtime, *code]
    return mlflow.sklearn.log_model(
        model,
        name="model",
        signature=signature,
        input_example=example,
        extra_files=[str(p) for p in extra],
        code_paths=[str(p) for p in code_paths],
        pip_requirements=_model_requirements(
            model, serializer=serializer, shipped=[p.stem for p in code_paths]
        ),
        **kwargs,
    )


def _model_requirements(model: Any, *, serializer: str, shipped: list[str]) -> list[str]:
    """Pinned requirements of a logged model: MLflow, its serialiser, what its pickle uses.

    Naming them is much faster than MLflow's inference, which runs a subprocess and would
    list this package itself (not on PyPI) and test tools.
    """
    from importlib import metadata

    packages = model_packages(model, shipped=shipped)
    for name in ("mlflow", serializer, "scikit-learn", "pandas", "numpy"):
        try:
            packages.setdefault(name, metadata.version(name))
        except metadata.PackageNotFoundError:  # pragma: no cover - a broken installation
            continue
    return [f"{name}=={version}" for name, version in sorted(packages.items())]


def _already_registered(client: MlflowClient, version: Any) -> RetrainResult:
    tags = version.tags
    return RetrainResult(
        model_name=version.name,
        version=str(version.version),
        alias=lineage.ALIAS_CHALLENGER,
        run_id=str(version.run_id),
        model_uri=str(version.source),
        task=tags.get(lineage.TAG_TASK, ""),
        metric=tags.get(lineage.TAG_CV_METRIC, ""),
        cv_score=float(tags[lineage.TAG_CV_SCORE]) if lineage.TAG_CV_SCORE in tags else None,
        best_params=json.loads(tags.get(lineage.TAG_BEST_PARAMS, "{}")),
        n_train=0,
        n_gate=0,
        gate_uri=tags.get(lineage.TAG_GATE_URI, ""),
        gate_digest=tags.get(lineage.TAG_GATE_DIGEST, ""),
        training_digest=tags.get(lineage.TAG_TRAINING_DIGEST, ""),
        study=None,
        reused=True,
    )


def _optuna_figures(study: Any, summary: TuningResult) -> dict[str, bytes]:
    """The study's figures as PNG: optimisation history, slice, hyperparameter importances.

    Drawn by :mod:`mlflow_retrain.report.figures` rather than Optuna's matplotlib plots,
    which label the y axis "Objective Value", leave pruned trials out, clip long parameter
    names and squeeze every parameter's slice into one strip (and set pyplot's global style).
    """
    from optuna.importance import get_param_importances

    trials = study.get_trials(deepcopy=False)
    metric, direction = summary.metric, summary.direction
    drawn = {
        "optimization_history": plot_optimization_history(
            trials, metric=metric, direction=direction
        ),
        "slice": plot_slice(trials, metric=metric, direction=direction),
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # parts of Optuna's importance API are experimental
            importances = get_param_importances(study)
    except (ValueError, RuntimeError, ZeroDivisionError) as err:
        # Importances need two or more completed trials with varying parameters.
        logger.info("Skipped the hyperparameter importance figure: %s", err)
    else:
        drawn["param_importances"] = plot_param_importances(
            importances, metric=metric, method="PED-ANOVA", n_trials=summary.n_complete
        )
    return {name: png for name, png in drawn.items() if png is not None}


def _without_storage(config: RetrainConfig) -> dict[str, Any]:
    data = config.to_dict()
    data["tuning"]["storage"] = None  # may carry a database password
    return data


def _with_local_threads(config: RetrainConfig) -> RetrainConfig:
    """Apply this machine's ``MLFLOW_RETRAIN_TUNING__THREADS`` over the study's setting.

    The study carries the starting machine's configuration; a worker on another machine
    knows its own cores (precedence: environment over file).
    """
    key = ENV_PREFIX + "TUNING__THREADS"
    if not os.environ.get(key):
        return config
    local = load_config(None, environ={key: os.environ[key]})
    return config.with_overrides({"tuning.threads": local.tuning.threads})


def run_tune_worker(study_name: str, *, storage: str, n_trials: int | None = None) -> TuningResult:
    """Join a running study as one more worker process (``mlflow-retrain tune-worker``).

    The worker reads its job from the study, prepares the same data, and logs each trial it
    runs as a child of the study's retrain run.

    Args:
        study_name: The study to join.
        storage: Its Optuna storage URL.
        n_trials: Stop when the study holds this many finished trials (default: the
            study's own budget).

    Returns:
        The study's summary when this worker stops.

    Raises:
        InvalidInputError: If the study does not exist or was not started by ``retrain``.
    """
    probe = RetrainConfig()
    study = open_study(
        study_name, storage=storage, direction="maximize", config=probe, create=False
    )
    spec = load_spec(study)
    config = _with_local_threads(spec.retrain_config())
    # Reopen with the study's own settings (sampler seed, pruner, heartbeat).
    study = open_study(
        study_name, storage=storage, direction="maximize", config=config, create=False
    )
    data = load_table(spec.train_uri)
    prepared = prepare_data(data, target=spec.target, timestamp=spec.timestamp, config=config)
    tags = {lineage.TAG_PIPELINE_RUN: spec.pipeline_run_id} if spec.pipeline_run_id else {}
    trial_logger = MlflowTrialLogger(
        experiment_id=spec.experiment_id,
        parent_run_id=spec.parent_run_id,
        metric_name=prepared.metric.name,
        tags=tags,
    )
    with tempfile.TemporaryDirectory() as folder:
        objective: Any
        if config.tuning.entry_point is not None:
            objective = make_entry_point_objective(
                prepared, target=spec.target, timestamp=spec.timestamp, config=config,
                experiment_id=spec.experiment_id, parent_run_id=spec.parent_run_id,
                folder=Path(folder), tags=tags,
            )  # fmt: skip
        else:
            objective = make_objective(prepared, target=spec.target, config=config)
        run_trials(
            study,
            objective,
            n_trials=n_trials or config.tuning.n_trials,
            timeout=config.tuning.timeout,
            trial_logger=trial_logger,
        )
    return summarize(study, metric=prepared.metric)

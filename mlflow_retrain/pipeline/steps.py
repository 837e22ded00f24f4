"""Shared machinery of the pipeline steps: the step run's lifecycle and small helpers.

A step computes everything before it writes anything, so a failure leaves only a FAILED run
whose tags give the reason: no metrics, no artifacts, no registry change.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain._version import __version__
from mlflow_retrain.data.sources import dataset_source
from mlflow_retrain.exceptions import CircuitBreakerOpen, InvalidInputError

__all__ = [
    "file_safe",
    "flatten",
    "frame_digest",
    "log_dataset",
    "now_ms",
    "pandas_dataset",
    "record_project_run_failure",
    "step_params",
    "step_run",
    "urlpath",
    "where_to_look",
]

logger = logging.getLogger(__name__)


def urlpath(uri: str) -> str:
    """Return the path part of a URI or local path, without query or fragment."""
    return uri.split("?", 1)[0].split("#", 1)[0]


@contextlib.contextmanager
def step_run(step: str, *, run_name: str, experiment_name: str | None = None) -> Iterator[str]:
    """Open the MLflow run of one step and close it FINISHED, or FAILED with the reason.

    Under ``mlflow run`` the project's run is resumed (``MLFLOW_RUN_ID``); inside another
    active run a nested child run is created.

    Yields:
        The run id.
    """
    if experiment_name and mlflow.active_run() is None:
        mlflow.set_experiment(experiment_name)
    nested = mlflow.active_run() is not None
    run = mlflow.start_run(run_name=run_name, nested=nested)
    mlflow.set_tags({lineage.TAG_STEP: step, lineage.TAG_VERSION: __version__})
    try:
        yield run.info.run_id
    except (InvalidInputError, CircuitBreakerOpen) as err:
        tags = {lineage.TAG_FAILURE_REASON: lineage.truncate_tag(err.message)}
        if isinstance(err, CircuitBreakerOpen):
            tags[lineage.TAG_CIRCUIT_BREAKER] = "open"
        _fail(run.info.run_id, tags)
        raise
    except BaseException as err:
        reason = f"{err.__class__.__name__}: {err}" if str(err) else err.__class__.__name__
        _fail(run.info.run_id, {lineage.TAG_FAILURE_REASON: lineage.truncate_tag(reason)})
        raise
    mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))


def _fail(run_id: str, tags: Mapping[str, str]) -> None:
    try:
        MlflowClient().log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    except MlflowException:  # The reason is also on stderr; never mask the real error.
        logger.warning("Could not record the failure reason on run %s.", run_id)
    mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))


def record_project_run_failure(reason: str) -> None:
    """Under ``mlflow run``, put the reason on the project's run when no step did.

    ``mlflow run`` starts the run before the entry point runs and marks it FAILED when the
    entry point fails; an error raised before any step resumed the run (an invalid
    ``retrain.yaml``, an unknown model) would otherwise leave it without a reason. Outside
    ``mlflow run`` (no ``MLFLOW_RUN_ID``) this does nothing; a failure to write only warns.

    Args:
        reason: The one-line reason, as printed on stderr.
    """
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return
    try:
        client = MlflowClient()
        if lineage.TAG_FAILURE_REASON not in client.get_run(run_id).data.tags:
            client.set_tag(run_id, lineage.TAG_FAILURE_REASON, lineage.truncate_tag(reason))
    except MlflowException:
        logger.warning("Could not record the failure on run %s.", run_id)


def where_to_look(run_id: str | None = None) -> str:
    """The line that tells a person where to see what a command logged.

    ``Open it: <server>`` (``/#/runs/<run_id>`` when a run is given) on an ``http(s)``
    tracking server; else the ``mlflow ui`` call that shows the local store.
    """
    from mlflow_retrain.data.io import describe_uri

    uri = mlflow.get_tracking_uri()
    if uri.startswith(("http://", "https://")):
        return f"Open it: {uri.rstrip('/')}" + (f"/#/runs/{run_id}" if run_id else "")
    return f"Look at it: mlflow ui --backend-store-uri {describe_uri(uri)}"


def flatten(data: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name))
        elif isinstance(value, list | tuple):
            flat[name] = ",".join(map(str, value))
        else:
            flat[name] = value
    return flat


def file_safe(name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".")
    return safe or "column"


def now_ms() -> int:
    return int(time.time() * 1000)


def log_dataset(
    frame: pd.DataFrame, *, source: str, name: str, context: str, targets: str | None = None
) -> Any:
    """Log ``frame`` as an input of the active run (``mlflow.log_input``) and return it.

    The dataset is :func:`pandas_dataset`'s, so its digest is the package's one digest.

    Args:
        frame: The rows.
        source: Where they came from (a URI).
        name: The dataset's name in the UI.
        context: The ``log_input`` context (``training``, ``gate``, ...).
        targets: The label column, if the rows carry it.
    """
    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values; that matters for
        # model signatures, not for recording which data a step read.
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        dataset = pandas_dataset(frame, source=source, name=name, targets=targets)
        mlflow.log_input(dataset, context=context)
    return dataset


def pandas_dataset(
    frame: pd.DataFrame, *, source: str, name: str, targets: str | None = None
) -> Any:
    """The MLflow dataset of ``frame`` for ``log_input``, with the package's one digest.

    MLflow's digest hashes the row index too, so the same rows held out by a split (index
    4000-4999) and read back from ``gate.parquet`` (index 0-999) would get two digests. Every
    dataset is logged with a fresh index, so a table has one digest wherever it is shown: the
    version's tags, each run's datasets and the evidence (see :func:`frame_digest`).

    Args:
        frame: The rows.
        source: Where they came from (a URI; see
            :func:`mlflow_retrain.data.sources.dataset_source`).
        name: The dataset's name in the UI.
        targets: The label column, if the rows carry it.
    """
    from mlflow.data.pandas_dataset import from_pandas

    with warnings.catch_warnings():
        # MLflow hints that integer columns cannot hold missing values; that matters for
        # model signatures, not for recording which data a step read.
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        return from_pandas(
            frame.reset_index(drop=True),
            source=dataset_source(source),
            name=name,
            targets=targets if targets in frame.columns else None,
        )


def frame_digest(frame: pd.DataFrame) -> str:
    """The digest :func:`pandas_dataset` records for ``frame`` (MLflow's, on a fresh index)."""
    from mlflow.data.pandas_dataset import from_pandas

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return str(from_pandas(frame.reset_index(drop=True)).digest)


def step_params(run_id: str, params: Iterable[Param]) -> list[Param]:
    """The params a step may still log on ``run_id``.

    Under ``mlflow run`` the step's run is the project's run, which already holds the entry
    point's parameters as given (an unset option as ``""``). MLflow refuses to change a
    param, so a value the step resolved differently (the target read from ``retrain.yaml``,
    say) goes under ``<key>.resolved``; an equal one is not logged twice.
    """
    held = MlflowClient().get_run(run_id).data.params
    kept = []
    for param in params:
        if param.key not in held:
            kept.append(param)
        elif held[param.key] != param.value:
            kept.append(Param(f"{param.key}.resolved", param.value))
    return kept

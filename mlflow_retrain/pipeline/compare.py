"""The ``compare`` step: evidence for (or against) a challenger, on its gate split.

The step scores both versions, logs the comparison run and hands the evidence to the registry
(:func:`mlflow_retrain.registry.evidence.write_offline_evidence`), which writes the tags the
gate reads.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.comparison import Evidence, ModelOutput, compare_models
from mlflow_retrain.config import RetrainConfig
from mlflow_retrain.data.io import describe_uri
from mlflow_retrain.data.table import Table, as_table, source_of
from mlflow_retrain.data.validate import validate_reference
from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.pipeline.steps import (
    frame_digest,
    log_dataset,
    now_ms,
    step_params,
    step_run,
)
from mlflow_retrain.policy import PromotionPolicy
from mlflow_retrain.registry.describe import describe_status, describe_version, experiment_of
from mlflow_retrain.registry.evidence import write_offline_evidence
from mlflow_retrain.registry.policies import ModelPolicy, read_policy
from mlflow_retrain.registry.versions import alias_version, resolve_version
from mlflow_retrain.report.figures import plot_comparison_curves, plot_differences
from mlflow_retrain.report.html import format_number, format_pvalue, render_evidence_html
from mlflow_retrain.report.markdown import evidence_markdown
from mlflow_retrain.tuning.metrics import infer_task

__all__ = ["CompareResult", "format_comparison", "run_compare", "score_version"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompareResult:
    """Result of :func:`run_compare`.

    Attributes:
        model_name: Registered model.
        challenger_version: The version judged.
        champion_version: The champion it was compared against (``None``: first deployment).
        evidence: Metrics, tests and the decision.
        run_id: The comparison run.
        data_uri: The rows compared on.
    """

    model_name: str
    challenger_version: str
    champion_version: str | None
    evidence: Evidence
    run_id: str
    data_uri: str

    @property
    def decision(self) -> str:
        """``promote``, ``reject`` or ``inconclusive``."""
        return self.evidence.decision

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form documented in docs/schemas.md."""
        return {
            "model_name": self.model_name,
            "challenger_version": self.challenger_version,
            "champion_version": self.champion_version,
            "metrics": [m.to_dict() for m in self.evidence.metrics],
            "decision": self.evidence.decision,
            "reason": self.evidence.reason,
            "n": self.evidence.n,
            "first_deployment": self.evidence.first_deployment,
            "data_uri": self.data_uri,
            "run_id": self.run_id,
        }


def format_comparison(result: CompareResult) -> str:
    """What ``mlflow-retrain compare`` prints: the decision, one row per metric, the run."""
    against = (
        f"champion version {result.champion_version}"
        if result.champion_version
        else "no champion (policy floor)"
    )
    lines = [
        f"{result.decision.upper()}: version {result.challenger_version} of "
        f"{result.model_name} against {against}. {result.evidence.reason}",
        f"{'metric':<10} {'role':<9} {'champion':>9} {'challenger':>10} {'difference':>11} "
        f"{'interval':>21} {'adj. p':>9}  result",
    ]
    for m in result.evidence.metrics:
        interval = (
            f"[{format_number(m.ci_low)}, {format_number(m.ci_high)}]"
            if m.ci_low is not None
            else ""
        )
        lines.append(
            f"{m.name:<10} {m.role:<9} {format_number(m.champion):>9} "
            f"{format_number(m.challenger):>10} {format_number(m.difference):>11} "
            f"{interval:>21} {format_pvalue(m.p_value_adjusted):>9}  "
            f"{'pass' if m.passed else 'fail'}"
        )
    lines.append(f"MLflow run: {result.run_id}")
    return "\n".join(lines)


def run_compare(
    model_name: str,
    *,
    challenger: str = lineage.ALIAS_CHALLENGER,
    data: str | Table | None = None,
    target: str | None = None,
    config: RetrainConfig | None = None,
    policy: ModelPolicy | None = None,
    experiment_name: str | None = None,
    run_name: str = "compare",
) -> CompareResult:
    """Score challenger and champion on the gate split and record the evidence.

    Logs a comparison run (both models' metrics, every test, the decision, a confidence
    interval figure, the data via ``log_input``) and writes the evidence on the challenger
    version: decision, the champion version compared against, a compact summary in tags, and
    a markdown table in the version description. A rejected challenger gets status
    ``rejected``. Aliases never move here: that is the registry gate's job.

    Args:
        model_name: Registered model.
        challenger: Version number or alias of the challenger.
        data: Rows to compare on: a URI, or the rows already read (a
            :class:`~mlflow_retrain.data.table.Table`, such as ``RetrainResult.gate``; its
            ``source`` is recorded as the data's origin). Default: the challenger's recorded
            gate split.
        target: Label column (default: the challenger's recorded target, then config).
        config: Settings (its ``policy`` is used when the model stores none).
        policy: The model's policy as already read
            (:func:`~mlflow_retrain.registry.policies.read_policy`); default: read it now.
        experiment_name: Experiment of the comparison run.
        run_name: Name of the comparison run.

    Returns:
        The evidence.

    Raises:
        InvalidInputError: Unknown model or version, no data, no target, bad data.
    """
    config = config or RetrainConfig()
    client = MlflowClient()
    chall = resolve_version(client, model_name, challenger)
    champ = alias_version(client, model_name, lineage.ALIAS_CHAMPION)
    if champ is not None and str(champ.version) == str(chall.version):
        raise InvalidInputError(
            f"Version {chall.version} of '{model_name}' is already the champion. Compare "
            "another version with --challenger."
        )
    tags = chall.tags
    data_uri = (None if data is None else source_of(data)) or tags.get(lineage.TAG_GATE_URI)
    if not data_uri:
        raise InvalidInputError(
            f"Version {chall.version} of '{model_name}' has no recorded gate split (it was not "
            "trained by `mlflow-retrain retrain`). Pass the rows to compare on with --data."
        )
    target = target or tags.get(lineage.TAG_TARGET) or config.target
    if not target:
        raise InvalidInputError("No target column: pass --target or set 'target' in retrain.yaml.")
    with step_run("compare", run_name=run_name, experiment_name=experiment_name) as run_id:
        frame = (data if isinstance(data, Table) else as_table(data_uri)).frame
        validate_reference(frame, name="comparison data")
        if target not in frame.columns:
            raise InvalidInputError(
                f"Target column '{target}' is not in the comparison data {describe_uri(data_uri)}."
                " Pass the right --target or --data."
            )
        frame = frame[frame[target].notna()]
        task = tags.get(lineage.TAG_TASK) or infer_task(frame[target])
        if policy is None:
            policy = read_policy(client, model_name, config_policy=config.policy)
        applied = policy.for_task(task)
        X, y = frame.drop(columns=[target]), frame[target].to_numpy()
        labels = np.unique(y) if task == "classification" else None
        out_chall = score_version(model_name, chall, X, task, labels=labels)
        out_champ = (
            None if champ is None else score_version(model_name, champ, X, task, labels=labels)
        )
        evidence = compare_models(y, out_chall, out_champ, policy=applied)
        champion_version = None if champ is None else str(champ.version)
        result = CompareResult(
            model_name=model_name,
            challenger_version=str(chall.version),
            champion_version=champion_version,
            evidence=evidence,
            run_id=run_id,
            data_uri=data_uri,
        )
        outputs = {f"challenger v{chall.version}": out_chall}
        if out_champ is not None and champ is not None:
            outputs[f"champion v{champ.version}"] = out_champ
        _log_comparison(client, result, frame, target=target, policy=applied, outputs=outputs)
    _write_evidence(client, result, data_digest=frame_digest(frame), policy=policy.stored)
    return result


def score_version(
    name: str,
    version: ModelVersion,
    X: pd.DataFrame,
    task: str,
    *,
    labels: Any = None,
) -> ModelOutput:
    """Load a registered version and score ``X``: labels, and probabilities where it gives them.

    The model is loaded once, through pyfunc, and given only the columns of its signature
    (a team's own pipeline need not drop the target, the timestamp or an identifier).

    * A scikit-learn model (the flavor MLflow logs for it) is scored directly: ``predict``
      and, for a classifier, ``predict_proba`` with its ``classes_``.
    * Any other model is scored with pyfunc ``predict``. For classification, an output with
      one column per class (a DataFrame whose columns are the class labels, or a 2-d array
      whose columns follow the sorted training labels) is taken as class probabilities, and
      the labels are their arg-max; a 1-d output is labels only.

    Args:
        name: Registered model name.
        version: The version to score.
        X: The rows (extra columns are dropped when the model has a signature).
        task: ``classification`` or ``regression``.
        labels: The class labels, sorted, that a pyfunc's 2-d array output's columns stand
            for (the labels of the rows being scored).

    Raises:
        InvalidInputError: The model cannot score ``X`` (a missing column, text where it was
            trained on numbers, ...): the rows do not fit the version, which is bad input.
    """
    model = LoadedModel(f"models:/{name}/{version.version}", task=task, labels=labels,
                        name=name, version=str(version.version))  # fmt: skip
    try:
        return model.output(X)
    except (ValueError, KeyError, TypeError, MlflowException) as err:
        if isinstance(err, InvalidInputError):
            raise
        detail = " ".join(str(err).split())[:200] or err.__class__.__name__
        raise InvalidInputError(
            f"Version {version.version} of '{name}' cannot score these rows ({detail}). Pass "
            "rows with the columns and types it was trained on."
        ) from err


class LoadedModel:
    """A logged model as an estimator: ``predict``, and ``predict_proba`` with ``classes_``
    where it gives class probabilities (what scoring and permutation importance call).

    Loaded once through pyfunc; it is given only its signature's columns. A scikit-learn
    model is scored directly (``predict``, ``predict_proba``); any other through pyfunc's
    ``predict``, whose class columns are read as probabilities (:func:`_pyfunc_output`).

    Args:
        uri: The model's URI.
        task: ``classification`` or ``regression``.
        labels: The sorted class labels a 2-d array output's columns stand for.
        name: The registered model, for messages.
        version: Its version, for messages.
    """

    def __init__(
        self,
        uri: str,
        *,
        task: str,
        labels: Any = None,
        name: str = "model",
        version: str = "",
    ) -> None:
        self.model = mlflow.pyfunc.load_model(uri)
        self.raw = _sklearn_model(self.model)
        self.task = task
        self.labels = labels
        self.name = name
        self.version = version
        self.classes_: np.ndarray | None = None

    def output(self, X: pd.DataFrame) -> ModelOutput:
        """Labels (or values) and, where the model gives them, class probabilities.

        Raises:
            InvalidInputError: If ``X`` lacks a signature column.
        """
        X = _signature_columns(self.model, X, name=self.name, version=self.version)
        if self.raw is None:
            return _pyfunc_output(self.model.predict(X), task=self.task, labels=self.labels)
        predictions = np.asarray(self.raw.predict(X))
        if self.task == "classification" and hasattr(self.raw, "predict_proba"):
            return ModelOutput(
                predictions=predictions,
                scores=np.asarray(self.raw.predict_proba(X), dtype=float),
                classes=np.asarray(self.raw.classes_),
            )
        return ModelOutput(predictions=predictions)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Labels (classification) or values (regression)."""
        if self.raw is not None:
            X = _signature_columns(self.model, X, name=self.name, version=self.version)
            return np.asarray(self.raw.predict(X))
        return self.output(X).predictions

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order.

        Raises:
            InvalidInputError: If the model gives labels only.
        """
        out = self.output(X)
        if out.scores is None:
            raise InvalidInputError(
                "The model gives labels only, no class probabilities. Return one column per "
                "class from predict, or optimise accuracy or f1."
            )
        self.classes_ = out.classes
        return out.scores


def _signature_columns(model: Any, X: pd.DataFrame, *, name: str, version: str) -> pd.DataFrame:
    """``X`` restricted to the model's signature columns, in its order (all without one)."""
    schema = model.metadata.get_input_schema()
    if schema is None or not schema.has_input_names():
        return X
    wanted = list(schema.input_names())
    missing = [c for c in wanted if c not in X.columns]
    if missing:
        raise InvalidInputError(
            f"Version {version} of '{name}' cannot score these rows (columns are missing: "
            f"{', '.join(missing[:5])}). Pass rows with the columns and types it was trained on."
        )
    return X[wanted]


def _sklearn_model(model: Any) -> Any:
    """The scikit-learn estimator behind a pyfunc model, or ``None`` for another flavor."""
    if "sklearn" not in model.metadata.flavors:
        return None
    try:
        return model.get_raw_model()
    except (MlflowException, AttributeError, NotImplementedError):
        return None


def _pyfunc_output(output: Any, *, task: str, labels: Any = None) -> ModelOutput:
    """A pyfunc model's output as labels (or values) and, where it has class columns,
    probabilities."""
    if isinstance(output, pd.Series):
        return ModelOutput(predictions=output.to_numpy())
    if isinstance(output, pd.DataFrame):
        if output.shape[1] == 1 or task != "classification":
            return ModelOutput(predictions=output.iloc[:, 0].to_numpy())
        classes = np.asarray(output.columns)
        scores = output.to_numpy(dtype=float)
        return ModelOutput(predictions=classes[scores.argmax(axis=1)], scores=scores,
                           classes=classes)  # fmt: skip
    array = np.asarray(output)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 2 and task == "classification":
        if labels is None:
            raise InvalidInputError(
                f"The model returned {array.shape[1]} columns per row but no class labels. "
                "Return a DataFrame whose columns are the classes."
            )
        classes = np.asarray(labels)
        if len(classes) != array.shape[1]:
            raise InvalidInputError(
                f"The model returned {array.shape[1]} probability columns for "
                f"{len(classes)} classes. Return one column per class, as a DataFrame named "
                "by class."
            )
        scores = array.astype(float)
        return ModelOutput(predictions=classes[scores.argmax(axis=1)], scores=scores,
                           classes=classes)  # fmt: skip
    return ModelOutput(predictions=array)


def _log_comparison(
    client: MlflowClient,
    result: CompareResult,
    frame: pd.DataFrame,
    *,
    target: str,
    policy: PromotionPolicy,
    outputs: Mapping[str, ModelOutput],
) -> None:
    evidence = result.evidence
    log_dataset(
        frame, source=result.data_uri, name="gate", context=lineage.CONTEXT_GATE, targets=target
    )
    stamp = now_ms()
    metrics: list[Metric] = []
    for m in evidence.metrics:
        values = {
            f"challenger.{m.name}": m.challenger,
            f"champion.{m.name}": m.champion,
            f"difference.{m.name}": m.difference,
            f"ci_low.{m.name}": m.ci_low,
            f"ci_high.{m.name}": m.ci_high,
            f"p_value.{m.name}": m.p_value,
        }
        metrics += [
            Metric(k, float(v), stamp, 0)
            for k, v in values.items()
            if v is not None and math.isfinite(v)
        ]
    client.log_batch(
        result.run_id,
        metrics=metrics,
        params=step_params(
            result.run_id,
            [
                Param("model_name", result.model_name),
                Param("challenger_version", result.challenger_version),
                Param("champion_version", result.champion_version or "none"),
                Param("data_uri", describe_uri(result.data_uri)),
                Param("target", target),
                Param("policy", lineage.truncate_tag(policy.to_json(), 6000)),
            ],
        ),
        tags=[
            RunTag(lineage.TAG_DECISION, evidence.decision),
            RunTag(lineage.TAG_EVIDENCE_BASELINE, result.champion_version or "none"),
            RunTag(
                lineage.TAG_RUN_NOTE,
                lineage.truncate_tag(
                    evidence_markdown(
                        evidence,
                        challenger_version=result.challenger_version,
                        champion_version=result.champion_version,
                        run_id=result.run_id,
                        experiment_id=experiment_of(client, result.run_id),
                    )
                ),
            ),
        ],
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        payload = {**result.to_dict(), "tests": [
            m.result.to_dict() if m.result else None for m in evidence.metrics
        ]}  # fmt: skip
        (folder / "evidence.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
        (folder / "evidence.md").write_text(
            evidence_markdown(
                evidence,
                challenger_version=result.challenger_version,
                champion_version=result.champion_version,
                run_id=result.run_id,
            ),
            encoding="utf-8",
        )
        figures: dict[str, bytes] = {}
        figure = plot_differences(evidence)
        if figure is not None:
            (folder / "differences.png").write_bytes(figure)
            figures["Differences with their intervals"] = figure
        curves = plot_comparison_curves(frame[target].to_numpy(), outputs, task=policy.task)
        if curves is not None:
            name = "roc.png" if policy.task == "classification" else "residuals.png"
            (folder / name).write_bytes(curves)
            figures["ROC curves" if policy.task == "classification" else "Residuals"] = curves
        (folder / "report.html").write_text(
            render_evidence_html(
                evidence,
                model_name=result.model_name,
                challenger_version=result.challenger_version,
                champion_version=result.champion_version,
                figures=figures,
            ),
            encoding="utf-8",
        )
        mlflow.log_artifacts(str(folder), artifact_path="comparison")


def _write_evidence(
    client: MlflowClient, result: CompareResult, *, data_digest: str, policy: str | None
) -> None:
    """Hand the evidence to the registry, then describe it on the version for reviewers.

    ``policy`` is the stored policy text the evidence was judged under (``None``: none stored).
    """
    evidence = result.evidence
    name, version = result.model_name, result.challenger_version
    write_offline_evidence(
        client,
        name,
        version,
        evidence,
        baseline=result.champion_version,
        run_id=result.run_id,
        data_digest=data_digest,
        policy=policy,
    )
    describe_version(
        client,
        name,
        version,
        {
            "evidence": evidence_markdown(
                evidence,
                challenger_version=version,
                champion_version=result.champion_version,
                run_id=result.run_id,
                experiment_id=experiment_of(client, result.run_id),
            )
        },
    )
    describe_status(client, name, [version])

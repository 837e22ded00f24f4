"""The ``adopt`` step: make a version someone else registered a proper champion.

A team's model in production was rarely trained by this tool. ``adopt`` takes such a version
(scikit-learn or any pyfunc, with or without ``predict_proba``) and labelled reference rows,
and gives it what the loop needs of a champion:

* its **reference profile** (the reference rows' features, weighted by the model's
  permutation importance), so drift is checked against what it was meant for;
* its **reference metrics with intervals** on those rows (logged on the adopt run);
* the reference rows as its **gate split**, so ``compare`` and the shadow mode score it;
* its **task and target** (version tags).

Then it goes through the registry gate like any version: as the first deployment (the
comparison's floor) when the model has no champion, or as an audited override (``--reason``)
when one serves. Nothing is tagged or moved until the version has scored the reference.

Labels are reconciled with the model's classes: ``1``, ``1.0``, ``"1"`` and ``True`` are one
class when the values agree; labels the model never predicts are an error.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.comparison import ModelOutput, metric_interval
from mlflow_retrain.config import RetrainConfig
from mlflow_retrain.data.io import describe_uri, load_table
from mlflow_retrain.data.table import write_parquet
from mlflow_retrain.data.validate import validate_reference
from mlflow_retrain.drift.profile import build_profile
from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.metrics import lookup_metric
from mlflow_retrain.pipeline.compare import LoadedModel, run_compare
from mlflow_retrain.pipeline.steps import log_dataset, now_ms, step_run
from mlflow_retrain.registry.lifecycle import override, promote
from mlflow_retrain.registry.policies import read_policy
from mlflow_retrain.registry.versions import alias_version, resolve_version
from mlflow_retrain.tuning.importance import importance_shares
from mlflow_retrain.tuning.metrics import infer_task
from mlflow_retrain.tuning.splits import split_columns

__all__ = ["AdoptResult", "format_adopt", "reconcile_labels", "run_adopt"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AdoptResult:
    """What ``adopt`` did.

    Attributes:
        model_name: Registered model.
        version: The adopted version.
        task: ``classification`` or ``regression``.
        target: Label column.
        run_id: The adopt run (reference profile, gate split, reference metrics).
        reference_uri: Where the reference rows came from.
        n_reference: Reference rows scored.
        metrics: ``{metric: {value, ci_low, ci_high}}`` on the reference rows.
        kind: How it became champion: ``first_deployment`` or ``override``.
        decision: The comparison's decision (``None`` for an override).
    """

    model_name: str
    version: str
    task: str
    target: str
    run_id: str
    reference_uri: str
    n_reference: int
    metrics: Mapping[str, Mapping[str, float]]
    kind: str
    decision: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form documented in docs/schemas.md."""
        return {
            "model_name": self.model_name,
            "version": self.version,
            "task": self.task,
            "target": self.target,
            "run_id": self.run_id,
            "reference_uri": describe_uri(self.reference_uri),
            "n_reference": self.n_reference,
            "metrics": {k: dict(v) for k, v in self.metrics.items()},
            "kind": self.kind,
            "decision": self.decision,
        }


def format_adopt(result: AdoptResult) -> str:
    """What ``mlflow-retrain adopt`` prints."""
    scores = ", ".join(
        f"{name} {m['value']:.4g} [{m['ci_low']:.4g}, {m['ci_high']:.4g}]"
        for name, m in result.metrics.items()
    )
    how = "first deployment" if result.kind == "first_deployment" else "audited override"
    return (
        f"Adopted {result.model_name} version {result.version} as @champion ({how}).\n"
        f"Reference {result.n_reference} rows: {scores}.\n"
        f"MLflow run: {result.run_id}"
    )


def run_adopt(
    model_name: str,
    version: str,
    *,
    reference: str,
    target: str | None = None,
    reason: str | None = None,
    config: RetrainConfig | None = None,
    experiment_name: str | None = None,
) -> AdoptResult:
    """Adopt ``version`` of ``model_name`` as its champion (see the module docstring).

    Args:
        model_name: Registered model.
        version: Version number or alias.
        reference: URI of labelled reference rows (what the model was trained or validated
            on; its drift reference and gate split from now on).
        target: Label column (default ``config.target``).
        reason: Required when the model has a champion: the adoption is then an audited
            override with this reason.
        config: Settings (``drift.ignore``, ``profile``, ``policy``, ``timestamp``).
        experiment_name: Experiment of the adopt run.

    Returns:
        What was done.

    Raises:
        InvalidInputError: Unknown version, no target, a version that cannot score the
            reference, labels that do not match its classes, a champion but no reason.
        PromotionRejected: The gate refused (the floor of a first deployment, say).
    """
    config = config or RetrainConfig()
    target = target or config.target
    if not target:
        raise InvalidInputError("No target column: pass --target or set 'target' in retrain.yaml.")
    client = MlflowClient()
    chosen = resolve_version(client, model_name, version)
    number = str(chosen.version)
    champion = alias_version(client, model_name, lineage.ALIAS_CHAMPION)
    if champion is not None and str(champion.version) == number:
        raise InvalidInputError(
            f"Version {number} of '{model_name}' is already the champion. Adopt another version."
        )
    if champion is not None and not (reason or "").strip():
        raise InvalidInputError(
            f"'{model_name}' has a champion (version {champion.version}): adopting version "
            f"{number} replaces it past the evidence rules. Pass --reason TEXT (audited)."
        )
    with step_run("adopt", run_name="adopt", experiment_name=experiment_name) as run_id:
        frame = load_table(reference)
        validate_reference(frame, name="reference data")
        if target not in frame.columns:
            raise InvalidInputError(
                f"Target column '{target}' is not in the reference data "
                f"{describe_uri(reference)}. Pass the right --target."
            )
        frame = frame[frame[target].notna()].reset_index(drop=True)
        task = infer_task(frame[target]) if config.tuning.task == "auto" else config.tuning.task
        labels = np.unique(frame[target].astype(str)) if task == "classification" else None
        model = LoadedModel(f"models:/{model_name}/{number}", task=task, labels=labels,
                            name=model_name, version=number)  # fmt: skip
        features = _features(model, frame, target=target, config=config)
        output = _score(model, frame[features], name=model_name, version=number)
        if task == "classification":  # the labels take the classes' type; the scores stand
            frame[target] = reconcile_labels(frame[target], _classes(output))
        policy = read_policy(client, model_name, config_policy=config.policy).for_task(task)
        rules = [r.metric for r in policy.primary] + [r.metric for r in policy.guardrails]
        names = list(dict.fromkeys(rules))
        needs = [n for n in names if lookup_metric(n).needs_proba]
        if needs and output.scores is None:
            raise InvalidInputError(
                f"Version {number} of '{model_name}' gives labels only, but the policy scores "
                f"{needs[0]} (class probabilities). Judge it on accuracy or f1 (`policy:` in "
                "retrain.yaml, or `policy set`), or return one probability column per class."
            )
        metrics = _reference_metrics(names, frame[target].to_numpy(), output)
        _record(client, run_id=run_id, model_name=model_name, version=number, model=model,
                frame=frame, features=features, target=target, task=task, metrics=metrics,
                reference=reference, config=config)  # fmt: skip
    if champion is None:
        evidence = run_compare(model_name, challenger=number, config=config,
                               experiment_name=experiment_name)  # fmt: skip
        promote(model_name, version=number)
        return AdoptResult(model_name, number, task, target, run_id, reference, len(frame),
                           metrics, "first_deployment", evidence.evidence.decision)  # fmt: skip
    assert reason is not None
    override(model_name, version=number, reason=reason)
    return AdoptResult(model_name, number, task, target, run_id, reference, len(frame), metrics,
                       "override", None)  # fmt: skip


def _features(
    model: LoadedModel, frame: pd.DataFrame, *, target: str, config: RetrainConfig
) -> list[str]:
    """The model's input columns: its signature's, else the reference's feature columns."""
    schema = model.model.metadata.get_input_schema()
    if schema is not None and schema.has_input_names():
        wanted = list(schema.input_names())
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise InvalidInputError(
                f"The reference data lacks column(s) {', '.join(missing[:5])} that the model "
                "takes. Pass reference rows with the model's input columns."
            )
        return wanted
    numeric, categorical = _reference_columns(frame, target=target, config=config)
    return [*numeric, *categorical]


def _reference_columns(
    frame: pd.DataFrame, *, target: str, config: RetrainConfig
) -> tuple[list[str], list[str]]:
    """The reference's feature columns by kind: not the target, the timestamp or an ignored
    column."""
    ignored = [c for c in config.drift.ignore if c in frame.columns]
    return split_columns(
        frame.drop(columns=ignored),
        target=target,
        timestamp=config.timestamp,
        kinds=config.drift.columns,
    )


def _score(model: LoadedModel, X: pd.DataFrame, *, name: str, version: str) -> ModelOutput:
    try:
        return model.output(X)
    except InvalidInputError:
        raise
    except Exception as err:  # the team's model: any error means it cannot score these rows
        detail = " ".join(str(err).split())[:200] or type(err).__name__
        raise InvalidInputError(
            f"Version {version} of '{name}' cannot score the reference ({type(err).__name__}: "
            f"{detail}). Pass reference rows with the columns and types it was trained on."
        ) from err


def _classes(output: ModelOutput) -> np.ndarray:
    if output.classes is not None:
        return np.asarray(output.classes)
    return np.unique(np.asarray(output.predictions))


def reconcile_labels(labels: pd.Series, classes: Sequence[Any] | np.ndarray) -> pd.Series:
    """``labels`` in the type of the model's ``classes``: ``1``, ``1.0``, ``"1"`` and ``True``
    are one class when their values agree.

    Raises:
        InvalidInputError: If a label matches no class (or two), naming them.
    """
    classes = list(np.asarray(classes).tolist())
    keys: dict[str, Any] = {}
    for value in classes:
        key = _label_key(value)
        if key in keys and keys[key] != value:
            raise InvalidInputError(
                f"The model's classes {classes[:10]} hold two forms of one label ({keys[key]!r}, "
                f"{value!r}); labels cannot be matched to them."
            )
        keys[key] = value
    mapped = {}
    unknown = []
    for value in sorted(pd.unique(labels), key=str):
        key = _label_key(value)
        if key in keys:
            mapped[value] = keys[key]
        else:
            unknown.append(value)
    if unknown:
        raise InvalidInputError(
            f"Reference labels {[_plain(v) for v in unknown[:5]]} are not classes of the model "
            f"({[_plain(v) for v in classes[:10]]}). Check --target, or the labels' coding."
        )
    return labels.map(mapped)


def _label_key(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        text = value.strip()
        lowered = text.lower()
        if lowered in ("true", "false"):
            return "1" if lowered == "true" else "0"
        try:
            number = float(text)
        except ValueError:
            return "s:" + text
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value) if isinstance(value, int) else repr(value)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _reference_metrics(
    names: Sequence[str], y: np.ndarray, output: ModelOutput
) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = {}
    for name in names:
        if lookup_metric(name).needs_proba and output.scores is None:
            logger.info("Reference %s skipped: the model gives labels only.", name)
            continue
        value, low, high = metric_interval(name, y, output)
        found[name] = {"value": value, "ci_low": low, "ci_high": high}
    return found


def _record(
    client: MlflowClient,
    *,
    run_id: str,
    model_name: str,
    version: str,
    model: LoadedModel,
    frame: pd.DataFrame,
    features: list[str],
    target: str,
    task: str,
    metrics: Mapping[str, Mapping[str, float]],
    reference: str,
    config: RetrainConfig,
) -> None:
    """Log the reference (gate split, profile, metrics) and tag the version with them."""
    gate_uri = f"runs:/{run_id}/gate/gate.parquet"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        gate = write_parquet(frame, folder / "gate.parquet")
        mlflow.log_artifact(str(folder / "gate.parquet"), artifact_path="gate")
        primary = next(iter(metrics), None)
        importance = (
            importance_shares(model, frame, frame[target], features=features,
                              metric=lookup_metric(primary), seed=config.tuning.seed)
            if primary is not None else None
        )  # fmt: skip
        # The drift reference covers every column the batches carry, not only the model's
        # inputs (columns it does not use weigh nothing in the drift decision).
        numeric, categorical = _reference_columns(frame, target=target, config=config)
        profile = build_profile(
            frame[[*numeric, *categorical]],
            kinds=dict.fromkeys(categorical, "categorical"),
            max_points=config.profile.max_points,
            max_levels=config.drift.categorical.max_levels,
            source=describe_uri(reference),
        )
        if importance is not None:
            profile = profile.with_importance(importance)
        (folder / "reference_profile.json").write_text(profile.to_json(), encoding="utf-8")
        mlflow.log_artifact(str(folder / "reference_profile.json"), artifact_path="profile")
    dataset = log_dataset(gate, source=reference, name="reference",
                          context=lineage.CONTEXT_GATE, targets=target)  # fmt: skip
    stamp = now_ms()
    client.log_batch(
        run_id,
        metrics=[
            Metric(f"reference.{name}{suffix}", float(m[key]), stamp, 0)
            for name, m in metrics.items()
            for key, suffix in (("value", ""), ("ci_low", ".ci_low"), ("ci_high", ".ci_high"))
            if math.isfinite(m[key])
        ],
    )
    tags = {
        lineage.TAG_STATUS: lineage.STATUS_CANDIDATE,
        lineage.TAG_TASK: task,
        lineage.TAG_TARGET: target,
        lineage.TAG_GATE_URI: gate_uri,
        lineage.TAG_GATE_DIGEST: str(dataset.digest),
        lineage.TAG_TRAINING_SOURCE: describe_uri(reference),
        lineage.TAG_PROFILE_URI: f"runs:/{run_id}/profile/reference_profile.json",
        lineage.TAG_TRIGGER: "adopt",
    }
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, key, value)
    logger.info("Version %s of '%s': reference profile and gate split recorded (run %s).",
                version, model_name, run_id)  # fmt: skip

"""The ``drift`` and ``profile`` steps."""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.config import RetrainConfig
from mlflow_retrain.data.io import describe_uri, load_table, read_bytes
from mlflow_retrain.data.sources import dataset_source
from mlflow_retrain.data.table import Table, as_table, source_of
from mlflow_retrain.data.validate import validate_batch, validate_reference
from mlflow_retrain.drift.detect import detect_drift
from mlflow_retrain.drift.profile import (
    NumericSummary,
    ReferenceProfile,
    build_profile,
    category_counts,
    numeric_values,
)
from mlflow_retrain.drift.report import DriftReport
from mlflow_retrain.exceptions import InvalidInputError, did_you_mean
from mlflow_retrain.pipeline.steps import (
    file_safe,
    flatten,
    log_dataset,
    now_ms,
    step_params,
    step_run,
    urlpath,
    where_to_look,
)
from mlflow_retrain.report.html import format_number, format_pvalue, render_drift_html
from mlflow_retrain.report.markdown import drift_summary_markdown

__all__ = [
    "ProfileResult",
    "format_drift",
    "format_profile",
    "load_reference",
    "run_drift",
    "run_profile",
]

logger = logging.getLogger(__name__)

#: Drifted columns that get a distribution plot (largest effect first).
MAX_PLOTS = 25
#: MLflow accepts at most 1,000 metrics per ``log_batch`` call.
_BATCH = 1000
_PROFILE_SUFFIXES = (".json",)


@dataclass(frozen=True)
class ProfileResult:
    """Result of :func:`run_profile`.

    Attributes:
        out: Where the profile was written.
        n_rows: Rows summarised.
        n_columns: Columns profiled.
        digest: Content hash of the profile.
        size_bytes: Size of the JSON file.
    """

    out: str
    n_rows: int
    n_columns: int
    digest: str
    size_bytes: int

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "out": self.out,
            "n_rows": self.n_rows,
            "n_columns": self.n_columns,
            "digest": self.digest,
            "size_bytes": self.size_bytes,
        }


def load_reference(reference: str | Table) -> ReferenceProfile | pd.DataFrame:
    """Load a reference: a saved profile (``.json``) or a table (CSV, Parquet).

    Args:
        reference: The URI of a profile or a table, or a table already read.

    Raises:
        InvalidInputError: If the file cannot be read or is not a valid profile, or the table
            is not a valid reference.
    """
    if not isinstance(reference, Table) and urlpath(reference).lower().endswith(_PROFILE_SUFFIXES):
        return ReferenceProfile.from_json(read_bytes(reference))
    table = as_table(reference).frame
    validate_reference(table)
    return table


def run_profile(
    data: str,
    out: str | Path,
    *,
    config: RetrainConfig | None = None,
    target: str | None = None,
) -> ProfileResult:
    """Summarise a reference table into a profile JSON file.

    Args:
        data: URI of the reference table.
        out: Local path of the profile to write.
        config: Supplies ``profile.max_points``, column kinds and the level cap.
        target: The label column, which must be in the table (it is profiled like every
            column, so a drift check against the profile can test it for label shift).

    Returns:
        What was written.

    Raises:
        InvalidInputError: If the table cannot be read, is not a valid reference, or has no
            column ``target``.
    """
    config = config or RetrainConfig()
    table = load_table(data)
    validate_reference(table)
    if target is not None:
        _check_target(target, [(table, f"table {describe_uri(data)}")])
    profile = build_profile(
        table.drop(
            columns=[c for c in (*config.drift.ignore, config.timestamp) if c in table.columns]
        ),
        kinds=config.drift.columns,
        max_points=config.profile.max_points,
        max_levels=config.drift.categorical.max_levels,
        source=describe_uri(data),
    )
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = profile.to_json()
    path.write_text(text, encoding="utf-8")
    return ProfileResult(
        out=str(path),
        n_rows=profile.n_rows,
        n_columns=len(profile.columns),
        digest=profile.digest,
        size_bytes=len(text.encode()),
    )


def run_drift(
    reference: str | Table,
    current: str | Table,
    *,
    config: RetrainConfig | None = None,
    target: str | None = None,
    ignore: Sequence[str] = (),
    require_labels: bool = False,
    experiment_name: str | None = None,
    run_name: str = "drift",
) -> DriftReport:
    """Validate a batch, test it for drift against a reference, and log one MLflow run.

    The run gets both datasets (``log_input`` contexts ``reference`` and ``current``), the
    configuration as params, per-column and dataset metrics, decision tags, and the
    artifacts ``drift/report.json``, ``drift/report.html`` and ``drift/plots/<column>.png``.

    Args:
        reference: URI of the reference table or saved profile (``.json``), or a reference
            table already read (a :class:`~mlflow_retrain.data.table.Table`).
        current: URI of the current batch, or the batch already read (a ``Table``: the loop
            hands on the batch it read; the run records the table's ``source`` either way).
        config: Settings; ``RetrainConfig()`` defaults when ``None``.
        target: Label column (defaults to ``config.target``).
        ignore: Columns to leave out, besides ``config.drift.ignore``.
        require_labels: The batch must carry the target with enough classes.
        experiment_name: Experiment to log to (default: the active or default experiment).
        run_name: Name of the run.

    Returns:
        The report, with ``run_id`` set.

    Raises:
        InvalidInputError: Unreadable input or bad arguments (the run ends FAILED).
        CircuitBreakerOpen: The batch failed validation (the run ends FAILED).
    """
    config = config or RetrainConfig()
    explicit_target = target
    target = target or config.target
    # The time column is the time axis, not a feature: it always "drifts".
    time_column = [config.timestamp] if config.timestamp else []
    ignored = tuple(dict.fromkeys([*config.drift.ignore, *time_column, *ignore]))
    with step_run("drift", run_name=run_name, experiment_name=experiment_name) as run_id:
        ref = load_reference(reference)
        batch = as_table(current).frame
        reference_uri, current_uri = source_of(reference), source_of(current)
        if explicit_target is not None:
            _check_target(
                explicit_target,
                [(ref, f"reference {describe_uri(reference_uri)}"),
                 (batch, f"current batch {describe_uri(current_uri)}")],
            )  # fmt: skip
        # Validation needs the reference's schema and missing rates, not an exact sketch;
        # detection then streams a table reference column by column to bound memory.
        profile = (
            ref
            if isinstance(ref, ReferenceProfile)
            else build_profile(
                ref,
                kinds=config.drift.columns,
                max_points=16,
                max_levels=config.drift.categorical.max_levels,
            )
        )
        validate_batch(
            profile,
            batch,
            config=config.validation,
            target=target,
            require_labels=require_labels,
            ignore=ignored,
        )
        report = detect_drift(ref, batch, config=config.drift, target=target, ignore=ignored)
        report = replace(report, run_id=run_id)
        figures = _figures(report, ref, batch, config=config)
        html = render_drift_html(
            report,
            figures=figures,
            reference_uri=describe_uri(reference_uri),
            current_uri=describe_uri(current_uri),
        )
        # Everything is computed: now record it.
        _log_datasets(ref, batch, reference=reference_uri, current=current_uri, target=target)
        _log_drift(
            run_id, report, config, reference=reference_uri, current=current_uri, target=target
        )
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / "report.json").write_text(
                json.dumps(report.to_dict(), indent=2, allow_nan=False), encoding="utf-8"
            )
            (folder / "report.html").write_text(html, encoding="utf-8")
            if figures:
                plots = folder / "plots"
                plots.mkdir()
                for name, png in figures.items():
                    (plots / f"{file_safe(name)}.png").write_bytes(png)
            mlflow.log_artifacts(str(folder), artifact_path="drift")
    return report


def format_drift(report: DriftReport) -> str:
    """What ``mlflow-retrain drift`` prints: the verdict, the drifted columns, the run."""
    verdict = "DRIFT DETECTED" if report.drift_detected else "No dataset drift"
    lines = [
        f"{verdict}: {report.reason}",
        f"Reference {report.n_reference} rows ({report.reference_source}), "
        f"current {report.n_current} rows.",
    ]
    drifted = [f for f in report.features if f.drifted]
    if drifted:
        lines.append(
            f"{'column':<24} {'kind':<12} {'effect metric':<15} {'effect':>7} {'adj. p':>10}"
            "  signal"
        )
        for f in sorted(drifted, key=lambda f: -abs(f.effect_size or 0)):
            signal = "+".join(
                s for s, on in (("distribution", f.distribution_drifted),
                                ("missing rate", f.missing_drifted)) if on
            )  # fmt: skip
            lines.append(
                f"{f.name[:24]:<24} {f.kind:<12} {f.effect_metric:<15} "
                f"{format_number(f.effect_size):>7} {format_pvalue(f.p_value_adjusted):>10}"
                f"  {signal}"
            )
    if report.target is not None:
        state = "shifted" if report.target.drifted else "stable"
        lines.append(f"Target '{report.target.name}': {state}.")
    lines.append(f"MLflow run: {report.run_id}")
    lines.append(where_to_look(report.run_id))
    return "\n".join(lines)


def format_profile(result: ProfileResult) -> str:
    """What ``mlflow-retrain profile`` prints: what was summarised, and where it went."""
    return (
        f"Profile of {result.n_rows} rows x {result.n_columns} columns written to "
        f"{result.out} ({result.size_bytes:,} bytes, digest {result.digest})."
    )


def _columns(table: ReferenceProfile | pd.DataFrame) -> list[str]:
    if isinstance(table, ReferenceProfile):
        return [*table.columns, *table.skipped]
    return [str(c) for c in table.columns]


def _check_target(
    target: str, tables: Sequence[tuple[ReferenceProfile | pd.DataFrame, str]]
) -> None:
    """Refuse a ``--target`` that is a column of none of ``tables`` (a typo would pass silently).

    A label missing from only one table is normal: a batch whose labels have not arrived, or
    a model's training profile, which leaves the label out.

    Args:
        target: The label column given on the command line.
        tables: Each table (or profile) with its description for the message.

    Raises:
        InvalidInputError: No table has the column; the message suggests the closest name.
    """
    names = [name for table, _ in tables for name in _columns(table)]
    if target in names:
        return
    where = " nor in the ".join(role for _, role in tables)
    raise InvalidInputError(
        f"Target column '{target}' is neither in the {where}"
        f"{did_you_mean(target, names)}. Pass the label column's exact name with --target."
        if len(tables) > 1
        else f"Target column '{target}' is not in the {where}{did_you_mean(target, names)}. "
        "Pass the label column's exact name with --target."
    )


def _log_datasets(
    ref: ReferenceProfile | pd.DataFrame,
    batch: pd.DataFrame,
    *,
    reference: str,
    current: str,
    target: str | None,
) -> None:
    from mlflow.data.meta_dataset import MetaDataset

    ref_name = Path(urlpath(reference)).name or "reference"
    if isinstance(ref, ReferenceProfile):
        ref_dataset: Any = MetaDataset(  # type: ignore[abstract]
            source=dataset_source(reference), name=ref_name, digest=ref.digest
        )
        mlflow.log_input(ref_dataset, context=lineage.CONTEXT_REFERENCE)
    else:
        log_dataset(ref, source=reference, name=ref_name, context=lineage.CONTEXT_REFERENCE,
                    targets=target)  # fmt: skip
    log_dataset(batch, source=current, name=Path(urlpath(current)).name or "current",
                context=lineage.CONTEXT_CURRENT, targets=target)  # fmt: skip


def _log_drift(
    run_id: str,
    report: DriftReport,
    config: RetrainConfig,
    *,
    reference: str,
    current: str,
    target: str | None,
) -> None:
    params = {
        "reference_uri": describe_uri(reference),
        "current_uri": describe_uri(current),
        "target": target or "",
        **{f"config.{k}": v for k, v in flatten(config.to_dict()["drift"], "drift").items()},
    }
    metrics: dict[str, float] = {
        lineage.METRIC_DRIFT_SHARE: report.share_drifted,
        lineage.METRIC_DRIFT_N_DRIFTED: report.n_drifted,
        lineage.METRIC_DRIFT_N_FEATURES: len(report.features),
        lineage.METRIC_DRIFT_DETECTED: float(report.drift_detected),
    }
    features = [*report.features, *([report.target] if report.target else [])]
    for f in features:
        values = {
            "statistic": f.statistic,
            "p_value": f.p_value,
            "p_value_adjusted": f.p_value_adjusted,
            "effect_size": f.effect_size,
            "missing_rate": f.missing_rate_current,
            "drifted": float(f.drifted),
            "weight": f.weight,
        }
        for stat, value in values.items():
            if value is not None and math.isfinite(value):
                metrics[lineage.drift_metric_key(f.name, stat)] = float(value)
    client = MlflowClient()
    experiment_id = client.get_run(run_id).info.experiment_id
    tags = {
        lineage.TAG_DRIFT_DETECTED: str(report.drift_detected).lower(),
        lineage.TAG_DRIFTED_COLUMNS: lineage.truncate_tag(",".join(report.drifted_columns)),
        lineage.TAG_DRIFT_REASON: lineage.truncate_tag(report.reason),
        lineage.TAG_RUN_NOTE: lineage.truncate_tag(
            drift_summary_markdown(report, experiment_id=experiment_id)
        ),
    }
    entries = [Metric(k, v, now_ms(), 0) for k, v in metrics.items()]
    client.log_batch(
        run_id,
        params=step_params(
            run_id, [Param(k, lineage.truncate_tag(str(v))) for k, v in params.items()]
        ),
        tags=[RunTag(k, v) for k, v in tags.items()],
    )
    for start in range(0, len(entries), _BATCH):
        client.log_batch(run_id, metrics=entries[start : start + _BATCH])


def _figures(
    report: DriftReport,
    ref: ReferenceProfile | pd.DataFrame,
    batch: pd.DataFrame,
    *,
    config: RetrainConfig,
) -> dict[str, bytes]:
    drifted = sorted(
        (f for f in report.features if f.distribution_drifted),
        key=lambda f: -(f.effect_size if math.isfinite(f.effect_size) else 0.0),
    )[:MAX_PLOTS]
    if isinstance(ref, ReferenceProfile):
        profile = ref
    else:
        names = [f.name for f in drifted]
        kinds = {f.name: f.kind for f in drifted}
        profile = build_profile(
            ref[names],
            kinds=kinds,
            max_points=config.profile.max_points,
            max_levels=config.drift.categorical.max_levels,
        )
    # Imported here: a batch without drift draws nothing and need not load matplotlib.
    from mlflow_retrain.report.figures import plot_categorical_drift, plot_numeric_drift

    figures: dict[str, bytes] = {}
    for feature in drifted:
        summary = profile.columns[feature.name]
        if isinstance(summary, NumericSummary):
            figures[feature.name] = plot_numeric_drift(
                feature.name, summary, numeric_values(batch[feature.name]), feature=feature
            )
        else:
            figures[feature.name] = plot_categorical_drift(
                feature.name,
                summary.counts,
                category_counts(batch[feature.name]),
                feature=feature,
            )
    return figures

"""Replay a batch history through the loop, one cycle per batch, and tell what happened.

``mlflow-retrain replay`` is what the example projects run: each batch of ``history`` goes
through :func:`~mlflow_retrain.pipeline.loop.run_cycle` in order, as a scheduler would feed
them, and after each cycle the champion is scored on the *next* batch, the month it will
actually serve. The result is a month-by-month timeline: drift, trigger, retrain, decision,
champion version, and the champion's metric on the next month. The next batch, once read for
that metric, is handed to its own cycle, which does not read it again.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.config import RetrainConfig
from mlflow_retrain.data.table import Table, source_of
from mlflow_retrain.exceptions import CircuitBreakerOpen, InvalidConfigError
from mlflow_retrain.pipeline.loop import list_batches, require_model, run_cycle
from mlflow_retrain.pipeline.steps import step_run, where_to_look
from mlflow_retrain.registry.describe import describe_run, experiment_of
from mlflow_retrain.report.html import format_number
from mlflow_retrain.report.markdown import timeline_markdown

__all__ = ["TimelineRow", "format_replay", "format_timeline", "replay", "rows_to_dicts"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimelineRow:
    """One batch of the replay.

    Attributes:
        batch: The batch's file name.
        drift: ``drift``, ``none``, or ``-`` (no champion to compare with).
        trigger: The trigger rule's verdict (``first_deployment``, ``drift``, ``decay``,
            ``model_age``, ``none``; ``held`` when a cooldown held it).
        retrained: The version trained in this cycle, if any.
        decision: The comparison's decision, or the outcome of the cycle.
        champion: The champion after the cycle.
        metric: Name of the metric of the next column.
        next_value: The champion's metric on the next batch (``None`` for the last).
        run_id: The cycle's pipeline run.
    """

    batch: str
    drift: str
    trigger: str
    retrained: str | None
    decision: str
    champion: str | None
    metric: str
    next_value: float | None
    run_id: str | None


def replay(
    config: RetrainConfig,
    *,
    model_name: str | None = None,
    experiment_name: str | None = None,
    start: int = 1,
) -> list[TimelineRow]:
    """Run one loop cycle per batch of ``config.history``, oldest first.

    Args:
        config: Settings, with ``history``, ``model_name`` and ``target``.
        start: The first batch to check (1-based); the batches before it are history only,
            so the first model trains on all of them (a full season, say).
        model_name: Registered model (default ``config.model_name``).
        experiment_name: Experiment of the replay run.

    Returns:
        The timeline, one row per batch.

    Raises:
        InvalidConfigError: No history, model name or target.
        InvalidInputError: The model does not exist and ``config.model.create`` is off.
    """
    name = model_name or config.model_name
    if not name:
        raise InvalidConfigError("No model: set 'model_name' in retrain.yaml or pass --model.")
    if not config.model.create:
        require_model(MlflowClient(), name)
    batches = list_batches(config.history)
    if not 1 <= start <= len(batches):
        raise InvalidConfigError(
            f"--start must be between 1 and the {len(batches)} batches of the history, "
            f"got {start}."
        )
    rows: list[TimelineRow] = []
    client = MlflowClient()
    total = len(batches) - start + 1
    with step_run("replay", run_name="replay", experiment_name=experiment_name) as run_id:
        experiment_id = experiment_of(client, run_id)
        read: Table | None = None  # the next batch, when the last row's metric read it
        for i, batch in enumerate(batches):
            if i + 1 < start:
                continue
            nxt = batches[i + 1] if i + 1 < len(batches) else None
            carried = read if read is not None and read.source == batch else batch
            row, read = _one(config, name, carried, nxt)
            rows.append(row)
            if row.next_value is not None:
                mlflow.log_metric(f"champion.next_{row.metric}", row.next_value, step=i + 1)
            if len(rows) < total:  # the timeline so far, for whoever watches the run
                _describe(client, run_id, rows, name, experiment_id, total=total)
        _log_timeline(run_id, rows)
        _describe(client, run_id, rows, name, experiment_id)
    return rows


def _describe(
    client: MlflowClient,
    run_id: str,
    rows: list[TimelineRow],
    name: str,
    experiment_id: str | None,
    *,
    total: int | None = None,
) -> None:
    """Write the replay run's description: the timeline, linked (only warns on failure)."""
    text = timeline_markdown(
        rows_to_dicts(rows),
        model_name=name,
        experiment_id=experiment_id,
        total=total,
        run_id=run_id,
    )
    describe_run(client, run_id, text)


def _one(
    config: RetrainConfig, name: str, batch: str | Table, nxt: str | None
) -> tuple[TimelineRow, Table | None]:
    """One cycle's row, and the next batch if the row's metric read it."""
    label = source_of(batch).rstrip("/").rsplit("/", 1)[-1]
    try:
        result = run_cycle(config, batch=batch, model_name=name, settle_seconds=0.0)
    except CircuitBreakerOpen as err:
        logger.warning("%s: %s", label, err.message)
        champion = _champion_version(name)
        metric, value, read = _next_metric(config, name, champion, nxt)
        return TimelineRow(label, "-", "-", None, "circuit breaker open", champion, metric,
                           value, None), read  # fmt: skip
    trigger = result.trigger.trigger
    if result.trigger.held_by_cooldown:
        trigger = f"{trigger} (held)"
    drift = (
        "-" if result.drift_detected is None else ("drift" if result.drift_detected else "none")
    )
    decision = result.decision or "-"
    if result.outcome in ("challenger_in_shadow", "already_processed"):
        decision = result.outcome.replace("_", " ")
    if result.shadow is not None:
        shadow = result.shadow
        note = f"shadow v{shadow['version']}: {shadow['decision']}"
        decision = note if decision == "-" else f"{note}; {decision}"
    if result.halted:
        decision += ", halted"
    metric, value, read = _next_metric(config, name, result.champion_version, nxt)
    return TimelineRow(label, drift, trigger, result.challenger_version, decision,
                       result.champion_version, metric, value, result.run_id), read  # fmt: skip


def _champion_version(name: str) -> str | None:
    from mlflow_retrain.registry.versions import alias_version

    try:
        found = alias_version(MlflowClient(), name, lineage.ALIAS_CHAMPION)
    except mlflow.exceptions.MlflowException:
        return None
    return None if found is None else str(found.version)


def _next_metric(
    config: RetrainConfig, name: str, champion: str | None, nxt: str | None
) -> tuple[str, float | None, Table | None]:
    """The champion's metric on the next batch (the one it will serve), and that batch if read."""
    from mlflow_retrain.comparison import metric_value
    from mlflow_retrain.pipeline.compare import score_version
    from mlflow_retrain.registry.policies import load_policy, unstored_policy

    client = MlflowClient()
    task = "classification"
    version = None
    if champion is not None:
        version = client.get_model_version(name, champion)
        task = version.tags.get(lineage.TAG_TASK, task)
    try:
        policy = load_policy(client, name, task=task, config_policy=config.policy)
    except mlflow.exceptions.MlflowException:
        policy = unstored_policy(task, config.policy)
    metric = config.triggers.decay_metric or policy.primary[0].metric
    if version is None or nxt is None or not config.target:
        return metric, None, None
    read = Table.read(nxt)
    frame = read.frame[read.frame[config.target].notna()]
    output = score_version(name, version, frame.drop(columns=[config.target]), task)
    value = metric_value(metric, frame[config.target].to_numpy(), output)
    return metric, value if math.isfinite(value) else None, read


def format_timeline(rows: list[TimelineRow]) -> str:
    """The timeline as a fixed-width table."""
    metric = rows[0].metric if rows else "metric"
    head = (
        f"{'batch':<16} {'drift':<6} {'trigger':<22} {'retrain':<8} {'decision':<22} "
        f"{'champion':<9} {'next-batch ' + metric:>18}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        value = "-" if r.next_value is None else format_number(r.next_value)
        lines.append(
            f"{r.batch:<16} {r.drift:<6} {r.trigger:<22} "
            f"{'v' + r.retrained if r.retrained else '-':<8} {r.decision:<22} "
            f"{'v' + r.champion if r.champion else '-':<9} {value:>18}"
        )
    return "\n".join(lines)


def format_replay(rows: list[TimelineRow]) -> str:
    """What ``mlflow-retrain replay`` prints: the timeline, and where to look at it."""
    return format_timeline(rows) + "\n" + where_to_look()


def _log_timeline(run_id: str, rows: list[TimelineRow]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "timeline.json").write_text(
            json.dumps([asdict(r) for r in rows], indent=2), encoding="utf-8"
        )
        (folder / "timeline.txt").write_text(format_timeline(rows) + "\n", encoding="utf-8")
        MlflowClient().log_artifacts(run_id, str(folder), artifact_path="timeline")


def rows_to_dicts(rows: list[TimelineRow]) -> list[dict[str, Any]]:
    """JSON form of the timeline (the ``--json-out`` of ``replay``)."""
    return [asdict(r) for r in rows]

"""The retraining loop (``mlflow-retrain run``): one check of one new batch, end to end.

Validate the batch and check it for drift against the champion's reference profile, check the
champion's performance on it when it has labels, apply the trigger rule, and when it fires:
retrain on the configured window (history plus the batch), compare with the champion, and
promote through the registry gate. Each step is a child run of one pipeline run; each is also
runnable alone. Safety: a halted model does not retrain; after ``max_consecutive_rejections``
rejected challengers the loop halts the model; a batch already processed is skipped; a
pipeline run that died is resumed under the same key, so no version is registered twice.

A cycle reads its batch and its policy once and hands them to its steps: the batch as a
:class:`~mlflow_retrain.data.table.Table`, the policy as a
:class:`~mlflow_retrain.registry.policies.ModelPolicy`. The training window is logged on the
cycle's run (``window/training.parquet``) and handed to ``retrain`` in memory; the gate split
``retrain`` stored goes to ``compare`` in memory too.
"""

from __future__ import annotations

import fnmatch
import logging
import math
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.config import HistoryConfig, RetrainConfig
from mlflow_retrain.data.io import describe_uri, list_s3_uris, load_table
from mlflow_retrain.data.table import Table, as_table, write_parquet
from mlflow_retrain.exceptions import CircuitBreakerOpen, InvalidConfigError, InvalidInputError
from mlflow_retrain.pipeline.lease import SETTLE_SECONDS, Lease, LeaseHolder
from mlflow_retrain.pipeline.steps import frame_digest, step_params, step_run
from mlflow_retrain.pipeline.triggers import CheckFacts, TriggerDecision, decide_trigger
from mlflow_retrain.policy import PromotionPolicy
from mlflow_retrain.registry.halt import check_not_halted, count_rejection, reset_rejections
from mlflow_retrain.registry.policies import ModelPolicy, read_policy
from mlflow_retrain.report.html import format_number

__all__ = ["CycleResult", "format_cycle", "list_batches", "require_model", "run_cycle"]

logger = logging.getLogger(__name__)

#: Outcome of a cycle that found another cycle of its model running and stepped back.
OUTCOME_BUSY = "busy"


@dataclass(frozen=True)
class CycleResult:
    """What one check of the loop did.

    Attributes:
        model_name: Registered model.
        batch: The batch checked (redacted URI).
        outcome: ``no_change``, ``held``, ``promoted``, ``rejected``, ``inconclusive``,
            ``challenger_in_shadow``, ``already_processed``.
        trigger: The trigger decision.
        drift_detected: The batch drifted from the champion's reference (``None``: no champion).
        decay: The decay check (``metric``, ``value``, ``ci_low``, ``ci_high``, ``reference``,
            ``decayed``), or ``None``.
        challenger_version: The version trained in this cycle, if any.
        decision: The comparison's decision, if any.
        champion_version: The champion after the cycle.
        run_id: The pipeline run.
        halted: The model is halted after this cycle.
        shadow: The shadow step of a challenger waiting in shadow (policy mode ``shadow`` or
            ``both``): ``version``, ``decision``, ``batches``, ``rows``, ``estimate``,
            ``confidence_sequence``, ``p_value``; ``None`` when there was none.
    """

    model_name: str
    batch: str
    outcome: str
    trigger: TriggerDecision
    drift_detected: bool | None
    decay: dict[str, Any] | None
    challenger_version: str | None
    decision: str | None
    champion_version: str | None
    run_id: str
    halted: bool = False
    shadow: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form documented in docs/schemas.md."""
        return {
            "model_name": self.model_name,
            "batch": self.batch,
            "outcome": self.outcome,
            "trigger": self.trigger.trigger,
            "retrain": self.trigger.retrain,
            "trigger_reason": self.trigger.reason,
            "drift_detected": self.drift_detected,
            "decay": self.decay,
            "challenger_version": self.challenger_version,
            "decision": self.decision,
            "champion_version": self.champion_version,
            "halted": self.halted,
            "shadow": self.shadow,
            "run_id": self.run_id,
        }


def format_cycle(result: CycleResult) -> str:
    """What ``mlflow-retrain run`` prints: the outcome, the trigger, the champion after."""
    drift = {None: "no champion", True: "drift", False: "no drift"}[result.drift_detected]
    decay = ""
    if result.decay is not None:
        d = result.decay
        decay = (
            f", {d['metric']} {format_number(d['value'])} "
            f"[{format_number(d['ci_low'])}, {format_number(d['ci_high'])}] vs reference "
            f"{format_number(d['reference'])}{' (decayed)' if d['decayed'] else ''}"
        )
    lines = [
        f"{result.outcome.upper()}: {result.model_name}, batch {result.batch}: {drift}{decay}.",
        f"Trigger: {result.trigger.trigger}. {result.trigger.reason}",
    ]
    if result.challenger_version is not None:
        lines.append(
            f"Retrained: version {result.challenger_version}, comparison: {result.decision}."
        )
    lines.append(f"Champion: version {result.champion_version or 'none'}.")
    if result.halted:
        lines.append(
            f"HALTED: too many rejected challengers. Run `mlflow-retrain resume --model "
            f"{result.model_name}` after checking."
        )
    lines.append(f"MLflow run: {result.run_id}")
    return "\n".join(lines)


def list_batches(history: HistoryConfig) -> list[str]:
    """The batch URIs of ``history``, oldest first.

    Raises:
        InvalidConfigError: No history is configured.
        InvalidInputError: The source does not exist or holds no matching file.
    """
    if history.uris:
        return list(history.uris)
    if not history.source:
        raise InvalidConfigError(
            "No batch history: set 'history.source' (a folder or s3:// prefix) or "
            "'history.uris' in retrain.yaml, or pass --batch."
        )
    source = history.source
    if source.startswith("s3://"):
        names = list_s3_uris(source)
    else:
        folder = Path(source)
        if not folder.is_dir():
            raise InvalidInputError(
                f"The history folder '{source}' does not exist. Fix 'history.source'."
            )
        names = [str(p) for p in folder.iterdir() if p.is_file()]
    found = sorted(n for n in names if fnmatch.fnmatch(n.rsplit("/", 1)[-1], history.pattern))
    if not found:
        raise InvalidInputError(
            f"No batch matching '{history.pattern}' under {describe_uri(source)}. Check "
            "'history.source' and 'history.pattern'."
        )
    return found


def run_cycle(
    config: RetrainConfig,
    *,
    batch: str | Table | None = None,
    model_name: str | None = None,
    experiment_name: str | None = None,
    settle_seconds: float = SETTLE_SECONDS,
) -> CycleResult:
    """Check one batch and retrain, compare and promote when the trigger rule says so.

    Only one cycle per model runs at a time: a cycle that finds another one holding the model
    (see ``pipeline.lease``) steps back with outcome ``busy`` and changes nothing.

    Args:
        config: Settings (``model_name``, ``target``, ``history``, ``triggers``, ``safety``,
            and every step's settings).
        batch: The new batch: a URI, or the batch already read (a
            :class:`~mlflow_retrain.data.table.Table`); default: the newest in ``history``.
        model_name: Registered model (default ``config.model_name``).
        experiment_name: Experiment of the pipeline run.
        settle_seconds: Wait between claiming the model and reading rival claims.

    Returns:
        What the cycle did.

    Raises:
        InvalidConfigError: No model name, target or history.
        CircuitBreakerOpen: The batch is bad, or the model is halted.
        InvalidInputError: Unreadable data, or the model does not exist and
            ``config.model.create`` is off.
    """
    model_name = model_name or config.model_name
    if not model_name:
        raise InvalidConfigError("No model: set 'model_name' in retrain.yaml or pass --model.")
    if not config.target:
        raise InvalidConfigError("No target column: set 'target' in retrain.yaml.")
    if not config.model.create:
        require_model(MlflowClient(), model_name)
    batches = (
        list_batches(config.history) if (config.history.source or config.history.uris) else []
    )
    if batch is None:
        if not batches:
            list_batches(config.history)  # raises the configuration error
        batch = batches[-1]
    current = as_table(batch)  # the one read of the batch: every step is handed it
    batch = current.source
    history = batches[: batches.index(batch)] if batch in batches else batches
    client = MlflowClient()
    digest = frame_digest(current.frame)
    done, resumed = _previous_cycles(
        client, model_name, digest, experiment_id=_pipeline_experiment(client, experiment_name)
    )
    if done is not None:
        return _already_processed(client, done, model_name, batch)
    with step_run("run", run_name=f"cycle {Path(batch).name}",
                  experiment_name=experiment_name) as run_id:  # fmt: skip
        cycle_id = (
            resumed.data.tags.get(lineage.TAG_CYCLE, resumed.info.run_id) if resumed else run_id
        )
        mlflow.set_tags(
            {
                lineage.TAG_MODEL_NAME: model_name,
                lineage.TAG_BATCH_DIGEST: digest,
                lineage.TAG_CYCLE: cycle_id,
            }
        )
        MlflowClient().log_batch(
            run_id, params=step_params(run_id, [Param("batch", describe_uri(batch))])
        )
        holder = LeaseHolder(client, run_id, seconds=config.safety.lease_seconds)
        holder.claim()
        try:
            time.sleep(settle_seconds)
            running = _cycles(
                client,
                model_name,
                " and attributes.status = 'RUNNING'",
                experiment_id=client.get_run(run_id).info.experiment_id,
            )
            rival = holder.rival(running)
            if rival is not None:
                result = _busy(client, model_name, batch, run_id, rival)
            else:
                check_not_halted(client, model_name)
                result = _cycle(client, config, model_name, current, history, run_id, cycle_id)
        except (CircuitBreakerOpen, InvalidInputError) as err:
            _describe_failed_cycle(client, run_id, batch, err)
            raise
        finally:
            holder.release()
        mlflow.set_tags({
            lineage.TAG_OUTCOME: result.outcome,
            lineage.TAG_TRIGGER: result.trigger.trigger,
            lineage.TAG_RETRAINED: str(result.challenger_version is not None).lower(),
            lineage.TAG_DRIFT_DETECTED: str(bool(result.drift_detected)).lower(),
            lineage.TAG_TRIGGER_REASON: lineage.truncate_tag(result.trigger.reason),
        })  # fmt: skip
        _describe_cycle(client, run_id, result)
    return result


def require_model(client: MlflowClient, name: str) -> None:
    """Refuse to start a cycle of a registered model that does not exist.

    A cycle of a new model deploys its first version, so a misspelt ``--model`` would
    quietly start and deploy another model; creating one takes ``--create``
    (``model.create: true``).

    Raises:
        InvalidInputError: The model does not exist; the message names the closest existing
            model and the way to create one.
    """
    from mlflow_retrain.exceptions import did_you_mean
    from mlflow_retrain.registry.versions import model_exists, model_names

    if model_exists(client, name):
        return
    raise InvalidInputError(
        f"Registered model '{name}' does not exist{did_you_mean(name, model_names(client))}. "
        "Check --model (or model_name in retrain.yaml), or pass --create (model.create: true) "
        "to start a new model: its first cycle deploys its first version."
    )


def _describe_cycle(client: MlflowClient, run_id: str, result: CycleResult) -> None:
    """Write the cycle run's description: its outcome, with links to its step runs.

    The description is for people: a failure to read the step runs or to write it is logged
    as a warning and never fails the cycle.
    """
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    from mlflow_retrain.registry.describe import describe_run
    from mlflow_retrain.report.markdown import cycle_markdown

    steps: dict[str, str] = {}
    drift_reason: str | None = None
    champion_before: str | None = None
    experiment_id: str | None = None
    children: list[Any] = []
    try:
        run = client.get_run(run_id)
        experiment_id = run.info.experiment_id
        champion_before = run.data.tags.get(lineage.TAG_CHECKED_CHAMPION)
        children = list(
            client.search_runs(
                [run.info.experiment_id],
                filter_string=f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{run_id}'",
                order_by=["attributes.start_time ASC"],
            )
        )
    except (MlflowException, OSError) as err:
        logger.warning("Could not read the step runs of cycle %s (%s).", run_id, err)
    for child in children:
        step = child.data.tags.get(lineage.TAG_STEP)
        if step:
            steps[step] = child.info.run_id
        if step == "drift":
            drift_reason = child.data.tags.get(lineage.TAG_DRIFT_REASON)
    text = cycle_markdown(
        result.to_dict(),
        steps=steps,
        experiment_id=experiment_id,
        champion_before=champion_before,
        drift_reason=drift_reason,
    )
    describe_run(client, run_id, text)


def _describe_failed_cycle(
    client: MlflowClient, run_id: str, batch: str, err: CircuitBreakerOpen | InvalidInputError
) -> None:
    """Write a failed cycle run's description (why it stopped); only warns on failure."""
    from mlflow_retrain.registry.describe import describe_run
    from mlflow_retrain.report.markdown import cycle_failed_markdown

    text = cycle_failed_markdown(
        batch=describe_uri(batch),
        reason=err.message,
        circuit_breaker=isinstance(err, CircuitBreakerOpen),
    )
    describe_run(client, run_id, text)


class _CyclePolicy:
    """The model's promotion policy, read from the registry at most once per cycle.

    It is read on first use: a first deployment has no registered model to read it from until
    ``retrain`` has registered one.
    """

    def __init__(
        self, client: MlflowClient, model_name: str, config_policy: Mapping[str, Any] | None
    ) -> None:
        self._client, self._model_name, self._config_policy = client, model_name, config_policy
        self._policy: ModelPolicy | None = None

    def get(self) -> ModelPolicy:
        """The policy, read now if no step needed it before."""
        if self._policy is None:
            self._policy = read_policy(
                self._client, self._model_name, config_policy=self._config_policy
            )
        return self._policy

    def stored(self, policy: PromotionPolicy) -> None:
        """Note that this cycle stored ``policy`` on the model (it is known without a read)."""
        known = self._policy or ModelPolicy(config_policy=self._config_policy)
        self._policy = known.with_stored(policy)


def _cycle(
    client: MlflowClient,
    config: RetrainConfig,
    model_name: str,
    current: Table,
    history: Sequence[str],
    run_id: str,
    cycle_id: str,
) -> CycleResult:
    from mlflow_retrain.pipeline.compare import run_compare
    from mlflow_retrain.pipeline.drift import run_drift
    from mlflow_retrain.pipeline.retrain import run_retrain
    from mlflow_retrain.registry.lifecycle import promote
    from mlflow_retrain.registry.policies import policy_from_config
    from mlflow_retrain.registry.versions import alias_version

    batch, frame = current.source, current.frame
    policy = _CyclePolicy(client, model_name, config.policy)
    champ = _champion(client, model_name)
    shadow = _shadow_step(client, config, model_name, current, champ, policy)
    if shadow is not None and shadow["decision"] != lineage.DECISION_CONTINUE:
        succeeded = shadow["decision"] == lineage.DECISION_PROMOTE
        _record_outcome(client, model_name, succeeded=succeeded,
                        limit=config.safety.max_consecutive_rejections)  # fmt: skip
        champ = _champion(client, model_name)
    champion_version = None if champ is None else str(champ.version)
    mlflow.set_tag(lineage.TAG_CHECKED_CHAMPION, champion_version or "none")
    drift_detected: bool | None = None
    decay: dict[str, Any] | None = None
    report = None
    if champ is not None:
        reference = champ.tags.get(lineage.TAG_PROFILE_URI)
        period = config.triggers.seasonal_period
        if period is not None and len(history) >= period:
            reference = history[-period]  # the same season, one cycle earlier
        if reference:
            report = run_drift(reference, current, config=config, run_name="drift")
            drift_detected = report.drift_detected
        decay = _decay(model_name, champ, frame, config, policy)
    else:
        from mlflow_retrain.data.validate import validate_reference

        validate_reference(frame, name="batch")
    # The earlier finished checks of this model, newest first (read once).
    finished = _cycles(client, model_name, " and attributes.status = 'FINISHED'",
                       experiment_id=client.get_run(run_id).info.experiment_id)  # fmt: skip
    earlier = [r for r in finished if r.info.run_id != run_id]
    facts = CheckFacts(
        has_champion=champ is not None,
        drift_now=bool(drift_detected),
        drift_before=_drift_history(earlier, config.triggers.drift_n, champion_version),
        decayed=None if decay is None else bool(decay["decayed"]),
        model_age_days=None if champ is None else (
            (time.time() * 1000 - champ.creation_timestamp) / 86_400_000
        ),
        **_since_retrain(earlier),
    )  # fmt: skip
    trigger = decide_trigger(facts, config.triggers, config.safety)
    if trigger.retrain and shadow is not None and shadow["decision"] == lineage.DECISION_CONTINUE:
        trigger = TriggerDecision(
            False, trigger.trigger,
            f"{trigger.reason} Held: version {shadow['version']} is still in shadow.",
            held_by_cooldown=True,
        )  # fmt: skip
    logger.info("Trigger: %s", trigger.reason)
    base: dict[str, Any] = {
        "model_name": model_name, "batch": describe_uri(batch), "trigger": trigger,
        "drift_detected": drift_detected, "decay": decay, "run_id": run_id, "shadow": shadow,
    }  # fmt: skip
    if not trigger.retrain:
        outcome = "held" if trigger.held_by_cooldown else "no_change"
        return CycleResult(**base, outcome=outcome, challenger_version=None, decision=None,
                           champion_version=champion_version)  # fmt: skip
    window = _training_window(run_id, [*history, batch], frame, config)
    retrained = run_retrain(window, model_name=model_name, config=config,
                            trigger=trigger.trigger, pipeline_run_id=cycle_id)  # fmt: skip
    configured = policy_from_config(retrained.task, config.policy)
    if configured is not None:
        policy.stored(configured)  # `retrain` stores retrain.yaml's policy on the model
    version = str(retrained.version)
    if champ is not None and str(champ.version) == version:
        # A resumed cycle whose first attempt had already promoted its version.
        return CycleResult(**base, outcome="promoted", challenger_version=version,
                           decision=lineage.DECISION_PROMOTE,
                           champion_version=version)  # fmt: skip
    _describe_trigger(client, model_name, version, report=report, trigger=trigger, run_id=run_id)
    # The gate split as `retrain` stored it (`None` if an earlier attempt registered the
    # version: then `compare` reads it from the store).
    compared = run_compare(model_name, challenger=version, data=retrained.gate, config=config,
                           policy=policy.get())  # fmt: skip
    decision = compared.decision
    mode = policy.get().for_task(retrained.task).mode
    outcome = {lineage.DECISION_PROMOTE: "promoted", lineage.DECISION_REJECT: "rejected"}.get(
        decision, "inconclusive"
    )
    # Under mode shadow every challenger not rejected offline goes to shadow; under both,
    # only one that passed offline. A first deployment has no champion to shadow.
    to_shadow = champ is not None and (
        (mode == "shadow" and decision != lineage.DECISION_REJECT)
        or (mode == "both" and decision == lineage.DECISION_PROMOTE)
    )
    if to_shadow:
        outcome = "challenger_in_shadow"
    elif decision == lineage.DECISION_PROMOTE:
        promote(model_name, version=version)
    halted = _record_outcome(
        client,
        model_name,
        succeeded=outcome in ("promoted", "challenger_in_shadow"),
        limit=config.safety.max_consecutive_rejections,
    )
    after = alias_version(client, model_name, lineage.ALIAS_CHAMPION)
    return CycleResult(
        **base, outcome=outcome, challenger_version=version, decision=decision,
        champion_version=None if after is None else str(after.version), halted=halted,
    )  # fmt: skip


def _describe_trigger(
    client: MlflowClient,
    model_name: str,
    version: str,
    *,
    report: Any,
    trigger: TriggerDecision,
    run_id: str,
) -> None:
    """Write the ``trigger`` section of the new version's description (drift that caused it)."""
    from mlflow_retrain.registry.describe import describe_version, experiment_of
    from mlflow_retrain.report.markdown import drift_markdown

    body = drift_markdown(
        report,
        trigger=trigger.trigger,
        reason=trigger.reason,
        cycle_run_id=run_id,
        experiment_id=experiment_of(client, run_id),
    )
    describe_version(client, model_name, version, {"trigger": body})


def _shadow_step(
    client: MlflowClient,
    config: RetrainConfig,
    model_name: str,
    current: Table,
    champ: Any,
    policy: _CyclePolicy,
) -> dict[str, Any] | None:
    """Run ``shadow`` on the batch for a challenger waiting in shadow, if there is one."""
    from mlflow_retrain.pipeline.shadow import run_shadow
    from mlflow_retrain.registry.versions import alias_version

    frame = current.frame
    if champ is None or not config.target or config.target not in frame.columns:
        return None
    if frame[config.target].notna().sum() == 0:
        return None
    task = champ.tags.get(lineage.TAG_TASK, "classification")
    mode = policy.get().for_task(task).mode
    if mode == "offline":
        return None
    waiting = alias_version(client, model_name, lineage.ALIAS_CHALLENGER)
    if waiting is None or str(waiting.version) == str(champ.version):
        return None
    tags = waiting.tags
    if tags.get(lineage.TAG_STATUS) in (lineage.STATUS_REJECTED, lineage.STATUS_PROMOTED):
        return None
    if mode == "both" and (
        tags.get(lineage.TAG_OFFLINE_DECISION) != lineage.DECISION_PROMOTE
        or tags.get(lineage.TAG_OFFLINE_BASELINE) != str(champ.version)
    ):
        return None
    result = run_shadow(model_name, batch=current, challenger=str(waiting.version),
                        config=config, policy=policy.get(), run_name="shadow")  # fmt: skip
    data = result.to_dict()
    return {
        "version": result.challenger_version,
        **{k: data[k] for k in ("decision", "batches", "rows", "estimate",
                                "confidence_sequence", "p_value")},
    }  # fmt: skip


def _cycles(
    client: MlflowClient, model_name: str, extra: str = "", *, experiment_id: str | None
) -> list[Any]:
    """The model's cycles, newest first, without those that stepped back (outcome ``busy``).

    Only the pipeline's own experiment is searched: a run planted in any other experiment
    (where a colleague may write) cannot mark a batch processed, hold the model with a lease or
    make drift look persistent. ``None`` (no such experiment yet) means no cycles.
    """
    if experiment_id is None:
        return []
    query = (
        f"tags.`{lineage.TAG_STEP}` = 'run' and tags.`{lineage.TAG_MODEL_NAME}` = '{model_name}'"
        + extra
    )
    runs = client.search_runs(
        [experiment_id],
        filter_string=query,
        order_by=["attributes.start_time DESC"],
        max_results=500,
    )
    return [run for run in runs if run.data.tags.get(lineage.TAG_OUTCOME) != OUTCOME_BUSY]


def _pipeline_experiment(client: MlflowClient, experiment_name: str | None) -> str | None:
    """The id of the experiment this cycle's run will open in, or ``None`` if it does not exist.

    As :func:`~mlflow_retrain.pipeline.steps.step_run` chooses it: the named experiment, else
    MLflow's current one (an active ``mlflow run`` project run's, ``MLFLOW_EXPERIMENT_ID`` or
    ``_NAME``, ``mlflow.set_experiment``, or the default).
    """
    if experiment_name and mlflow.active_run() is None:
        found = client.get_experiment_by_name(experiment_name)
        return None if found is None else str(found.experiment_id)
    active = mlflow.active_run()
    if active is not None:
        return str(active.info.experiment_id)
    # MLflow names no public call for "the experiment a new run would open in".
    from mlflow.tracking.fluent import _get_experiment_id

    return str(_get_experiment_id())


def _busy(
    client: MlflowClient, model_name: str, batch: str, run_id: str, rival: Lease
) -> CycleResult:
    champ = _champion(client, model_name)  # None also when the model is not registered yet
    reason = (
        f"Run {rival.run_id} (on {rival.host}) is already running a cycle of '{model_name}'; "
        "this run stepped back and changed nothing. Run it again once that cycle has ended."
    )
    logger.warning(reason)
    return CycleResult(
        model_name=model_name,
        batch=describe_uri(batch),
        outcome=OUTCOME_BUSY,
        trigger=TriggerDecision(False, "none", reason),
        drift_detected=None,
        decay=None,
        challenger_version=None,
        decision=None,
        champion_version=None if champ is None else str(champ.version),
        run_id=run_id,
    )


def _previous_cycles(
    client: MlflowClient, model_name: str, digest: str, *, experiment_id: str | None
) -> tuple[Any, Any]:
    """The newest finished and the newest unfinished cycle of this batch, each or ``None``."""
    batch = f" and tags.`{lineage.TAG_BATCH_DIGEST}` = '{digest}'"
    runs = _cycles(client, model_name, batch, experiment_id=experiment_id)
    finished = next((r for r in runs if r.info.status == "FINISHED"), None)
    unfinished = next((r for r in runs if r.info.status != "FINISHED"), None)
    return finished, unfinished


def _already_processed(client: MlflowClient, run: Any, model_name: str, batch: str) -> CycleResult:
    tags = run.data.tags
    from mlflow_retrain.registry.versions import alias_version

    champ = alias_version(client, model_name, lineage.ALIAS_CHAMPION)
    return CycleResult(
        model_name=model_name,
        batch=describe_uri(batch),
        outcome="already_processed",
        trigger=TriggerDecision(
            False, "none", f"This batch was processed by run {run.info.run_id}."
        ),
        drift_detected=tags.get(lineage.TAG_DRIFT_DETECTED) == "true",
        decay=None,
        challenger_version=None,
        decision=None,
        champion_version=None if champ is None else str(champ.version),
        run_id=run.info.run_id,
    )


def _champion(client: MlflowClient, model_name: str) -> Any:
    from mlflow_retrain.registry.versions import alias_version

    try:
        return alias_version(client, model_name, lineage.ALIAS_CHAMPION)
    except MlflowException:
        return None


def _drift_history(earlier: Sequence[Any], n: int, champion: str | None) -> list[bool]:
    """Drift found by the last ``n - 1`` checks against the same champion, oldest first.

    Drift is measured against the champion's reference, so checks against an earlier
    champion say nothing about the current one.
    """
    if n <= 1 or champion is None:
        return []
    found: list[bool] = []
    for run in earlier:
        if run.data.tags.get(lineage.TAG_CHECKED_CHAMPION) != champion or len(found) == n - 1:
            break
        found.append(run.data.tags.get(lineage.TAG_DRIFT_DETECTED) == "true")
    return found[::-1]


def _since_retrain(earlier: Sequence[Any]) -> dict[str, Any]:
    for checks, run in enumerate(earlier):
        if run.data.tags.get(lineage.TAG_RETRAINED) == "true":
            hours = (time.time() * 1000 - run.info.start_time) / 3_600_000
            return {"checks_since_retrain": checks, "hours_since_retrain": hours}
    return {"checks_since_retrain": None, "hours_since_retrain": None}


def _decay(
    model_name: str,
    champ: Any,
    frame: pd.DataFrame,
    config: RetrainConfig,
    policy: _CyclePolicy,
) -> Any:
    """The champion's metric on the labelled batch against its reference, or ``None``.

    The reference is the champion's metric on the first labelled batch it served (cached on
    the version); that batch sets it and is not judged. Later batches are judged by
    :func:`~mlflow_retrain.pipeline.triggers.decay_test`.
    """
    from mlflow_retrain.comparison import metric_interval
    from mlflow_retrain.metrics import lookup_metric
    from mlflow_retrain.pipeline.compare import score_version
    from mlflow_retrain.pipeline.triggers import decay_test
    from mlflow_retrain.registry.evidence import cache_reference, cached_reference

    target = config.target
    assert target is not None
    if target not in frame.columns or frame[target].notna().sum() < 30:
        return None
    tags = champ.tags
    task = tags.get(lineage.TAG_TASK) or "classification"
    metric = config.triggers.decay_metric or policy.get().for_task(task).primary[0].metric
    confidence = config.triggers.decay_confidence
    labelled = frame[frame[target].notna()]
    output = score_version(model_name, champ, labelled.drop(columns=[target]), task)
    found = metric_interval(metric, labelled[target].to_numpy(), output, confidence=confidence)
    value, low, high = found
    if not all(math.isfinite(v) for v in found):
        return None
    logged = {f"decay.{metric}": value, f"decay.{metric}.ci_low": low,
              f"decay.{metric}.ci_high": high}  # fmt: skip
    result: dict[str, Any] = {"metric": metric, "value": value, "ci_low": low, "ci_high": high}
    reference = cached_reference(tags, metric)
    if reference is None:
        # The first labelled batch the champion serves becomes its reference: rows that took
        # no part in selecting it (its gate split did, so it flatters the champion).
        cache_reference(MlflowClient(), champ.name, champ.version, metric, found)
        mlflow.log_metrics(logged)
        return {**result, "reference": value, "reference_ci": [low, high],
                "reference_set": True, "decayed": False}  # fmt: skip
    test = decay_test(
        found, reference, greater_is_better=lookup_metric(metric).greater_is_better,
        confidence=confidence, horizon=config.triggers.decay_horizon,
        tolerance=config.triggers.decay_tolerance,
    )  # fmt: skip
    mlflow.log_metrics(
        {**logged, f"decay.{metric}.reference": reference[0], f"decay.{metric}.z": test.z}
    )
    return {**result, "reference": reference[0], "reference_ci": list(reference[1:]),
            "z": test.z, "level": test.level, "decayed": test.decayed}  # fmt: skip


def _training_window(
    run_id: str, uris: Sequence[str], current: pd.DataFrame, config: RetrainConfig
) -> Table:
    """The newest batches the retrain needs, logged as one Parquet artifact of the pipeline run.

    ``retrain`` holds out the newest ``tuning.gate_fraction`` of what it is given as the gate
    split and applies ``window`` to the rest. With a ``last_rows`` or ``last_days`` window,
    the loop reads batches newest first until they cover the window plus its gate share, so
    the gate is recent data sized to the window, and older batches are never read. Other
    windows read the whole history.

    Returns:
        The window as the artifact holds it, with the artifact's ``runs:/`` URI as its source:
        ``retrain`` is handed the rows and records the URI, without downloading them again.
    """
    frames = [current]
    for uri in reversed(uris[:-1]):
        if _window_covered(frames, config):
            break
        frames.insert(0, load_table(uri))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "training.parquet"
        window = write_parquet(pd.concat(frames, ignore_index=True), path)
        MlflowClient().log_artifact(run_id, str(path), artifact_path="window")
    return Table(window, f"runs:/{run_id}/window/training.parquet")


def _window_covered(frames: Sequence[pd.DataFrame], config: RetrainConfig) -> bool:
    """Whether the newest batches ``frames`` already cover the training window and its gate."""
    window = config.window
    share = 1.0 - config.tuning.gate_fraction  # of what is read, the part left for training
    if window.kind == "last_rows" and window.rows is not None:
        return sum(len(f) for f in frames) * share >= window.rows
    if window.kind == "last_days" and window.days is not None and config.timestamp:
        times = pd.concat([pd.to_datetime(f[config.timestamp], errors="coerce")
                           for f in frames if config.timestamp in f.columns])  # fmt: skip
        if times.dropna().empty:
            return False
        # Batches are in time order: every older one ends before the oldest row read.
        return bool((times.max() - times.min()) * share >= pd.Timedelta(days=window.days))
    return False


def _record_outcome(client: MlflowClient, model_name: str, *, succeeded: bool, limit: int) -> bool:
    """Tell the registry whether the challenger succeeded (promoted, or gone to shadow).

    Returns:
        Whether the model is halted now (``limit`` failed challengers in a row).
    """
    if succeeded:
        reset_rejections(client, model_name)
        return False
    return count_rejection(client, model_name, limit=limit)

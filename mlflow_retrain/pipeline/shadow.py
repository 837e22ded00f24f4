"""The ``shadow`` step: the challenger proves itself on live, labelled batches.

Each call scores one labelled batch with the champion and the challenger, adds the per-row
paired loss differences to the challenger's sequential test
(:mod:`mlflow_retrain.stats.sequential`), and decides: ``promote`` when the always-valid
confidence sequence lies above the policy's margin (the registry gate then moves
``champion``), ``reject`` when it lies below or the batch/row budget is spent, ``continue``
otherwise. Evidence accumulates across calls, processes and days in one shadow run per
challenger and champion: per-batch metrics as steps, the test's state as an artifact, a
summary on the version.

Nothing is written before the batch has been scored and the new state computed, so a failure
leaves the shadow run and the registry as they were.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import mlflow
import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.comparison import ModelOutput, loss_bound, per_row_loss
from mlflow_retrain.config import RetrainConfig
from mlflow_retrain.data.io import describe_uri
from mlflow_retrain.data.table import Table, as_table, source_of
from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.pipeline.compare import score_version
from mlflow_retrain.pipeline.steps import (
    frame_digest,
    log_dataset,
    now_ms,
    step_params,
    step_run,
)
from mlflow_retrain.policy import PromotionPolicy, ShadowRule
from mlflow_retrain.registry.describe import describe_status, describe_version, experiment_of
from mlflow_retrain.registry.evidence import write_shadow_evidence
from mlflow_retrain.registry.lifecycle import AliasMove, promote
from mlflow_retrain.registry.policies import ModelPolicy, read_policy
from mlflow_retrain.registry.versions import alias_version, resolve_version
from mlflow_retrain.report.html import format_number, format_pvalue
from mlflow_retrain.report.markdown import shadow_markdown
from mlflow_retrain.stats.sequential import (
    SequentialState,
    batches_before_a_bound,
    horizon_of,
    optimal_rho,
    rho_for_effect,
)
from mlflow_retrain.tuning.metrics import infer_task

__all__ = ["ShadowResult", "decide", "format_shadow", "identical_rows", "run_shadow"]

logger = logging.getLogger(__name__)

Decision = Literal["promote", "reject", "continue"]

#: Where the sequential state lives in the shadow run.
STATE_ARTIFACT = "shadow/state.json"


def decide(state: SequentialState, rule: ShadowRule) -> tuple[Decision, str]:
    """The shadow decision after the latest batch (pure).

    The confidence sequence decides only when it is evidence: at least one look, at least
    ``min_rows`` rows, and a non-empty running intersection. An empty one (a later look's
    interval misses an earlier one's) has probability at most ``alpha`` under the test's
    assumptions, so it says the assumptions fail (the mean difference changed during the
    test, or the rows are dependent): neither model is preferred on it, and the test runs on
    to its budget.

    Rows on which both models have the same loss carry no information about which is better,
    so identical losses only retire the challenger once they span the rows the test was
    planned for (:func:`identical_rows`); before that the test continues. A challenger whose
    losses differ from the champion's on a share ``q`` of the rows shows no difference in
    ``N`` rows with probability ``(1 - q) ** N``: at most ``alpha`` once ``q >= log(1 /
    alpha) / N`` (0.03% of rows at the default 10,000-row horizon and alpha 0.05).

    A sequence above the margin does not promote a challenger whose losses look heavy-tailed
    beside the champion's (:meth:`SequentialState.tail`): with an infinite variance, no test
    of a mean difference holds its level, and the test runs on to its budget.

    Args:
        state: The sequential test after the latest batch.
        rule: The policy's shadow settings.

    Returns:
        ``(decision, reason)``.
    """
    margin = rule.min_improvement
    identical = state.n > 0 and state.m2 == 0.0 and state.mean == 0.0
    planned = identical_rows(state)
    if identical and state.n >= planned:
        return lineage.DECISION_REJECT, (
            f"The challenger's losses equal the champion's on all {state.n} rows (the test "
            f"was planned for {planned}): it cannot improve on it."
        )
    looked = state.looks > 0 and state.n >= state.min_rows
    # ``not low <= high`` also holds for a NaN bound, which is no evidence either.
    empty = looked and not state.cs_low <= state.cs_high
    tail = state.tail()
    if looked and not empty and state.cs_low > margin and not tail.heavy:
        return lineage.DECISION_PROMOTE, (
            f"The challenger is better by more than {margin:g} at every look: the confidence "
            f"sequence is [{state.cs_low:.4g}, {state.cs_high:.4g}]."
        )
    if looked and not empty and state.cs_high < margin:
        return lineage.DECISION_REJECT, (
            f"The challenger cannot reach the margin {margin:g}: the confidence sequence is "
            f"[{state.cs_low:.4g}, {state.cs_high:.4g}]."
        )
    if state.batches >= rule.max_batches:
        return lineage.DECISION_REJECT, (
            f"No decision within the budget of {rule.max_batches} batches."
        )
    if rule.max_rows is not None and state.n >= rule.max_rows:
        return lineage.DECISION_REJECT, f"No decision within the budget of {rule.max_rows} rows."
    if identical:
        return lineage.DECISION_CONTINUE, (
            f"The challenger's losses equal the champion's on all {state.n} rows so far: "
            f"identical rows are no evidence either way (retired once identical on {planned})."
        )
    if not looked:
        return lineage.DECISION_CONTINUE, _waiting(state)
    if not empty and state.cs_low > margin:
        return lineage.DECISION_CONTINUE, (
            f"The confidence sequence [{state.cs_low:.4g}, {state.cs_high:.4g}] is above the "
            f"margin, but {tail.reason()}; no promotion on it, and the test runs on to its "
            "budget."
        )
    if empty:
        return lineage.DECISION_CONTINUE, (
            "The confidence sequence is empty: the looks' intervals no longer overlap (lower "
            f"end {state.cs_low:.4g} above upper end {state.cs_high:.4g}), so the mean "
            "difference is not constant (drift, or dependent rows) and no decision is taken on "
            "it; the test runs on to its budget."
        )
    return lineage.DECISION_CONTINUE, (
        f"Not decisive yet: the confidence sequence [{state.cs_low:.4g}, {state.cs_high:.4g}] "
        f"contains the margin {margin:g}."
    )


def _waiting(state: SequentialState) -> str:
    """Why no look has counted yet."""
    if state.n < state.min_rows:
        return f"{state.n} of the {state.min_rows} rows needed before the first look."
    if not state.std > 0:
        return f"{state.n} rows, but the differences do not vary yet."
    needed = batches_before_a_bound(state.mixing_batches, state.alpha)
    return (
        f"{state.filled} of the at least {needed} batches the batch test needs before it can "
        "bound the mean difference (it learns the spread between batches from the batches "
        "themselves)."
    )


def identical_rows(state: SequentialState) -> int:
    """Rows of identical losses after which shadow mode retires the challenger.

    The horizon the mixture was tuned for (``shadow.horizon_rows``, or the rows
    ``shadow.expected_effect`` implies), recovered from ``rho`` (:func:`optimal_rho` is
    proportional to the horizon), and never fewer than ``min_rows``.
    """
    horizon = horizon_of(state.rho, state.alpha)
    # round() first: the division leaves rounding noise (10000.000000000002 rows).
    return max(state.min_rows, math.ceil(round(horizon, 6)))


@dataclass(frozen=True)
class ShadowResult:
    """Result of :func:`run_shadow`.

    Attributes:
        model_name: Registered model.
        challenger_version: The version in shadow.
        champion_version: The champion it runs beside.
        decision: ``promote``, ``reject`` or ``continue``.
        reason: One sentence.
        loss: The per-row loss compared.
        min_improvement: The policy's margin, in loss units.
        state: The sequential test after this batch.
        batch: This batch: ``rows``, ``champion_loss``, ``challenger_loss``,
            ``mean_difference``, ``digest``, ``uri``.
        run_id: The accumulating shadow run.
        step_run_id: This call's run.
        restarted: The shadow run started afresh (first batch, or the champion changed).
        move: The promotion the gate made, when the decision was ``promote``.
    """

    model_name: str
    challenger_version: str
    champion_version: str
    decision: Decision
    reason: str
    loss: str
    min_improvement: float
    state: SequentialState
    batch: Mapping[str, Any]
    run_id: str
    step_run_id: str
    restarted: bool = False
    move: AliasMove | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form documented in docs/schemas.md."""
        s = self.state
        return {
            "model_name": self.model_name,
            "challenger_version": self.challenger_version,
            "champion_version": self.champion_version,
            "decision": self.decision,
            "reason": self.reason,
            "loss": self.loss,
            "min_improvement": self.min_improvement,
            "batches": s.batches,
            "rows": s.n,
            "estimate": s.mean if s.n else None,
            "confidence_sequence": [_finite(s.cs_low), _finite(s.cs_high)],
            "confidence": 1 - s.alpha,
            "p_value": s.p_value,
            "looks": s.looks,
            "unit": s.unit,
            "design_effect": _finite(s.design_effect),
            "batch": dict(self.batch),
            "run_id": self.run_id,
            "step_run_id": self.step_run_id,
            "restarted": self.restarted,
            "promotion": None if self.move is None else self.move.to_dict(),
        }


def format_shadow(result: ShadowResult) -> str:
    """What ``mlflow-retrain shadow`` prints: the decision, the evidence so far, this batch."""
    s = result.state
    interval = (
        f"[{format_number(s.cs_low)}, {format_number(s.cs_high)}]" if s.looks else "(no look yet)"
    )
    lines = [
        f"{result.decision.upper()}: version {result.challenger_version} of {result.model_name} "
        f"in shadow beside champion {result.champion_version}. {result.reason}",
        f"after {s.batches} batch{'es' if s.batches != 1 else ''} ({s.n:,} rows): improvement in "
        f"{result.loss} {format_number(s.mean)}, {1 - s.alpha:.0%} confidence sequence "
        f"{interval}, always-valid p {format_pvalue(s.p_value)} "
        f"(margin {result.min_improvement:g})",
        f"this batch: {result.batch['rows']:,} rows, champion {result.loss} "
        f"{format_number(result.batch['champion_loss'])}, challenger "
        f"{format_number(result.batch['challenger_loss'])}",
    ]
    if result.move is not None:
        move = result.move
        lines.append(
            f"Promoted: {move.model_name}: champion is version {move.champion}, "
            f"previous-champion is version {move.previous_champion} ({move.kind})."
        )
    lines.append(f"Shadow run: {result.run_id}")
    return "\n".join(lines)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass
class _Loaded:
    run_id: str | None
    state: SequentialState | None
    digests: list[str]
    history: list[dict[str, Any]]


def run_shadow(
    model_name: str,
    *,
    batch: str | Table,
    challenger: str = lineage.ALIAS_CHALLENGER,
    target: str | None = None,
    config: RetrainConfig | None = None,
    policy: ModelPolicy | None = None,
    experiment_name: str | None = None,
    run_name: str = "shadow",
) -> ShadowResult:
    """Score one labelled batch with champion and challenger and update the sequential test.

    Args:
        model_name: Registered model.
        batch: The labelled batch: any URI :func:`~mlflow_retrain.data.io.load_table` reads,
            or the batch already read (a :class:`~mlflow_retrain.data.table.Table`; its
            ``source`` is recorded as the batch's origin).
        challenger: Version number or alias of the challenger (any registered version).
        target: Label column (default: the challenger's recorded target, then config).
        config: Settings (its ``policy`` is used when the model stores none).
        policy: The model's policy as already read
            (:func:`~mlflow_retrain.registry.policies.read_policy`); default: read it now.
        experiment_name: Experiment of this call's run and of a new shadow run.
        run_name: Name of this call's run.

    Returns:
        The decision and the evidence so far.

    Raises:
        InvalidInputError: No champion, unknown version, bad batch, a batch already counted,
            policy mode ``both`` without a passing offline comparison.
        PromotionRejected: The decision was ``promote`` and the gate refused the move.
    """
    config = config or RetrainConfig()
    client = MlflowClient()
    chall = resolve_version(client, model_name, challenger)
    champ = alias_version(client, model_name, lineage.ALIAS_CHAMPION)
    version = str(chall.version)
    if champ is None:
        raise InvalidInputError(
            f"Registered model '{model_name}' has no champion to run version {version} beside. "
            f"Deploy a first model with `mlflow-retrain compare --challenger {version}` and "
            "`mlflow-retrain promote`."
        )
    champion = str(champ.version)
    if champion == version:
        raise InvalidInputError(
            f"Version {version} of '{model_name}' is already the champion. Put another version "
            "in shadow with --challenger."
        )
    tags = chall.tags
    if tags.get(lineage.TAG_STATUS) in (lineage.STATUS_REJECTED, lineage.STATUS_PROMOTED):
        raise InvalidInputError(
            f"Version {version} of '{model_name}' is already {tags[lineage.TAG_STATUS]}. Put "
            "a new challenger in shadow."
        )
    target = target or tags.get(lineage.TAG_TARGET) or config.target
    if not target:
        raise InvalidInputError(
            f"Version {version} of '{model_name}' records no target column: pass --target."
        )
    task = tags.get(lineage.TAG_TASK)
    with step_run("shadow", run_name=run_name, experiment_name=experiment_name) as step_id:
        batch_uri = source_of(batch)
        frame = _labelled(as_table(batch), target)
        task = task or infer_task(frame[target])
        if policy is None:
            policy = read_policy(client, model_name, config_policy=config.policy)
        applied = policy.for_task(task)
        if applied.mode == "both":
            _require_offline_pass(tags, version=version, champion=champion)
        rule = applied.shadow
        X, y = frame.drop(columns=[target]), frame[target].to_numpy()
        out_champ = _score(model_name, champ, X, task)
        out_chall = _score(model_name, chall, X, task)
        loss = rule.loss_for(task, applied.primary, has_scores=_has_scores(out_champ, out_chall))
        loss_champ = per_row_loss(loss, y, out_champ)
        loss_chall = per_row_loss(loss, y, out_chall)
        differences = loss_champ - loss_chall  # > 0: the challenger is better
        digest = frame_digest(frame)

        loaded = _load_shadow_run(client, tags.get(lineage.TAG_SHADOW_RUN), champion)
        if digest in loaded.digests:
            raise InvalidInputError(
                f"This batch (digest {digest}) was already counted in shadow run "
                f"{loaded.run_id}: counting it twice would fake evidence. Pass a new batch."
            )
        restarted = loaded.run_id is None
        bound = loss_bound(loss, out_champ)
        state = loaded.state or _start_state(applied, rule, bound=bound)
        # Only an unbounded loss can have an infinite variance: the tail check sees those.
        state = state.update(
            differences, losses=(loss_chall, loss_champ) if bound is None else None
        )
        decision, reason = decide(state, rule)
        summary_before = tags.get(lineage.TAG_SHADOW_SUMMARY)
        batch_info = {
            "uri": describe_uri(batch_uri),
            "digest": digest,
            "rows": len(differences),
            "champion_loss": float(loss_champ.mean()),
            "challenger_loss": float(loss_chall.mean()),
            "mean_difference": float(differences.mean()),
        }

        # Everything is computed: write, state first (the commit point of the batch).
        _check_no_concurrent_update(client, model_name, version, summary_before)
        run_id = loaded.run_id or _create_shadow_run(
            client, model_name, version=version, champion=champion, step_run_id=step_id
        )
        history = [*loaded.history, _history_row(state, batch_info)]
        _save_state(client, run_id, state, [*loaded.digests, digest], history, loss=loss)
        _log_batch(client, run_id, step_id, state, batch_info, model_name=model_name,
                   decision=decision, frame=frame, target=target, batch_uri=batch_uri,
                   policy=applied, loss=loss, version=version, champion=champion)  # fmt: skip
        result = ShadowResult(
            model_name=model_name,
            challenger_version=version,
            champion_version=champion,
            decision=decision,
            reason=reason,
            loss=loss,
            min_improvement=rule.min_improvement,
            state=state,
            batch=batch_info,
            run_id=run_id,
            step_run_id=step_id,
            restarted=restarted,
        )
        _write_version_tags(client, result, policy=policy.stored)
        if decision == lineage.DECISION_REJECT:
            _retire_challenger_alias(client, model_name, version)
        if decision != lineage.DECISION_PROMOTE:  # a promotion describes itself after the move
            describe_status(client, model_name, [version])
        if decision == lineage.DECISION_PROMOTE:
            # The gate checks the evidence just written; a refusal fails this call's run.
            result = replace(result, move=promote(model_name, version=version))
    return result


def _labelled(batch: Table, target: str) -> pd.DataFrame:
    """The batch's labelled rows; a batch without the target column or labels is refused."""
    frame, uri = batch.frame, batch.source
    if target not in frame.columns:
        raise InvalidInputError(
            f"Target column '{target}' is not in the batch {describe_uri(uri)}. Shadow mode "
            "needs labelled batches: pass the right --target or --batch."
        )
    labelled = frame[frame[target].notna()]
    if labelled.empty:
        raise InvalidInputError(
            f"The batch {describe_uri(uri)} has no labelled rows (column '{target}' is empty). "
            "Shadow mode needs labels: pass the batch once its labels have arrived."
        )
    return labelled.reset_index(drop=True)


def _score(name: str, version: ModelVersion, X: pd.DataFrame, task: str) -> ModelOutput:
    try:
        return score_version(name, version, X, task)
    except InvalidInputError:
        raise
    except (MlflowException, ValueError, KeyError, TypeError) as err:
        first = " ".join(str(err).split())[:200]
        raise InvalidInputError(
            f"Version {version.version} of '{name}' cannot score the batch ({first}). Check "
            "that the batch has the columns the model was trained on."
        ) from err


def _has_scores(*outputs: ModelOutput) -> bool:
    return all(o.scores is not None for o in outputs)


def _require_offline_pass(tags: Mapping[str, str], *, version: str, champion: str) -> None:
    if (
        tags.get(lineage.TAG_OFFLINE_DECISION) != lineage.DECISION_PROMOTE
        or tags.get(lineage.TAG_OFFLINE_BASELINE) != champion
    ):
        raise InvalidInputError(
            f"The policy (mode 'both') runs shadow mode only after version {version} passes the "
            f"offline comparison against champion {champion}. Run `mlflow-retrain compare "
            f"--challenger {version}` first."
        )


def _start_state(
    policy: PromotionPolicy, rule: ShadowRule, *, bound: float | None
) -> SequentialState:
    rho = (
        rho_for_effect(rule.expected_effect, policy.alpha)
        if rule.expected_effect is not None
        else optimal_rho(rule.horizon_rows, policy.alpha)
    )
    return SequentialState.start(
        alpha=policy.alpha,
        rho=rho,
        null_value=rule.min_improvement,
        min_rows=rule.min_rows,
        unit=rule.unit,
        bound=bound,
    )


def _load_shadow_run(client: MlflowClient, run_id: str | None, champion: str) -> _Loaded:
    """The challenger's shadow run against ``champion`` and its state, if there is one."""
    empty = _Loaded(None, None, [], [])
    if not run_id:
        return empty
    try:
        run = client.get_run(run_id)
    except MlflowException:
        logger.warning("Shadow run %s is gone; starting a new one.", run_id)
        return empty
    if run.data.tags.get(lineage.TAG_SHADOW_CHAMPION) != champion:
        logger.warning(
            "The champion changed since shadow run %s started (was %s, now %s); the evidence "
            "is stale, so a new shadow run starts.",
            run_id,
            run.data.tags.get(lineage.TAG_SHADOW_CHAMPION),
            champion,
        )
        return empty
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=STATE_ARTIFACT, dst_path=tmp
            )
        except (MlflowException, OSError) as err:
            raise InvalidInputError(
                f"Shadow run {run_id} has no readable {STATE_ARTIFACT}. Delete the version tag "
                f"{lineage.TAG_SHADOW_RUN} to start the shadow test afresh."
            ) from err
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    try:
        state = SequentialState.from_dict(data["state"])
    except (KeyError, ValueError) as err:
        raise InvalidInputError(
            f"Shadow run {run_id} holds a damaged {STATE_ARTIFACT} ({err}). Delete the version "
            f"tag {lineage.TAG_SHADOW_RUN} to start the shadow test afresh."
        ) from err
    return _Loaded(run_id, state, list(data.get("digests", [])), list(data.get("history", [])))


def _check_no_concurrent_update(
    client: MlflowClient, name: str, version: str, summary_before: str | None
) -> None:
    now = client.get_model_version(name, version).tags.get(lineage.TAG_SHADOW_SUMMARY)
    if now != summary_before:
        raise InvalidInputError(
            f"Another shadow update of version {version} finished while this one ran. Run "
            "this batch again (it was not counted)."
        )


def _create_shadow_run(
    client: MlflowClient, name: str, *, version: str, champion: str, step_run_id: str
) -> str:
    experiment_id = client.get_run(step_run_id).info.experiment_id
    run = client.create_run(
        experiment_id,
        run_name=f"shadow {name} v{version} vs v{champion}",
        tags={
            lineage.TAG_STEP: "shadow-test",
            lineage.TAG_SHADOW_CHALLENGER: version,
            lineage.TAG_SHADOW_CHAMPION: champion,
            lineage.TAG_RUN_NOTE: (
                f"Sequential shadow test of version {version} of {name} against champion "
                f"{champion}. Metrics are per batch (step = batch number)."
            ),
        },
    )
    return str(run.info.run_id)


def _history_row(state: SequentialState, batch: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "batch": state.batches,
        "rows": state.n,
        "estimate": state.mean,
        "cs_low": _finite(state.cs_low),
        "cs_high": _finite(state.cs_high),
        "p_value": state.p_value,
        "batch_rows": batch["rows"],
        "batch_mean_difference": batch["mean_difference"],
    }


def _save_state(
    client: MlflowClient,
    run_id: str,
    state: SequentialState,
    digests: Sequence[str],
    history: Sequence[Mapping[str, Any]],
    *,
    loss: str,
) -> None:
    from mlflow_retrain.report.figures import plot_confidence_sequence

    payload = {"state": state.to_dict(), "loss": loss, "digests": list(digests),
               "history": list(history)}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "shadow"
        folder.mkdir()
        (folder / "state.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
        figure = plot_confidence_sequence(history, margin=state.null_value, loss=loss)
        if figure is not None:
            (folder / "sequence.png").write_bytes(figure)
        client.log_artifacts(run_id, str(folder), artifact_path="shadow")


def _metrics(state: SequentialState, batch: Mapping[str, Any], step: int) -> list[Metric]:
    stamp = now_ms()
    values = {
        "shadow.rows": state.n,
        "shadow.estimate": state.mean,
        "shadow.cs_low": state.cs_low,
        "shadow.cs_high": state.cs_high,
        "shadow.p_value": state.p_value,
        "shadow.design_effect": state.design_effect,
        "shadow.batch.rows": batch["rows"],
        "shadow.batch.champion_loss": batch["champion_loss"],
        "shadow.batch.challenger_loss": batch["challenger_loss"],
        "shadow.batch.mean_difference": batch["mean_difference"],
    }
    return [Metric(k, float(v), stamp, step) for k, v in values.items() if math.isfinite(v)]


def _log_batch(
    client: MlflowClient,
    run_id: str,
    step_id: str,
    state: SequentialState,
    batch: Mapping[str, Any],
    *,
    model_name: str,
    decision: Decision,
    frame: pd.DataFrame,
    target: str,
    batch_uri: str,
    policy: PromotionPolicy,
    loss: str,
    version: str,
    champion: str,
) -> None:

    step = state.batches
    client.log_batch(
        run_id,
        metrics=_metrics(state, batch, step),
        tags=[RunTag(lineage.TAG_DECISION, decision)],
    )
    if step == 1:
        client.log_batch(run_id, params=[
            Param("loss", loss),
            Param("alpha", str(state.alpha)),
            Param("rho", f"{state.rho:.6g}"),
            Param("unit", state.unit),
            Param("min_improvement", str(state.null_value)),
            Param("min_rows", str(state.min_rows)),
            Param("policy", lineage.truncate_tag(policy.to_json(), 6000)),
        ])  # fmt: skip
    if decision != lineage.DECISION_CONTINUE:
        client.set_terminated(run_id, "FINISHED")
    log_dataset(frame, source=batch_uri, name="shadow-batch", context=lineage.CONTEXT_SHADOW,
                targets=target)  # fmt: skip
    client.log_batch(
        step_id,
        metrics=_metrics(state, batch, step),
        params=step_params(
            step_id,
            [
                Param("model_name", model_name),
                Param("challenger_version", version),
                Param("champion_version", champion),
                Param("batch_uri", describe_uri(batch_uri)),
                Param("target", target),
                Param("loss", loss),
            ],
        ),
        tags=[
            RunTag(lineage.TAG_DECISION, decision),
            RunTag(lineage.TAG_SHADOW_RUN, run_id),
        ],
    )


def _write_version_tags(client: MlflowClient, result: ShadowResult, *, policy: str | None) -> None:
    """Hand the state to the registry, then describe it on the version for reviewers.

    ``policy`` is the stored policy text the state was judged under (``None``: none stored).
    """
    name, version = result.model_name, result.challenger_version
    summary = write_shadow_evidence(
        client,
        name,
        version,
        result.state,
        decision=result.decision,
        loss=result.loss,
        min_improvement=result.min_improvement,
        champion=result.champion_version,
        run_id=result.run_id,
        policy=policy,
    )
    body = shadow_markdown(
        summary,
        reason=result.reason,
        run_id=result.run_id,
        experiment_id=experiment_of(client, result.run_id),
    )
    describe_version(client, name, version, {"shadow": body})


def _retire_challenger_alias(client: MlflowClient, name: str, version: str) -> None:
    """Take ``challenger`` off a version rejected in shadow, where the user may.

    MLflow's basic-auth lets only MANAGE delete an alias, and the pipeline account holds EDIT:
    there the alias stays until the next challenger takes it. The version's status is
    ``rejected`` either way, and shadow mode never runs a rejected version again.
    """
    holder = alias_version(client, name, lineage.ALIAS_CHALLENGER)
    if holder is None or str(holder.version) != version:
        return
    try:
        client.delete_registered_model_alias(name, lineage.ALIAS_CHALLENGER)
    except MlflowException as err:
        # A server's 403 arrives as PERMISSION_DENIED, or (a non-JSON body from the auth
        # app) as "... failed with error code 403 != 200".
        denied = err.error_code == "PERMISSION_DENIED" or "error code 403 " in err.message
        if not denied:
            raise
        logger.info(
            "Version %s of '%s' keeps the challenger alias: deleting an alias needs MANAGE.",
            version, name,
        )  # fmt: skip

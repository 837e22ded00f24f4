"""Tag and metric keys, defined once (constants only; pure: no mlflow import).

Every key mlflow-retrain writes to MLflow is a constant here; no other module spells a tag key
as a string literal. Beside the constants are only the string helpers that build keys and tag
values. The MLflow dataset sources that log a batch's lineage live in
:mod:`mlflow_retrain.data.sources`.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "ALIAS_CHALLENGER",
    "ALIAS_CHAMPION",
    "ALIAS_PREVIOUS_CHAMPION",
    "CONTEXT_CURRENT",
    "CONTEXT_GATE",
    "CONTEXT_REFERENCE",
    "CONTEXT_SHADOW",
    "CONTEXT_TRAINING",
    "DECISION_CONTINUE",
    "DECISION_INCONCLUSIVE",
    "DECISION_PENDING",
    "DECISION_PROMOTE",
    "DECISION_REJECT",
    "MAX_NOTE_LENGTH",
    "MAX_TAG_LENGTH",
    "METRIC_DRIFT_DETECTED",
    "METRIC_DRIFT_N_DRIFTED",
    "METRIC_DRIFT_N_FEATURES",
    "METRIC_DRIFT_SHARE",
    "MLFLOW_PROMPT_TAG_PREFIXES",
    "SOURCE_COMPARE",
    "SOURCE_SHADOW",
    "STATUS_CANDIDATE",
    "STATUS_PROMOTED",
    "STATUS_REJECTED",
    "STATUS_RETIRED",
    "STATUS_ROLLED_BACK",
    "STATUS_SHADOW",
    "STATUS_SUPERSEDED",
    "STUDY_SPEC_ATTR",
    "TAG_AUDIT_PREFIX",
    "TAG_BATCH_DIGEST",
    "TAG_BEST_PARAMS",
    "TAG_CHANGE_PREFIX",
    "TAG_CHECKED_CHAMPION",
    "TAG_CIRCUIT_BREAKER",
    "TAG_CV_METRIC",
    "TAG_CV_SCORE",
    "TAG_CYCLE",
    "TAG_DATA_PREFIX",
    "TAG_DECISION",
    "TAG_DRIFTED_COLUMNS",
    "TAG_DRIFT_DETECTED",
    "TAG_DRIFT_REASON",
    "TAG_ESTIMATOR",
    "TAG_EVIDENCE_BASELINE",
    "TAG_EVIDENCE_DATA_DIGEST",
    "TAG_EVIDENCE_PREFIX",
    "TAG_EVIDENCE_RECORD",
    "TAG_EVIDENCE_RUN",
    "TAG_EVIDENCE_SIGNATURE",
    "TAG_EVIDENCE_SOURCE",
    "TAG_EVIDENCE_SUMMARY",
    "TAG_EVIDENCE_TIME",
    "TAG_FAILURE_REASON",
    "TAG_GATE_DIGEST",
    "TAG_GATE_URI",
    "TAG_HALTED",
    "TAG_LEASE",
    "TAG_MODEL_NAME",
    "TAG_OFFLINE_BASELINE",
    "TAG_OFFLINE_DECISION",
    "TAG_OFFLINE_PREFIX",
    "TAG_OFFLINE_RECORD",
    "TAG_OFFLINE_SIGNATURE",
    "TAG_OUTCOME",
    "TAG_OVERRIDE_BY",
    "TAG_OVERRIDE_REASON",
    "TAG_PIPELINE_RUN",
    "TAG_POLICY",
    "TAG_PREFIX",
    "TAG_PROFILE_URI",
    "TAG_PRUNED_AT",
    "TAG_REFERENCE_PREFIX",
    "TAG_REJECTIONS",
    "TAG_RESUMED_PREFIX",
    "TAG_RETRAINED",
    "TAG_ROLLBACK_REASON",
    "TAG_RUN_NOTE",
    "TAG_SHADOW_CHALLENGER",
    "TAG_SHADOW_CHAMPION",
    "TAG_SHADOW_PREFIX",
    "TAG_SHADOW_RUN",
    "TAG_SHADOW_SUMMARY",
    "TAG_STATUS",
    "TAG_STEP",
    "TAG_STUDY_NAME",
    "TAG_TARGET",
    "TAG_TASK",
    "TAG_TRAINING_DIGEST",
    "TAG_TRAINING_RUN",
    "TAG_TRAINING_SOURCE",
    "TAG_TRIAL_NUMBER",
    "TAG_TRIAL_STATE",
    "TAG_TRIAL_WORKER",
    "TAG_TRIGGER",
    "TAG_TRIGGER_REASON",
    "TAG_VERSION",
    "TAG_WINDOW",
    "drift_metric_key",
    "metric_safe",
    "truncate_tag",
]

TAG_PREFIX = "mlflow_retrain."

#: The pipeline step a run belongs to (``drift``, ``retrain``, ``compare``, ...).
TAG_STEP = TAG_PREFIX + "step"
#: The mlflow-retrain version that wrote the run.
TAG_VERSION = TAG_PREFIX + "version"
#: One-line reason a run ended FAILED.
TAG_FAILURE_REASON = TAG_PREFIX + "failure_reason"
#: ``open`` when a circuit breaker stopped the step.
TAG_CIRCUIT_BREAKER = TAG_PREFIX + "circuit_breaker"

#: ``true`` or ``false``: the dataset-level drift decision.
TAG_DRIFT_DETECTED = TAG_PREFIX + "drift.detected"
#: Comma-separated names of the drifted columns (truncated to MLflow's tag length).
TAG_DRIFTED_COLUMNS = TAG_PREFIX + "drift.columns"
#: One sentence explaining the dataset-level decision.
TAG_DRIFT_REASON = TAG_PREFIX + "drift.reason"

# Tuning (child run per Optuna trial).
#: Optuna trial number of a trial run.
TAG_TRIAL_NUMBER = TAG_PREFIX + "trial.number"
#: Optuna state of a trial run: ``complete``, ``pruned`` or ``fail``.
TAG_TRIAL_STATE = TAG_PREFIX + "trial.state"
#: ``host:pid`` of the worker process that ran a trial.
TAG_TRIAL_WORKER = TAG_PREFIX + "trial.worker"
#: Fold at which a pruned trial stopped.
TAG_PRUNED_AT = TAG_PREFIX + "trial.pruned_at_fold"
#: The Optuna study a tuning or trial run belongs to.
TAG_STUDY_NAME = TAG_PREFIX + "study_name"
#: Estimator family of a trial or model (``hist_gradient_boosting``, ...).
TAG_ESTIMATOR = TAG_PREFIX + "estimator"

# Model versions.
#: Lifecycle status of a model version: candidate, shadow, superseded, promoted, rejected,
#: retired, rolled_back.
TAG_STATUS = TAG_PREFIX + "status"
#: The run that trained and logged the version.
TAG_TRAINING_RUN = TAG_PREFIX + "training_run_id"
#: The pipeline (cycle) run, when the step ran inside one; the idempotency key.
TAG_PIPELINE_RUN = TAG_PREFIX + "pipeline_run_id"
#: Why the model was retrained (``manual``, ``drift``, ``decay``, ...).
TAG_TRIGGER = TAG_PREFIX + "trigger"
#: Target column and task.
TAG_TARGET = TAG_PREFIX + "target"
TAG_TASK = TAG_PREFIX + "task"
#: Digests of the training window and the gate split (MLflow dataset digests).
TAG_TRAINING_DIGEST = TAG_PREFIX + "data.training_digest"
TAG_GATE_DIGEST = TAG_PREFIX + "data.gate_digest"
#: Where the gate split is stored (a ``runs:/`` URI) for the comparison step.
TAG_GATE_URI = TAG_PREFIX + "data.gate_uri"
#: Where the training data came from.
TAG_TRAINING_SOURCE = TAG_PREFIX + "data.training_source"
#: The training window, as JSON.
TAG_WINDOW = TAG_PREFIX + "window"
#: Best hyperparameters, as JSON.
TAG_BEST_PARAMS = TAG_PREFIX + "best_params"
#: Cross-validation metric name and its best mean value.
TAG_CV_METRIC = TAG_PREFIX + "cv_metric"
TAG_CV_SCORE = TAG_PREFIX + "cv_score"
#: Location of the reference profile logged next to the model.
TAG_PROFILE_URI = TAG_PREFIX + "profile_uri"

#: Key families of the version tags: the gate's evidence (``evidence.*``), the offline
#: comparison kept beside shadow evidence (``offline.*``), shadow mode's state (``shadow.*``),
#: and the data a version was trained and judged on (``data.*``). The server's store lets only
#: the pipeline's accounts write them, new keys of a family included.
TAG_EVIDENCE_PREFIX = TAG_PREFIX + "evidence."
TAG_OFFLINE_PREFIX = TAG_PREFIX + "offline."
TAG_SHADOW_PREFIX = TAG_PREFIX + "shadow."
TAG_DATA_PREFIX = TAG_PREFIX + "data."

# Evidence written on a challenger version by the comparison.
#: ``promote``, ``reject`` or ``inconclusive``.
TAG_DECISION = TAG_PREFIX + "decision"
#: The champion version the evidence was computed against (``none`` for a first deployment).
TAG_EVIDENCE_BASELINE = TAG_PREFIX + "evidence.baseline_version"
#: The comparison run holding the evidence.
TAG_EVIDENCE_RUN = TAG_PREFIX + "evidence.run_id"
#: When the evidence was computed (epoch milliseconds).
TAG_EVIDENCE_TIME = TAG_PREFIX + "evidence.timestamp_ms"
#: Compact JSON summary of the evidence (metric, difference, interval, p, passed).
TAG_EVIDENCE_SUMMARY = TAG_PREFIX + "evidence.summary"
#: Digest of the data the evidence was computed on.
TAG_EVIDENCE_DATA_DIGEST = TAG_PREFIX + "evidence.data_digest"
#: Which step produced the evidence: ``compare`` (offline) or ``shadow`` (live batches).
TAG_EVIDENCE_SOURCE = TAG_PREFIX + "evidence.source"
#: The offline comparison's own decision and champion, kept when shadow evidence follows
#: (policy mode ``both`` needs both).
TAG_OFFLINE_DECISION = TAG_PREFIX + "offline.decision"
TAG_OFFLINE_BASELINE = TAG_PREFIX + "offline.baseline_version"
#: The signed evidence record (canonical JSON: model, version, model id, artifact digest,
#: champion, decision and tests, data and policy digests, run, time) and its signature
#: (``v1:<key id>:<HMAC-SHA256 hex>``). A server with an evidence key decides from the verified
#: record alone; see docs/security.md.
TAG_EVIDENCE_RECORD = TAG_PREFIX + "evidence.record"
TAG_EVIDENCE_SIGNATURE = TAG_PREFIX + "evidence.signature"
#: The offline comparison's signed record and signature, kept when shadow evidence follows
#: (policy mode ``both``).
TAG_OFFLINE_RECORD = TAG_PREFIX + "offline.record"
TAG_OFFLINE_SIGNATURE = TAG_PREFIX + "offline.signature"
#: On a version in shadow: its accumulating shadow run, and a compact JSON summary of the
#: sequential test (batches, rows, estimate, confidence sequence, p-value, decision).
TAG_SHADOW_RUN = TAG_PREFIX + "shadow.run_id"
TAG_SHADOW_SUMMARY = TAG_PREFIX + "shadow.summary"
#: On a shadow run: the challenger and the champion it is tested against.
TAG_SHADOW_CHALLENGER = TAG_PREFIX + "shadow.challenger_version"
TAG_SHADOW_CHAMPION = TAG_PREFIX + "shadow.champion_version"
#: On a champion version: its metric on its own gate split with the interval
#: (``value,low,high``), the reference of the loop's decay check. Key: prefix + metric name.
TAG_REFERENCE_PREFIX = TAG_PREFIX + "reference."

# The retraining loop.
#: Registered-model tags: why the loop is halted (set after repeated rejections), the count
#: of consecutive challengers not promoted, and ``resumed.<epoch ms>`` records of a resume.
TAG_HALTED = TAG_PREFIX + "halted"
TAG_REJECTIONS = TAG_PREFIX + "consecutive_rejections"
TAG_RESUMED_PREFIX = TAG_PREFIX + "resumed."
#: Pipeline-run (cycle) tags.
TAG_MODEL_NAME = TAG_PREFIX + "model_name"
TAG_BATCH_DIGEST = TAG_PREFIX + "batch_digest"
TAG_CYCLE = TAG_PREFIX + "cycle_id"
#: Pipeline-run tag: the cycle's claim on its model (JSON: host, pid, claimed_ms, expires_ms).
TAG_LEASE = TAG_PREFIX + "lease"
TAG_RETRAINED = TAG_PREFIX + "retrained"
TAG_OUTCOME = TAG_PREFIX + "outcome"
TAG_TRIGGER_REASON = TAG_PREFIX + "trigger_reason"
#: The champion a check measured drift against; drift history counts only the same champion.
TAG_CHECKED_CHAMPION = TAG_PREFIX + "checked_champion"
#: On a version: why a person forces it to champion past the gate (audited override).
TAG_OVERRIDE_REASON = TAG_PREFIX + "override.reason"
#: On a version: who wrote its override reason, as the store recorded it (JSON: ``user``,
#: ``time_ms``); written by the server's store alone, and the override counts only for them.
TAG_OVERRIDE_BY = TAG_PREFIX + "override.by"
#: On a version: why a person rolls production back to it (added to the audit record).
TAG_ROLLBACK_REASON = TAG_PREFIX + "rollback.reason"
#: MLflow's own run tag whose markdown the UI shows as the run's description.
TAG_RUN_NOTE = "mlflow.note.content"
#: MLflow's own registry tags that make a registered model or version a prompt
#: (``mlflow.prompt.is_prompt``: hidden from the model list and searches, and checked as a
#: prompt by basic-auth) or describe one. On a gated model only MANAGE may write them.
MLFLOW_PROMPT_TAG_PREFIXES = ("mlflow.prompt.", "_mlflow_prompt_")
#: Registered-model tags ``mlflow_retrain.audit.<epoch ms>``: one alias move each (JSON).
TAG_AUDIT_PREFIX = TAG_PREFIX + "audit."
#: Registered-model tags ``mlflow_retrain.change.<epoch ms>-<hex>``: one record (JSON) of each
#: protected write the store allowed (policy, override, halt, resume, a structure change of a
#: gated model), with the user and the value before and after. Written by the store alone.
TAG_CHANGE_PREFIX = TAG_PREFIX + "change."
#: Registered-model tag holding the promotion policy (JSON).
TAG_POLICY = TAG_PREFIX + "policy"

STATUS_CANDIDATE = "candidate"
STATUS_SHADOW = "shadow"
#: A candidate or shadow challenger that lost the ``challenger`` alias to a newer version
#: before it was promoted or rejected.
STATUS_SUPERSEDED = "superseded"
STATUS_PROMOTED = "promoted"
STATUS_REJECTED = "rejected"
STATUS_RETIRED = "retired"
STATUS_ROLLED_BACK = "rolled_back"

#: Values of :data:`TAG_DECISION`: the comparison decides ``promote``, ``reject`` or
#: ``inconclusive``; shadow mode decides ``promote`` or ``reject``, and ``continue`` (not yet
#: decisive) never reaches the version's decision tag.
DECISION_PROMOTE: Final = "promote"
DECISION_REJECT: Final = "reject"
DECISION_INCONCLUSIVE: Final = "inconclusive"
DECISION_CONTINUE: Final = "continue"
#: The decision tag while the evidence is being (re)written: the facts follow, the decision
#: comes last. A writer that died midway leaves it, and the gate refuses it like no evidence.
DECISION_PENDING: Final = "pending"

#: Values of :data:`TAG_EVIDENCE_SOURCE`: the step whose evidence the gate reads.
SOURCE_COMPARE: Final = "compare"
SOURCE_SHADOW: Final = "shadow"

ALIAS_CHAMPION = "champion"
ALIAS_CHALLENGER = "challenger"
ALIAS_PREVIOUS_CHAMPION = "previous-champion"

#: Study user attribute holding the job a tuning worker needs to join the study.
STUDY_SPEC_ATTR = "mlflow_retrain.spec"

# Dataset-level drift metrics.
METRIC_DRIFT_SHARE = "drift.share_drifted"
METRIC_DRIFT_N_DRIFTED = "drift.n_drifted"
METRIC_DRIFT_N_FEATURES = "drift.n_features"
METRIC_DRIFT_DETECTED = "drift.detected"

_UNSAFE = re.compile(r"[^\w\-. /:]")


def metric_safe(name: str) -> str:
    """Return ``name`` with characters MLflow rejects in metric keys replaced by ``_``."""
    return _UNSAFE.sub("_", name)


def drift_metric_key(column: str, statistic: str) -> str:
    """Return the metric key of one per-column drift statistic, e.g. ``drift.amount.p_value``."""
    return f"drift.{metric_safe(column)}.{statistic}"


# --------------------------------------------------------------------------------------------
# Dataset lineage
# --------------------------------------------------------------------------------------------

#: Contexts under which datasets are logged with ``mlflow.log_input``.
CONTEXT_REFERENCE = "reference"
CONTEXT_CURRENT = "current"
CONTEXT_TRAINING = "training"
CONTEXT_GATE = "gate"
CONTEXT_SHADOW = "shadow"

#: MLflow's limit on a tag value is 8,000 characters in 3.x; keep well inside it.
MAX_TAG_LENGTH = 5000
#: Longest run description (``mlflow.note.content``, a run tag) written: inside MLflow's
#: 8,000 characters.
MAX_NOTE_LENGTH = 7500


def truncate_tag(value: str, limit: int = MAX_TAG_LENGTH) -> str:
    """Return ``value`` cut to ``limit`` characters, marking the cut with an ellipsis."""
    return value if len(value) <= limit else value[: limit - 3] + "..."

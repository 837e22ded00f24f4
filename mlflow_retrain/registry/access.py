"""Who may write which tag of a registered model or version on a server (pure; no mlflow).

The server's store (:mod:`mlflow_retrain.registry.guard`) asks :func:`tag_rule` before a
client request sets or deletes a tag, and :func:`refusal` words the one-line answer when the
requester may not. The ``mlflow_retrain.*`` namespace is split by who writes each key:

- **the pipeline** (its accounts, ``MLFLOW_RETRAIN_PIPELINE_USERS`` on the server, and
  admins): the evidence the gate reads (``decision``, ``evidence.*``, ``offline.*``,
  ``shadow.*``), the champion's decay reference (``reference.*``), the version's training
  lineage and gate data (``data.*``, the training run, ...), the statuses of a challenger
  waiting for or losing its decision (``candidate``, ``shadow``, ``rejected``,
  ``superseded``), and the loop's halt and rejection count;
- **people with MANAGE** on the registered model (and admins): the policy, an override, a
  rollback's reason, lifting the halt, resetting the count, and a resume record;
- **the store alone**: the statuses the gate sets when it moves ``champion`` (``promoted``,
  ``retired``, ``rolled_back``), the audit trail (``audit.*``, ``change.*``), the record of who
  wrote an override (``override.by``), and every key of the namespace not named above.

Outside the namespace, MLflow's prompt tags (``mlflow.prompt.*``: a model tagged
``mlflow.prompt.is_prompt`` disappears from the model list and is checked as a prompt) need
MANAGE on a gated model. So do the structure changes of a gated model (:func:`is_gated`):
renaming or deleting it, deleting a version that holds a gated alias, and stage transitions.

On a server without authentication no request has an identity: the store-only keys are still
refused to every client, the rest is allowed (what protects evidence there is its signature).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from mlflow_retrain import lineage

__all__ = [
    "STRUCTURE_RULE",
    "Requester",
    "Rule",
    "Writer",
    "fold",
    "is_gated",
    "refusal",
    "tag_rule",
]

#: ``pipeline``: the pipeline's accounts and admins; ``manage``: MANAGE on the model and admins.
Writer = Literal["pipeline", "manage"]

PIPELINE: frozenset[Writer] = frozenset({"pipeline"})
MANAGE: frozenset[Writer] = frozenset({"manage"})
PIPELINE_OR_MANAGE: frozenset[Writer] = frozenset({"pipeline", "manage"})
STORE: frozenset[Writer] = frozenset()

#: Statuses the pipeline writes on a challenger; every other value is the gate's.
PIPELINE_STATUSES = frozenset({
    lineage.STATUS_CANDIDATE,
    lineage.STATUS_SHADOW,
    lineage.STATUS_REJECTED,
    lineage.STATUS_SUPERSEDED,
})  # fmt: skip

#: Version tags of a version's training lineage, written when ``retrain`` registers it.
_LINEAGE_KEYS = frozenset({
    lineage.TAG_TRAINING_RUN, lineage.TAG_PIPELINE_RUN, lineage.TAG_TRIGGER, lineage.TAG_TARGET,
    lineage.TAG_TASK, lineage.TAG_WINDOW, lineage.TAG_BEST_PARAMS, lineage.TAG_CV_METRIC,
    lineage.TAG_CV_SCORE, lineage.TAG_PROFILE_URI, lineage.TAG_STUDY_NAME, lineage.TAG_ESTIMATOR,
})  # fmt: skip
_EVIDENCE_PREFIXES = (
    lineage.TAG_EVIDENCE_PREFIX, lineage.TAG_OFFLINE_PREFIX, lineage.TAG_SHADOW_PREFIX,
)  # fmt: skip
_AUDIT_PREFIXES = (lineage.TAG_AUDIT_PREFIX, lineage.TAG_CHANGE_PREFIX)
_GATED_ALIASES = (lineage.ALIAS_CHAMPION, lineage.ALIAS_PREVIOUS_CHAMPION)


@dataclass(frozen=True)
class Rule:
    """Who may make one protected write, and whether the store records it.

    Attributes:
        what: What is protected, as the refusal names it ("evidence the gate reads").
        writers: Who may: ``pipeline``, ``manage`` or both; empty: the store alone.
        audited: An allowed client write leaves a ``mlflow_retrain.change.*`` record (user,
            time, value before and after) on the registered model.
    """

    what: str
    writers: frozenset[Writer]
    audited: bool = False


@dataclass(frozen=True)
class Requester:
    """Who sends a server request, as far as the rules need to know.

    Attributes:
        user: The authenticated user; ``None`` on a server without authentication (or when
            an authenticating server let a request through without a user).
        authenticated: The server authenticates its users (MLflow's basic-auth app), so
            the writers of a rule are checked; without it only store-only keys are refused.
        pipeline: The user is one of the pipeline's accounts (or an admin).
        manage: The user holds MANAGE on the registered model (or is an admin).
    """

    user: str | None
    authenticated: bool
    pipeline: bool = False
    manage: bool = False

    def may(self, rule: Rule) -> bool:
        """Whether this requester may make the write ``rule`` protects."""
        if not rule.writers:
            return False
        if not self.authenticated:
            return True
        return ("pipeline" in rule.writers and self.pipeline) or (
            "manage" in rule.writers and self.manage
        )


def is_gated(aliases: Mapping[str, object], tags: Mapping[str, str]) -> bool:
    """Whether a registered model is under the gate: it holds ``champion`` or
    ``previous-champion``, or carries a tag of the namespace (a policy, an audit record, ...)."""
    return any(a in aliases for a in _GATED_ALIASES) or any(
        k.startswith(lineage.TAG_PREFIX) for k in tags
    )


def fold(text: str) -> str:
    """``text`` without case, accents or compatibility forms (NFKD, marks dropped, casefold).

    MySQL's and SQL Server's usual collations compare tag keys and aliases this way, so there
    ``MLFLOW_RETRAIN.DECISION`` *is* ``mlflow_retrain.decision`` and ``Champion`` *is*
    ``champion``: a tag key is judged as the key it folds to, an alias as the alias.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _is_prompt_key(key: str) -> bool:
    return key.startswith(lineage.MLFLOW_PROMPT_TAG_PREFIXES)


def tag_rule(
    key: str,
    value: str | None,
    *,
    on: Literal["model", "version"],
    gated: bool,
) -> Rule | None:
    """The rule protecting a client's write of tag ``key``, or ``None`` when it is free.

    Args:
        key: The tag key.
        value: The value set; ``None`` for a delete.
        on: A registered-model tag or a model-version tag.
        gated: The registered model is under the gate (:func:`is_gated`).

    Returns:
        Who may make the write; ``None``: anyone MLflow lets (the key is not protected).
    """
    key = fold(key)
    if _is_prompt_key(key):
        if not gated:
            return None
        return Rule("a tag MLflow reads to list and treat the model as a prompt", MANAGE, True)
    if not key.startswith(lineage.TAG_PREFIX):
        return None
    if key.startswith(_AUDIT_PREFIXES):
        return Rule("part of the audit trail, which is append-only", STORE)
    return _model_rule(key, value) if on == "model" else _version_rule(key, value)


def _model_rule(key: str, value: str | None) -> Rule:
    if key == lineage.TAG_POLICY:
        return Rule("the promotion policy the gate enforces", MANAGE, True)
    if key == lineage.TAG_HALTED:
        if value:  # halting: the loop does it after too many rejections
            return Rule("the loop's halt", PIPELINE_OR_MANAGE, True)
        return Rule("the loop's halt, which only a person lifts", MANAGE, True)
    if key == lineage.TAG_REJECTIONS:
        writers = PIPELINE_OR_MANAGE if value is not None else MANAGE
        return Rule("the loop's count of rejected challengers, which halts it", writers, True)
    if key.startswith(lineage.TAG_RESUMED_PREFIX):
        writers = MANAGE if value is not None else STORE
        return Rule("the record of a resume of the loop", writers, True)
    return Rule("a registered-model tag of mlflow-retrain that no client writes", STORE)


def _version_rule(key: str, value: str | None) -> Rule:
    if key == lineage.TAG_OVERRIDE_REASON:
        return Rule("an override of the promotion gate", MANAGE, True)
    if key == lineage.TAG_OVERRIDE_BY:
        return Rule("the store's record of who wrote the version's override", STORE)
    if key == lineage.TAG_ROLLBACK_REASON:
        return Rule("the reason a rollback writes into the audit trail", MANAGE, True)
    if key == lineage.TAG_STATUS:
        if value in PIPELINE_STATUSES:
            return Rule("the version's status", PIPELINE)
        shown = "removing the status" if value is None else f"status '{value}'"
        return Rule(f"{shown}, which only the gate writes when it moves champion", STORE)
    if key == lineage.TAG_DECISION or key.startswith(_EVIDENCE_PREFIXES):
        return Rule("evidence the gate reads", PIPELINE)
    if key.startswith(lineage.TAG_REFERENCE_PREFIX):
        return Rule("the champion's decay reference", PIPELINE)
    if key in _LINEAGE_KEYS or key.startswith(lineage.TAG_DATA_PREFIX):
        return Rule("the version's training lineage and gate data", PIPELINE)
    return Rule("a version tag of mlflow-retrain that no client writes", STORE)


#: Renaming or deleting a gated model, deleting a version holding a gated alias, and moving a
#: version of a gated model between (legacy) stages.
STRUCTURE_RULE = Rule("a structure change of a model under the promotion gate", MANAGE, True)


_WHO = {
    PIPELINE: "only the pipeline's accounts (MLFLOW_RETRAIN_PIPELINE_USERS on the server) and "
    "admins may",
    MANAGE: "only users with MANAGE on the registered model and admins may",
    PIPELINE_OR_MANAGE: "only the pipeline's accounts, users with MANAGE on the registered "
    "model and admins may",
}


def refusal(subject: str, rule: Rule, requester: Requester) -> str:
    """The one-line refusal: what is protected, who may change it, and who asked.

    Args:
        subject: The write refused, capitalised ("Setting tag 'mlflow_retrain.decision' on
            version 2 of 'fraud'").
        rule: The rule it broke.
        requester: Who asked.
    """
    if not rule.writers:
        return f"{subject} is refused: it is {rule.what}. No client may set or delete it."
    who = "this request has no user" if requester.user is None else f"user '{requester.user}'"
    return (
        f"{subject} is refused: it is {rule.what}; {_WHO[rule.writers]} do it, and {who} is "
        "not one of them."
    )

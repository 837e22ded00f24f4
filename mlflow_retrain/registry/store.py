"""Model-registry store plugins that enforce the promotion gate on every alias change.

``retrain+sqlite``, ``retrain+postgresql``, ``retrain+mysql`` and ``retrain+mssql`` subclass
MLflow's SQL registry store: every operation behaves like the stock store, except changes of
the gated aliases (``champion``, ``previous-champion``), which go through
:func:`mlflow_retrain.registry.gate.decide_alias_change`. A permitted move comes with the
gate's :class:`~mlflow_retrain.registry.gate.MovePlan`, which the store applies in one
database transaction, with the registered-model row locked where the database supports it:
``champion`` moves, the old holder becomes ``previous-champion``, the promoted version loses
``challenger``, status tags move, and an audit record is written. The REST store
(``retrain+http``, ``retrain+https``) applies the same plan call by call. A refusal raises
:class:`~mlflow_retrain.exceptions.PromotionRejected` (HTTP 400 on a tracking server) and
changes nothing.

Installed on a tracking server (``mlflow server --registry-store-uri retrain+postgresql://...``)
the gate governs every client, the REST API and the MLflow UI alike.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import sqlalchemy
from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag
from mlflow.store.model_registry.dbmodels.models import (
    SqlModelVersionTag,
    SqlRegisteredModel,
    SqlRegisteredModelAlias,
    SqlRegisteredModelTag,
)
from mlflow.store.model_registry.rest_store import RestStore

from mlflow_retrain import lineage
from mlflow_retrain.exceptions import PromotionRejected
from mlflow_retrain.registry.gate import (
    GATED_ALIASES,
    AliasChange,
    GateDecision,
    ModelFacts,
    MovePlan,
    decide_alias_change,
    gated_alias,
)
from mlflow_retrain.registry.guard import GuardedSqlAlchemyStore, read_writer, request_identity
from mlflow_retrain.registry.policies import stored_policy
from mlflow_retrain.registry.trust import server_keyring, signed_evidence

__all__ = ["PLUGIN_PREFIX", "RetrainRestStore", "RetrainSqlAlchemyStore", "inner_uri"]

logger = logging.getLogger(__name__)

PLUGIN_PREFIX = "retrain+"


def inner_uri(store_uri: str) -> str:
    """Strip the plugin prefix: ``retrain+postgresql://...`` -> ``postgresql://...``."""
    return store_uri[len(PLUGIN_PREFIX) :] if store_uri.startswith(PLUGIN_PREFIX) else store_uri


def _audit_tag(
    plan: MovePlan, *, now_ms: int, user: str | None, **extra: Any
) -> tuple[str, str, dict[str, Any]]:
    """The audit tag of an applied ``plan``: its key, its JSON value and the record."""
    record = {**plan.audit.to_dict(time_ms=now_ms, user=user), **extra}
    # Time first (records sort chronologically), then a nonce: two moves in one millisecond
    # must not overwrite each other's record.
    key = f"{lineage.TAG_AUDIT_PREFIX}{now_ms}-{uuid.uuid4().hex[:6]}"
    return key, lineage.truncate_tag(json.dumps(record, sort_keys=True)), record


def _request_user() -> str | None:
    """The authenticated user of the current server request (basic-auth), if any."""
    identity = request_identity()
    return None if identity is None else identity.user


def _override_refusal(name: str) -> str | None:
    """Under the basic-auth app, an override needs MANAGE on the model (or admin).

    Returns the refusal message, or ``None`` when the override may go on (also when the
    server runs without authentication, or outside a request: client-side mode).
    """
    import sys

    auth = sys.modules.get("mlflow.server.auth")
    user = _request_user()
    if auth is None or user is None:
        return None
    try:
        allowed = bool(
            auth.sender_is_admin() or auth._get_registered_model_permission(name).can_manage
        )
    except (AttributeError, LookupError) as err:  # an auth API we do not know: fail closed
        logger.warning("Cannot check override permission (%s); refusing.", err)
        allowed = False
    if allowed:
        return None
    return (
        f"User '{user}' may not override the promotion gate on '{name}': that needs MANAGE "
        "permission on the registered model. Ask its owner or an admin."
    )


class RetrainSqlAlchemyStore(GuardedSqlAlchemyStore):
    """MLflow's SQL registry store with the promotion gate on the gated aliases.

    On a server it also guards the ``mlflow_retrain.*`` tags and the structure of gated
    models (:mod:`mlflow_retrain.registry.guard`).

    MLflow builds it as ``RetrainSqlAlchemyStore(store_uri=..., tracking_uri=...)`` and caches
    it per URI; it keeps no per-request state. The database URI (with its password) is never
    logged. It reads the evidence keyring once (``MLFLOW_RETRAIN_EVIDENCE_KEY(_FILE)``): with
    a key, the gate decides from verified signed evidence only; without one it warns that
    evidence tags are trusted as written.
    """

    def __init__(self, store_uri: str, tracking_uri: str | None = None) -> None:
        super().__init__(inner_uri(store_uri))
        self._keyring = server_keyring()

    def set_registered_model_alias(self, name: str, alias: str, version: Any) -> None:
        """Set an alias; ``champion`` only through the gate, ``previous-champion`` never."""
        if gated_alias(alias) is None:
            self._refuse_collated_alias(alias)
            super().set_registered_model_alias(name, alias, version)
            return
        self._change_alias(name, AliasChange("set", alias, str(version)))

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Delete an alias; the gated ones are refused (roll back or override instead)."""
        if gated_alias(alias) is None:
            self._refuse_collated_alias(alias)
            super().delete_registered_model_alias(name, alias)
            return
        self._change_alias(name, AliasChange("delete", alias))

    def _refuse_collated_alias(self, alias: str) -> None:
        """Refuse an alias the database's collation equates with a gated one.

        :func:`gated_alias` already sends case, accent and compatibility spellings to the gate;
        a collation may equate more (MariaDB's ``utf8mb4_general_ci``: ß = s), so the database
        is asked too.
        """
        equal = sqlalchemy.text("SELECT CASE WHEN :alias = :gated THEN 1 ELSE 0 END")
        with self.ManagedSessionMaker() as session:
            for gated in GATED_ALIASES:
                if session.execute(equal, {"alias": alias, "gated": gated}).scalar() == 1:
                    raise PromotionRejected(
                        f"Promotion gate: The alias '{alias}' is the gated alias '{gated}' in "
                        "this database's collation. Use another name, or move "
                        f"'{gated}' itself with `mlflow-retrain promote`."
                    )

    def _change_alias(self, name: str, change: AliasChange) -> GateDecision:
        with self.ManagedSessionMaker(read_only=False) as session:
            # Serialise concurrent promotions so the loser sees the new champion and its
            # evidence is stale: SQLite's driver begins a transaction only at the first write,
            # so take the database's write lock before reading; elsewhere lock the model row.
            if self.db_type == "sqlite":
                session.execute(sqlalchemy.text("BEGIN IMMEDIATE"))
            model = (
                self._get_query(session, SqlRegisteredModel)
                .filter(SqlRegisteredModel.name == name)
                .with_for_update()
                .first()
            )
            if model is None:
                self._get_registered_model(session, name)  # raises MLflow's not-found error
            aliases = {
                a.alias: str(a.version)
                for a in self._get_query(session, SqlRegisteredModelAlias).filter(
                    SqlRegisteredModelAlias.name == name
                )
            }
            target = None
            tags: dict[str, str] = {}
            if change.action == "set":
                target = self._get_sql_model_version(session, name, change.version)
                tags = {t.key: t.value for t in target.model_version_tags}
                change = AliasChange("set", change.alias, str(target.version))
            evidence = None
            if (
                self._keyring is not None
                and target is not None
                and change.alias == (lineage.ALIAS_CHAMPION)
            ):
                evidence = signed_evidence(
                    self._keyring, name, tags=tags, source=target.source,
                    location=target.storage_location,
                )  # fmt: skip
            now = int(time.time() * 1000)
            decision = decide_alias_change(
                change,
                ModelFacts(
                    aliases=aliases,
                    version_tags=tags,
                    policy=stored_policy({t.key: t.value for t in model.registered_model_tags}),
                    now_ms=now,
                    evidence=evidence,
                    override_writer=read_writer(tags),
                    mover=_request_user() or "",
                ),
            )
            if decision.allowed and decision.kind == "override":
                refusal = _override_refusal(name)
                if refusal is not None:
                    decision = GateDecision(False, "refused", refusal)
            if not decision.allowed:
                logger.info("Promotion gate refused %s on '%s' (user %s): %s", change, name,
                            _request_user(), decision.reason)  # fmt: skip
                raise PromotionRejected(f"Promotion gate: {decision.reason}")
            if decision.plan is not None and target is not None:
                self._apply_plan(session, name, target.workspace, decision.plan, now_ms=now)
            return decision

    def _apply_plan(
        self, session: Any, name: str, workspace: Any, plan: MovePlan, *, now_ms: int
    ) -> None:
        """Write ``plan`` in the caller's transaction: it commits or rolls back as one."""
        for alias, version in plan.set_aliases:
            session.merge(
                SqlRegisteredModelAlias(
                    workspace=workspace, name=name, alias=alias, version=int(version)
                )
            )
        for alias in plan.delete_aliases:
            held = self._get_registered_model_alias(session, name, alias)
            if held is not None:
                session.delete(held)
        for version, key, value in plan.set_version_tags:
            session.merge(
                SqlModelVersionTag(
                    workspace=workspace, name=name, version=int(version), key=key, value=value
                )
            )
        for version, key in plan.delete_version_tags:
            tag = self._get_model_version_tag(session, name, int(version), key)
            if tag is not None:
                session.delete(tag)
        key, value, record = _audit_tag(plan, now_ms=now_ms, user=_request_user())
        session.merge(SqlRegisteredModelTag(workspace=workspace, name=name, key=key, value=value))
        logger.info("Promotion gate: %s", record)


class RetrainRestStore(RestStore):
    """Client-side gate for a remote registry (``retrain+http://``, ``retrain+https://``).

    Every call goes to the server as with the stock REST store. Changes of the gated aliases
    are first checked here with the same rules; when the server does not maintain
    ``previous-champion`` itself (it runs no plugin), this client writes the follow-up alias,
    status and audit changes. That is not one transaction and does not bind other clients:
    run the plugin on the server (``--registry-store-uri retrain+postgresql://...``) to enforce
    the gate for everyone.
    """

    def __init__(self, store_uri: str, tracking_uri: str | None = None) -> None:
        from functools import partial

        from mlflow.utils.credentials import get_default_host_creds

        super().__init__(partial(get_default_host_creds, inner_uri(store_uri)))

    def set_registered_model_alias(self, name: str, alias: str, version: Any) -> None:
        """Set an alias; ``champion`` only through the gate, ``previous-champion`` never."""
        if gated_alias(alias) is None:
            super().set_registered_model_alias(name, alias, version)
            return
        model = self.get_registered_model(name)
        aliases = {k: str(v) for k, v in model.aliases.items()}
        target = self.get_model_version(name, str(version))
        change = AliasChange("set", alias, str(target.version))
        decision = decide_alias_change(change, self._facts(model, aliases, target.tags))
        if not decision.allowed:
            raise PromotionRejected(f"Promotion gate: {decision.reason}")
        if decision.plan is None:
            return  # unchanged
        super().set_registered_model_alias(name, *decision.plan.set_aliases[0])  # the move
        updated = self.get_registered_model(name)
        if any(
            key.startswith(lineage.TAG_AUDIT_PREFIX) and key not in model.tags
            for key in updated.tags
        ):
            return  # the server runs the plugin: it made the follow-up moves atomically
        self._apply_follow_ups(name, decision.plan)

    def _apply_follow_ups(self, name: str, plan: MovePlan) -> None:
        """Write what follows the move (``plan``'s first alias) on the server, call by call."""
        for alias, version in plan.set_aliases[1:]:
            super().set_registered_model_alias(name, alias, version)
        for alias in plan.delete_aliases:
            super().delete_registered_model_alias(name, alias)
        for version, key, value in plan.set_version_tags:
            self.set_model_version_tag(name, version, ModelVersionTag(key, value))
        for version, key in plan.delete_version_tags:
            self.delete_model_version_tag(name, version, key)
        key, value, _ = _audit_tag(
            plan, now_ms=int(time.time() * 1000), user=None, client_side=True
        )
        self.set_registered_model_tag(name, RegisteredModelTag(key, value))

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Delete an alias; the gated ones are refused (roll back or override instead)."""
        if gated_alias(alias) is None:
            super().delete_registered_model_alias(name, alias)
            return
        model = self.get_registered_model(name)
        aliases = {k: str(v) for k, v in model.aliases.items()}
        decision = decide_alias_change(
            AliasChange("delete", alias), self._facts(model, aliases, {})
        )
        raise PromotionRejected(f"Promotion gate: {decision.reason}")

    @staticmethod
    def _facts(model: Any, aliases: dict[str, str], tags: dict[str, str]) -> ModelFacts:
        # The override's writer is the server's to check (its store records it); here the
        # override counts, as this client-side check binds nobody else anyway.
        return ModelFacts(
            aliases=aliases,
            version_tags=tags,
            policy=stored_policy(model.tags),
            now_ms=int(time.time() * 1000),
            override_writer="",
            mover="",
        )

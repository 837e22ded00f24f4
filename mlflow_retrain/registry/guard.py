"""The server's guard of the ``mlflow_retrain.*`` namespace and of gated models' structure.

:class:`GuardedSqlAlchemyStore` is MLflow's SQL registry store with the guard; the gate's store
(:class:`~mlflow_retrain.registry.store.RetrainSqlAlchemyStore`) builds on it. On a tracking
server, every client write of a protected tag (set, delete, tags passed to a create call or
copied by ``copy_model_version``) and every structure change of a gated model is checked
against :mod:`mlflow_retrain.registry.access`. A refusal is :class:`AccessDenied` (HTTP 403)
with one line naming what is protected and who may change it, and changes nothing. An allowed
write that the rules audit leaves a ``mlflow_retrain.change.<ms>-<hex>`` record (user, time,
value before and after) on the registered model, in the write's transaction where MLflow's
store allows it. Every protected write, refusal and structure change is logged at INFO with
the user (tag values are not logged).

Who asks is read from the request: the user MLflow's basic-auth app authenticated, whether
they are one of the pipeline's accounts (``MLFLOW_RETRAIN_PIPELINE_USERS`` on the server, a
comma-separated list of user names) or an admin, and their permission on the registered model.
If the auth app's API is not the one this was written against, the guard fails closed (the
user counts as neither pipeline nor MANAGE). A call outside a server request (client-side
mode, and the store's own writes such as a move's plan) is not guarded: client-side mode
guards nothing anyway (SECURITY.md).

Setting an override reason (``mlflow_retrain.override.reason``) also records its writer in
``mlflow_retrain.override.by``, in the same transaction, in-process too: the gate counts the
override only when that writer makes the move.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy
from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag
from mlflow.store.model_registry.dbmodels.models import SqlModelVersionTag, SqlRegisteredModelTag
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore
from mlflow.utils.validation import (
    _validate_model_version_tag,
    _validate_registered_model_tag,
    _validate_tag_name,
)

from mlflow_retrain import lineage
from mlflow_retrain.config import ENV_PREFIX
from mlflow_retrain.exceptions import AccessDenied
from mlflow_retrain.registry.access import (
    STRUCTURE_RULE,
    Requester,
    Rule,
    fold,
    is_gated,
    refusal,
    tag_rule,
)

__all__ = [
    "ENV_PIPELINE_USERS",
    "GuardedSqlAlchemyStore",
    "change_records",
    "pipeline_users",
    "read_writer",
    "request_identity",
    "writer_record",
]

logger = logging.getLogger(__name__)

#: Server environment variable: the pipeline's accounts (comma-separated basic-auth users).
ENV_PIPELINE_USERS = ENV_PREFIX + "PIPELINE_USERS"

#: The tag namespaces the guard protects (as folded keys): this package's and MLflow's prompt tags.
_PROTECTED_PREFIXES = (lineage.TAG_PREFIX, *lineage.MLFLOW_PROMPT_TAG_PREFIXES)

#: Longest value (characters) a change record keeps of the value before and after.
_RECORD_VALUE_CHARS = 1500


def pipeline_users() -> frozenset[str]:
    """The pipeline's accounts configured on the server (``MLFLOW_RETRAIN_PIPELINE_USERS``)."""
    raw = os.environ.get(ENV_PIPELINE_USERS, "")
    return frozenset(u.strip() for u in raw.split(",") if u.strip())


@dataclass(frozen=True)
class _Identity:
    """Who sends the current server request: the user, and whether the server authenticates."""

    user: str | None
    authenticated: bool


def _auth_module() -> Any:
    """MLflow's basic-auth app when this server runs it, else ``None``."""
    auth = sys.modules.get("mlflow.server.auth")
    try:
        return auth if auth is not None and auth.is_auth_enabled() else None
    except AttributeError:  # an auth app we do not know; its presence means authentication
        return auth


def request_identity() -> _Identity | None:
    """The current server request's identity; ``None`` outside a request (in-process use)."""
    try:
        from flask import g, has_request_context, request
    except ImportError:  # pragma: no cover - flask ships with mlflow
        return None
    if not has_request_context():
        return None
    _log_to_server()
    auth = _auth_module()
    if auth is None:
        return _Identity(None, authenticated=False)
    user = getattr(g, "mlflow_authenticated_user", None)
    if user is None and request.authorization is not None:
        user = request.authorization.username
    return _Identity(user or None, authenticated=True)


def _resolve(identity: _Identity, name: str, rule: Rule, *, owner: bool = False) -> Requester:
    """What ``identity`` may do on model ``name``, asking the auth app only what ``rule`` needs.

    Args:
        identity: Who asks.
        name: The registered model.
        rule: The rule of the write.
        owner: The request creates the model, so its user will hold MANAGE on it.
    """
    if not identity.authenticated:
        return Requester(None, authenticated=False)
    user = identity.user
    if user is None:
        return Requester(None, authenticated=True)
    pipeline = user in pipeline_users()
    if (pipeline and "pipeline" in rule.writers) or (owner and "manage" in rule.writers):
        return Requester(user, True, pipeline=pipeline, manage=owner)
    if not rule.writers:
        return Requester(user, True, pipeline=pipeline)
    auth = _auth_module()
    try:
        admin = bool(auth.sender_is_admin())
        manage = admin or (
            "manage" in rule.writers
            and not owner
            and bool(auth._get_registered_model_permission(name).can_manage)
        )
    except (AttributeError, LookupError, TypeError) as err:  # an auth API we do not know
        logger.warning(
            "Cannot check the permissions of user '%s' (%s); refusing.",
            user,
            err.__class__.__name__,
        )
        return Requester(user, True, pipeline=pipeline)
    return Requester(user, True, pipeline=pipeline or admin, manage=manage or owner)


def writer_record(user: str | None, now_ms: int) -> str:
    """The value of ``mlflow_retrain.override.by``: who wrote the override, and when."""
    return json.dumps({"user": user, "time_ms": now_ms}, sort_keys=True)


def read_writer(tags: dict[str, str]) -> str | None:
    """The override's writer for the gate (``""`` without identity); ``None``: no record."""
    raw = tags.get(lineage.TAG_OVERRIDE_BY)
    if raw is None or not (tags.get(lineage.TAG_OVERRIDE_REASON) or "").strip():
        return None
    try:
        user = json.loads(raw)["user"]
    except (ValueError, TypeError, KeyError):
        return None
    return user if isinstance(user, str) else ""


def _change(record: dict[str, Any]) -> tuple[str, str]:
    """The key and value of a change record's tag (time first, then a nonce, like audit.*)."""
    key = f"{lineage.TAG_CHANGE_PREFIX}{record['time_ms']}-{uuid.uuid4().hex[:6]}"
    return key, lineage.truncate_tag(json.dumps(record, sort_keys=True))


def _change_tag(workspace: Any, name: str, record: dict[str, Any]) -> SqlRegisteredModelTag:
    key, value = _change(record)
    return SqlRegisteredModelTag(workspace=workspace, name=name, key=key, value=value)


def _short(value: str | None) -> str | None:
    return None if value is None else lineage.truncate_tag(value, _RECORD_VALUE_CHARS)


def _created_tag_record(
    tag: Any, version: str | None, identity: _Identity, now_ms: int
) -> dict[str, Any]:
    """The change record of a protected tag that a create call set."""
    return {
        "kind": "tag_set",
        "key": tag.key,
        "version": version,
        "before": None,
        "after": _short(tag.value),
        "user": identity.user,
        "time_ms": now_ms,
    }


def _where(name: str, version: str | None) -> str:
    return f"version {version} of '{name}'" if version is not None else f"'{name}'"


_server_logging = False


def _log_to_server() -> None:
    """Make the guard's and the gate's INFO lines reach the server's own log (stderr).

    ``mlflow server`` configures logging for MLflow's loggers alone, so without this the INFO
    lines of ``mlflow_retrain.registry`` would be dropped. A deployment that configures the
    root logger itself keeps its own handlers.
    """
    global _server_logging
    if _server_logging:
        return
    _server_logging = True
    registry = logging.getLogger("mlflow_retrain.registry")
    if registry.level == logging.NOTSET or registry.level > logging.INFO:
        registry.setLevel(logging.INFO)
    if not logging.getLogger().handlers and not registry.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        registry.addHandler(handler)


class GuardedSqlAlchemyStore(SqlAlchemyStore):
    """MLflow's SQL registry store with the guard on protected tags and gated models."""

    # -- tags ------------------------------------------------------------------------------

    def set_registered_model_tag(self, name: str, tag: RegisteredModelTag) -> None:
        if not self._guard_tag(name, None, tag.key, tag.value):
            super().set_registered_model_tag(name, tag)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        if not self._guard_tag(name, None, key, None):
            super().delete_registered_model_tag(name, key)

    def set_model_version_tag(self, name: str, version: Any, tag: ModelVersionTag) -> None:
        if not self._guard_tag(name, str(version), tag.key, tag.value):
            super().set_model_version_tag(name, version, tag)

    def delete_model_version_tag(self, name: str, version: Any, key: str) -> None:
        if not self._guard_tag(name, str(version), key, None):
            super().delete_model_version_tag(name, version, key)

    def _guard_tag(self, name: str, version: str | None, key: str, value: str | None) -> bool:
        """Check and, when protected, make one tag write; ``False``: the caller makes it."""
        override = version is not None and key == lineage.TAG_OVERRIDE_REASON
        identity = request_identity()
        if identity is None:
            if not override:
                return False
            self._write_tag(name, version, key, value, rule=None, identity=None)
            return True
        verb = "Setting" if value is not None else "Deleting"
        subject = f"{verb} tag '{key}' on {_where(name, version)}"
        if not fold(key).startswith(_PROTECTED_PREFIXES):
            self._refuse_collated_key(key, subject)
            return False
        model = self.get_registered_model(name)
        on: Literal["model", "version"] = "model" if version is None else "version"
        rule = tag_rule(key, value, on=on, gated=is_gated(model.aliases, model.tags))
        if rule is None:
            return False
        self._check(identity, name, rule, subject)
        self._write_tag(name, version, key, value, rule=rule, identity=identity)
        logger.info("Registry guard: user %s: %s (allowed).", identity.user, subject)
        return True

    def _refuse_collated_key(self, key: str, subject: str) -> None:
        """Refuse a tag key that the database's collation takes for a protected one.

        :func:`~mlflow_retrain.registry.access.tag_rule` judges a key as the key it folds to;
        a collation may equate more (MariaDB's ``utf8mb4_general_ci`` takes the dotless i,
        U+0131, for ``i``), and there the write would land on the protected row itself, so the
        database is asked.
        """
        like = sqlalchemy.text("SELECT CASE WHEN :key LIKE :pattern ESCAPE '!' THEN 1 ELSE 0 END")
        with self.ManagedSessionMaker() as session:
            for prefix in _PROTECTED_PREFIXES:
                pattern = re.sub(r"([!%_])", r"!\1", prefix) + "%"
                if session.execute(like, {"key": key, "pattern": pattern}).scalar() == 1:
                    message = (
                        f"{subject} is refused: this database's collation takes the key for "
                        f"one under '{prefix}', which the registry guard protects. Spell the "
                        "key exactly as docs/names.md gives it, or choose a key outside "
                        "that namespace."
                    )
                    logger.info("Registry guard: %s", message)
                    raise AccessDenied(message)

    def _check(
        self, identity: _Identity, name: str, rule: Rule, subject: str, *, owner: bool = False
    ) -> None:
        requester = _resolve(identity, name, rule, owner=owner)
        if not requester.may(rule):
            message = refusal(subject, rule, requester)
            logger.info("Registry guard: user %s: %s", identity.user, message)
            raise AccessDenied(message)

    def _write_tag(
        self,
        name: str,
        version: str | None,
        key: str,
        value: str | None,
        *,
        rule: Rule | None,
        identity: _Identity | None,
    ) -> None:
        """Write (or delete) one tag, its override writer and its change record, as one."""
        if value is not None:
            (_validate_registered_model_tag if version is None else _validate_model_version_tag)(
                key, value
            )
        else:
            _validate_tag_name(key)
        now = int(time.time() * 1000)
        user = None if identity is None else identity.user
        with self.ManagedSessionMaker(read_only=False) as session:
            model = self._get_registered_model(session, name)
            workspace = model.workspace
            writes: list[tuple[str, str | None]] = [(key, value)]
            if version is not None and key == lineage.TAG_OVERRIDE_REASON:
                record = writer_record(user, now) if value is not None else None
                writes.append((lineage.TAG_OVERRIDE_BY, record))
            before = None
            if version is not None:
                number = self._get_sql_model_version(session, name, version).version
                for k, v in writes:
                    held = self._get_model_version_tag(session, name, number, k)
                    if k == key:
                        before = None if held is None else held.value
                    if v is not None:
                        session.merge(
                            SqlModelVersionTag(
                                workspace=workspace, name=name, version=number, key=k, value=v
                            )
                        )
                    elif held is not None:
                        session.delete(held)
            else:
                held = self._get_registered_model_tag(session, name, key)
                before = None if held is None else held.value
                if value is not None:
                    session.merge(
                        SqlRegisteredModelTag(workspace=workspace, name=name, key=key, value=value)
                    )
                elif held is not None:
                    session.delete(held)
            if rule is not None and rule.audited:
                session.merge(
                    _change_tag(
                        workspace,
                        name,
                        {
                            "kind": "tag_set" if value is not None else "tag_delete",
                            "key": key,
                            "version": version,
                            "before": _short(before),
                            "after": _short(value),
                            "user": user,
                            "time_ms": now,
                        },
                    )
                )

    # -- create calls (and copy_model_version, which creates a version with the source's tags)

    def _check_created_tags(
        self,
        identity: _Identity,
        name: str,
        tags: Sequence[Any],
        *,
        on: Literal["model", "version"],
        gated: bool,
        subject: str,
    ) -> list[Any]:
        """Check the tags a create call carries; the ones whose writes are audited.

        A new model's creator will own it (MANAGE), so ``on="model"`` checks as its owner.
        """
        audited = []
        for tag in tags:
            what = f"{subject} with tag '{tag.key}'"
            rule = tag_rule(tag.key, tag.value, on=on, gated=gated)
            if rule is None:
                self._refuse_collated_key(tag.key, what)
                continue
            self._check(identity, name, rule, what, owner=on == "model")
            logger.info("Registry guard: user %s: %s (allowed).", identity.user, what)
            if rule.audited:
                audited.append(tag)
        return audited

    def create_registered_model(
        self,
        name: str,
        tags: Sequence[RegisteredModelTag] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        identity = request_identity()
        if identity is None or not tags:
            return super().create_registered_model(name, tags, *args, **kwargs)
        audited = self._check_created_tags(
            identity, name, tags, on="model", gated=False, subject=f"Creating '{name}'"
        )
        now = int(time.time() * 1000)
        extra = [
            RegisteredModelTag(*_change(_created_tag_record(tag, None, identity, now)))
            for tag in audited
        ]
        return super().create_registered_model(name, [*tags, *extra], *args, **kwargs)

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: Sequence[ModelVersionTag] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        identity = request_identity()
        tags = list(tags or [])
        keys = {t.key for t in tags}
        now = int(time.time() * 1000)
        audited = []
        if identity is not None and tags:
            model = self.get_registered_model(name)
            audited = self._check_created_tags(
                identity, name, tags, on="version", gated=is_gated(model.aliases, model.tags),
                subject=f"Creating a version of '{name}'",
            )  # fmt: skip
        if lineage.TAG_OVERRIDE_REASON in keys:
            user = None if identity is None else identity.user
            tags = [t for t in tags if t.key != lineage.TAG_OVERRIDE_BY]
            tags.append(ModelVersionTag(lineage.TAG_OVERRIDE_BY, writer_record(user, now)))
        version = super().create_model_version(name, source, run_id, tags, *args, **kwargs)
        if identity is not None:
            # MLflow's store writes the version in its own transaction; the record follows.
            for tag in audited:
                record = _created_tag_record(tag, str(version.version), identity, now)
                self._record(name, identity, record)
        return version

    # -- structure changes of a gated model ------------------------------------------------

    def rename_registered_model(self, name: str, new_name: str) -> Any:
        identity = self._guard_structure(name, f"Renaming '{name}' to '{new_name}'")
        renamed = super().rename_registered_model(name, new_name)
        if identity is not None:
            self._record(new_name, identity, {"kind": "rename", "before": name, "after": new_name})
        return renamed

    def delete_registered_model(self, name: str) -> None:
        # The model's tags go with it: the server's log keeps the record.
        self._guard_structure(name, f"Deleting '{name}'")
        super().delete_registered_model(name)

    def delete_model_version(self, name: str, version: Any) -> None:
        model = self.get_registered_model(name)
        held = sorted(
            a
            for a, v in model.aliases.items()
            if str(v) == str(version)
            and a in (lineage.ALIAS_CHAMPION, lineage.ALIAS_PREVIOUS_CHAMPION)
        )
        identity = None
        if held:
            identity = self._guard_structure(
                name,
                f"Deleting version {version} of '{name}', which holds '{held[0]}'",
                model=model,
            )
        super().delete_model_version(name, version)
        if identity is not None:
            self._record(
                name,
                identity,
                {
                    "kind": "delete_version",
                    "version": str(version),
                    "before": ",".join(held),
                    "after": None,
                },
            )

    def transition_model_version_stage(
        self, name: str, version: Any, stage: str, archive_existing_versions: bool
    ) -> Any:
        identity = self._guard_structure(
            name, f"Moving version {version} of '{name}' to stage '{stage}'"
        )
        before = None
        if identity is not None:
            before = self.get_model_version(name, version).current_stage
        moved = super().transition_model_version_stage(
            name, version, stage, archive_existing_versions
        )
        if identity is not None:
            self._record(
                name,
                identity,
                {
                    "kind": "stage",
                    "version": str(version),
                    "before": before,
                    "after": moved.current_stage,
                    "archive_existing_versions": bool(archive_existing_versions),
                },
            )
        return moved

    def _guard_structure(self, name: str, subject: str, *, model: Any = None) -> _Identity | None:
        """Check a structure change of model ``name``; the identity when it is to be audited."""
        identity = request_identity()
        if identity is None:
            return None
        if model is None:
            model = self.get_registered_model(name)
        if not is_gated(model.aliases, model.tags):
            return None
        self._check(identity, name, STRUCTURE_RULE, subject)
        logger.info("Registry guard: user %s: %s (allowed).", identity.user, subject)
        return identity

    def _record(self, name: str, identity: _Identity, fields: dict[str, Any]) -> None:
        """Append a change record to model ``name`` (after a write MLflow's store made)."""
        record = {
            "key": None,
            "version": None,
            **fields,
            "user": identity.user,
            "time_ms": int(time.time() * 1000),
        }
        with self.ManagedSessionMaker(read_only=False) as session:
            model = self._get_registered_model(session, name)
            session.merge(_change_tag(model.workspace, name, record))


def change_records(tags: dict[str, str]) -> Iterable[dict[str, Any]]:
    """The change records among a registered model's ``tags``, oldest first."""
    for key in sorted(tags):
        if key.startswith(lineage.TAG_CHANGE_PREFIX):
            try:
                yield json.loads(tags[key])
            except ValueError:
                continue

"""Model-version lifecycle in the registry: registering challengers, moving ``champion``.

Registration is idempotent by design: a version is keyed by the pipeline run (or training
run) that produced it, so a re-run after a crash finds the version it registered instead of
adding another. Alias moves go through the promotion gate (a client whose registry URI has
the plugin prefix, :func:`gated_client`), which writes everything that follows a move; after
it, the registered model's description (policy, alias history) and the status line of the
versions involved are rewritten, which can fail without undoing the move.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.policy import PromotionPolicy
from mlflow_retrain.registry.policies import store_policy
from mlflow_retrain.registry.versions import alias_version, find_version, resolve_version

__all__ = [
    "AliasMove",
    "RegisteredVersion",
    "format_move",
    "gated_client",
    "gated_registry_uri",
    "override",
    "promote",
    "register_challenger",
    "rollback",
    "set_policy",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisteredVersion:
    """A registered model version.

    Attributes:
        name: Registered model name.
        version: Version number (as text, as MLflow returns it).
        source: The model URI the version was created from.
        reused: An earlier attempt of the same run had registered it already.
        new_model: The registered model did not exist and was created for this version.
    """

    name: str
    version: str
    source: str
    reused: bool = False
    new_model: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "reused": self.reused,
            "new_model": self.new_model,
        }


def register_challenger(
    client: MlflowClient,
    name: str,
    *,
    model_uri: str,
    run_id: str,
    tags: Mapping[str, str],
    idempotency_key: tuple[str, str],
    alias: str = lineage.ALIAS_CHALLENGER,
) -> RegisteredVersion:
    """Register ``model_uri`` as a new version of ``name`` and point ``alias`` at it.

    An older version that held ``alias`` loses it: if it was still waiting for a decision
    (status ``candidate`` or ``shadow``), its status becomes ``superseded``; either way its
    description's status section is rewritten.

    Args:
        client: Registry client.
        name: Registered model name (created if missing).
        model_uri: The logged model (``models:/m-...``).
        run_id: The run that logged it.
        tags: Version tags (status, lineage, evidence summary).
        idempotency_key: ``(tag, value)`` identifying the producing run; when a version with
            it exists, that version is returned and nothing new is registered.
        alias: Alias to set on the version.

    Returns:
        The version.
    """
    existing = find_version(client, name, tag=idempotency_key[0], value=idempotency_key[1])
    if existing is not None:
        logger.info("Version %s of '%s' was already registered by this run.", existing.version,
                    name)  # fmt: skip
        _move_alias(client, name, alias, str(existing.version))
        return RegisteredVersion(name, str(existing.version), str(existing.source), reused=True)
    new_model = True
    try:
        client.create_registered_model(name)
    except MlflowException as err:
        if err.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
        new_model = False
    all_tags = {**tags, idempotency_key[0]: idempotency_key[1]}
    # A tracking server accepts a ``models:/<model id>`` source only with that model id.
    model_id = model_uri[len("models:/") :] if model_uri.startswith("models:/m-") else None
    version = client.create_model_version(
        name, model_uri, run_id=run_id, tags=all_tags, model_id=model_id
    )
    _move_alias(client, name, alias, str(version.version))
    return RegisteredVersion(name, str(version.version), model_uri, new_model=new_model)


#: Statuses of a challenger still waiting for its decision: it becomes ``superseded`` when a
#: newer version takes its alias.
_WAITING = (lineage.STATUS_CANDIDATE, lineage.STATUS_SHADOW)


def _move_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    """Point ``alias`` at ``version``; an older holder still waiting becomes ``superseded``.

    The older holder's status section is rewritten (it no longer holds the alias); that
    write only warns when it fails, like every description write.
    """
    before = alias_version(client, name, alias)
    client.set_registered_model_alias(name, alias, version)
    if before is None or int(before.version) >= int(version):
        return
    from mlflow_retrain.registry.describe import describe_status  # see _describe_move

    old = str(before.version)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if before.tags.get(lineage.TAG_STATUS) in _WAITING:
        client.set_model_version_tag(name, old, lineage.TAG_STATUS, lineage.STATUS_SUPERSEDED)
        note = f"Superseded as `{alias}` by version {version} on {when}, before a decision."
    else:
        note = f"The `{alias}` alias moved to version {version} on {when}."
    describe_status(client, name, [old], notes={old: note})


@dataclass(frozen=True)
class AliasMove:
    """What ``promote``, ``rollback`` or ``override`` did.

    Attributes:
        model_name: Registered model.
        champion: The version that is champion now.
        previous_champion: The version that is ``previous-champion`` now, if any.
        kind: The gate's reason kind (``promotion``, ``first_deployment``, ``rollback``,
            ``override``, ``unchanged``).
        audit: The audit record the gate wrote (``from``, ``to``, ``kind``, ``reason``,
            ``evidence_run``, ``time_ms``, ``user``), when one was written.
    """

    model_name: str
    champion: str
    previous_champion: str | None
    kind: str
    audit: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "model_name": self.model_name,
            "champion": self.champion,
            "previous_champion": self.previous_champion,
            "kind": self.kind,
            "audit": None if self.audit is None else dict(self.audit),
        }


def format_move(move: AliasMove) -> str:
    """What ``promote``, ``rollback`` and ``override`` print: who holds which alias now, why."""
    previous = (
        f", previous-champion is version {move.previous_champion}"
        if move.previous_champion
        else ""
    )
    reason = f" {move.audit['reason']}" if move.audit else ""
    return (
        f"{move.model_name}: champion is version {move.champion}{previous} ({move.kind}).{reason}"
    )


_DB_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


def gated_registry_uri(registry_uri: str) -> str:
    """The registry URI with the gate: ``sqlite:///x.db`` -> ``retrain+sqlite:///x.db``.

    Database and ``http(s)`` URIs get the plugin prefix, so this tool never moves ``champion``
    past the gate, even against a plain store or a server without the plugin (which cannot
    stop other clients, though: see docs/gate.md, server-side mode).
    """
    scheme = registry_uri.split(":", 1)[0]
    if scheme.split("+", 1)[0] in (*_DB_SCHEMES, "http", "https"):
        return "retrain+" + registry_uri
    return registry_uri


def gated_client() -> MlflowClient:
    """A client whose registry goes through the gate (see :func:`gated_registry_uri`)."""
    import mlflow

    return MlflowClient(
        tracking_uri=mlflow.get_tracking_uri(),
        registry_uri=gated_registry_uri(mlflow.get_registry_uri()),
    )


def _move(client: MlflowClient, name: str, version: str) -> AliasMove:
    earlier = client.get_registered_model(name)
    before = set(earlier.tags)
    client.set_registered_model_alias(name, lineage.ALIAS_CHAMPION, version)
    model = client.get_registered_model(name)
    new_audit = sorted(
        k for k in model.tags if k.startswith(lineage.TAG_AUDIT_PREFIX) and k not in before
    )
    audit = json.loads(model.tags[new_audit[-1]]) if new_audit else None
    aliases = {k: str(v) for k, v in model.aliases.items()}
    move = AliasMove(
        model_name=name,
        champion=aliases[lineage.ALIAS_CHAMPION],
        previous_champion=aliases.get(lineage.ALIAS_PREVIOUS_CHAMPION),
        kind=str(audit["kind"]) if audit else "unchanged",
        audit=audit,
    )
    if audit is not None:
        _describe_move(client, move, before={k: str(v) for k, v in earlier.aliases.items()})
    return move


def _describe_move(client: MlflowClient, move: AliasMove, *, before: Mapping[str, str]) -> None:
    """Refresh the descriptions the move changed: the versions' status and the model's.

    Runs after the gate's move and never undoes it: the description helpers only warn.
    """
    # Imported here, not at the top: the descriptions load the report package (and with it
    # scikit-learn), which a refused move, or the server importing the store, never needs.
    from mlflow_retrain.registry.describe import describe_model, describe_status

    after = {
        lineage.ALIAS_CHAMPION: move.champion,
        **({lineage.ALIAS_PREVIOUS_CHAMPION: move.previous_champion}
           if move.previous_champion else {}),
    }  # fmt: skip
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    kind = move.kind.replace("_", " ")
    old = before.get(lineage.ALIAS_CHAMPION)
    notes = {
        move.champion: f"Champion since {when} ({kind}"
        + (f"; replaced version {old})." if old and old != move.champion else ").")
    }
    if old and old != move.champion:
        notes[old] = f"Replaced as champion by version {move.champion} on {when} ({kind})."
    # Every version that held an alias before or holds one now: few, and their lines change.
    touched = sorted({*before.values(), *after.values()}, key=int)
    describe_status(client, move.model_name, touched, notes=notes)
    describe_model(client, move.model_name)


def promote(name: str, *, version: str | None = None) -> AliasMove:
    """Move ``champion`` to ``version`` (default: the ``challenger``) through the gate.

    Raises:
        PromotionRejected: The gate refused (the message says what evidence is missing).
        InvalidInputError: The model or version does not exist.
    """
    client = gated_client()
    target = resolve_version(client, name, version or lineage.ALIAS_CHALLENGER)
    return _move(client, name, str(target.version))


def rollback(name: str, *, reason: str) -> AliasMove:
    """Move ``champion`` back to ``previous-champion``, recording ``reason``.

    Raises:
        InvalidInputError: There is no previous champion, or no reason was given.
    """
    if not reason.strip():
        raise InvalidInputError("A rollback needs a reason: pass --reason TEXT.")
    client = gated_client()
    previous = alias_version(client, name, lineage.ALIAS_PREVIOUS_CHAMPION)
    if previous is None:
        raise InvalidInputError(
            f"Registered model '{name}' has no previous champion to roll back to. Use "
            "`mlflow-retrain override` to force a version."
        )
    version = str(previous.version)
    client.set_model_version_tag(name, version, lineage.TAG_ROLLBACK_REASON, reason)
    return _move(client, name, version)


def override(name: str, *, version: str, reason: str) -> AliasMove:
    """Force ``version`` to champion past the evidence rules; audited with ``reason``.

    Raises:
        InvalidInputError: No reason was given, or the version does not exist.
    """
    if not reason.strip():
        raise InvalidInputError("An override needs a reason: pass --reason TEXT.")
    client = gated_client()
    target = str(resolve_version(client, name, version).version)
    client.set_model_version_tag(name, target, lineage.TAG_OVERRIDE_REASON, reason)
    return _move(client, name, target)


def set_policy(name: str, policy: PromotionPolicy) -> None:
    """Store ``policy`` on the registered model (tag ``mlflow_retrain.policy``).

    The model's description then shows the new policy (see
    :func:`mlflow_retrain.registry.describe.describe_model`).

    Raises:
        MlflowException: If the model does not exist.
    """
    from mlflow_retrain.registry.describe import describe_model  # see _describe_move

    client = MlflowClient()
    client.get_registered_model(name)  # a clear error if the model does not exist
    store_policy(client, name, policy)
    describe_model(client, name)

"""Model-version lifecycle in the registry: registering challengers (alias moves come later).

Idempotent by design: a version is keyed by the pipeline run (or training run) that produced
it, so a re-run after a crash finds the version it registered instead of adding another.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    ErrorCode,
)
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage

__all__ = ["RegisteredVersion", "alias_version", "find_version", "register_challenger"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisteredVersion:
    """A registered model version.

    Attributes:
        name: Registered model name.
        version: Version number (as text, as MLflow returns it).
        source: The model URI the version was created from.
        reused: An earlier attempt of the same run had registered it already.
    """

    name: str
    version: str
    source: str
    reused: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "reused": self.reused,
        }


def find_version(client: MlflowClient, name: str, *, tag: str, value: str) -> ModelVersion | None:
    """Return the version of ``name`` whose tag ``tag`` equals ``value``, if any."""
    versions = client.search_model_versions(
        f"name = '{_quote(name)}' AND tags.`{tag}` = '{_quote(value)}'"
    )
    return max(versions, key=lambda v: int(v.version)) if versions else None


def alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """Return the version behind ``alias``, or ``None`` when no version carries it.

    MLflow reports a missing alias as INVALID_PARAMETER_VALUE ("alias ... not found") and a
    missing model as RESOURCE_DOES_NOT_EXIST; only the first means "no such alias".

    Raises:
        MlflowException: If the model does not exist (or any other registry error).
    """
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as err:
        missing_alias = err.error_code == ErrorCode.Name(
            INVALID_PARAMETER_VALUE
        ) and "not found" in str(err.message)
        if missing_alias:
            return None
        raise


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
        client.set_registered_model_alias(name, alias, existing.version)
        return RegisteredVersion(name, str(existing.version), str(existing.source), reused=True)
    try:
        client.create_registered_model(name)
    except MlflowException as err:
        if err.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
    all_tags = {**tags, idempotency_key[0]: idempotency_key[1]}
    version = client.create_model_version(name, model_uri, run_id=run_id, tags=all_tags)
    client.set_registered_model_alias(name, alias, version.version)
    return RegisteredVersion(name, str(version.version), model_uri)


def _quote(text: str) -> str:
    return text.replace("'", "\\'")

"""Looking versions up in the registry: by alias, by number or alias, by tag; does a model exist.

MLflow reports "no such model", "no such version" and "no such alias" with different error
codes; these functions turn the first two into clear :class:`InvalidInputError` messages
where a user named the model, and the last into ``None``.
"""

from __future__ import annotations

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    ErrorCode,
)
from mlflow.tracking import MlflowClient

from mlflow_retrain.exceptions import InvalidInputError

__all__ = [
    "alias_version",
    "find_version",
    "model_exists",
    "model_names",
    "require_model_exists",
    "resolve_version",
]


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


def resolve_version(client: MlflowClient, name: str, ref: str) -> ModelVersion:
    """Return the version ``ref`` (a number or an alias) of model ``name``.

    Raises:
        InvalidInputError: If the model or the version/alias does not exist.
    """
    what = f"version {ref}" if ref.isdigit() else f"version with the alias '{ref}'"
    try:
        found = client.get_model_version(name, ref) if ref.isdigit() else alias_version(
            client, name, ref
        )  # fmt: skip
    except MlflowException as err:
        if err.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            raise
        found = None
        require_model_exists(client, name)
    if found is None:
        raise InvalidInputError(
            f"Registered model '{name}' has no {what}. Check the name, run `mlflow-retrain "
            "retrain` first, or pass --challenger VERSION."
        )
    return found


def require_model_exists(client: MlflowClient, name: str) -> None:
    """Raise a clear error when the registered model ``name`` does not exist at all.

    Raises:
        InvalidInputError: The model does not exist.
        MlflowException: Any registry error other than "does not exist".
    """
    try:
        client.get_registered_model(name)
    except MlflowException as err:
        if err.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            raise
        raise InvalidInputError(
            f"Registered model '{name}' does not exist. Check the name (the MLflow UI's Models "
            "page lists them), or register a first version with `mlflow-retrain retrain`."
        ) from err


def model_exists(client: MlflowClient, name: str) -> bool:
    """Return whether the registered model ``name`` exists.

    Raises:
        MlflowException: Any registry error other than "does not exist".
    """
    try:
        client.get_registered_model(name)
    except MlflowException as err:
        if err.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            raise
        return False
    return True


def model_names(client: MlflowClient, *, limit: int = 1000) -> list[str]:
    """The names of up to ``limit`` registered models (for "did you mean" hints)."""
    return [m.name for m in client.search_registered_models(max_results=limit)]


def find_version(client: MlflowClient, name: str, *, tag: str, value: str) -> ModelVersion | None:
    """Return the newest version of ``name`` whose tag ``tag`` equals ``value``, if any."""
    versions = client.search_model_versions(
        f"name = '{_quote(name)}' AND tags.`{tag}` = '{_quote(value)}'"
    )
    return max(versions, key=lambda v: int(v.version)) if versions else None


def _quote(text: str) -> str:
    return text.replace("'", "\\'")

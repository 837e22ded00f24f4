"""The promotion policy a registered model keeps: the one place that reads and writes it.

A model's policy is JSON in its registered-model tag ``mlflow_retrain.policy`` (written by
``mlflow-retrain policy set``, or by ``retrain`` when ``retrain.yaml`` has a ``policy:``
section). A model without one is judged by the ``policy:`` of ``retrain.yaml``, else by the
task's default (:func:`mlflow_retrain.policy.default_policy`). Every step, the descriptions
and the store plugins go through these functions; none reads the tag or builds a policy from
the configuration itself.

:func:`read_policy` reads it once, for every task: a cycle of the loop reads the policy once
and hands the :class:`ModelPolicy` to each step.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow_retrain import lineage
from mlflow_retrain.exceptions import InvalidConfigError
from mlflow_retrain.policy import PromotionPolicy, default_policy

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = [
    "ModelPolicy",
    "format_policy",
    "format_stored_policy",
    "load_policy",
    "policy_from_config",
    "policy_from_file",
    "read_policy",
    "store_policy",
    "stored_policy",
    "unstored_policy",
]


def stored_policy(tags: Mapping[str, str]) -> str | None:
    """The policy JSON among a registered model's ``tags``, or ``None`` when it stores none.

    The store plugins hand this raw text to the gate, which reads what it needs and treats a
    damaged policy strictly.
    """
    return tags.get(lineage.TAG_POLICY) or None


def policy_from_config(
    task: str, config_policy: Mapping[str, Any] | None
) -> PromotionPolicy | None:
    """The ``policy:`` section of ``retrain.yaml`` for ``task``, or ``None`` when it is empty.

    Raises:
        InvalidConfigError: If the section is not a valid policy.
    """
    if not config_policy:
        return None
    return PromotionPolicy.from_dict({"task": task, **config_policy})


def policy_from_file(path: str) -> PromotionPolicy:
    """Read and validate a policy file (YAML or JSON), as ``mlflow-retrain policy set`` does.

    Args:
        path: The file; an empty one is the default policy.

    Raises:
        InvalidConfigError: The file is not valid YAML or JSON (the message names the line),
            or not a valid policy (the message names the key and the fix).
    """
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        mark = getattr(err, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidConfigError(
            f"Policy file '{path}' is not valid YAML or JSON{line}. Fix the syntax and run "
            "`mlflow-retrain policy set` again."
        ) from err
    try:
        return PromotionPolicy.from_dict(data if data is not None else {})
    except InvalidConfigError as err:
        raise InvalidConfigError(
            f"Policy file '{path}': {err.message} Fix it in the file (docs/commands/policy.md "
            "lists every key) and run `mlflow-retrain policy set` again."
        ) from err


def format_policy(policy: PromotionPolicy) -> str:
    """What ``mlflow-retrain policy show`` prints: the policy as indented JSON."""
    return json.dumps(policy.to_dict(), indent=2)


def format_stored_policy(name: str, policy: PromotionPolicy) -> str:
    """What ``mlflow-retrain policy set`` prints once ``policy`` is stored on model ``name``."""
    return f"Stored the promotion policy on '{name}':\n{policy.to_json()}"


def unstored_policy(task: str, config_policy: Mapping[str, Any] | None) -> PromotionPolicy:
    """The policy of a model that stores none: ``retrain.yaml``'s, else the task default.

    Raises:
        InvalidConfigError: If the configured policy is invalid.
    """
    return policy_from_config(task, config_policy) or default_policy(task)


@dataclass(frozen=True)
class ModelPolicy:
    """A registered model's promotion policy as read from the registry, for any task.

    The task matters only to a model that stores no policy (it decides the default, and the
    task of ``retrain.yaml``'s ``policy:``), so one read serves every step, whatever task each
    one resolves.

    Attributes:
        stored: The model's stored policy JSON (tag ``mlflow_retrain.policy``), or ``None``.
        config_policy: The ``policy:`` section of ``retrain.yaml``, for a model storing none.
    """

    stored: str | None = None
    config_policy: Mapping[str, Any] | None = None

    def for_task(self, task: str) -> PromotionPolicy:
        """The policy that applies: the stored one, else ``retrain.yaml``'s, else the default.

        Args:
            task: ``classification`` or ``regression``.

        Raises:
            InvalidConfigError: If the stored (or configured) policy is invalid.
        """
        if self.stored:
            return PromotionPolicy.from_json(self.stored)
        return unstored_policy(task, self.config_policy)

    def with_stored(self, policy: PromotionPolicy) -> ModelPolicy:
        """This model's policy once ``policy`` has been stored on it (:func:`store_policy`)."""
        return replace(self, stored=policy.to_json())


def read_policy(
    client: MlflowClient, name: str, *, config_policy: Mapping[str, Any] | None = None
) -> ModelPolicy:
    """Read the model's policy from the registry (one call), to resolve for any task.

    Args:
        client: Registry client.
        name: Registered model.
        config_policy: The ``policy:`` section of ``retrain.yaml``, if any.

    Raises:
        MlflowException: If the model does not exist.
    """
    return ModelPolicy(stored_policy(client.get_registered_model(name).tags), config_policy)


def load_policy(
    client: MlflowClient, name: str, *, task: str, config_policy: Mapping[str, Any] | None = None
) -> PromotionPolicy:
    """The model's stored policy, else the one in ``retrain.yaml``, else the task default.

    Args:
        client: Registry client.
        name: Registered model.
        task: ``classification`` or ``regression`` (for the default and ``retrain.yaml``'s).
        config_policy: The ``policy:`` section of ``retrain.yaml``, if any.

    Raises:
        InvalidConfigError: If the stored (or configured) policy is invalid.
        MlflowException: If the model does not exist.
    """
    return read_policy(client, name, config_policy=config_policy).for_task(task)


def store_policy(client: MlflowClient, name: str, policy: PromotionPolicy) -> None:
    """Make ``policy`` the model's policy (tag ``mlflow_retrain.policy``).

    The caller refreshes the model's description
    (:func:`mlflow_retrain.registry.describe.describe_model`), which shows it. A policy the
    model stores already is not written again: on a server the policy is MANAGE's to change
    (an audited write), so a pipeline account's ``retrain`` with an unchanged ``policy:`` in
    ``retrain.yaml`` must not need MANAGE.
    """
    value = policy.to_json()
    if stored_policy(client.get_registered_model(name).tags) == value:
        return
    client.set_registered_model_tag(name, lineage.TAG_POLICY, value)

"""Write and read a model registry's state as the tests set it up and check it.

Every function takes an ``MlflowClient``, so the same one works on a local store and on a
tracking server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from helpers.evidence import evidence_tags
from mlflow_retrain import lineage

#: The key of one audit record: the prefix, the time in milliseconds and a random suffix.
AUDIT_KEY = re.compile(re.escape(lineage.TAG_AUDIT_PREFIX) + r"\d{13}-[0-9a-f]{6}$")


def register_versions(
    client: MlflowClient,
    name: str,
    n: int,
    *,
    create: bool = False,
    description: str | None = None,
    experiment_id: str = "0",
) -> list[str]:
    """Register ``n`` versions of ``name`` from one new run; return their numbers.

    Args:
        client: The registry's client.
        name: The registered model.
        n: How many versions.
        create: Create the registered model first (with ``description``).
        description: The new model's description.
        experiment_id: The experiment of the run the versions come from.
    """
    if create:
        client.create_registered_model(name, description=description)
    run = client.create_run(experiment_id)
    source = f"runs:/{run.info.run_id}/model"
    return [
        str(client.create_model_version(name, source, run_id=run.info.run_id).version)
        for _ in range(n)
    ]


def write_evidence(
    client: MlflowClient,
    name: str,
    version: str,
    *,
    baseline: str,
    decision: str = lineage.DECISION_PROMOTE,
    run_id: str = "run-x",
    tags: Mapping[str, str] | None = None,
) -> None:
    """Tag ``version`` with fresh evidence against ``baseline``, as ``compare`` would.

    Args:
        client: The registry's client.
        name: The registered model.
        version: The version judged.
        baseline: The champion it was judged against (``"none"`` for a first deployment).
        decision: The evidence's decision.
        run_id: The run the evidence names.
        tags: More version tags, written after the evidence.
    """
    for key, value in {
        **evidence_tags(baseline, decision=decision, run_id=run_id),
        **(tags or {}),
    }.items():
        client.set_model_version_tag(name, version, key, value)


def aliases(client: MlflowClient, name: str, *, missing_ok: bool = False) -> dict[str, str]:
    """The aliases of ``name`` and their versions; ``{}`` for a missing model if ``missing_ok``."""
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        if missing_ok:
            return {}
        raise
    return {k: str(v) for k, v in model.aliases.items()}


def audit_records(client: MlflowClient, name: str) -> list[dict[str, Any]]:
    """The audit records of ``name``, oldest first; every audit key must be well formed."""
    tags = client.get_registered_model(name).tags
    keys = sorted(k for k in tags if k.startswith(lineage.TAG_AUDIT_PREFIX))
    assert all(AUDIT_KEY.match(k) for k in keys), keys
    return [json.loads(tags[k]) for k in keys]


def version_status(client: MlflowClient, name: str, version: str) -> str | None:
    """The status tag of a version (``None`` where it has none)."""
    return client.get_model_version(name, version).tags.get(lineage.TAG_STATUS)


def version_tags(client: MlflowClient, name: str, version: str) -> dict[str, str]:
    """A version's tags."""
    return dict(client.get_model_version(name, version).tags)


def model_tags(client: MlflowClient, name: str) -> dict[str, str]:
    """A registered model's tags."""
    return dict(client.get_registered_model(name).tags)


def version_numbers(client: MlflowClient, name: str) -> list[str]:
    """The numbers of every version of ``name``, as sorted strings."""
    return sorted(str(v.version) for v in client.search_model_versions(f"name = '{name}'"))

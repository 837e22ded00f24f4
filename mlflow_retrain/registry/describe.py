"""Write the descriptions a reviewer reads in the MLflow UI: model versions, the model, runs.

Each pipeline step replaces its own section of a version's description
(:func:`mlflow_retrain.report.markdown.replace_section`); the registered model's description
holds the promotion policy and the alias history, refreshed after every alias move this
package makes. Descriptions are for people: a failure to write one is logged as a warning and
never fails a step or undoes a promotion.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.registry.policies import ModelPolicy, stored_policy
from mlflow_retrain.report.markdown import (
    alias_history_markdown,
    model_description,
    policy_markdown,
    replace_section,
    run_link,
    status_markdown,
)

__all__ = [
    "describe_model",
    "describe_run",
    "describe_status",
    "describe_version",
    "experiment_of",
]

logger = logging.getLogger(__name__)

# What can go wrong when writing a description: the registry refuses or is unreachable
# (MlflowException, OSError), or a stored tag is not what we wrote (ValueError, KeyError).
_WRITE_ERRORS = (MlflowException, OSError, ValueError, KeyError, TypeError)


def experiment_of(client: MlflowClient, run_id: str) -> str | None:
    """The experiment id of ``run_id`` (for UI links), or ``None`` if the run is unreadable."""
    try:
        return str(client.get_run(run_id).info.experiment_id)
    except MlflowException:
        return None


def describe_run(client: MlflowClient, run_id: str, markdown: str) -> bool:
    """Set a run's description (MLflow's ``mlflow.note.content`` tag) to ``markdown``.

    Text longer than :data:`~mlflow_retrain.lineage.MAX_NOTE_LENGTH` is cut, marked with an
    ellipsis.

    Args:
        client: Tracking client.
        run_id: The run.
        markdown: Its new description.

    Returns:
        Whether the description was written (a failure is logged as a warning).
    """
    try:
        text = lineage.truncate_tag(markdown, lineage.MAX_NOTE_LENGTH)
        client.set_tag(run_id, lineage.TAG_RUN_NOTE, text)
        return True
    except _WRITE_ERRORS as err:
        logger.warning(
            "Could not write the description of run %s (%s); the run is unchanged otherwise.",
            run_id,
            err,
        )
        return False


def describe_version(
    client: MlflowClient, name: str, version: str, sections: Mapping[str, str | None]
) -> bool:
    """Replace ``sections`` of a version's description, leaving the other sections alone.

    Args:
        client: Registry client.
        name: Registered model.
        version: Version.
        sections: Section name to its new markdown (``None`` removes it).

    Returns:
        Whether the description was written (a failure is logged as a warning).
    """
    try:
        current = client.get_model_version(name, version).description
        text = current or ""
        for section, body in sections.items():
            text = replace_section(text, section, body)
        if text != (current or ""):
            client.update_model_version(name, version, description=text)
        return True
    except _WRITE_ERRORS as err:
        logger.warning(
            "Could not update the description of version %s of '%s' (%s); the registry is "
            "unchanged otherwise.",
            version,
            name,
            err,
        )
        return False


def describe_status(
    client: MlflowClient,
    name: str,
    versions: Iterable[str],
    *,
    notes: Mapping[str, str] | None = None,
) -> None:
    """Rewrite the ``status`` section of ``versions`` from their tags and aliases now.

    Args:
        client: Registry client.
        name: Registered model.
        versions: The versions whose status or aliases changed.
        notes: Version to one more sentence for its section.
    """
    try:
        aliases = client.get_registered_model(name).aliases
    except _WRITE_ERRORS as err:
        logger.warning("Could not read the aliases of '%s' (%s).", name, err)
        return
    by_version: dict[str, list[str]] = {}
    for alias, holder in sorted(aliases.items()):
        by_version.setdefault(str(holder), []).append(alias)
    for version in dict.fromkeys(str(v) for v in versions):
        try:
            tags = client.get_model_version(name, version).tags
        except _WRITE_ERRORS as err:
            logger.warning("Could not read version %s of '%s' (%s).", version, name, err)
            continue
        body = status_markdown(
            status=tags.get(lineage.TAG_STATUS),
            aliases=by_version.get(version, []),
            decision=tags.get(lineage.TAG_DECISION),
            evidence_source=tags.get(lineage.TAG_EVIDENCE_SOURCE),
            baseline=tags.get(lineage.TAG_EVIDENCE_BASELINE),
            note=(notes or {}).get(version),
        )
        describe_version(client, name, version, {"status": body})


def describe_model(client: MlflowClient, name: str) -> bool:
    """Rewrite the registered model's description: promotion policy and alias history.

    The alias history is read from the audit tags the gate writes
    (``mlflow_retrain.audit.<ms>-<hex>``); a person's text outside the two sections is kept.

    Returns:
        Whether the description was written (a failure is logged as a warning).
    """
    try:
        model = client.get_registered_model(name)
        tags = model.tags
        stored = stored_policy(tags) is not None
        # The model just read carries its policy: no second read of the registered model.
        policy = ModelPolicy(stored_policy(tags)).for_task(_task(client, name, model.aliases))
        records = []
        for key, value in tags.items():
            if key.startswith(lineage.TAG_AUDIT_PREFIX):
                try:
                    records.append(json.loads(value))
                except ValueError:
                    logger.warning("Skipping an unreadable audit record %s of '%s'.", key, name)
        records.sort(key=lambda r: -float(r.get("time_ms") or 0))
        links = _evidence_links(client, records[:20])
        text = model_description(
            model.description,
            policy=policy_markdown(policy.to_dict(), stored=stored),
            aliases=alias_history_markdown(
                {a: str(v) for a, v in model.aliases.items()}, records, evidence_links=links
            ),
        )
        if text != (model.description or ""):
            client.update_registered_model(name, description=text)
        return True
    except _WRITE_ERRORS as err:
        logger.warning(
            "Could not update the description of registered model '%s' (%s); its aliases and "
            "audit records are unaffected.",
            name,
            err,
        )
        return False


def _task(client: MlflowClient, name: str, aliases: Mapping[str, Any]) -> str:
    for alias in (lineage.ALIAS_CHAMPION, lineage.ALIAS_CHALLENGER):
        if alias in aliases:
            task = client.get_model_version(name, str(aliases[alias])).tags.get(lineage.TAG_TASK)
            if task:
                return task
    return "classification"


def _evidence_links(client: MlflowClient, records: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    runs = {str(r["evidence_run"]) for r in records if r.get("evidence_run")}
    return {run: run_link(run, experiment_id=experiment_of(client, run)) for run in runs}

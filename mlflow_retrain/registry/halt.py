"""The loop's safety state on a registered model: consecutive rejections, the halt, resume.

The retraining loop counts challengers in a row that did not replace the champion
(registered-model tag ``mlflow_retrain.consecutive_rejections``); at the configured limit it
halts the model (tag ``mlflow_retrain.halted`` holds why), and a halted model does not retrain
until a person runs ``mlflow-retrain resume``, which clears the halt and keeps a
``mlflow_retrain.resumed.<epoch ms>`` record of it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.exceptions import CircuitBreakerOpen, InvalidInputError

__all__ = [
    "ResumeResult",
    "check_not_halted",
    "count_rejection",
    "format_resume",
    "reset_rejections",
    "resume",
]

logger = logging.getLogger(__name__)


def check_not_halted(client: MlflowClient, name: str) -> None:
    """Refuse to retrain a halted model (a model that does not exist yet is not halted).

    Raises:
        CircuitBreakerOpen: The model is halted; the message names the halt's reason and
            the command that resumes it.
    """
    try:
        tags = client.get_registered_model(name).tags
    except MlflowException:
        return
    reason = tags.get(lineage.TAG_HALTED)
    if reason:
        raise CircuitBreakerOpen(
            f"Retraining of '{name}' is halted: {reason} A person must check it and run "
            f"`mlflow-retrain resume --model {name}`."
        )


def reset_rejections(client: MlflowClient, name: str) -> None:
    """A challenger replaced the champion or went to shadow: the count starts again."""
    client.set_registered_model_tag(name, lineage.TAG_REJECTIONS, "0")


def count_rejection(client: MlflowClient, name: str, *, limit: int) -> bool:
    """Count one more challenger that was not better; halt the model at ``limit`` in a row.

    Args:
        client: Registry client.
        name: Registered model.
        limit: Consecutive rejections that halt the model (``max_consecutive_rejections``).

    Returns:
        Whether the model is halted now. A counter that is not a whole number of zero or more
        (damaged, or written by hand) halts the model: the loop fails closed.
    """
    tags = client.get_registered_model(name).tags
    stored = tags.get(lineage.TAG_REJECTIONS, "0") or "0"
    damaged = not (stored.isascii() and stored.isdigit())
    count = limit if damaged else int(stored) + 1
    client.set_registered_model_tag(name, lineage.TAG_REJECTIONS, str(count))
    if count >= limit:
        reason = (
            f"The rejection counter {lineage.TAG_REJECTIONS} held {stored!r}, not a count, "
            "so the loop stops rather than trust it."
            if damaged
            else f"{count} challengers in a row were not better than the champion."
        )
        client.set_registered_model_tag(name, lineage.TAG_HALTED, reason)
        logger.warning("Halting retraining of '%s': %s", name, reason)
        return True
    return False


@dataclass(frozen=True)
class ResumeResult:
    """What :func:`resume` cleared.

    Attributes:
        model_name: Registered model.
        was_halted_because: The halt's reason.
        resumed_at_ms: When (epoch milliseconds; also the key of the ``resumed.`` tag).
    """

    model_name: str
    was_halted_because: str
    resumed_at_ms: int

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (``resume --json-out``)."""
        return asdict(self)


def format_resume(result: ResumeResult) -> str:
    """What ``mlflow-retrain resume`` prints: the halt that was cleared."""
    return (
        f"Resumed retraining of '{result.model_name}' (it was halted: {result.was_halted_because})"
    )


def resume(model_name: str) -> ResumeResult:
    """Clear the halt of ``model_name`` (a person decided the loop may retrain again).

    Raises:
        InvalidInputError: The model is not halted.
    """
    client = MlflowClient()
    tags = client.get_registered_model(model_name).tags
    reason = tags.get(lineage.TAG_HALTED)
    if not reason:
        raise InvalidInputError(f"Registered model '{model_name}' is not halted.")
    client.delete_registered_model_tag(model_name, lineage.TAG_HALTED)
    client.set_registered_model_tag(model_name, lineage.TAG_REJECTIONS, "0")
    stamp = int(time.time() * 1000)
    client.set_registered_model_tag(
        model_name, f"{lineage.TAG_RESUMED_PREFIX}{stamp}", lineage.truncate_tag(reason)
    )
    return ResumeResult(model_name, reason, stamp)

"""The error hierarchy of mlflow-retrain.

Every error subclasses :class:`mlflow.exceptions.MlflowException`, so a tracking server that runs
our registry plugin maps it to an HTTP status through its ``error_code`` instead of a 500.
Messages follow one shape: what is wrong, the constraint, the value received, and the fix. They
never contain credentials or full database URIs.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    BAD_REQUEST,
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
)

__all__ = [
    "AccessDenied",
    "CircuitBreakerOpen",
    "InvalidConfigError",
    "InvalidInputError",
    "MlflowRetrainError",
    "PromotionRejected",
    "did_you_mean",
]


class MlflowRetrainError(MlflowException):
    """Base class of every error raised by mlflow-retrain."""

    def __init__(self, message: str, *, error_code: int = INTERNAL_ERROR) -> None:
        super().__init__(message, error_code=error_code)


class InvalidInputError(MlflowRetrainError, ValueError):
    """Bad data or a bad argument: the user has to change the input."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


class InvalidConfigError(InvalidInputError):
    """An invalid ``retrain.yaml``, policy or option value (a usage error, exit code 2)."""


class CircuitBreakerOpen(MlflowRetrainError):
    """A safety check refused to let the pipeline go on (corrupt batch, halted model, ...).

    Attributes:
        problems: Every problem found, one line each; the message names the first.
    """

    def __init__(self, message: str, *, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message, error_code=BAD_REQUEST)
        self.problems = problems or (message,)


class PromotionRejected(MlflowRetrainError):
    """The promotion gate refused an alias move (maps to HTTP 400 on the server)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


class AccessDenied(MlflowRetrainError):
    """The registry store refused a client's write to what it protects (HTTP 403 on a server).

    The message is one line: what is protected, who may change it, and who asked.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=PERMISSION_DENIED)


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """A hint for a misspelt name: `` (did you mean 'default'?)``, or ``""`` if none is close.

    Args:
        name: What the user wrote.
        known: The names that exist.
    """
    close = difflib.get_close_matches(name, sorted(set(known)), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""

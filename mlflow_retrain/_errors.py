"""The error hierarchy for the pure modules: named here, loaded on first use (PEP 562).

:mod:`mlflow_retrain.exceptions` defines every error on ``MlflowException`` (a tracking server
maps its ``error_code`` to an HTTP status), so importing it imports mlflow: about a second and
1,800 modules. The pure modules (statistics, drift, policy, comparison, metrics, configuration)
must import without it, so they reach the errors through this module::

    from mlflow_retrain import _errors as errors

    def check(alpha: float) -> None:
        if not 0 < alpha < 1:
            raise errors.InvalidInputError(...)

Importing this module loads nothing; the first attribute looked up imports
:mod:`mlflow_retrain.exceptions` (and mlflow with it), once. The classes are the same objects
as there: there is one hierarchy, and ``except InvalidInputError`` catches an error raised as
``errors.InvalidInputError``. Only raise sites and ``except`` clauses inside functions may name
them; a name used at import time (a base class, a default argument) would load mlflow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlflow_retrain._lazy import lazy_namespace

if TYPE_CHECKING:
    from mlflow_retrain.exceptions import (
        AccessDenied,
        CircuitBreakerOpen,
        InvalidConfigError,
        InvalidInputError,
        MlflowRetrainError,
        PromotionRejected,
    )

__all__ = [
    "AccessDenied",
    "CircuitBreakerOpen",
    "InvalidConfigError",
    "InvalidInputError",
    "MlflowRetrainError",
    "PromotionRejected",
]

__getattr__, __dir__ = lazy_namespace(
    __name__, dict.fromkeys(__all__, "mlflow_retrain.exceptions"), globals()
)

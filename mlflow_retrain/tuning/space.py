"""Search spaces of the tuned estimators, and how a trial samples them.

The space is conditional: a trial first picks ``estimator`` (only when more than one is
searched), then that estimator's parameters, named ``<estimator>__<param>`` (for example
``random_forest__max_depth``) so the parameters of different estimators never collide in the
study. ``tuning.space`` in ``retrain.yaml`` replaces a default range::

    space:
      random_forest:
        max_depth: {low: 3, high: 12}
      linear:
        C: {low: 0.01, high: 100, log: true}
        max_iter: {choices: [2000]}

A range is ``{low, high, log}`` (integers when the parameter is an integer and both bounds are
whole numbers) or ``{choices: [...]}``. Some parameters are fixed by default (``FIXED``, e.g.
``linear.max_iter = 1000``); overriding one makes it a sampled parameter.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import optuna

from mlflow_retrain.exceptions import InvalidConfigError

__all__ = [
    "ESTIMATORS",
    "FIXED",
    "ParamRange",
    "default_space",
    "params_from_trial",
    "parse_range",
    "resolve_space",
    "space_summary",
    "suggest",
    "validate_overrides",
]

#: The estimator families the tuner knows, in the order they are offered to the sampler.
ESTIMATORS: tuple[str, ...] = ("hist_gradient_boosting", "random_forest", "linear")

#: Name of the trial parameter choosing the estimator (sampled only when several are searched).
ESTIMATOR_PARAM = "estimator"

_SEP = "__"
_CHOICE_TYPES = (type(None), bool, int, float, str)


@dataclass(frozen=True)
class ParamRange:
    """The values one parameter may take.

    Attributes:
        kind: ``float``, ``int`` or ``categorical``.
        low: Lower bound (``float``/``int``).
        high: Upper bound, inclusive.
        log: Sample on a log scale.
        choices: The values of a ``categorical`` parameter.
    """

    kind: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: optuna.Trial | optuna.trial.FixedTrial, name: str) -> Any:
        """Sample the parameter in ``trial`` under ``name``."""
        if self.kind == "categorical":
            return trial.suggest_categorical(name, list(self.choices))
        assert self.low is not None
        assert self.high is not None
        if self.kind == "int":
            return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(name, float(self.low), float(self.high), log=self.log)

    def to_dict(self) -> dict[str, Any]:
        """Return the form ``tuning.space`` accepts."""
        if self.kind == "categorical":
            return {"choices": list(self.choices)}
        return {"low": self.low, "high": self.high, "log": self.log}


def _float(low: float, high: float, *, log: bool = False) -> ParamRange:
    return ParamRange("float", low, high, log)


def _int(low: int, high: int, *, log: bool = False) -> ParamRange:
    return ParamRange("int", low, high, log)


def _choice(*choices: Any) -> ParamRange:
    return ParamRange("categorical", choices=choices)


_HGB: dict[str, ParamRange] = {
    "learning_rate": _float(0.01, 0.3, log=True),
    "max_iter": _int(50, 400),
    "max_leaf_nodes": _int(8, 128, log=True),
    "max_depth": _choice(None, 3, 5, 8, 12),
    "min_samples_leaf": _int(5, 100, log=True),
    "l2_regularization": _float(1e-6, 10.0, log=True),
}
_RF: dict[str, ParamRange] = {
    "n_estimators": _int(50, 300),
    "max_depth": _int(3, 20),
    "min_samples_leaf": _int(1, 20, log=True),
    "max_features": _choice("sqrt", "log2", 0.5, 1.0),
}
_DEFAULTS: dict[tuple[str, str], dict[str, ParamRange]] = {
    ("hist_gradient_boosting", "classification"): _HGB,
    ("hist_gradient_boosting", "regression"): _HGB,
    ("random_forest", "classification"): _RF,
    ("random_forest", "regression"): _RF,
    # Inverse regularisation strength of LogisticRegression (l2, lbfgs).
    ("linear", "classification"): {"C": _float(1e-4, 1e3, log=True)},
    # Regularisation strength of Ridge.
    ("linear", "regression"): {"alpha": _float(1e-4, 1e3, log=True)},
}

#: Parameters that are fixed unless ``tuning.space`` overrides them (then they are sampled).
#: :func:`mlflow_retrain.tuning.models.build_pipeline` applies the same values by default.
FIXED: dict[str, dict[str, Any]] = {
    "hist_gradient_boosting": {},
    "random_forest": {},
    "linear": {"max_iter": 1000},
}


def default_space(estimator: str, *, task: str) -> dict[str, ParamRange]:
    """Return the default search space of an estimator for a task.

    Raises:
        InvalidConfigError: If the estimator or task is unknown.
    """
    _check_estimator(estimator)
    if task not in ("classification", "regression"):
        raise InvalidConfigError(
            f"Task must be 'classification' or 'regression', got {task!r}. Set tuning.task."
        )
    return dict(_DEFAULTS[(estimator, task)])


def resolve_space(
    estimator: str,
    *,
    task: str,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, ParamRange]:
    """Return an estimator's search space with ``tuning.space`` overrides applied.

    Args:
        estimator: ``hist_gradient_boosting``, ``random_forest`` or ``linear``.
        task: ``classification`` or ``regression``.
        overrides: ``{param: {low, high, log} | {choices: [...]}}`` for this estimator.

    Returns:
        ``{param: range}``: the defaults, overridden ranges replaced, overridden fixed
        parameters added.

    Raises:
        InvalidConfigError: If a parameter is not known for the estimator (the message lists
            the known ones) or a range is malformed.
    """
    space = default_space(estimator, task=task)
    known = [*space, *FIXED[estimator]]
    for param, spec in (overrides or {}).items():
        if param not in known:
            close = difflib.get_close_matches(str(param), known, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise InvalidConfigError(
                f"'tuning.space.{estimator}.{param}' is not a parameter of {estimator} "
                f"({task}).{hint} Known parameters: {', '.join(known)}."
            )
        default = space.get(param)
        space[param] = parse_range(
            spec,
            key=f"tuning.space.{estimator}.{param}",
            integer=default is None
            or default.kind == "int"
            or (default.kind == "categorical" and _all_int(default.choices)),
        )
    return space


def validate_overrides(
    overrides: Mapping[str, Mapping[str, Mapping[str, Any]]] | None,
    *,
    estimators: Sequence[str],
    task: str,
) -> None:
    """Check ``tuning.space`` against the searched estimators before any trial runs.

    Raises:
        InvalidConfigError: If an estimator or parameter is unknown or a range is malformed.
    """
    if not estimators:
        raise InvalidConfigError("'tuning.estimators' must list at least one estimator.")
    for estimator in estimators:
        _check_estimator(estimator)
    for estimator, params in (overrides or {}).items():
        if estimator not in estimators:
            raise InvalidConfigError(
                f"'tuning.space.{estimator}' names an estimator not in tuning.estimators "
                f"({', '.join(estimators)}). Fix the name or add the estimator."
            )
        resolve_space(estimator, task=task, overrides=params)


def suggest(
    trial: optuna.Trial,
    *,
    estimators: Sequence[str],
    task: str,
    overrides: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Sample an estimator and its parameters in a trial.

    ``estimator`` is sampled only when several are searched; each parameter is recorded in
    the trial as ``<estimator>__<param>``.

    Args:
        trial: The Optuna trial.
        estimators: Estimators to choose from.
        task: ``classification`` or ``regression``.
        overrides: ``tuning.space``: ``{estimator: {param: range}}``.

    Returns:
        The estimator's name and its parameters (unprefixed, ready for
        :func:`~mlflow_retrain.tuning.models.build_pipeline`).

    Raises:
        InvalidConfigError: If an estimator or overridden parameter is unknown.
    """
    if not estimators:
        raise InvalidConfigError("'tuning.estimators' must list at least one estimator.")
    if len(estimators) > 1:
        estimator = str(trial.suggest_categorical(ESTIMATOR_PARAM, list(estimators)))
    else:
        estimator = estimators[0]
    space = resolve_space(estimator, task=task, overrides=(overrides or {}).get(estimator))
    params = {
        name: spec.suggest(trial, f"{estimator}{_SEP}{name}") for name, spec in space.items()
    }
    return estimator, params


def params_from_trial(
    trial_params: Mapping[str, Any], *, estimators: Sequence[str] | None = None
) -> tuple[str, dict[str, Any]]:
    """Recover the estimator and its parameters from a trial's ``params`` (the inverse of
    :func:`suggest`).

    Parameters of other estimators and non-model parameters (``window_fraction``) are left
    out.

    Args:
        trial_params: ``trial.params`` or ``study.best_params``.
        estimators: The searched estimators; needed only when a single estimator was searched
            and it has no sampled parameter.

    Returns:
        The estimator's name and its unprefixed parameters.

    Raises:
        InvalidConfigError: If the estimator cannot be determined or is unknown.
    """
    estimator = trial_params.get(ESTIMATOR_PARAM)
    if estimator is None:
        prefixes = {key.split(_SEP, 1)[0] for key in trial_params if _SEP in key}
        found = sorted(prefixes & set(ESTIMATORS))
        if len(found) == 1:
            estimator = found[0]
        elif estimators is not None and len(estimators) == 1:
            estimator = estimators[0]
        else:
            raise InvalidConfigError(
                f"Cannot tell the estimator from trial parameters {sorted(trial_params)}. "
                "Pass estimators= or use parameters produced by suggest()."
            )
    estimator = str(estimator)
    _check_estimator(estimator)
    prefix = f"{estimator}{_SEP}"
    params = {
        key[len(prefix) :]: value for key, value in trial_params.items() if key.startswith(prefix)
    }
    return estimator, params


def space_summary() -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """Return the default search spaces as plain data, for documentation.

    Returns:
        ``{estimator: {task: {param: {low, high, log} | {choices} | {value}}}}``; fixed
        parameters show as ``{"value": ...}``.
    """
    summary: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for estimator in ESTIMATORS:
        per_task: dict[str, dict[str, dict[str, Any]]] = {}
        for task in ("classification", "regression"):
            entries = {name: spec.to_dict() for name, spec in _DEFAULTS[(estimator, task)].items()}
            entries.update({name: {"value": v} for name, v in FIXED[estimator].items()})
            per_task[task] = entries
        summary[estimator] = per_task
    return summary


def _check_estimator(estimator: str) -> None:
    if estimator not in ESTIMATORS:
        raise InvalidConfigError(
            f"Unknown estimator '{estimator}'. Use one of: {', '.join(ESTIMATORS)}."
        )


def _all_int(values: Sequence[Any]) -> bool:
    numbers = [v for v in values if v is not None]
    return bool(numbers) and all(isinstance(v, int) and not isinstance(v, bool) for v in numbers)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_range(spec: Any, *, key: str, integer: bool) -> ParamRange:
    """Read one ``{low, high, log}`` / ``{choices: [...]}`` range of ``tuning.space``.

    Args:
        spec: The range as written in YAML.
        key: Its dotted key, for error messages.
        integer: Whole-number bounds make an integer range (else a float range).

    Raises:
        InvalidConfigError: If the range is malformed.
    """
    if not isinstance(spec, Mapping):
        raise InvalidConfigError(
            f"'{key}' must be {{low, high, log}} or {{choices: [...]}}, got {spec!r}."
        )
    keys = set(spec)
    if "choices" in keys:
        extra = keys - {"choices"}
        choices = spec["choices"]
        if extra or not isinstance(choices, list | tuple) or not choices:
            raise InvalidConfigError(
                f"'{key}' must be {{choices: [...]}} with a non-empty list and no other keys, "
                f"got {dict(spec)!r}."
            )
        bad = [c for c in choices if not isinstance(c, _CHOICE_TYPES)]
        if bad:
            raise InvalidConfigError(
                f"'{key}' choices must be numbers, text, booleans or null, got {bad[0]!r}."
            )
        return ParamRange("categorical", choices=tuple(choices))
    extra = keys - {"low", "high", "log"}
    if extra or not {"low", "high"} <= keys:
        raise InvalidConfigError(
            f"'{key}' must be {{low, high, log}} or {{choices: [...]}}, got {dict(spec)!r}. "
            "Give both low and high."
        )
    low, high, log = spec["low"], spec["high"], spec.get("log", False)
    for value in (low, high):
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise InvalidConfigError(f"'{key}' bounds must be numbers, got {value!r}.")
    if not isinstance(log, bool):
        raise InvalidConfigError(f"'{key}.log' must be true or false, got {log!r}.")
    if low > high:
        raise InvalidConfigError(f"'{key}' has low {low!r} above high {high!r}. Swap them.")
    if log and low <= 0:
        raise InvalidConfigError(
            f"'{key}' is log-scaled so low must be > 0, got {low!r}. Raise low or set log: false."
        )
    kind: Literal["int", "float"] = (
        "int" if integer and _is_int(low) and _is_int(high) else "float"
    )
    return ParamRange(kind, low, high, log)

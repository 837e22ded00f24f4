"""Where a trial's model comes from: the built-in families, declarative classes, a factory.

Three forms, one interface (:class:`ModelSource`): ``build(trial)`` samples what it needs
from the trial and returns the trial's label and an unfitted estimator. The objective calls
it for every fold of a trial; the refit replays the best trial through the same code with
``optuna.trial.FixedTrial(best_params)``, so the registered model is exactly the tuned one.

* :class:`Catalog` (``tuning.estimators``): the built-in families
  (:func:`~mlflow_retrain.tuning.models.build_pipeline`) and declarative entries such as
  ``{class: lightgbm.LGBMClassifier, space: {num_leaves: {low: 8, high: 256, log: true}}}``,
  a class wrapped in the package's preprocessing
  (:func:`~mlflow_retrain.tuning.models.preprocessor`).
* :class:`Factory` (``tuning.model: my_pkg.models:build``): the team's own function,
  ``build(trial, *, task, columns)``, returning any scikit-learn-compatible estimator or
  pipeline; its search space is whatever it asks of ``trial``.

A factory's module is imported from ``sys.path`` or the working directory (the project
folder under ``mlflow run``). When it is not part of an installed distribution it is shipped
with the logged model (:func:`shipped_code`), and every installed package the fitted model
refers to is pinned in the model's requirements (:func:`model_packages`).

A broken model source is not a bad trial: an import that fails, a factory that raises or
returns something that is no estimator, or an estimator of the wrong task raises
:class:`ModelSourceError`, which stops the study (the step fails, nothing is registered).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import pickle
import pickletools
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from sklearn.base import is_classifier, is_regressor
from sklearn.pipeline import Pipeline

from mlflow_retrain.exceptions import InvalidConfigError, MlflowRetrainError
from mlflow_retrain.tuning.models import MODEL_STEP, PREPROCESS_STEP, build_pipeline, preprocessor
from mlflow_retrain.tuning.space import (
    ESTIMATOR_PARAM,
    ParamRange,
    parse_range,
    resolve_space,
    validate_overrides,
)

__all__ = [
    "Catalog",
    "Factory",
    "FeatureColumns",
    "ModelSource",
    "ModelSourceError",
    "import_object",
    "model_packages",
    "model_source",
    "pickled_modules",
    "shipped_code",
    "weight_params",
]

logger = logging.getLogger(__name__)

_SEP = "__"


class ModelSourceError(MlflowRetrainError):
    """The model source is broken (not one trial's bad luck): the study stops.

    Not a ``ValueError``, so Optuna does not catch it as a failed trial; the step reports it
    as bad input.
    """


@dataclass(frozen=True)
class FeatureColumns:
    """The feature columns a factory builds for, by kind.

    Iterating gives every feature name, numeric first (the column order of the data the
    estimator is fitted on).

    Attributes:
        numeric: Numeric feature columns.
        categorical: Categorical feature columns (text, booleans, categories, few integers).
    """

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    def __iter__(self) -> Iterator[str]:
        yield from self.numeric
        yield from self.categorical

    def __len__(self) -> int:
        return len(self.numeric) + len(self.categorical)


class ModelSource:
    """Builds a trial's unfitted estimator.

    Attributes:
        user_code: The estimators come from the user's code or a third-party package, so any
            exception a fit raises fails the trial (not only numerical ones).
        path: The factory's import path (``None`` for the catalogue).
    """

    user_code: bool = False
    path: str | None = None

    def build(self, trial: optuna.Trial | optuna.trial.FixedTrial) -> tuple[str, Any]:
        """Sample the trial's model: its label (the estimator family) and the estimator."""
        raise NotImplementedError


@dataclass(frozen=True)
class _Entry:
    name: str
    cls: type[Any]
    space: Mapping[str, ParamRange]
    params: Mapping[str, Any]
    preprocess: str


class Catalog(ModelSource):
    """``tuning.estimators``: built-in families and declarative classes.

    ``estimator`` is sampled when several are listed; each parameter is recorded as
    ``<name>__<param>``, as :func:`~mlflow_retrain.tuning.space.suggest` does.

    Args:
        estimators: Built-in names and declarative entries (``{class, name, space, params,
            preprocess}``), as ``tuning.estimators`` holds them.
        overrides: ``tuning.space``; for a declarative entry it adds to the entry's space.
        task: ``classification`` or ``regression``.
        columns: The feature columns.
        needs_proba: The optimised metric scores probabilities.
        random_state: Seed of the built-in models (and of a class that takes one).

    Raises:
        ModelSourceError: If a class does not import, is no estimator, or does not fit the
            task.
        InvalidConfigError: If a range or an override is malformed.
    """

    def __init__(
        self,
        estimators: Sequence[str | Mapping[str, Any]],
        *,
        overrides: Mapping[str, Mapping[str, Mapping[str, Any]]] | None,
        task: str,
        columns: FeatureColumns,
        needs_proba: bool,
        random_state: int = 0,
    ) -> None:
        overrides = dict(overrides or {})
        builtin = [e for e in estimators if isinstance(e, str)]
        self.task = task
        self.columns = columns
        self.random_state = random_state
        self.entries: dict[str, str | _Entry] = {}
        for index, item in enumerate(estimators):
            if isinstance(item, str):
                self.entries[item] = item
                continue
            entry = _entry(item, index, overrides.pop(_name(item), {}), task=task,
                           needs_proba=needs_proba)  # fmt: skip
            self.entries[entry.name] = entry
        self.user_code = any(isinstance(e, _Entry) for e in self.entries.values())
        self.overrides = overrides
        if builtin:
            validate_overrides(overrides, estimators=builtin, task=task)

    def build(self, trial: optuna.Trial | optuna.trial.FixedTrial) -> tuple[str, Any]:
        names = list(self.entries)
        name = (
            str(trial.suggest_categorical(ESTIMATOR_PARAM, names)) if len(names) > 1 else names[0]
        )
        entry = self.entries[name]
        if isinstance(entry, str):
            space = resolve_space(entry, task=self.task, overrides=self.overrides.get(entry))
            params = {p: spec.suggest(trial, f"{entry}{_SEP}{p}") for p, spec in space.items()}
            model = build_pipeline(
                entry,
                params,
                numeric=self.columns.numeric,
                categorical=self.columns.categorical,
                task=self.task,
                random_state=self.random_state,
            )
            return entry, model
        sampled = {p: spec.suggest(trial, f"{name}{_SEP}{p}") for p, spec in entry.space.items()}
        estimator = _instantiate(entry, {**entry.params, **sampled}, self.random_state)
        pre = preprocessor(entry.preprocess, numeric=self.columns.numeric,
                           categorical=self.columns.categorical)  # fmt: skip
        return name, Pipeline([(PREPROCESS_STEP, pre), (MODEL_STEP, estimator)])


def _name(item: Mapping[str, Any]) -> str:
    return str(item.get("name") or str(item["class"]).replace(":", ".").rsplit(".", 1)[-1])


def _entry(
    item: Mapping[str, Any],
    index: int,
    extra_space: Mapping[str, Any],
    *,
    task: str,
    needs_proba: bool,
) -> _Entry:
    key = f"tuning.estimators[{index}]"
    path = str(item["class"])
    cls = import_object(path, key=f"{key}.class")
    if not isinstance(cls, type):
        raise ModelSourceError(
            f"'{key}.class' {path} is a {type(cls).__name__}, not a class. Name an estimator "
            "class such as lightgbm.LGBMClassifier, or use tuning.model for a factory function."
        )
    name = _name(item)
    fixed = dict(item.get("params") or {})
    try:
        probe = cls(**fixed)
    except Exception as err:  # the user's class: any error is the user's to fix
        raise ModelSourceError(
            f"'{key}': {path}(**params) raised {type(err).__name__}: {_one_line(err)}. Fix "
            f"{key}.params."
        ) from err
    check_model(probe, task=task, needs_proba=needs_proba, origin=f"'{key}.class' {path}")
    known = set(_param_names(probe))
    raw_space = {**dict(item.get("space") or {}), **dict(extra_space)}
    space: dict[str, ParamRange] = {}
    for param, spec in raw_space.items():
        if known and param not in known:
            raise InvalidConfigError(
                f"'{key}.space.{param}' is not a parameter of {path}. Known parameters: "
                f"{', '.join(sorted(known))}."
            )
        default = fixed.get(param, getattr(probe, param, None))
        integer = isinstance(default, int) and not isinstance(default, bool)
        space[param] = parse_range(spec, key=f"{key}.space.{param}", integer=integer or
                                   default is None)  # fmt: skip
    return _Entry(name, cls, space, fixed, str(item.get("preprocess", "onehot")))


def _param_names(estimator: Any) -> list[str]:
    try:
        return list(estimator.get_params(deep=False))
    except Exception:  # an estimator without get_params: accept any name
        return []


def _instantiate(entry: _Entry, params: Mapping[str, Any], random_state: int) -> Any:
    kwargs = dict(params)
    if "random_state" in _param_names_of(entry.cls) and "random_state" not in kwargs:
        kwargs["random_state"] = random_state
    try:
        return entry.cls(**kwargs)
    except Exception as err:
        raise ModelSourceError(
            f"{entry.cls.__name__}({', '.join(sorted(kwargs))}) raised {type(err).__name__}: "
            f"{_one_line(err)}. Fix the parameters in tuning.estimators ({entry.name})."
        ) from err


def _param_names_of(cls: type[Any]) -> list[str]:
    try:
        return list(inspect.signature(cls).parameters)
    except (TypeError, ValueError):
        return []


class Factory(ModelSource):
    """``tuning.model``: the team's own ``build(trial, *, task, columns)``.

    Args:
        path: ``module:function`` or ``module.function``.
        task: ``classification`` or ``regression``.
        columns: The feature columns, passed to the factory.
        needs_proba: The optimised metric scores probabilities (the estimator needs
            ``predict_proba``).

    Raises:
        ModelSourceError: If the path does not import or is not callable.
    """

    user_code = True

    def __init__(
        self, path: str, *, task: str, columns: FeatureColumns, needs_proba: bool
    ) -> None:
        self.path = path
        self.function = import_object(path, key="tuning.model")
        if not callable(self.function):
            raise ModelSourceError(
                f"'tuning.model' {path} is a {type(self.function).__name__}, not a function. "
                "Point it at build(trial, *, task, columns)."
            )
        self.task = task
        self.columns = columns
        self.needs_proba = needs_proba

    def build(self, trial: optuna.Trial | optuna.trial.FixedTrial) -> tuple[str, Any]:
        try:
            model = self.function(trial, task=self.task, columns=self.columns)
        except optuna.TrialPruned:
            raise
        except Exception as err:  # the user's code: any error is the user's to fix
            raise ModelSourceError(
                f"The model factory {self.path} raised {type(err).__name__}: "
                f"{_one_line(err)} (trial {trial.number}). Fix the factory: it must return "
                "an unfitted estimator for every parameter it samples."
            ) from err
        check_model(model, task=self.task, needs_proba=self.needs_proba,
                    origin=f"The model factory {self.path}")  # fmt: skip
        return _label(model), model


def _label(model: Any) -> str:
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    return type(final).__name__


def model_source(
    tuning: Any,
    *,
    task: str,
    columns: FeatureColumns,
    needs_proba: bool,
) -> ModelSource:
    """The model source ``tuning`` (a :class:`~mlflow_retrain.config.TuningConfig`) asks for.

    Raises:
        ModelSourceError: If a factory or class does not import or does not fit the task.
        InvalidConfigError: If a range is malformed.
    """
    if tuning.model is not None:
        return Factory(tuning.model, task=task, columns=columns, needs_proba=needs_proba)
    return Catalog(
        tuning.estimators,
        overrides=tuning.space,
        task=task,
        columns=columns,
        needs_proba=needs_proba,
        random_state=tuning.seed,
    )


def check_model(model: Any, *, task: str, needs_proba: bool, origin: str) -> None:
    """Check that ``model`` is an unfitted estimator that can serve ``task``.

    Raises:
        ModelSourceError: If it has no ``fit``/``predict``, predicts the other task, or lacks
            ``predict_proba`` where the metric scores probabilities.
    """
    if not (callable(getattr(model, "fit", None)) and hasattr(model, "predict")):
        raise ModelSourceError(
            f"{origin} returned a {type(model).__name__}, which is not an estimator (it needs "
            "fit and predict). Return a scikit-learn-compatible estimator or Pipeline."
        )
    if task == "classification" and is_regressor(model):
        raise ModelSourceError(
            f"{origin} gives a regressor ({_label(model)}) but the task is classification. "
            "Return a classifier, or set tuning.task: regression."
        )
    if task == "regression" and is_classifier(model):
        raise ModelSourceError(
            f"{origin} gives a classifier ({_label(model)}) but the task is regression. "
            "Return a regressor, or set tuning.task: classification."
        )
    if task == "classification" and needs_proba and not hasattr(model, "predict_proba"):
        raise ModelSourceError(
            f"{origin} gives {_label(model)}, which has no predict_proba, but the metric "
            "scores probabilities. Return a probabilistic classifier, or set tuning.metric: "
            "accuracy or f1."
        )


def weight_params(model: Any, weights: np.ndarray | None) -> dict[str, Any]:
    """Fit parameters that pass ``weights`` to the final estimator, where it accepts them.

    A pipeline's last step gets ``<step>__sample_weight`` (nested pipelines included); an
    estimator whose ``fit`` takes no ``sample_weight`` is fitted unweighted.
    """
    if weights is None:
        return {}
    prefix = ""
    final = model
    while isinstance(final, Pipeline):
        step, final = final.steps[-1]
        prefix += f"{step}{_SEP}"
    if not _accepts_weights(final):
        logger.info(
            "%s.fit takes no sample_weight: the recency weights (window.half_life) are not "
            "applied to it.",
            type(final).__name__,
        )
        return {}
    return {f"{prefix}sample_weight": weights}


def _accepts_weights(estimator: Any) -> bool:
    try:
        parameters = inspect.signature(estimator.fit).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.name == "sample_weight" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters
    )


def import_object(path: str, *, key: str) -> Any:
    """Import ``module:attribute`` (or ``module.attribute``) from the path or the cwd.

    The working directory (the project folder under ``mlflow run``) is searched after
    ``sys.path``.

    Raises:
        ModelSourceError: If the module does not import or lacks the attribute.
    """
    module_name, _, attribute = path.rpartition(":") if ":" in path else path.rpartition(".")
    cwd = os.getcwd()
    try:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if cwd in sys.path or not (err.name and module_name.startswith(err.name)):
                raise
            # A console script's path lacks the working directory (the project folder under
            # `mlflow run`); kept, since the fitted model refers to the module by name.
            sys.path.append(cwd)
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and module_name.startswith(err.name):
            raise ModelSourceError(
                f"'{key}' {path}: module '{module_name}' is not on the Python path or in the "
                f"project folder ({cwd}). Put it in the project folder or install its package."
            ) from err
        raise ModelSourceError(
            f"'{key}' {path}: importing '{module_name}' needs '{err.name}', which is not "
            f"installed. Install it (pip install {err.name}) in the environment that runs the "
            "step."
        ) from err
    except Exception as err:  # the user's module: any error is the user's to fix
        raise ModelSourceError(
            f"'{key}' {path}: importing '{module_name}' raised {type(err).__name__}: "
            f"{_one_line(err)}. Fix the module."
        ) from err
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ModelSourceError(
            f"'{key}' {path}: module '{module_name}' has no '{attribute}'. Fix the name after "
            "the colon."
        ) from None


def shipped_code(source: ModelSource) -> list[Path]:
    """The user code a logged model needs in its ``code_paths``.

    A factory's top-level package (or module file) is shipped unless an installed
    distribution provides it, in which case :func:`model_packages` pins it instead.
    """
    if source.path is None:
        return []
    module_name = source.path.split(":", 1)[0] if ":" in source.path else (
        source.path.rpartition(".")[0]
    )  # fmt: skip
    top = module_name.split(".", 1)[0]
    if top in _distributions():
        return []
    module = sys.modules.get(top) or importlib.import_module(top)
    file = getattr(module, "__file__", None)
    if file is None:  # a namespace package
        return [Path(p) for p in getattr(module, "__path__", [])]
    path = Path(file)
    return [path.parent] if path.name == "__init__.py" else [path]


def model_packages(model: Any, *, shipped: Sequence[str] = ()) -> dict[str, str]:
    """The installed distributions the pickled ``model`` refers to, with their versions.

    Every module a pickle of the model names (classes, functions) is mapped to the
    distribution that installs it; the standard library and ``shipped`` top-level modules
    (in the model's ``code_paths``) are left out.

    Returns:
        ``{distribution: version}``.
    """
    from importlib import metadata

    providers = _distributions()
    found: dict[str, str] = {}
    for module in sorted(pickled_modules(model)):
        top = module.split(".", 1)[0]
        if top in sys.stdlib_module_names or top in shipped or top == "builtins":
            continue
        for dist in providers.get(top, []):
            try:
                found[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:  # pragma: no cover - listed, not installed
                continue
    return found


def _distributions() -> Mapping[str, list[str]]:
    from importlib import metadata

    return metadata.packages_distributions()


def pickled_modules(obj: Any) -> set[str]:
    """The modules a pickle of ``obj`` refers to (its classes' and functions' modules)."""
    data = pickle.dumps(obj, protocol=4)
    modules: set[str] = set()
    stack: list[Any] = []
    memo: list[Any] = []
    for opcode, arg, _ in pickletools.genops(data):
        name = opcode.name
        if name == "GLOBAL":
            modules.add(str(arg).split(" ", 1)[0])
        elif name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
            stack.append(arg)
        elif name == "MEMOIZE":
            memo.append(stack[-1] if stack else None)
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            index = int(str(arg))
            stack.append(memo[index] if index < len(memo) else None)
        elif name == "STACK_GLOBAL":
            if len(stack) >= 2 and isinstance(stack[-2], str):
                modules.add(stack[-2])
        else:
            stack.append(None)
    return modules


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else err.__class__.__name__

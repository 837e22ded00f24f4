"""scikit-learn pipelines for the tuned estimators: preprocessing and model in one object.

The logged model takes the raw feature columns (extra columns, such as the target or the
timestamp, are dropped), so serving needs no separate preprocessing:

* numeric columns are coerced to floats (values that are not numbers become missing);
* categorical columns are turned into text labels (``True``, ``3``, ``"red"``) with every
  missing marker (``None``, ``NaN``, ``pd.NA``) as ``NaN``, so pandas 3 ``str`` columns,
  ``category`` columns, booleans and mixed object columns all encode the same way at fit and
  at predict time;
* levels never seen in training, and missing values, are accepted at predict time.

The converters live in :mod:`mlflow_retrain_runtime` (numpy and pandas only), which every
logged model ships, so a model loads without mlflow-retrain installed. They are re-exported
here, where models logged before that module existed refer to them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)

from mlflow_retrain.exceptions import InvalidConfigError, InvalidInputError
from mlflow_retrain.tuning.space import ESTIMATORS, FIXED
from mlflow_retrain_runtime import categories_as_text, numbers_as_float

__all__ = [
    "MISSING_LEVEL",
    "MODEL_STEP",
    "PREPROCESS_STEP",
    "build_pipeline",
    "categories_as_text",
    "numbers_as_float",
    "preprocessor",
]

logger = logging.getLogger(__name__)

#: Name of the pipeline's final estimator step (fit parameters go to ``model__<name>``).
MODEL_STEP = "model"
#: Name of the pipeline's preprocessing step (a ``ColumnTransformer``).
PREPROCESS_STEP = "preprocess"
#: The level that stands for a missing category in one-hot encoded pipelines.
MISSING_LEVEL = "__missing__"

#: Levels rarer than this (rows in the training fold) pool into one "infrequent" level.
_MIN_FREQUENCY = 5
#: At most this many one-hot columns per categorical feature.
_MAX_ONE_HOT = 100
#: HistGradientBoosting accepts at most ``max_bins`` (255) categories per feature.
_MAX_HGB_CATEGORIES = 255


def build_pipeline(
    estimator: str,
    params: Mapping[str, Any],
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    task: str,
    random_state: int = 0,
) -> Pipeline:
    """Build the pipeline (preprocessing and model) of one estimator family.

    * ``hist_gradient_boosting``: numeric columns as they are (the model handles NaN);
      categoricals ordinal-encoded (unknown and missing → NaN, at most 255 levels with rarer
      ones pooled) and declared to the model as native categorical features.
    * ``random_forest``: median-imputed numerics; categoricals imputed with a
      ``__missing__`` level and one-hot encoded (rare and unseen levels pooled as
      "infrequent"); ``n_jobs=1`` (parallelism is across trials, in processes).
    * ``linear``: median-imputed, standardised numerics; categoricals one-hot encoded
      (unseen levels → all zeros); ``LogisticRegression`` (l2, lbfgs) or ``Ridge``.

    Args:
        estimator: ``hist_gradient_boosting``, ``random_forest`` or ``linear``.
        params: Model parameters (unprefixed, as :func:`~mlflow_retrain.tuning.space.suggest`
            returns them); they override the defaults.
        numeric: Numeric feature columns.
        categorical: Categorical feature columns.
        task: ``classification`` or ``regression``.
        random_state: Seed of the model.

    Returns:
        An unfitted pipeline with steps ``preprocess`` and ``model``; pass sample weights to
        ``fit`` as ``model__sample_weight``.

    Raises:
        InvalidConfigError: If the estimator, task or a parameter is unknown.
        InvalidInputError: If there is no feature column.
    """
    if estimator not in ESTIMATORS:
        raise InvalidConfigError(
            f"Unknown estimator '{estimator}'. Use one of: {', '.join(ESTIMATORS)}."
        )
    if task not in ("classification", "regression"):
        raise InvalidConfigError(
            f"Task must be 'classification' or 'regression', got {task!r}. Set tuning.task."
        )
    numeric, categorical = list(numeric), list(categorical)
    if not numeric and not categorical:
        raise InvalidInputError(
            "There is no feature column to train on (only the target and timestamp). Add "
            "feature columns to the training data."
        )
    classify = task == "classification"
    kwargs = {**FIXED[estimator], **params}
    model: Any
    if estimator == "hist_gradient_boosting":
        preprocess = _columns(
            numeric,
            categorical,
            numeric_steps=[],
            categorical_steps=[
                (
                    "encode",
                    OrdinalEncoder(
                        handle_unknown="use_encoded_value",
                        unknown_value=np.nan,
                        encoded_missing_value=np.nan,
                        max_categories=_MAX_HGB_CATEGORIES,
                    ),
                )
            ],
        )
        # The ColumnTransformer emits numeric columns first, then the categoricals.
        mask = [False] * len(numeric) + [True] * len(categorical)
        cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        model = _make(
            cls,
            estimator,
            kwargs,
            categorical_features=mask if categorical else None,
            early_stopping=False,
            random_state=random_state,
        )
    elif estimator == "random_forest":
        preprocess = preprocessor("onehot", numeric=numeric, categorical=categorical)
        cls = RandomForestClassifier if classify else RandomForestRegressor
        model = _make(cls, estimator, kwargs, n_jobs=1, random_state=random_state)
    else:
        preprocess = _columns(
            numeric,
            categorical,
            numeric_steps=[
                ("impute", SimpleImputer(strategy="median")),
                ("scale", StandardScaler()),
            ],
            categorical_steps=[
                ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_LEVEL)),
                (
                    "encode",
                    OneHotEncoder(
                        handle_unknown="ignore",
                        min_frequency=_MIN_FREQUENCY,
                        max_categories=_MAX_ONE_HOT,
                        sparse_output=False,
                    ),
                ),
            ],
        )
        if classify:
            model = _make(LogisticRegression, estimator, kwargs, random_state=random_state)
        else:
            model = _make(Ridge, estimator, kwargs)
    return Pipeline([(PREPROCESS_STEP, preprocess), (MODEL_STEP, model)])


def preprocessor(
    kind: str, *, numeric: Sequence[str], categorical: Sequence[str]
) -> ColumnTransformer:
    """The package's preprocessing for a declarative ``tuning.estimators`` class.

    * ``onehot`` (the default): median-imputed numerics; categoricals imputed with a
      ``__missing__`` level and one-hot encoded. Dense floats with no missing value: any
      estimator accepts them.
    * ``ordinal``: numerics as they are (missing stays NaN); categoricals ordinal-encoded,
      unknown and missing as NaN. For estimators that handle missing values themselves
      (LightGBM, XGBoost, HistGradientBoosting).
    * ``scaled``: as ``onehot``, with standardised numerics (linear models, SVMs, networks).

    Raises:
        InvalidConfigError: If ``kind`` is unknown.
        InvalidInputError: If there is no feature column.
    """
    if not numeric and not categorical:
        raise InvalidInputError(
            "There is no feature column to train on (only the target and timestamp). Add "
            "feature columns to the training data."
        )
    one_hot = [
        ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_LEVEL)),
        (
            "encode",
            OneHotEncoder(
                handle_unknown="infrequent_if_exist",
                min_frequency=_MIN_FREQUENCY,
                max_categories=_MAX_ONE_HOT,
                sparse_output=False,
            ),
        ),
    ]
    median = ("impute", SimpleImputer(strategy="median"))
    if kind == "onehot":
        return _columns(list(numeric), list(categorical), numeric_steps=[median],
                        categorical_steps=one_hot)  # fmt: skip
    if kind == "scaled":
        return _columns(list(numeric), list(categorical),
                        numeric_steps=[median, ("scale", StandardScaler())],
                        categorical_steps=one_hot)  # fmt: skip
    if kind == "ordinal":
        ordinal = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
        )
        return _columns(list(numeric), list(categorical), numeric_steps=[],
                        categorical_steps=[("encode", ordinal)])  # fmt: skip
    raise InvalidConfigError(
        f"Unknown preprocessing {kind!r}. Use one of: onehot, ordinal, scaled."
    )


def _columns(
    numeric: list[str],
    categorical: list[str],
    *,
    numeric_steps: list[tuple[str, Any]],
    categorical_steps: list[tuple[str, Any]],
) -> ColumnTransformer:
    as_float = FunctionTransformer(
        numbers_as_float, feature_names_out="one-to-one", validate=False
    )
    as_text = FunctionTransformer(
        categories_as_text, feature_names_out="one-to-one", validate=False
    )
    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric:
        transformers.append(
            ("numeric", Pipeline([("as_float", as_float), *numeric_steps]), numeric)
        )
    if categorical:
        transformers.append(
            ("categorical", Pipeline([("as_text", as_text), *categorical_steps]), categorical)
        )
    return ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)


def _make(cls: type[Any], estimator: str, params: Mapping[str, Any], **fixed: Any) -> Any:
    try:
        return cls(**{**fixed, **params})
    except TypeError as err:
        known = ", ".join(sorted(cls().get_params()))
        raise InvalidConfigError(
            f"{cls.__name__} ({estimator}) does not take parameters {sorted(params)}. Use "
            f"known ones: {known}."
        ) from err

"""Configuration: one validated, frozen object per concern, loaded from ``retrain.yaml``.

Precedence, highest first: an explicit argument (CLI option), an ``MLFLOW_RETRAIN_*`` environment
variable, the YAML file, the default. Environment variables name a key by its section path in
upper case joined with double underscores: ``MLFLOW_RETRAIN_DRIFT__ALPHA=0.01`` sets
``drift.alpha``. Lists are comma-separated (``MLFLOW_RETRAIN_DRIFT__CRITICAL_COLUMNS=a,b``).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from mlflow_retrain import _errors as errors

__all__ = [
    "CategoricalDriftConfig",
    "DriftConfig",
    "HistoryConfig",
    "MissingDriftConfig",
    "ModelConfig",
    "NumericDriftConfig",
    "ProfileConfig",
    "RetrainConfig",
    "SafetyConfig",
    "TriggerConfig",
    "TuningConfig",
    "ValidationConfig",
    "WindowConfig",
    "load_config",
]

ENV_PREFIX = "MLFLOW_RETRAIN_"
#: Environment variable naming the config file when no ``--config`` is given.
ENV_CONFIG_FILE = ENV_PREFIX + "CONFIG"
#: The evidence key (``<key id>:<secret>``) and key file of the pipeline and the server (see
#: :mod:`mlflow_retrain.registry.signing`): secrets, not configuration keys.
ENV_EVIDENCE_KEY = ENV_PREFIX + "EVIDENCE_KEY"
ENV_EVIDENCE_KEY_FILE = ENV_PREFIX + "EVIDENCE_KEY_FILE"
#: The team server's own variables (``deploy/team-server.sh``, the registry guard) and the test
#: suite's database switches: a pipeline that runs beside the server, or under the test suite,
#: sees them too, and they are not configuration keys.
SERVER_VARIABLES = frozenset(
    ENV_PREFIX + name
    for name in (
        "DB_URI",
        "ARTIFACTS",
        "ARTIFACT_MODE",
        "AUTH",
        "AUTH_DB_URI",
        "AUTH_CACHE_SECONDS",
        "HOST",
        "PORT",
        "WORKERS",
        "PIPELINE_USERS",
        "TEST_POSTGRES",
        "TEST_MYSQL",
    )
)
_NOT_CONFIG = (
    frozenset({ENV_CONFIG_FILE, ENV_EVIDENCE_KEY, ENV_EVIDENCE_KEY_FILE}) | SERVER_VARIABLES
)

ColumnKind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class NumericDriftConfig:
    """Drift settings for numeric columns.

    Attributes:
        effect_metric: Effect size that gates a drift call: ``wasserstein`` (Wasserstein-1
            distance divided by the reference standard deviation) or ``psi``.
        min_effect: Minimum effect size for a column to count as drifted (0.1 = a tenth of a
            reference standard deviation for ``wasserstein``; 0.1 is the usual "moderate" PSI).
        psi_bins: Number of reference-quantile bins for PSI.
    """

    effect_metric: Literal["wasserstein", "psi"] = "wasserstein"
    min_effect: float = 0.1
    psi_bins: int = 10

    def __post_init__(self) -> None:
        _check_range("drift.numeric.min_effect", self.min_effect, low=0.0)
        _check_range("drift.numeric.psi_bins", self.psi_bins, low=2, high=1000)


@dataclass(frozen=True)
class CategoricalDriftConfig:
    """Drift settings for categorical columns.

    Attributes:
        min_effect: Minimum Jensen-Shannon distance (base 2, between 0 and 1; less its
            sampling noise). The default, 0.04, is about the smallest distance of a change of
            five points in one level's share (10% -> 15% is 0.064, 50% -> 55% is 0.043).
        max_levels: Levels kept per column in a reference profile; rarer levels are pooled.
        min_expected: Levels expected fewer times than this in the smaller sample (their
            pooled share times its rows) are pooled into one bin before the chi-square test,
            so sparse levels do not inflate it.
    """

    min_effect: float = 0.04
    max_levels: int = 1000
    min_expected: int = 5

    def __post_init__(self) -> None:
        _check_range("drift.categorical.min_effect", self.min_effect, low=0.0, high=1.0)
        _check_range("drift.categorical.max_levels", self.max_levels, low=2)
        _check_range("drift.categorical.min_expected", self.min_expected, low=0)


@dataclass(frozen=True)
class MissingDriftConfig:
    """Settings of the missing-rate signal (a two-proportion test per column).

    Attributes:
        min_effect: Minimum absolute change of the missing rate (0.05 = five points).
    """

    min_effect: float = 0.05

    def __post_init__(self) -> None:
        _check_range("drift.missing.min_effect", self.min_effect, low=0.0, high=1.0)


@dataclass(frozen=True)
class DriftConfig:
    """Dataset drift decision.

    A column drifts when its FDR-adjusted p-value is below ``alpha`` and its effect size is at
    least the minimum for its kind; or when its missing rate changes significantly by at least
    ``missing.min_effect``. The dataset drifts when the drifted columns' share reaches
    ``drift_share`` or any column in ``critical_columns`` drifts. The share weighs each
    column by the champion's feature importance (``weights: importance``, when the reference
    profile carries it, as a retrained version's does), so one drifted column the model leans
    on counts for what it carries, and a drifted column it ignores counts for little; with
    ``weights: equal``, or a reference without importance, the share counts columns.

    Attributes:
        alpha: Significance level after the multiple-comparison adjustment.
        fdr_method: ``bh`` (Benjamini-Hochberg), ``by`` (Benjamini-Yekutieli), ``bonferroni``
            or ``none``.
        drift_share: Share of drifted columns (weighted by ``weights``) at or above which
            the dataset drifts.
        weights: ``importance`` (the reference profile's share of the champion's permutation
            importance; equal shares when it has none) or ``equal``.
        critical_columns: Columns whose drift alone means dataset drift.
        columns: Column kind overrides, e.g. ``{"zip": "categorical"}``.
        ignore: Columns excluded from validation and drift.
    """

    alpha: float = 0.05
    fdr_method: Literal["bh", "by", "bonferroni", "none"] = "bh"
    drift_share: float = 0.2
    weights: Literal["importance", "equal"] = "importance"
    critical_columns: tuple[str, ...] = ()
    columns: Mapping[str, ColumnKind] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    numeric: NumericDriftConfig = field(default_factory=NumericDriftConfig)
    categorical: CategoricalDriftConfig = field(default_factory=CategoricalDriftConfig)
    missing: MissingDriftConfig = field(default_factory=MissingDriftConfig)

    def __post_init__(self) -> None:
        _check_range("drift.alpha", self.alpha, low=0.0, high=1.0, inclusive=False)
        _check_range("drift.drift_share", self.drift_share, low=0.0, high=1.0)


@dataclass(frozen=True)
class ValidationConfig:
    """The data circuit breaker: checks a batch must pass before any statistics run.

    Attributes:
        min_rows: Fewest rows a batch may have.
        max_null_rate_increase: Largest allowed rise of a column's missing rate over the
            reference (absolute, 0.5 = fifty points); beyond it the batch is treated as corrupt.
        allow_extra_columns: Accept (and ignore) columns the reference does not have.
        min_classes: Fewest distinct target values when labels are required.
        max_categories: Most distinct values a categorical column may have in a batch when its
            reference had at most that many; more means an identifier or free text landed in
            the column.
    """

    min_rows: int = 1
    max_null_rate_increase: float = 0.5
    allow_extra_columns: bool = False
    min_classes: int = 2
    max_categories: int = 1000

    def __post_init__(self) -> None:
        _check_range("validation.min_rows", self.min_rows, low=1)
        _check_range(
            "validation.max_null_rate_increase", self.max_null_rate_increase, low=0.0, high=1.0
        )
        _check_range("validation.min_classes", self.min_classes, low=1)
        _check_range("validation.max_categories", self.max_categories, low=2)


@dataclass(frozen=True)
class ProfileConfig:
    """Reference profiles.

    Attributes:
        max_points: Points kept per numeric column's quantile sketch. A column with at most
            this many distinct values is stored exactly; otherwise the sketch's CDF is accurate
            to about ``1 / max_points``.
    """

    max_points: int = 2048

    def __post_init__(self) -> None:
        _check_range("profile.max_points", self.max_points, low=16, high=1_000_000)


EstimatorName = Literal["hist_gradient_boosting", "random_forest", "linear"]

#: Keys of a declarative estimator entry in ``tuning.estimators``.
ESTIMATOR_ENTRY_KEYS = ("class", "name", "space", "params", "preprocess")
#: Preprocessing a declarative estimator entry can ask for.
ENTRY_PREPROCESS = ("onehot", "ordinal", "scaled")


@dataclass(frozen=True)
class WindowConfig:
    """Which history the model is trained on.

    Attributes:
        kind: ``all`` (every row), ``last_rows`` (the most recent ``rows``), ``last_days`` (rows
            within ``days`` of the newest timestamp) or ``half_life`` (every row, weighted
            ``0.5 ** (age_days / half_life_days)``). ``last_days`` and ``half_life`` need a
            timestamp column; ``last_rows`` without one keeps the last rows in file order.
        rows: Row count for ``last_rows``.
        days: Age limit for ``last_days``.
        half_life_days: Half-life for ``half_life``.
        reference: What ages are measured from: ``latest`` (the newest timestamp in the
            data; reproducible) or ``now`` (the current time; a stale data export then trains
            on nothing and the step stops).
        tune: Let Optuna choose the share of recent history to train on (from
            ``tune_fractions``), judged on the most recent validation fold.
        tune_fractions: Candidate shares of the (windowed) history, most recent first.
    """

    kind: Literal["all", "last_rows", "last_days", "half_life"] = "all"
    rows: int | None = None
    days: float | None = None
    half_life_days: float | None = None
    reference: Literal["latest", "now"] = "latest"
    tune: bool = False
    tune_fractions: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)

    def __post_init__(self) -> None:
        needed = {"last_rows": "rows", "last_days": "days", "half_life": "half_life_days"}
        key = needed.get(self.kind)
        if key is not None and getattr(self, key) is None:
            raise errors.InvalidConfigError(
                f"'window.kind: {self.kind}' needs 'window.{key}'. Add it to retrain.yaml."
            )
        if self.rows is not None:
            _check_range("window.rows", self.rows, low=1)
        for name in ("days", "half_life_days"):
            value = getattr(self, name)
            if value is not None:
                _check_range(f"window.{name}", value, low=0.0, inclusive=False)
        if not self.tune_fractions:
            raise errors.InvalidConfigError(
                "'window.tune_fractions' must list at least one share."
            )
        for i, fraction in enumerate(self.tune_fractions):
            _check_range(f"window.tune_fractions[{i}]", fraction, low=0.0, high=1.0)


@dataclass(frozen=True)
class ModelConfig:
    """The registered model the retraining loop keeps fresh.

    Attributes:
        create: ``run`` and ``replay`` may create the registered model when it does not exist
            yet (its first cycle then deploys a first version). Off by default, so that a
            misspelt model name fails instead of quietly starting and deploying a new model.
    """

    create: bool = False


@dataclass(frozen=True)
class HistoryConfig:
    """Where the retraining loop finds its batches (oldest to newest).

    Attributes:
        source: A local folder or an ``s3://`` prefix holding one file per batch, named so
            that sorting the names sorts them by time (``2025-01.csv``, ``month_07.parquet``,
            ``2025-03-14.csv.gz``).
        pattern: Glob on the file names under ``source`` (``*.csv``); other files are ignored.
        uris: Explicit batch URIs, oldest first (instead of ``source``).
    """

    source: str | None = None
    pattern: str = "*"
    uris: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.source and self.uris:
            raise errors.InvalidConfigError(
                "Set either 'history.source' or 'history.uris' in retrain.yaml, not both."
            )


@dataclass(frozen=True)
class TriggerConfig:
    """When the loop retrains: real, persistent change, never a single noisy window.

    Attributes:
        decay_metric: Metric watched for performance decay on labelled batches (default: the
            policy's first primary metric).
        decay_tolerance: How much worse than its reference the champion's metric on a batch
            may be before it counts as decay (metric units).
        decay_confidence: Confidence of the metric's intervals, and one minus the
            false-trigger rate per ``decay_horizon`` checks of an unchanged champion.
        decay_horizon: Checks over which false triggers stay below ``1 - decay_confidence``:
            each check tests at ``(1 - decay_confidence) / decay_horizon`` (one-sided).
            The reference is the champion's metric on the first labelled batch it served.
        drift_k: Retrain on data drift when it was found in at least ``drift_k`` ...
        drift_n: ... of the last ``drift_n`` checks (this one included; history read back from
            MLflow). ``1`` and ``1`` retrain on a single drifted window.
        max_model_age_days: Retrain when the champion is older than this (``None``: never).
        seasonal_period: Batches per seasonal cycle (12 for monthly batches with a yearly
            season). When set, a batch is checked for drift against the batch one period
            earlier (the same season last year), not against the champion's whole training
            data, so the season itself never reads as drift. ``None``: no season.
    """

    decay_metric: str | None = None
    decay_tolerance: float = 0.0
    decay_confidence: float = 0.95
    decay_horizon: int = 24
    drift_k: int = 2
    drift_n: int = 3
    max_model_age_days: float | None = None
    seasonal_period: int | None = None

    def __post_init__(self) -> None:
        if self.seasonal_period is not None:
            _check_range("triggers.seasonal_period", self.seasonal_period, low=2)
        _check_range("triggers.decay_tolerance", self.decay_tolerance, low=0.0)
        _check_range("triggers.decay_confidence", self.decay_confidence, low=0.5, high=0.999)
        _check_range("triggers.decay_horizon", self.decay_horizon, low=1, high=1000)
        _check_range("triggers.drift_n", self.drift_n, low=1, high=100)
        _check_range("triggers.drift_k", self.drift_k, low=1, high=self.drift_n)
        if self.max_model_age_days is not None:
            _check_range("triggers.max_model_age_days", self.max_model_age_days, low=0.0,
                         inclusive=False)  # fmt: skip


@dataclass(frozen=True)
class SafetyConfig:
    """Limits that keep the loop from harming production.

    Attributes:
        cooldown_checks: After a retrain, this many following checks do not retrain.
        cooldown_hours: ... nor does any check within this many hours of it.
        max_consecutive_rejections: After this many challengers in a row are rejected, the
            registered model is halted (tag ``mlflow_retrain.halted``) until a person runs
            ``mlflow-retrain resume``.
        lease_seconds: A running cycle holds its model for this long past its last heartbeat;
            another ``run`` for the same model meanwhile steps back (outcome ``busy``).
    """

    cooldown_checks: int = 0
    cooldown_hours: float = 0.0
    max_consecutive_rejections: int = 3
    lease_seconds: float = 120.0

    def __post_init__(self) -> None:
        _check_range("safety.cooldown_checks", self.cooldown_checks, low=0)
        _check_range("safety.cooldown_hours", self.cooldown_hours, low=0.0)
        _check_range("safety.max_consecutive_rejections", self.max_consecutive_rejections, low=1)
        _check_range("safety.lease_seconds", self.lease_seconds, low=1.0)


@dataclass(frozen=True)
class TuningConfig:
    """Optuna tuning of the retrained model.

    Attributes:
        task: ``classification``, ``regression``, or ``auto`` (classification when the target
            is text, boolean, or has at most 20 distinct integer values).
        metric: Score to optimise: ``roc_auc``, ``accuracy``, ``f1``, ``log_loss`` for
            classification; ``rmse``, ``mae``, ``r2`` for regression. ``None`` picks
            ``roc_auc`` (binary), ``accuracy`` (multiclass) or ``rmse``.
        estimators: Model families to search: built-in names, and declarative entries
            ``{class: lightgbm.LGBMClassifier, space: {...}, params: {...}, preprocess: ...,
            name: ...}``, which wrap any scikit-learn-compatible class in the package's
            preprocessing (``onehot``, ``ordinal`` or ``scaled``; docs/models.md).
        space: Per-estimator parameter range overrides, e.g.
            ``{"random_forest": {"max_depth": {"low": 3, "high": 12}}}``; a range is
            ``{low, high, log}`` or ``{choices: [...]}``.
        model: A model factory ``module:function`` (or ``module.function``) called as
            ``build(trial, *, task, columns)`` for every trial; it returns an unfitted
            scikit-learn-compatible estimator or pipeline and samples its own search space
            from ``trial``. Replaces ``estimators`` and ``space`` (docs/models.md).
        entry_point: Run each trial as this entry point of the MLflow project at
            ``project_uri``, a child run of the retrain step, with the trial's parameters
            (ranges in ``space.<entry_point>``) as ``-P`` parameters; it logs the objective
            metric and the model that is registered when its trial wins (docs/models.md).
        project_uri: The project of ``entry_point`` (a folder or Git URI); ``None``: the
            working directory, which is the project being run under ``mlflow run``.
        n_trials: Trials to run (in total, over all workers).
        timeout: Stop starting trials after this many seconds.
        cv_folds: Validation folds (time-ordered with a timestamp, else stratified K-fold).
        gate_fraction: Share of rows held out as the gate split (the most recent with a
            timestamp, else a random stratified slice), never seen by tuning.
        seed: Seed of the TPE sampler, the splits and the estimators.
        pruner: ``median`` (prune a trial whose fold score is below the median) or ``none``.
        min_score: Floor on the best CV score (in the metric's own direction); below it the
            step registers nothing.
        storage: Optuna storage URL (SQLite, PostgreSQL); ``None`` keeps the study in memory.
        study_name: Study name; re-running with the same name and storage resumes it.
        workers: Processes tuning in parallel, sharing the study through ``storage``.
        threads: Native (OpenMP, BLAS) threads each tuning process may use for a trial's
            fits and scoring: ``auto`` (``max(1, cores // workers)``, counting the cores the
            CPU affinity and cgroup quota allow) or a whole number. The refit of the best
            model runs after the workers stop: ``auto`` gives it every core, a number caps
            it too.
        heartbeat_interval: Seconds between trial heartbeats (RDB storages); a worker killed
            mid-trial has that trial retried after twice this.
        max_retries: How often a trial lost with its worker is retried.
    """

    task: Literal["auto", "classification", "regression"] = "auto"
    metric: str | None = None
    estimators: tuple[EstimatorName | Mapping[str, Any], ...] = (
        "hist_gradient_boosting",
        "random_forest",
        "linear",
    )
    space: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    model: str | None = None
    entry_point: str | None = None
    project_uri: str | None = None
    n_trials: int = 20
    timeout: float | None = None
    cv_folds: int = 3
    gate_fraction: float = 0.2
    seed: int = 0
    pruner: Literal["median", "none"] = "median"
    min_score: float | None = None
    storage: str | None = None
    study_name: str | None = None
    workers: int = 1
    threads: Literal["auto"] | int = "auto"
    heartbeat_interval: int = 10
    max_retries: int = 2

    def __post_init__(self) -> None:
        _check_range("tuning.n_trials", self.n_trials, low=1)
        if self.timeout is not None:
            _check_range("tuning.timeout", self.timeout, low=0.0, inclusive=False)
        _check_range("tuning.cv_folds", self.cv_folds, low=2, high=20)
        _check_range("tuning.gate_fraction", self.gate_fraction, low=0.05, high=0.5)
        _check_range("tuning.workers", self.workers, low=1, high=64)
        if self.threads != "auto":
            _check_range("tuning.threads", self.threads, low=1, high=1024)
        _check_range("tuning.heartbeat_interval", self.heartbeat_interval, low=1)
        _check_range("tuning.max_retries", self.max_retries, low=0)
        if not self.estimators:
            raise errors.InvalidConfigError(
                "'tuning.estimators' must list at least one estimator."
            )
        names = [_entry_name(entry, i) for i, entry in enumerate(self.estimators)]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise errors.InvalidConfigError(
                f"'tuning.estimators' lists '{repeated[0]}' twice. Give each entry its own 'name'."
            )
        unknown = [name for name in self.space if name not in [*names, self.entry_point]]
        if unknown:
            raise errors.InvalidConfigError(
                f"'tuning.space.{unknown[0]}' names an estimator not in tuning.estimators "
                f"({', '.join(names)}). Fix the name or add the estimator."
            )
        if self.entry_point is not None:
            if self.model is not None:
                raise errors.InvalidConfigError(
                    "'tuning.model' and 'tuning.entry_point' are two ways to bring a model; "
                    "set one of them."
                )
            if self.entry_point not in self.space:
                raise errors.InvalidConfigError(
                    f"'tuning.entry_point: {self.entry_point}' needs its search space in "
                    f"'tuning.space.{self.entry_point}': the entry point's parameters to tune, "
                    "e.g. {learning_rate: {low: 0.01, high: 0.3, log: true}}."
                )
        elif self.project_uri is not None:
            raise errors.InvalidConfigError(
                "'tuning.project_uri' is the project of 'tuning.entry_point'; set the entry "
                "point too, or remove it."
            )
        if self.model is not None:
            _check_object_path("tuning.model", self.model)
            if self.space:
                raise errors.InvalidConfigError(
                    "'tuning.space' cannot be combined with 'tuning.model': the factory "
                    "samples its own space from the trial. Remove tuning.space."
                )

    @property
    def estimator_names(self) -> tuple[str, ...]:
        """The names of the searched estimators (a declarative entry's ``name``, by default
        its class's name), as the ``estimator`` trial parameter takes them."""
        return tuple(_entry_name(entry, i) for i, entry in enumerate(self.estimators))


def _entry_name(entry: str | Mapping[str, Any], index: int) -> str:
    """The name of a ``tuning.estimators`` entry; checks a declarative entry's shape."""
    if isinstance(entry, str):
        return entry
    key = f"tuning.estimators[{index}]"
    unknown = [k for k in entry if k not in ESTIMATOR_ENTRY_KEYS]
    if unknown:
        raise errors.InvalidConfigError(
            f"Unknown key '{key}.{unknown[0]}'. Known keys here: "
            f"{', '.join(ESTIMATOR_ENTRY_KEYS)}."
        )
    if "class" not in entry:
        raise errors.InvalidConfigError(
            f"'{key}' needs 'class': the estimator's import path, e.g. 'lightgbm.LGBMClassifier'."
        )
    _check_object_path(f"{key}.class", entry["class"])
    for part in ("space", "params"):
        if not isinstance(entry.get(part, {}), Mapping):
            raise errors.InvalidConfigError(
                f"'{key}.{part}' must be a mapping of parameter names, got {entry[part]!r}."
            )
    preprocess = entry.get("preprocess", "onehot")
    if preprocess not in ENTRY_PREPROCESS:
        raise errors.InvalidConfigError(
            f"'{key}.preprocess' must be one of {', '.join(ENTRY_PREPROCESS)}, got {preprocess!r}."
        )
    name = entry.get("name", str(entry["class"]).replace(":", ".").rsplit(".", 1)[-1])
    if not isinstance(name, str) or not name.isidentifier():
        raise errors.InvalidConfigError(
            f"'{key}.name' must be an identifier (letters, digits, _), got {name!r}."
        )
    return name


def _check_object_path(key: str, path: Any) -> None:
    """Check the shape of ``module:attribute`` / ``module.attribute`` (not that it imports)."""
    text = path if isinstance(path, str) else ""
    module, _, attribute = text.rpartition(":") if ":" in text else text.rpartition(".")
    parts = [*module.split("."), attribute]
    if not module or not all(part.isidentifier() for part in parts):
        raise errors.InvalidConfigError(
            f"'{key}' must be an import path such as 'my_pkg.models:build', got {path!r}."
        )


@dataclass(frozen=True)
class RetrainConfig:
    """Everything in ``retrain.yaml``.

    Attributes:
        target: Name of the label column, if the data has one.
        timestamp: Name of the time column, for time-ordered splits and windows.
        drift: Drift detection settings.
        validation: Data validation (circuit breaker) settings.
        profile: Reference profile settings.
        window: The training window.
        tuning: Optuna tuning settings.
        policy: The promotion policy for models that store none (validated when used; see
            :class:`mlflow_retrain.policy.PromotionPolicy`).
        model_name: The registered model the retraining loop (``run``) keeps fresh.
        model: Settings of that model (``create``).
        history: Where the loop finds its batches.
        triggers: When the loop retrains.
        safety: Cooldowns and the halt after repeated rejections.
    """

    model_name: str | None = None
    target: str | None = None
    timestamp: str | None = None
    drift: DriftConfig = field(default_factory=DriftConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    tuning: TuningConfig = field(default_factory=TuningConfig)
    policy: Mapping[str, Any] = field(default_factory=dict)
    model: ModelConfig = field(default_factory=ModelConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    triggers: TriggerConfig = field(default_factory=TriggerConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as plain JSON-compatible data."""
        return _jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RetrainConfig:
        """Build a validated configuration from plain data (the form of :meth:`to_dict`).

        Raises:
            InvalidConfigError: If a key is unknown or a value has the wrong type or range.
        """
        result: RetrainConfig = _build(cls, data, "")
        return result

    def with_overrides(self, overrides: Mapping[str, Any]) -> RetrainConfig:
        """Return a copy with dotted keys overridden, e.g. ``{"drift.alpha": 0.01}``.

        ``None`` values are skipped, so unset CLI options keep the lower-precedence value.

        Raises:
            InvalidConfigError: If a key is unknown or a value has the wrong type or range.
        """
        data = self.to_dict()
        for dotted, value in overrides.items():
            if value is None:
                continue
            _set_dotted(data, dotted, value)
        return _build(RetrainConfig, data, "")


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> RetrainConfig:
    """Load and validate ``retrain.yaml`` with environment and explicit overrides.

    Args:
        path: The YAML file. ``None`` uses ``$MLFLOW_RETRAIN_CONFIG`` if set, else defaults.
        overrides: Dotted keys with explicit values (highest precedence); ``None`` values are
            ignored.
        environ: The environment to read ``MLFLOW_RETRAIN_*`` variables from (``os.environ``).

    Returns:
        The validated configuration.

    Raises:
        InvalidConfigError: If the file is missing or unreadable, a key is unknown, or a value
            has the wrong type or is out of range. The message names the key and the fix.
    """
    env = os.environ if environ is None else environ
    if path is None:
        path = env.get(ENV_CONFIG_FILE) or None
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        data = _read_yaml(Path(path))
        source = str(path)
    for key, raw in sorted(env.items()):
        if not key.startswith(ENV_PREFIX) or key in _NOT_CONFIG:
            continue
        dotted = key[len(ENV_PREFIX) :].lower().replace("__", ".")
        _set_dotted(data, dotted, _parse_env_value(raw), origin=f"environment variable {key}")
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, dotted, value)
    try:
        return _build(RetrainConfig, data, "")
    except errors.InvalidConfigError as err:
        where = source if path is not None else "the option or MLFLOW_RETRAIN_* variable"
        raise errors.InvalidConfigError(
            f"{source}: {err.message} Fix the value in {where} (docs/configuration.md lists "
            "every key, its type and range)."
        ) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise errors.InvalidConfigError(
            f"Config file '{path}' does not exist. Pass an existing retrain.yaml with --config "
            "or leave it out to use the defaults."
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise errors.InvalidConfigError(
            f"Config file '{path}' cannot be read ({err.__class__.__name__}). "
            "Check the path and that the file is UTF-8 text."
        ) from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise errors.InvalidConfigError(
            f"Config file '{path}' is not valid YAML{line}. Fix the syntax and retry."
        ) from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise errors.InvalidConfigError(
            f"Config file '{path}' must hold a mapping of sections at the top level, got "
            f"{type(data).__name__}. See docs/configuration.md."
        )
    return data


def _parse_env_value(raw: str) -> Any:
    # YAML scalars give the same types the file would ("0.01" -> float, "true" -> bool).
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def _set_dotted(
    data: dict[str, Any], dotted: str, value: Any, *, origin: str | None = None
) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            where = f" (from {origin})" if origin else ""
            raise errors.InvalidConfigError(
                f"'{dotted}'{where}: '{part}' is a value, not a section. Check the key."
            )
        node = child
    node[parts[-1]] = value


def _build(cls: type[Any], data: Any, prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise errors.InvalidConfigError(
            f"'{prefix.rstrip('.')}' must be a mapping of keys, got {type(data).__name__} "
            f"{data!r}. Write it as a YAML section."
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = [key for key in data if key not in fields]
    if unknown:
        key = str(unknown[0])
        close = difflib.get_close_matches(key, list(fields), n=1)
        hint = f" Did you mean '{prefix}{close[0]}'?" if close else ""
        known = ", ".join(sorted(fields))
        raise errors.InvalidConfigError(
            f"Unknown key '{prefix}{key}'.{hint} Known keys here: {known}."
        )
    kwargs = {name: _coerce(hints[name], value, f"{prefix}{name}") for name, value in data.items()}
    try:
        return cls(**kwargs)
    except errors.InvalidConfigError:
        raise
    except (TypeError, ValueError) as err:  # pragma: no cover - guarded by _coerce
        raise errors.InvalidConfigError(f"'{prefix.rstrip('.')}': {err}") from err


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".")
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _coerce(inner[0], value, key)
        for option in inner:  # the first that accepts the value, e.g. "auto" | int
            if typing.get_origin(option) is Literal and value not in typing.get_args(option):
                # Skipped without raising: the first error raised imports mlflow (_errors).
                continue
            try:
                return _coerce(option, value, key)
            except errors.InvalidConfigError:
                continue
        wanted = " or ".join(_describe(option) for option in inner)
        raise errors.InvalidConfigError(
            f"'{key}' must be {wanted}, got {type(value).__name__} {value!r}."
        )
    if origin is Literal:
        if value not in args:
            allowed = ", ".join(repr(a) for a in args)
            raise errors.InvalidConfigError(f"'{key}' must be one of {allowed}, got {value!r}.")
        return value
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise errors.InvalidConfigError(
                f"'{key}' must be a list, got {type(value).__name__} {value!r}."
            )
        return tuple(_coerce(args[0], item, f"{key}[{i}]") for i, item in enumerate(value))
    if origin in (Mapping, dict) or hint is Mapping:
        if not isinstance(value, Mapping):
            raise errors.InvalidConfigError(
                f"'{key}' must be a mapping, got {type(value).__name__} {value!r}."
            )
        return {str(k): _coerce(args[1], v, f"{key}.{k}") if args else v for k, v in value.items()}
    if hint is bool:
        if not isinstance(value, bool):
            raise errors.InvalidConfigError(f"'{key}' must be true or false, got {value!r}.")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise errors.InvalidConfigError(
                f"'{key}' must be a whole number, got {type(value).__name__} {value!r}."
            )
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise errors.InvalidConfigError(
                f"'{key}' must be a number, got {type(value).__name__} {value!r}."
            )
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise errors.InvalidConfigError(
                f"'{key}' must be text, got {type(value).__name__} {value!r}."
            )
        return value
    return value  # pragma: no cover - every field type is handled above


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return " or ".join(repr(a) for a in typing.get_args(hint))
    if typing.get_origin(hint) in (Mapping, dict):
        return "a mapping"
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _check_range(
    key: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    inclusive: bool = True,
) -> None:
    too_low = low is not None and (value < low if inclusive else value <= low)
    too_high = high is not None and (value > high if inclusive else value >= high)
    if too_low or too_high:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        bounds = f"[{lo}, {hi}]" if inclusive else f"({lo}, {hi})"
        raise errors.InvalidConfigError(f"'{key}' must be in {bounds}, got {value!r}.")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value

"""The promotion policy: which metrics must improve, by how much, with which test.

Stored as JSON in the registered-model tag ``mlflow_retrain.policy`` (``mlflow-retrain policy
set``), or given under ``policy:`` in ``retrain.yaml``. A model without one gets
:func:`default_policy` for its task, so models registered outside this tool can be compared
too. Pure: no mlflow import.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mlflow_retrain import _errors as errors
from mlflow_retrain.metrics import LOSSES, METRICS, PairedTestName

__all__ = [
    "DEFAULT_FLOORS",
    "DEFAULT_TESTS",
    "GREATER_IS_BETTER",
    "SHADOW_LOSSES",
    "GuardrailRule",
    "MetricRule",
    "PromotionPolicy",
    "ShadowRule",
    "default_policy",
]

TestName = PairedTestName

# Every table below is read off the metric registry (mlflow_retrain.metrics), so the policy
# judges the metrics the tuner optimises, with the same definitions.

#: Metrics the comparison computes, and whether higher is better.
GREATER_IS_BETTER: dict[str, bool] = {
    name: metric.greater_is_better for name, metric in METRICS.items()
}
CLASSIFICATION_METRICS = tuple(n for n, m in METRICS.items() if m.task == "classification")
REGRESSION_METRICS = tuple(n for n, m in METRICS.items() if m.task == "regression")

#: The first-deployment floor of a policy that names none: better than a model without skill
#: (chance-level ranking; predicting the mean), with confidence ``1 - alpha``.
DEFAULT_FLOORS: dict[str, dict[str, float]] = {
    "classification": {"roc_auc": 0.5},
    "regression": {"r2": 0.0},
}

#: The test each metric uses unless the policy names another.
DEFAULT_TESTS: dict[str, TestName] = {name: m.default_test for name, m in METRICS.items()}
#: Tests that work on per-row losses (metric must be a summary of per-row losses).
_LOSS_TESTS = {"t", "bootstrap-t", "auto", "diebold-mariano"}
_PER_ROW = {name for name, m in METRICS.items() if m.row_loss is not None}
#: Every test a policy may name. Not 'wilcoxon': it tests a median shift, and every metric
#: here is a mean (``mlflow_retrain.stats.wilcoxon_test`` stays, for median claims).
_TESTS: tuple[str, ...] = (
    "mcnemar",
    "delong",
    "bootstrap",
    "t",
    "bootstrap-t",
    "auto",
    "diebold-mariano",
)


@dataclass(frozen=True)
class MetricRule:
    """A primary metric the challenger must improve.

    Attributes:
        metric: Metric name (``roc_auc``, ``accuracy``, ``f1``, ``log_loss``, ``brier``,
            ``rmse``, ``mae``, ``r2``).
        test: The paired test; default by metric (see ``DEFAULT_TESTS``).
        min_improvement: Practical significance margin in the metric's units: the one-sided
            confidence bound of the improvement must exceed it.
    """

    metric: str
    test: TestName | None = None
    min_improvement: float = 0.0

    @property
    def test_name(self) -> TestName:
        """The test actually used."""
        return self.test or DEFAULT_TESTS[self.metric]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"metric": self.metric, "test": self.test_name,
                "min_improvement": self.min_improvement}  # fmt: skip


@dataclass(frozen=True)
class GuardrailRule:
    """A metric the challenger must not make worse by more than ``margin`` (non-inferiority).

    Attributes:
        metric: Metric name.
        margin: Largest tolerated loss in the metric's units (> 0).
        test: The paired test; default by metric.
    """

    metric: str
    margin: float
    test: TestName | None = None

    @property
    def test_name(self) -> TestName:
        """The test actually used."""
        return self.test or DEFAULT_TESTS[self.metric]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"metric": self.metric, "margin": self.margin, "test": self.test_name}


#: Per-row losses shadow mode can compare, by task.
SHADOW_LOSSES: dict[str, tuple[str, ...]] = {
    task: tuple(n for n, loss in LOSSES.items() if loss.task == task)
    for task in ("classification", "regression")
}
#: The shadow loss that matches a per-row primary metric: the metric is its mean (same units,
#: so its margin carries): brier, log_loss, mae -> absolute_error.
_LOSS_OF_METRIC = {
    name: m.row_loss for name, m in METRICS.items() if m.row_summary == "mean" and m.row_loss
}


#: Shadow mode's units of evidence (``mlflow_retrain.stats.UNITS``, which this layer cannot
#: import; a test keeps the two equal).
SHADOW_UNITS = ("batch", "row")


@dataclass(frozen=True)
class ShadowRule:
    """How shadow mode judges a challenger on live, labelled batches.

    The sequential test runs on the per-row paired difference ``champion loss - challenger
    loss``. It promotes when the whole confidence sequence lies above ``min_improvement``,
    rejects when it lies below (the challenger cannot reach the margin), when the losses were
    identical over the whole horizon, or when a budget runs out, and otherwise waits for the
    next batch.

    Attributes:
        loss: Per-row loss: ``brier``, ``log_loss``, ``zero_one`` (classification);
            ``squared_error``, ``absolute_error`` (regression). Default: the primary metric's
            own loss when it has one (``brier``, ``log_loss``, ``mae``), else ``brier`` for
            classifiers with probabilities, ``zero_one`` for label-only ones, and
            ``squared_error`` for regression.
        min_improvement: Practical margin, in loss units.
        horizon_rows: Rows by which a decision is expected: the mixture is tuned to be
            tightest there. Losses identical to the champion's on this many rows (at least
            ``min_rows``) retire the challenger; fewer identical rows are no evidence.
        expected_effect: Expected improvement in standard deviations of the differences;
            when set, it chooses the horizon instead (rows a fixed test would need at 80%
            power).
        min_rows: Rows before the first look.
        max_batches: Reject when no decision after this many batches.
        max_rows: Reject when no decision after this many rows (``None``: no limit).
        unit: The unit of evidence: ``batch`` (default; the sequential t-test on batch
            means, which rows of one batch sharing a day effect cannot fool, and which needs
            a few batches before it can decide) or ``row`` (the normal mixture on rows,
            which assumes every row independent; it decides sooner on very large batches).
    """

    loss: str | None = None
    min_improvement: float = 0.0
    horizon_rows: int = 10_000
    expected_effect: float | None = None
    min_rows: int = 200
    max_batches: int = 50
    max_rows: int | None = None
    unit: str = "batch"

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "loss": self.loss,
            "min_improvement": self.min_improvement,
            "horizon_rows": self.horizon_rows,
            "expected_effect": self.expected_effect,
            "min_rows": self.min_rows,
            "max_batches": self.max_batches,
            "max_rows": self.max_rows,
            "unit": self.unit,
        }

    def loss_for(self, task: str, primary: tuple[MetricRule, ...], *, has_scores: bool) -> str:
        """The loss actually used for a ``task`` model (see ``loss``)."""
        if self.loss is not None:
            return self.loss
        for rule in primary:
            if rule.metric in _LOSS_OF_METRIC:
                loss = _LOSS_OF_METRIC[rule.metric]
                if has_scores or loss not in ("brier", "log_loss"):
                    return loss
        if task == "regression":
            return "squared_error"
        return "brier" if has_scores else "zero_one"


@dataclass(frozen=True)
class PromotionPolicy:
    """When a challenger may replace the champion.

    Promote when every primary metric improves significantly (one-sided, Holm-adjusted across
    the primary metrics at ``alpha``) and by more than its ``min_improvement``, and every
    guardrail passes its non-inferiority test. Reject when a primary metric is significantly
    worse, or a guardrail is significantly worse than its margin allows. Otherwise the
    evidence is inconclusive. With no champion, the challenger must reach every ``floor``.

    Attributes:
        task: ``classification`` or ``regression``.
        primary: Metrics that must improve.
        guardrails: Metrics that must not get worse beyond a margin.
        alpha: Family-wise significance level.
        floor: First-deployment floor per metric (minimum for higher-is-better metrics,
            maximum for losses), which the challenger must clear with confidence
            ``1 - alpha``. Empty: no floor. A policy read with :meth:`from_dict` without
            the key, and :func:`default_policy`, take the task's :data:`DEFAULT_FLOORS`.
        mode: ``offline`` (the ``compare`` step), ``shadow`` (live batches through
            ``shadow``), or ``both`` (a passing offline comparison, then shadow).
        shadow: How shadow mode decides.
        max_evidence_age_days: Evidence older than this no longer permits a promotion.
        holdout_digest: The digest of a named holdout set (as ``mlflow_retrain.evidence.
            data_digest`` records it) that a comparison may run on instead of the version's
            gate split. A server holding an evidence key refuses signed evidence computed on
            any other data. ``None``: the gate split only.
        n_resamples: Bootstrap resamples.
        random_state: Seed of the bootstrap.
    """

    task: Literal["classification", "regression"]
    primary: tuple[MetricRule, ...]
    guardrails: tuple[GuardrailRule, ...] = ()
    alpha: float = 0.05
    floor: Mapping[str, float] = field(default_factory=dict)
    mode: Literal["offline", "shadow", "both"] = "offline"
    shadow: ShadowRule = field(default_factory=ShadowRule)
    max_evidence_age_days: float = 30.0
    holdout_digest: str | None = None
    n_resamples: int = 2000
    random_state: int = 0

    def __post_init__(self) -> None:
        allowed = CLASSIFICATION_METRICS if self.task == "classification" else REGRESSION_METRICS
        if not self.primary:
            raise errors.InvalidConfigError(
                "The policy needs at least one primary metric. Add one under 'primary', e.g. "
                "[{metric: roc_auc}]."
            )
        rules: list[MetricRule | GuardrailRule] = [*self.primary, *self.guardrails]
        for rule in rules:
            if rule.metric not in allowed:
                raise errors.InvalidConfigError(
                    f"Policy metric '{rule.metric}' does not fit a {self.task} model; use one "
                    f"of {', '.join(allowed)}."
                )
            if rule.test_name in _LOSS_TESTS and rule.metric not in _PER_ROW:
                raise errors.InvalidConfigError(
                    f"Policy test '{rule.test_name}' needs a per-row metric, and "
                    f"'{rule.metric}' is not one; use test 'bootstrap'."
                )
        for rule in self.guardrails:
            if rule.margin <= 0:
                raise errors.InvalidConfigError(
                    f"Guardrail '{rule.metric}' needs a margin > 0, got {rule.margin!r}. Set the "
                    "largest loss you accept, e.g. margin: 0.01."
                )
        for name in self.floor:
            if name not in allowed:
                raise errors.InvalidConfigError(
                    f"Policy floor '{name}' does not fit a {self.task} model; use one of "
                    f"{', '.join(allowed)}."
                )
        if not 0 < self.alpha < 0.5:
            raise errors.InvalidConfigError(
                f"Policy alpha must be in (0, 0.5), got {self.alpha!r}. Set a significance "
                "level such as alpha: 0.05."
            )
        if self.n_resamples < 200:
            raise errors.InvalidConfigError(
                f"Policy n_resamples must be at least 200, got {self.n_resamples}. Raise it "
                "(2000 is the default)."
            )
        if self.max_evidence_age_days <= 0:
            raise errors.InvalidConfigError(
                "Policy max_evidence_age_days must be > 0. Set how many days evidence stays "
                "valid, e.g. 30."
            )
        _check_shadow(self.shadow, self.task)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (what the ``mlflow_retrain.policy`` tag holds).

        ``holdout_digest`` appears only when set, so the stored text (and the digest that
        binds evidence to it) of a policy without one is what it always was.
        """
        holdout = {} if self.holdout_digest is None else {"holdout_digest": self.holdout_digest}
        return {
            "task": self.task,
            "primary": [r.to_dict() for r in self.primary],
            "guardrails": [r.to_dict() for r in self.guardrails],
            "alpha": self.alpha,
            "floor": dict(self.floor),
            "mode": self.mode,
            "shadow": self.shadow.to_dict(),
            "max_evidence_age_days": self.max_evidence_age_days,
            **holdout,
            "n_resamples": self.n_resamples,
            "random_state": self.random_state,
        }

    def to_json(self) -> str:
        """Serialise for the registered-model tag."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PromotionPolicy:
        """Build and validate a policy from plain data.

        Raises:
            InvalidConfigError: If a key is unknown or a value is invalid.
        """
        if not isinstance(data, Mapping):
            raise errors.InvalidConfigError(
                f"A policy must be a mapping, got {type(data).__name__}. See "
                "docs/commands/policy.md."
            )
        known = {
            "task", "primary", "guardrails", "alpha", "floor", "mode", "shadow",
            "max_evidence_age_days", "n_resamples", "random_state", "holdout_digest",
        }  # fmt: skip
        unknown = sorted(set(data) - known)
        if unknown:
            raise errors.InvalidConfigError(
                f"Unknown policy key '{unknown[0]}'.{_did_you_mean(unknown[0], known)} Known "
                f"keys: {', '.join(sorted(known))}."
            )
        try:
            task = data.get("task", "classification")
            if task not in ("classification", "regression"):
                raise errors.InvalidConfigError(
                    f"Policy task must be classification or regression, got {task!r}."
                )
            primary = tuple(
                _rule(MetricRule, item, "primary") for item in data.get("primary") or []
            )
            guardrails = tuple(
                _rule(GuardrailRule, item, "guardrails") for item in data.get("guardrails") or []
            )
            base = default_policy(task)
            return cls(
                task=task,
                primary=primary or base.primary,
                guardrails=guardrails,
                alpha=float(data.get("alpha", base.alpha)),
                floor={str(k): float(v) for k, v in _floor(data, base).items()},
                mode=_choice(data.get("mode", "offline"), ("offline", "shadow", "both"), "mode"),
                shadow=_shadow_rule(data.get("shadow") or {}),
                max_evidence_age_days=float(data.get("max_evidence_age_days", 30.0)),
                holdout_digest=_holdout(data.get("holdout_digest")),
                n_resamples=int(data.get("n_resamples", 2000)),
                random_state=int(data.get("random_state", 0)),
            )
        except (TypeError, ValueError) as err:
            if isinstance(err, errors.InvalidConfigError):
                raise
            raise errors.InvalidConfigError(
                f"Invalid policy value: {err}. Fix the policy."
            ) from err

    @classmethod
    def from_json(cls, text: str) -> PromotionPolicy:
        """Parse the registered-model tag.

        Raises:
            InvalidConfigError: If the text is not JSON or not a valid policy.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise errors.InvalidConfigError(
                f"The stored policy is not valid JSON ({err.msg}). Set it again with "
                "`mlflow-retrain policy set`."
            ) from err
        return cls.from_dict(data)


def default_policy(task: str) -> PromotionPolicy:
    """The policy used when a model has none: the task's usual metric at alpha 0.05.

    Classification: ROC AUC must improve (DeLong); regression: RMSE must improve (paired t on
    squared errors). No guardrails. A first deployment must clear the task's
    :data:`DEFAULT_FLOORS` (ROC AUC above 0.5; R² above 0) with confidence ``1 - alpha``.
    """
    if task == "regression":
        return PromotionPolicy(
            task="regression", primary=(MetricRule("rmse"),), floor=DEFAULT_FLOORS["regression"]
        )
    return PromotionPolicy(
        task="classification",
        primary=(MetricRule("roc_auc"),),
        floor=DEFAULT_FLOORS["classification"],
    )


def _floor(data: Mapping[str, Any], base: PromotionPolicy) -> Mapping[str, Any]:
    """The policy's ``floor``: as given (``{}`` or null: none), else the task default."""
    if "floor" not in data:
        return base.floor
    floor = data["floor"] or {}
    if not isinstance(floor, Mapping):
        raise errors.InvalidConfigError(
            f"Policy floor must map metrics to values, e.g. {{roc_auc: 0.6}}, got {floor!r}."
        )
    return floor


def _holdout(value: Any) -> str | None:
    """The policy's ``holdout_digest``: a non-empty string, or none."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise errors.InvalidConfigError(
            f"Policy holdout_digest must be a dataset digest (text), got {value!r}. Copy it "
            "from the tag mlflow_retrain.evidence.data_digest of a comparison on that holdout."
        )
    return value.strip()


def _did_you_mean(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""


def _rule(cls: type[Any], item: Any, section: str) -> Any:
    if isinstance(item, str):
        item = {"metric": item}
    if not isinstance(item, Mapping) or "metric" not in item:
        raise errors.InvalidConfigError(
            f"Each policy {section} entry needs a 'metric', got {item!r}."
        )
    fields = {"metric", "test", "min_improvement"} if cls is MetricRule else {
        "metric", "test", "margin"
    }  # fmt: skip
    unknown = sorted(set(item) - fields)
    if unknown:
        raise errors.InvalidConfigError(
            f"Unknown key '{unknown[0]}' in policy {section} entry; use "
            f"{', '.join(sorted(fields))}."
        )
    metric = str(item["metric"])
    if metric not in GREATER_IS_BETTER:
        raise errors.InvalidConfigError(
            f"Unknown policy metric '{metric}'; use one of {', '.join(GREATER_IS_BETTER)}."
        )
    test = item.get("test") or DEFAULT_TESTS[metric]
    if test == "wilcoxon":
        raise errors.InvalidConfigError(
            f"Policy test 'wilcoxon' tests a median shift of the per-row losses, and "
            f"'{metric}' is a mean; use test 'auto', 't' or 'bootstrap-t' for a mean."
        )
    _choice(test, _TESTS, "test")
    if cls is MetricRule:
        return MetricRule(metric, test, float(item.get("min_improvement", 0.0)))
    if "margin" not in item:
        raise errors.InvalidConfigError(f"Guardrail '{metric}' needs a 'margin'.")
    return GuardrailRule(metric, float(item["margin"]), test)


def _shadow_rule(item: Any) -> ShadowRule:
    if not isinstance(item, Mapping):
        raise errors.InvalidConfigError(f"Policy 'shadow' must be a mapping, got {item!r}.")
    known = set(ShadowRule().to_dict())
    unknown = sorted(set(item) - known)
    if unknown:
        raise errors.InvalidConfigError(
            f"Unknown key '{unknown[0]}' in policy shadow; use {', '.join(sorted(known))}."
        )
    base = ShadowRule()
    effect = item.get("expected_effect")
    max_rows = item.get("max_rows")
    return ShadowRule(
        loss=None if item.get("loss") is None else str(item["loss"]),
        min_improvement=float(item.get("min_improvement", base.min_improvement)),
        horizon_rows=int(item.get("horizon_rows", base.horizon_rows)),
        expected_effect=None if effect is None else float(effect),
        min_rows=int(item.get("min_rows", base.min_rows)),
        max_batches=int(item.get("max_batches", base.max_batches)),
        max_rows=None if max_rows is None else int(max_rows),
        unit=str(item.get("unit", base.unit)),
    )


def _check_shadow(rule: ShadowRule, task: str) -> None:
    losses = SHADOW_LOSSES[task]
    if rule.loss is not None and rule.loss not in losses:
        raise errors.InvalidConfigError(
            f"Policy shadow loss '{rule.loss}' does not fit a {task} model; use one of "
            f"{', '.join(losses)}."
        )
    if rule.min_improvement < 0:
        raise errors.InvalidConfigError(
            "Policy shadow min_improvement must be >= 0; fix 'shadow' in the policy."
        )
    if rule.horizon_rows < 1:
        raise errors.InvalidConfigError(
            "Policy shadow horizon_rows must be at least 1; fix 'shadow' in the policy."
        )
    if rule.expected_effect is not None and rule.expected_effect <= 0:
        raise errors.InvalidConfigError(
            "Policy shadow expected_effect must be > 0 (in std units); fix 'shadow' in the policy."
        )
    if rule.min_rows < 2:
        raise errors.InvalidConfigError(
            "Policy shadow min_rows must be at least 2; fix 'shadow' in the policy."
        )
    if rule.max_batches < 1:
        raise errors.InvalidConfigError(
            "Policy shadow max_batches must be at least 1; fix 'shadow' in the policy."
        )
    if rule.unit not in SHADOW_UNITS:
        raise errors.InvalidConfigError(
            f"Policy shadow unit must be one of {', '.join(SHADOW_UNITS)}, got {rule.unit!r}; fix "
            "'shadow' in the policy."
        )
    if rule.max_rows is not None and rule.max_rows < rule.min_rows:
        raise errors.InvalidConfigError(
            "Policy shadow max_rows must be at least min_rows; fix 'shadow' in the policy."
        )


def _choice(value: Any, allowed: tuple[str, ...], key: str) -> Any:
    if value not in allowed:
        raise errors.InvalidConfigError(
            f"Policy {key} must be one of {', '.join(sorted(set(allowed)))}, got {value!r}."
        )
    return value

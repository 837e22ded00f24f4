"""Champion versus challenger on the same rows: metrics, paired tests, and the policy decision.

Pure (numpy, scipy, scikit-learn; no mlflow import): the ``compare`` step feeds it the two
models' outputs on the gate split and records the :class:`Evidence` it returns. Metrics and
per-row losses are the registry's (:mod:`mlflow_retrain.metrics`), so the gate judges the
number the tuner optimised.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from mlflow_retrain import _errors as errors
from mlflow_retrain.metrics import (
    LOSSES,
    METRICS,
    lookup_metric,
    resampled_scores,
    row_losses,
    score,
)
from mlflow_retrain.policy import (
    GREATER_IS_BETTER,
    GuardrailRule,
    MetricRule,
    PromotionPolicy,
    TestName,
)
from mlflow_retrain.stats import (
    Alternative,
    TestResult,
    adjust_pvalues,
    auc_variance,
    bootstrap_t_test,
    delong_test,
    diebold_mariano_test,
    mcnemar_test,
    paired_bootstrap_tests,
    paired_t_test,
    root_ratio_interval,
    tail_check,
)

__all__ = [
    "T_LEVEL_ERROR_LIMIT",
    "Evidence",
    "MetricComparison",
    "ModelOutput",
    "choose_loss_test",
    "compare_models",
    "loss_bound",
    "metric_interval",
    "metric_value",
    "per_row_loss",
]

Decision = Literal["promote", "reject", "inconclusive"]


@dataclass(frozen=True)
class ModelOutput:
    """One model's output on the comparison rows.

    Attributes:
        predictions: Predicted labels (classification) or values (regression).
        scores: Classification only: probability of each class, shape ``(n, k)``, columns in
            ``classes`` order; ``None`` when the model gives labels only.
        classes: Class labels of ``scores``' columns.
    """

    predictions: np.ndarray
    scores: np.ndarray | None = None
    classes: np.ndarray | None = None


@dataclass(frozen=True)
class MetricComparison:
    """One metric of the evidence table.

    Attributes:
        name: Metric name.
        role: ``primary`` or ``guardrail``; ``floor`` for a first deployment's floor (there
            is no champion, so the difference is taken from the floor).
        test: Test used.
        challenger: The challenger's value.
        champion: The champion's value (``None`` without a champion).
        difference: challenger - champion (``floor``: challenger - floor).
        ci_low: Lower bound of the difference (two-sided ``1 - 2 alpha`` interval, so each
            end is a one-sided ``1 - alpha`` bound).
        ci_high: Upper bound of the difference.
        p_value: One-sided p-value of H0 "the challenger is not better".
        p_value_adjusted: Holm-adjusted across the primary metrics (guardrails: unadjusted).
        threshold: ``min_improvement`` (primary), ``margin`` (guardrail) or the floor.
        passed: The rule is met.
        result: The raw test result.
        test_choice: Why this test: for a policy test ``auto``, the skew of the loss
            differences and the t-test's level error it implies (see
            :func:`choose_loss_test`); ``None`` where the policy named the test.
        tail_index: For a mean of an unbounded loss (``rmse``, ``mae``, ``log_loss``): each
            model's Hill tail index of its per-row losses and the largest losses it used
            (:func:`~mlflow_retrain.stats.tail_check`); ``None`` otherwise.
    """

    name: str
    role: Literal["primary", "guardrail", "floor"]
    test: str
    challenger: float
    champion: float | None
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    p_value_adjusted: float | None
    threshold: float
    passed: bool
    result: TestResult | None = None
    test_choice: str | None = None
    tail_index: Mapping[str, float | None] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form documented in docs/schemas.md."""
        return {
            "name": self.name,
            "role": self.role,
            "test": self.test,
            "challenger": _num(self.challenger),
            "champion": _num(self.champion),
            "difference": _num(self.difference),
            "ci_low": _num(self.ci_low),
            "ci_high": _num(self.ci_high),
            "p_value": _num(self.p_value),
            "p_value_adjusted": _num(self.p_value_adjusted),
            "threshold": self.threshold,
            "passed": self.passed,
            "test_choice": self.test_choice,
            "tail_index": None if self.tail_index is None else dict(self.tail_index),
        }


@dataclass(frozen=True)
class Evidence:
    """The outcome of a comparison.

    Attributes:
        decision: ``promote``, ``reject`` or ``inconclusive``.
        reason: One sentence explaining it.
        metrics: The evidence table.
        n: Rows compared.
        alpha: Family-wise significance level.
        first_deployment: There was no champion; the floor decided.
        policy: The policy used.
    """

    decision: Decision
    reason: str
    metrics: tuple[MetricComparison, ...]
    n: int
    alpha: float
    first_deployment: bool
    policy: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "decision": self.decision,
            "reason": self.reason,
            "metrics": [m.to_dict() for m in self.metrics],
            "n": self.n,
            "alpha": self.alpha,
            "first_deployment": self.first_deployment,
            "policy": dict(self.policy),
        }


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def metric_value(name: str, y_true: np.ndarray, output: ModelOutput) -> float:
    """Compute one metric of one model's output, as :func:`mlflow_retrain.metrics.score` does.

    Probabilities are scored against ``output.classes`` (binary ``roc_auc`` uses the second
    class's column; multiclass is one-vs-rest macro; ``brier`` follows scikit-learn's
    ``brier_score_loss``), labels against the classes when known.

    Raises:
        InvalidInputError: If the metric is unknown or needs class probabilities the model
            does not give.
    """
    metric = lookup_metric(name)
    if metric.needs_proba and output.scores is None:
        raise errors.InvalidInputError(
            f"Metric '{name}' needs class probabilities, and this model gives labels only. "
            "Use accuracy or f1 in the policy, or log the model with predict_proba."
        )
    y = np.asarray(y_true)
    scored = output.scores if output.scores is not None and metric.needs_proba else None
    return score(
        metric,
        y,
        np.asarray(output.predictions) if scored is None else scored,
        labels=output.classes,
    )


def compare_models(
    y_true: Sequence[Any] | np.ndarray,
    challenger: ModelOutput,
    champion: ModelOutput | None,
    *,
    policy: PromotionPolicy,
) -> Evidence:
    """Test the challenger against the champion on the same rows and apply the policy.

    Every metric is tested with a paired test (each rule's ``test_name``): one-sided
    ("the challenger is better") p-values, Holm-adjusted across the primary metrics, and
    two-sided ``1 - 2 alpha`` intervals of the difference, whose ends are one-sided bounds.

    - promote: every primary metric's adjusted p < alpha and its lower bound of the
      improvement > ``min_improvement``; every guardrail's lower bound > ``-margin``.
    - reject: a primary metric is significantly worse (its whole interval below zero), or a
      guardrail is worse than its margin beyond doubt.
    - inconclusive: anything else (too little evidence either way, or a degenerate test).

    Without a champion, the challenger is promoted when it clears every ``policy.floor`` with
    confidence ``1 - alpha`` (see :func:`_first_deployment`).

    Args:
        y_true: Labels or target values of the comparison rows.
        challenger: The challenger's output.
        champion: The champion's output on the same rows, or ``None``.
        policy: The promotion policy.

    Returns:
        The evidence and decision.

    Raises:
        InvalidInputError: If the outputs do not match the rows.
    """
    y = np.asarray(y_true)
    for output in (challenger, champion):
        if output is not None and len(output.predictions) != len(y):
            raise errors.InvalidInputError(
                f"A model gave {len(output.predictions)} predictions for {len(y)} rows. Score "
                "both models on the same rows."
            )
    if len(y) < 2:
        raise errors.InvalidInputError(
            f"The comparison data has {len(y)} rows; at least 2 are needed. Use a larger gate "
            "split (tuning.gate_fraction) or --data."
        )
    if champion is None:
        return _first_deployment(y, challenger, policy)
    alpha = policy.alpha
    rows: list[MetricComparison] = []
    rules: list[MetricRule | GuardrailRule] = [*policy.primary, *policy.guardrails]
    for rule in rules:
        rows.append(_compare_metric(y, challenger, champion, rule, policy))
    primary_p = [
        r.p_value if r.p_value is not None else math.nan for r in rows if r.role == "primary"
    ]
    adjusted = adjust_pvalues(primary_p, method="holm")
    decided: list[MetricComparison] = []
    for row in rows:
        if row.role == "primary":
            p_adj = float(adjusted[len([r for r in decided if r.role == "primary"])])
            passed = bool(
                math.isfinite(p_adj)
                and p_adj < alpha
                and row.ci_low is not None
                and _improvement_low(row) > row.threshold
            )
            decided.append(replace(row, p_value_adjusted=_num(p_adj), passed=passed))
        else:
            passed = row.ci_low is not None and _improvement_low(row) > -row.threshold
            decided.append(replace(row, p_value_adjusted=row.p_value, passed=bool(passed)))
    decision, reason = _decide(decided, alpha)
    return Evidence(
        decision=decision,
        reason=reason,
        metrics=tuple(decided),
        n=len(y),
        alpha=alpha,
        first_deployment=False,
        policy=policy.to_dict(),
    )


def _improvement_low(row: MetricComparison) -> float:
    """The one-sided lower bound of the improvement (in "better" direction)."""
    assert row.ci_low is not None
    assert row.ci_high is not None
    return row.ci_low if GREATER_IS_BETTER[row.name] else -row.ci_high


def _improvement_high(row: MetricComparison) -> float:
    assert row.ci_low is not None
    assert row.ci_high is not None
    return row.ci_high if GREATER_IS_BETTER[row.name] else -row.ci_low


def _decide(rows: Sequence[MetricComparison], alpha: float) -> tuple[Decision, str]:
    for row in rows:
        if row.ci_low is None:
            continue
        if row.role == "primary" and _improvement_high(row) < 0:
            return "reject", (
                f"The challenger is significantly worse on {row.name} "
                f"({_fmt(row.challenger)} vs {_fmt(row.champion)}, difference "
                f"{_fmt(row.difference)}, interval [{_fmt(row.ci_low)}, {_fmt(row.ci_high)}])."
            )
        if row.role == "guardrail" and _improvement_high(row) < -row.threshold:
            return "reject", (
                f"The challenger breaks the {row.name} guardrail: worse by more than the "
                f"margin {row.threshold:g} (difference {_fmt(row.difference)})."
            )
    degenerate = [r for r in rows if r.result is not None and r.result.inconclusive]
    if degenerate:
        first = degenerate[0]
        reason = first.result.inconclusive_reason if first.result else ""
        return "inconclusive", f"The {first.name} test could not decide: {reason}."
    failing = [r for r in rows if not r.passed]
    if not failing:
        names = ", ".join(r.name for r in rows if r.role == "primary")
        return "promote", (
            f"The challenger is significantly better on {names} (Holm-adjusted, alpha "
            f"{alpha:g}) and passes every guardrail."
        )
    row = failing[0]
    if row.role == "primary":
        return "inconclusive", (
            f"No significant improvement of {row.name} beyond {row.threshold:g} "
            f"(difference {_fmt(row.difference)}, adjusted p {_fmt(row.p_value_adjusted)}); "
            "more data may decide."
        )
    return "inconclusive", (
        f"The {row.name} guardrail is not shown to hold within its margin {row.threshold:g} "
        f"(difference {_fmt(row.difference)})."
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.4g}"


def _first_deployment(y: np.ndarray, challenger: ModelOutput, policy: PromotionPolicy) -> Evidence:
    """Judge a first deployment (no champion) against the policy's floors.

    H0 for each floor: the challenger's metric is at or below the floor (at or above it for a
    loss). It is rejected when the one-sided ``1 - alpha`` bound of the metric (an end of its
    two-sided ``1 - 2 alpha`` interval, from :func:`metric_interval`) clears the floor. A point
    estimate that misses a floor rejects the challenger; one that clears it only without
    confidence is inconclusive (more rows may decide). Primary metrics without a floor are
    reported and not judged.
    """
    confidence = 1 - 2 * policy.alpha
    rows = []
    names = list(dict.fromkeys([*(r.metric for r in policy.primary), *policy.floor]))
    for name in names:
        floor = policy.floor.get(name)
        if floor is None:
            rows.append(
                MetricComparison(
                    name=name, role="primary", test="none",
                    challenger=metric_value(name, y, challenger), champion=None,
                    difference=None, ci_low=None, ci_high=None, p_value=None,
                    p_value_adjusted=None, threshold=math.nan, passed=True,
                )
            )  # fmt: skip
            continue
        value, low, high = metric_interval(name, y, challenger, confidence=confidence)
        higher = GREATER_IS_BETTER[name]
        bound = low if higher else high
        passed = math.isfinite(bound) and (bound > floor if higher else bound < floor)
        rows.append(
            MetricComparison(
                name=name, role="floor", test="floor", challenger=value, champion=None,
                difference=value - floor, ci_low=low - floor, ci_high=high - floor,
                p_value=None, p_value_adjusted=None, threshold=floor, passed=bool(passed),
            )
        )  # fmt: skip
    floors = [r for r in rows if r.role == "floor"]
    failing = [r for r in floors if not r.passed]
    level = f"{confidence:.0%}"
    if failing:
        row = failing[0]
        higher = GREATER_IS_BETTER[row.name]
        missed = row.challenger < row.threshold if higher else row.challenger > row.threshold
        shown_low = _fmt(row.threshold + (row.ci_low or 0))
        shown_high = _fmt(row.threshold + (row.ci_high or 0))
        decision: Decision = "reject" if missed else "inconclusive"
        reason = (
            f"No champion yet, and the challenger's {row.name} {_fmt(row.challenger)} misses "
            f"the policy floor {row.threshold:g}."
            if missed
            else f"No champion yet; the challenger's {row.name} {_fmt(row.challenger)} is not "
            f"shown to clear the policy floor {row.threshold:g} ({level} interval "
            f"[{shown_low}, {shown_high}]); more gate rows may decide."
        )
    elif floors:
        decision = "promote"
        cleared = ", ".join(
            f"{r.name} {_fmt(r.challenger)} [{_fmt(r.threshold + (r.ci_low or 0))}, "
            f"{_fmt(r.threshold + (r.ci_high or 0))}] "
            f"{'>' if GREATER_IS_BETTER[r.name] else '<'} {r.threshold:g}"
            for r in floors
        )
        reason = (
            f"No champion yet; the challenger clears the policy floor with {level} "
            f"confidence: {cleared}."
        )
    else:
        decision = "promote"
        reason = "No champion yet and no floor set: first deployment without a minimum."
    return Evidence(
        decision=decision, reason=reason, metrics=tuple(rows), n=len(y), alpha=policy.alpha,
        first_deployment=True, policy=policy.to_dict(),
    )  # fmt: skip


#: The fewest rows of each class on which the gate's DeLong test decides. It refers ``z`` to
#: Student's t with ``min(positives, negatives) - 1`` degrees of freedom (``delong_test(...,
#: reference="t")``): simulated one-sided at alpha 0.05 (equal models), the normal reference
#: rejects 8.4% with 6 positives and 6.0% with 20; the t reference 4.6% with 10 and 5.1%
#: with 20 (``tests/unit/stats/test_delong_simulation.py``). Below 10 the evidence is
#: inconclusive and says why.
DELONG_MIN_EVENTS = 10


def _compare_metric(
    y: np.ndarray,
    a: ModelOutput,
    b: ModelOutput,
    rule: MetricRule | GuardrailRule,
    policy: PromotionPolicy,
) -> MetricComparison:
    name, test = rule.metric, rule.test_name
    value_a, value_b = metric_value(name, y, a), metric_value(name, y, b)
    confidence = 1 - 2 * policy.alpha
    better: Alternative = "greater" if GREATER_IS_BETTER[name] else "less"
    scale = 1.0
    choice: str | None = None
    tail: Mapping[str, float | None] | None = None
    interval: tuple[float, float] | None = None  # the metric's own interval, when not mapped
    one: TestResult
    two: TestResult
    if test == "mcnemar":
        one = mcnemar_test(y, a.predictions, b.predictions, alternative=better)
        two = mcnemar_test(y, a.predictions, b.predictions, confidence=confidence)
    elif test == "delong":
        if a.scores is None or b.scores is None or a.scores.shape[1] != 2:
            raise errors.InvalidInputError(
                "The DeLong test needs binary class probabilities from both models. Use test "
                "'bootstrap' for multiclass or label-only models."
            )
        positive = y == a.classes[1]  # type: ignore[index]
        events = int(min(positive.sum(), (~positive).sum()))
        if events < DELONG_MIN_EVENTS:
            # Too few of a class for DeLong's test to hold its level, even corrected.
            reason = (
                f"only {events} rows of the rarer class on the gate split; the DeLong test "
                f"needs {DELONG_MIN_EVENTS} of each class to hold its level (a larger gate "
                "split, or a later check with more labelled rows, may decide)"
            )
            one = two = TestResult.inconclusive_result(
                "delong", reason, n=len(y), estimate=value_a - value_b, alternative=better
            )
        else:
            # With Student's t on min(positives, negatives) - 1 degrees of freedom.
            one = delong_test(positive, a.scores[:, 1], b.scores[:, 1], alternative=better,
                              reference="t")  # fmt: skip
            two = delong_test(positive, a.scores[:, 1], b.scores[:, 1], confidence=confidence,
                              reference="t")  # fmt: skip
    elif test == "bootstrap":
        use_scores = METRICS[name].needs_proba
        out_a = a.scores if use_scores else a.predictions
        out_b = b.scores if use_scores else b.predictions
        if out_a is None or out_b is None:
            raise errors.InvalidInputError(
                f"Metric '{name}' needs class probabilities from both models. Use a label "
                "metric (accuracy, f1) in the policy for label-only models."
            )
        fn = _array_metric(name, a.classes)
        kwargs: dict[str, Any] = {
            "n_resamples": policy.n_resamples,
            "random_state": policy.random_state,
            "stratify": y if policy.task == "classification" else None,
        }
        # One bootstrap for both: the one-sided p-value and the two-sided interval.
        one, two = paired_bootstrap_tests(
            y, out_a, out_b, fn, designs=[(better, 0.95), ("two-sided", confidence)],
            resampled=_resampled_metric(name, a.classes), **kwargs,
        )  # fmt: skip
    else:
        loss_a, loss_b = _per_row(name, y, a), _per_row(name, y, b)
        if test == "auto":
            test, choice = choose_loss_test(loss_a - loss_b, alpha=policy.alpha)
        tests: dict[str, Callable[..., TestResult]] = {
            "t": paired_t_test,
            "bootstrap-t": functools.partial(
                bootstrap_t_test, n_resamples=policy.n_resamples, random_state=policy.random_state
            ),
            "diebold-mariano": diebold_mariano_test,
        }
        fn_test = tests[test]
        # Loss tests: the estimate is mean(loss_a - loss_b); lower loss is better.
        loss_better: Alternative = "less"
        check = (
            tail_check(loss_a, loss_b)
            if loss_bound(METRICS[name].row_loss or "", a) is None
            else None
        )
        if check is not None:
            tail = {"challenger": _num(check.challenger), "champion": _num(check.champion),
                    "k": check.k}  # fmt: skip
        if check is not None and check.heavy:
            one = two = TestResult.inconclusive_result(
                test, check.reason(), n=len(y), estimate=float(np.mean(loss_a - loss_b)),
                alternative=loss_better,
            )  # fmt: skip
        else:
            one = fn_test(loss_a, loss_b, alternative=loss_better)
            two = fn_test(loss_a, loss_b, confidence=confidence)
        summary = METRICS[name].row_summary
        if summary == "one_minus_mean":
            # accuracy_a - accuracy_b = -(zero_one_a - zero_one_b): flip the loss interval.
            scale = -1.0
        elif summary == "root_mean" and isinstance(rule, GuardrailRule) and not one.inconclusive:
            # A margin in RMSE units: the log-ratio bootstrap-t holds its level at the margin
            # where the mapped MSE interval does not (docs/statistics.md).
            interval = root_ratio_interval(
                loss_a, loss_b, confidence=confidence, n_resamples=policy.n_resamples,
                random_state=policy.random_state,
            )  # fmt: skip
        elif summary == "root_mean":
            # rmse_a - rmse_b = (mse_a - mse_b) / (rmse_a + rmse_b): map the MSE interval.
            scale = 1.0 / (value_a + value_b) if value_a + value_b > 0 else math.nan
    ci_low, ci_high = interval or sorted((two.ci_low * scale, two.ci_high * scale))
    return MetricComparison(
        name=name,
        role="primary" if isinstance(rule, MetricRule) else "guardrail",
        test=one.method,
        challenger=value_a,
        champion=value_b,
        difference=value_a - value_b,
        ci_low=None if not math.isfinite(ci_low) else ci_low,
        ci_high=None if not math.isfinite(ci_high) else ci_high,
        p_value=None if not math.isfinite(one.p_value) else one.p_value,
        p_value_adjusted=None,
        threshold=rule.min_improvement if isinstance(rule, MetricRule) else rule.margin,
        passed=False,
        result=one if one.inconclusive else two,
        test_choice=choice,
        tail_index=tail,
    )


#: The largest error of the paired t-test's one-sided level that ``auto`` accepts (half a
#: percentage point at alpha = 0.05); beyond it, ``auto`` takes the bootstrap-t.
T_LEVEL_ERROR_LIMIT = 0.005


def choose_loss_test(differences: np.ndarray, *, alpha: float) -> tuple[TestName, str]:
    """The test a policy's ``auto`` takes for per-row loss differences, and why.

    The paired t-test's one-sided level is off by about
    ``phi(z) * (2 z**2 + 1) * |skew| / (6 sqrt(n))`` at ``z = Phi^-1(1 - alpha)``, the first
    term of the Edgeworth expansion of the studentized mean (Hall 1992, The Bootstrap and
    Edgeworth Expansion, ch. 2). Where that exceeds :data:`T_LEVEL_ERROR_LIMIT`, the
    bootstrap-t (:func:`~mlflow_retrain.stats.bootstrap_t_test`), whose reference keeps the
    skew, is taken; otherwise the paired t. At alpha = 0.05: bootstrap-t from a skew of
    about 0.45 at 100 rows, 1.4 at 1,000, 4.5 at 10,000.

    Returns:
        ``"t"`` or ``"bootstrap-t"``, and the reason, for the evidence.
    """
    from scipy import stats as st

    d = np.asarray(differences, dtype=float)
    n = len(d)
    centred = d - d.mean() if n else d
    spread = float(np.mean(centred**2)) if n else 0.0
    skew = float(np.mean(centred**3) / spread**1.5) if spread > 0 else 0.0
    z = float(st.norm.ppf(1 - alpha))
    error = float(st.norm.pdf(z)) * (2 * z * z + 1) * abs(skew) / (6 * math.sqrt(max(n, 1)))
    chosen: TestName = "bootstrap-t" if error > T_LEVEL_ERROR_LIMIT else "t"
    name = "bootstrap-t" if chosen == "bootstrap-t" else "paired t"
    return chosen, (
        f"auto: the loss differences' skew {skew:.3g} over {n} rows puts the paired t-test's "
        f"one-sided level off by about {error:.2%} (limit {T_LEVEL_ERROR_LIMIT:.1%}): {name}"
    )


#: Resamples of :func:`metric_interval`'s percentile bootstrap, and the most row indices it
#: draws at once (64 MB).
_INTERVAL_RESAMPLES = 1000
_MAX_BOOTSTRAP_INDICES = 8_000_000


def metric_interval(
    name: str, y_true: np.ndarray, output: ModelOutput, *, confidence: float = 0.95
) -> tuple[float, float, float]:
    """One model's metric with a two-sided confidence interval: ``(value, low, high)``.

    ``value`` is :func:`metric_value`. Metrics that are means of per-row losses (``accuracy``
    as one minus the zero-one loss, ``log_loss``, ``brier``, ``mae``) use the normal interval
    of the mean, centred on the value; ``rmse`` the square root of the interval of the mean
    squared error; binary ``roc_auc`` DeLong's variance; ``f1``, ``r2`` and multiclass
    ``roc_auc`` a percentile bootstrap (1,000 resamples, seed 0).

    Raises:
        InvalidInputError: If the metric needs class probabilities the model does not give.
    """
    from scipy import stats as st

    y = np.asarray(y_true)
    value = metric_value(name, y, output)
    z = float(st.norm.ppf(0.5 + confidence / 2))
    n = len(y)
    summary = METRICS[name].row_summary
    if summary is not None:
        rows = _per_row(name, y, output)
        half = z * float(rows.std(ddof=1)) / math.sqrt(n) if n > 1 else math.inf
        if summary == "root_mean":  # sqrt of the mean squared error's interval
            mse = float(rows.mean())
            low, high = max(mse - half, 0.0), mse + half
            return value, math.sqrt(low), math.sqrt(high)
        return value, value - half, value + half
    if name == "roc_auc" and output.scores is not None and output.scores.shape[1] == 2:
        assert output.classes is not None
        _, variance = auc_variance(y == output.classes[1], output.scores[:, 1])
        half = z * math.sqrt(variance) if math.isfinite(variance) else math.inf
        return value, max(value - half, 0.0), min(value + half, 1.0)
    rng = np.random.default_rng(0)
    metric = METRICS[name]
    scored = np.asarray(output.scores if metric.needs_proba else output.predictions)
    samples: list[float] = []
    per_chunk = max(1, _MAX_BOOTSTRAP_INDICES // max(n, 1))
    for start in range(0, _INTERVAL_RESAMPLES, per_chunk):
        rows = rng.integers(0, n, (min(per_chunk, _INTERVAL_RESAMPLES - start), n))
        fast = resampled_scores(metric, y, scored, rows, labels=output.classes)
        if fast is not None:
            samples.extend(fast)
            continue
        for index in rows:
            resampled = ModelOutput(
                predictions=np.asarray(output.predictions)[index],
                scores=None if output.scores is None else output.scores[index],
                classes=output.classes,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    samples.append(metric_value(name, y[index], resampled))
                except ValueError:  # a resample with one class
                    continue
    tail = (1 - confidence) / 2 * 100
    low, high = np.nanpercentile(samples, [tail, 100 - tail])
    return value, float(low), float(high)


def loss_bound(loss: str, output: ModelOutput) -> float | None:
    """The largest value ``loss`` can take on a row of ``output``'s, or ``None`` if unbounded.

    1 for ``zero_one`` and for two-class ``brier`` (``(p - y)**2``), 2 for ``brier`` over
    three or more classes (the sum over classes); ``log_loss`` and the regression losses have
    no bound. Paired differences of a bounded loss lie in ``[-bound, bound]``, which is what
    shadow mode's betting confidence sequence needs.
    """
    if loss == "zero_one":
        return 1.0
    if loss == "brier":
        classes = output.classes
        return 1.0 if classes is not None and len(classes) <= 2 else 2.0
    return None


def per_row_loss(loss: str, y_true: np.ndarray, output: ModelOutput) -> np.ndarray:
    """Each row's loss under ``loss`` (lower is better), for shadow mode's paired differences.

    The registry's per-row losses (:func:`mlflow_retrain.metrics.row_losses`): their mean is
    the matching metric (``brier``, ``log_loss``, ``absolute_error`` -> ``mae``; one minus
    ``accuracy`` for ``zero_one``; ``rmse`` squared for ``squared_error``).

    Args:
        loss: ``brier``, ``log_loss`` (need class probabilities), ``zero_one``,
            ``squared_error`` or ``absolute_error``.
        y_true: Labels or values.
        output: The model's output on the same rows.

    Raises:
        InvalidInputError: If the loss needs probabilities the model does not give, or a label
            is not one of the model's classes.
    """
    y = np.asarray(y_true)
    if loss in LOSSES and LOSSES[loss].needs_proba:
        if output.scores is None or output.classes is None:
            raise errors.InvalidInputError(
                f"Loss '{loss}' needs class probabilities, and this model gives labels only. "
                "Set the policy's shadow loss to 'zero_one'."
            )
        unseen = sorted(set(np.unique(y).tolist()) - set(output.classes.tolist()), key=str)
        if unseen:
            raise errors.InvalidInputError(
                f"The batch has label {unseen[0]!r}, which the models were not trained on. "
                "Retrain on data that includes it before judging a challenger."
            )
        return row_losses(loss, y, output.scores, labels=output.classes)
    return row_losses(loss, y, np.asarray(output.predictions))


def _per_row(name: str, y: np.ndarray, output: ModelOutput) -> np.ndarray:
    """The per-row losses metric ``name`` summarises (see ``Metric.row_loss``)."""
    loss = METRICS[name].row_loss
    assert loss is not None
    return per_row_loss(loss, y, output)


def _resampled_metric(
    name: str, classes: np.ndarray | None
) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray | None]:
    """:func:`_array_metric` on many resamples at once (``None`` where it has no such form)."""

    def fn(y: np.ndarray, out: np.ndarray, rows: np.ndarray) -> np.ndarray | None:
        return resampled_scores(METRICS[name], y, out, rows, labels=classes)

    return fn


def _array_metric(
    name: str, classes: np.ndarray | None
) -> Callable[[np.ndarray, np.ndarray], float]:
    """``metric(y, out)`` on plain arrays (rows first), for the bootstrap to resample."""

    def fn(y: np.ndarray, out: np.ndarray) -> float:
        if METRICS[name].needs_proba:
            return metric_value(name, y, ModelOutput(predictions=y, scores=out, classes=classes))
        return metric_value(name, y, ModelOutput(predictions=out, classes=classes))

    return fn

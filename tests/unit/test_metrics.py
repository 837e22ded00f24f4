"""One metric vocabulary: every path that computes a metric gives the same number.

The registry (``mlflow_retrain.metrics``) defines each metric once; tuning, the comparison,
the policy, shadow mode's per-row losses and the paired bootstrap read it. The conventions
are scikit-learn 1.9's defaults: multiclass ROC AUC one-vs-rest macro, and Brier as
``brier_score_loss`` (binary ``(p - y)**2``; multiclass the sum over classes, not halved).
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

import mlflow_retrain.policy as policy_module
from mlflow_retrain.comparison import (
    ModelOutput,
    compare_models,
    metric_interval,
    metric_value,
    per_row_loss,
)
from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.metrics import LOSSES, METRICS, lookup_metric, resampled_scores, row_losses
from mlflow_retrain.metrics import score as registry_score
from mlflow_retrain.policy import PromotionPolicy
from mlflow_retrain.stats import paired_bootstrap_test, paired_bootstrap_tests
from mlflow_retrain.tuning import get_metric
from mlflow_retrain.tuning import score as tuning_score
from mlflow_retrain.tuning.metrics import CLASSIFICATION_METRICS, REGRESSION_METRICS

N = 400


def _classifier(
    y: np.ndarray, classes: np.ndarray, signal: float, rng: np.random.Generator
) -> ModelOutput:
    """Softmax scores that favour the true class by ``signal``."""
    onehot = (y[:, None] == classes[None, :]).astype(float)
    logits = signal * onehot + rng.normal(size=(len(y), len(classes)))
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return ModelOutput(
        predictions=classes[np.argmax(scores, axis=1)], scores=scores, classes=classes
    )


def _binary() -> tuple[np.ndarray, ModelOutput, ModelOutput]:
    rng = np.random.default_rng(11)
    classes = np.array([0, 1])
    y = (rng.random(N) < 0.35).astype(int)
    return y, _classifier(y, classes, 1.2, rng), _classifier(y, classes, 0.8, rng)


def _multiclass() -> tuple[np.ndarray, ModelOutput, ModelOutput]:
    # Imbalanced classes, so macro and weighted one-vs-rest AUC differ.
    rng = np.random.default_rng(12)
    classes = np.array(["a", "b", "c"])
    y = rng.choice(classes, size=N, p=[0.7, 0.2, 0.1])
    return y, _classifier(y, classes, 1.0, rng), _classifier(y, classes, 0.6, rng)


def _regression() -> tuple[np.ndarray, ModelOutput, ModelOutput]:
    rng = np.random.default_rng(13)
    y = rng.normal(size=N)
    return (
        y,
        ModelOutput(predictions=y + rng.normal(scale=0.5, size=N)),
        ModelOutput(predictions=y + rng.normal(scale=0.7, size=N)),
    )


DATASETS = {"binary": _binary, "multiclass": _multiclass, "regression": _regression}
CASES = [
    (kind, name)
    for kind in DATASETS
    for name, metric in METRICS.items()
    if metric.task == ("regression" if kind == "regression" else "classification")
]
# The paired bootstrap's named per-row metrics: 1-D probabilities of the positive class, so
# binary only for log_loss and brier; "mse" is rmse squared.
BOOTSTRAP_NAME = {"accuracy": "accuracy", "log_loss": "log_loss", "brier": "brier",
                  "mae": "mae", "rmse": "mse"}  # fmt: skip


@functools.cache
def _paths(kind: str, name: str) -> dict[str, float]:
    """The metric computed through every path that exists for it."""
    y, output, other = DATASETS[kind]()
    metric = METRICS[name]
    scored = output.scores if metric.needs_proba else output.predictions
    found = {
        "registry": registry_score(metric, y, scored, labels=output.classes),
        "comparison.metric_value": metric_value(name, y, output),
        "comparison.metric_interval": metric_interval(name, y, output)[0],
    }
    tuned = {**CLASSIFICATION_METRICS, **REGRESSION_METRICS}
    if name in tuned:
        n_classes = 0 if output.classes is None else len(output.classes)
        task = "regression" if kind == "regression" else "classification"
        tuning_metric = get_metric(name, task=task, n_classes=n_classes)
        found["tuning.score"] = tuning_score(tuning_metric, y, scored, labels=output.classes)
    if metric.row_loss is not None:
        losses = per_row_loss(metric.row_loss, y, output)
        found["mean of comparison.per_row_loss"] = metric.from_row_losses(losses)
        if metric.row_summary != "root_mean":  # a symmetric normal interval
            _, low, high = metric_interval(name, y, output)
            found["centre of comparison.metric_interval"] = (low + high) / 2
    whole = resampled_scores(metric, y, scored, np.arange(len(y))[None, :], labels=output.classes)
    if whole is not None:
        found["resampled_scores on every row"] = float(whole[0])
    boot = BOOTSTRAP_NAME.get(name)
    if boot is not None and (not metric.needs_proba or kind == "binary"):
        if metric.needs_proba:
            assert output.scores is not None
            assert other.scores is not None
            out_a, out_b = output.scores[:, 1], other.scores[:, 1]
        else:
            out_a, out_b = output.predictions, other.predictions
        result = paired_bootstrap_test(y, out_a, out_b, boot, n_resamples=200, random_state=0)
        value = result.details["metric_a"]
        found["stats bootstrap row values"] = math.sqrt(value) if name == "rmse" else value
    return found


@pytest.mark.parametrize(("kind", "name"), CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_every_path_computes_the_same_metric(kind: str, name: str) -> None:
    found = dict(_paths(kind, name))

    expected = found["registry"]
    assert math.isfinite(expected)
    assert {path: value for path, value in found.items()} == {
        path: pytest.approx(expected, rel=1e-12, abs=1e-15) for path in found
    }


def test_the_agreement_test_covers_every_path() -> None:
    covered: set[str] = set()
    for kind, name in CASES:
        covered |= set(_paths(kind, name))

    assert covered == {
        "registry", "tuning.score", "comparison.metric_value", "comparison.metric_interval",
        "mean of comparison.per_row_loss", "centre of comparison.metric_interval",
        "stats bootstrap row values", "resampled_scores on every row",
    }  # fmt: skip


@pytest.mark.parametrize(("kind", "name"), CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_resampled_scores_equal_the_metric_on_each_resample(kind: str, name: str) -> None:
    y, output, _ = DATASETS[kind]()
    metric = METRICS[name]
    scored = output.scores if metric.needs_proba else output.predictions
    rows = np.random.default_rng(5).integers(0, len(y), size=(40, len(y)))

    fast = resampled_scores(metric, y, scored, rows, labels=output.classes)

    if name == "roc_auc":  # no vectorised form: the bootstrap scores each resample
        assert fast is None
        return
    assert fast is not None
    slow = [registry_score(metric, y[r], scored[r], labels=output.classes) for r in rows]
    assert fast == pytest.approx(slow, rel=1e-12, abs=1e-15)


def _one_resample(name: str, y: np.ndarray, out: np.ndarray, rows: list[int],
                  labels: np.ndarray | None = None) -> tuple[float, float]:  # fmt: skip
    """``name`` on the resample ``rows``: vectorised, and by scikit-learn."""
    fast = resampled_scores(METRICS[name], y, out, np.array([rows]), labels=labels)
    assert fast is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns on these; the values are defined
        slow = registry_score(METRICS[name], y[rows], out[rows], labels=labels)
    return float(fast[0]), slow


def test_resampled_scores_keep_scikit_learns_conventions_on_degenerate_resamples() -> None:
    y = np.array([0.0, 1.0, 2.0, 3.0])
    truth, predicted, labels = np.array([0, 1, 1, 2]), np.array([0, 1, 0, 1]), np.arange(3)

    # Constant targets (row 0 four times): R² is 1 for exact predictions, else 0.
    assert _one_resample("r2", y, y.copy(), [0, 0, 0, 0]) == (1.0, 1.0)
    assert _one_resample("r2", y, y + 1.0, [0, 0, 0, 0]) == (0.0, 0.0)
    # Class 2 is neither true nor predicted on rows 0-2: its F1 counts as 0 in the mean.
    fast, slow = _one_resample("f1", truth, predicted, [0, 1, 2, 1], labels)
    assert fast == pytest.approx(slow, rel=1e-12)


def test_the_gates_one_bootstrap_gives_what_two_separate_ones_give() -> None:
    y, a, b = _regression()
    designs = [("less", 0.95), ("two-sided", 0.9)]

    def r2(t: np.ndarray, p: np.ndarray) -> float:
        return registry_score(METRICS["r2"], t, p)

    def fast(t: np.ndarray, p: np.ndarray, rows: np.ndarray) -> np.ndarray | None:
        return resampled_scores(METRICS["r2"], t, p, rows)

    shared = paired_bootstrap_tests(y, a.predictions, b.predictions, r2, designs=designs,
                                    n_resamples=300, random_state=3, resampled=fast)  # fmt: skip
    separate = [
        paired_bootstrap_test(
            y,
            a.predictions,
            b.predictions,
            r2,
            alternative=alt,
            confidence=conf,
            n_resamples=300,
            random_state=3,
        )
        for alt, conf in designs
    ]

    for mine, theirs in zip(shared, separate, strict=True):
        assert mine.p_value == theirs.p_value
        assert (mine.ci_low, mine.ci_high) == (
            pytest.approx(theirs.ci_low, rel=1e-12),
            pytest.approx(theirs.ci_high, rel=1e-12),
        )
        assert mine.alternative == theirs.alternative
        assert mine.confidence == theirs.confidence


# --------------------------------------------------------------------------------------------
# The two disagreements, fixed (these fail on the earlier code)
# --------------------------------------------------------------------------------------------


def test_multiclass_roc_auc_is_one_vs_rest_macro_for_the_tuner_and_the_gate() -> None:
    y, output, _ = _multiclass()
    assert output.scores is not None
    macro = skm.roc_auc_score(y, output.scores, multi_class="ovr", average="macro")
    weighted = skm.roc_auc_score(y, output.scores, multi_class="ovr", average="weighted")
    assert abs(macro - weighted) > 1e-3  # the data tell the two conventions apart

    tuned = tuning_score(
        get_metric("roc_auc", task="classification", n_classes=3), y, output.scores,
        labels=output.classes,
    )  # fmt: skip

    assert tuned == pytest.approx(macro, rel=1e-12)
    assert metric_value("roc_auc", y, output) == pytest.approx(macro, rel=1e-12)


def test_binary_brier_is_scikit_learns_brier_score_loss_everywhere() -> None:
    y, output, other = _binary()
    assert output.scores is not None
    assert other.scores is not None
    p = output.scores[:, 1]
    expected = skm.brier_score_loss(y, p)
    assert expected == pytest.approx(np.mean((p - y) ** 2), rel=1e-12)

    assert metric_value("brier", y, output) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(per_row_loss("brier", y, output), (p - y) ** 2, rtol=1e-12)
    boot = paired_bootstrap_test(y, p, other.scores[:, 1], "brier", n_resamples=200)
    assert boot.details["metric_a"] == pytest.approx(expected, rel=1e-12)


def test_multiclass_brier_is_the_unhalved_sum_over_classes() -> None:
    # scikit-learn 1.9, brier_score_loss(scale_by_half="auto"): halved only for two classes.
    y, output, _ = _multiclass()
    assert output.scores is not None
    assert output.classes is not None
    onehot = (y[:, None] == output.classes[None, :]).astype(float)
    expected = skm.brier_score_loss(y, output.scores, labels=output.classes)

    assert expected == pytest.approx(np.mean(np.sum((output.scores - onehot) ** 2, axis=1)))
    assert metric_value("brier", y, output) == pytest.approx(expected, rel=1e-12)
    assert per_row_loss("brier", y, output).mean() == pytest.approx(expected, rel=1e-12)


def test_accuracy_with_a_loss_test_asks_whether_the_challenger_is_more_accurate() -> None:
    # The t-test runs on zero-one losses, and its interval is mapped back to accuracy units.
    y, better, worse = _binary()
    policy = PromotionPolicy.from_dict({"primary": [{"metric": "accuracy", "test": "t"}]})

    evidence = compare_models(y, better, worse, policy=policy)

    (row,) = evidence.metrics
    assert row.difference > 0
    assert row.ci_low is not None
    assert row.ci_high is not None
    assert row.ci_low < row.difference < row.ci_high
    assert row.p_value is not None
    assert row.p_value < 0.05
    assert evidence.decision == "promote"


# --------------------------------------------------------------------------------------------
# The registry's tables are the policy's and the tuner's
# --------------------------------------------------------------------------------------------


def test_policy_tables_are_read_off_the_registry() -> None:
    assert {
        name: metric.greater_is_better for name, metric in METRICS.items()
    } == policy_module.GREATER_IS_BETTER
    assert set(policy_module.CLASSIFICATION_METRICS) | set(policy_module.REGRESSION_METRICS) == (
        set(METRICS)
    )
    assert {n: m.default_test for n, m in METRICS.items()} == policy_module.DEFAULT_TESTS
    assert {loss for losses in policy_module.SHADOW_LOSSES.values() for loss in losses} == set(
        LOSSES
    )


def test_tuning_metrics_are_the_registrys_objects() -> None:
    for name, metric in {**CLASSIFICATION_METRICS, **REGRESSION_METRICS}.items():
        assert metric is METRICS[name]


@pytest.mark.parametrize(
    ("name", "row_loss", "summary"),
    [("accuracy", "zero_one", "one_minus_mean"), ("log_loss", "log_loss", "mean"),
     ("brier", "brier", "mean"), ("rmse", "squared_error", "root_mean"),
     ("mae", "absolute_error", "mean"), ("roc_auc", None, None), ("f1", None, None),
     ("r2", None, None)],
)  # fmt: skip
def test_each_metric_names_the_per_row_loss_it_summarises(
    name: str, row_loss: str | None, summary: str | None
) -> None:
    assert (METRICS[name].row_loss, METRICS[name].row_summary) == (row_loss, summary)


def test_a_metric_without_per_row_losses_refuses_to_summarise_them() -> None:
    with pytest.raises(InvalidInputError, match=r"'roc_auc' is not a mean of per-row losses"):
        METRICS["roc_auc"].from_row_losses(np.zeros(3))


def test_lookup_metric_names_the_known_metrics() -> None:
    assert lookup_metric("brier") is METRICS["brier"]
    with pytest.raises(InvalidInputError, match=r"Unknown metric 'rsme'. Did you mean 'rmse'"):
        lookup_metric("rsme")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss": "hinge", "y_pred": [0.1, 0.2]}, r"Unknown per-row loss 'hinge'"),
        ({"loss": "brier", "y_pred": [[0.5, 0.5]] * 2, "labels": [0, 2]}, r"Label 1 is not"),
        ({"loss": "log_loss", "y_pred": [[0.2, 0.3, 0.5]] * 2}, r"3 columns but there are 2"),
        ({"loss": "zero_one", "y_pred": [1]}, r"got 1 predictions for 2 rows"),
    ],
)
def test_row_losses_reject_malformed_input(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        row_losses(y_true=[0, 1], **kwargs)

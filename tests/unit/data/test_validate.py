"""The data circuit breaker: each check, its message, and the all-clear."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlflow_retrain.config import ValidationConfig
from mlflow_retrain.data.validate import validate_batch, validate_reference
from mlflow_retrain.drift.profile import build_profile
from mlflow_retrain.exceptions import CircuitBreakerOpen


@pytest.fixture
def reference() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "k": rng.integers(0, 5, n),
            "c": rng.choice(["a", "b"], n),
            "when": pd.date_range("2026-01-01", periods=n, freq="h"),
            "y": rng.integers(0, 2, n),
        }
    )
    frame.loc[:9, "x"] = np.nan  # 5% missing in the reference
    return frame


def test_a_clean_batch_passes(reference: pd.DataFrame) -> None:
    report = validate_batch(build_profile(reference), reference.copy(), target="y")

    assert report.n_rows == 200
    assert "null_rate_increase" in report.checks


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.iloc[:0], r"has 0 rows; at least 1"),
        (lambda f: f.drop(columns=["c"]), r"Column 'c' is in the reference but missing"),
        (lambda f: f.drop(columns=["when"]), r"Column 'when' is in the reference but missing"),
        (lambda f: f.assign(z=1), r"Column 'z' is in the current batch but not in the ref"),
        (
            lambda f: f.assign(x=["oops"] * 3 + [1.0] * (len(f) - 3)),
            r"Column 'x' is numeric in the reference but has 3 non-numeric values "
            r"in the current batch \(first: 'oops'\)",
        ),
        (lambda f: f.assign(x=np.inf), r"Column 'x' has 200 infinite values .* row 0"),
        (lambda f: f.assign(k=np.nan), r"Column 'k' is entirely empty .*all 200 values"),
        (
            lambda f: f.assign(x=[np.nan] * 150 + [0.0] * 50),
            r"Column 'x' missing rate rose from 5.0% in the reference to 75.0%",
        ),
        (
            lambda f: f.set_axis(["x", "k", "c", "when", "x"], axis=1),
            r"duplicate column names \('x'\)",
        ),
    ],
    ids=[
        "empty",
        "missing",
        "missing_datetime",
        "extra",
        "text",
        "inf",
        "all_null",
        "null_jump",
        "duplicates",
    ],
)
def test_each_problem_opens_the_breaker(reference: pd.DataFrame, mutate, message: str) -> None:
    with pytest.raises(CircuitBreakerOpen, match=message):
        validate_batch(build_profile(reference), mutate(reference.copy()), target="y")


def test_every_problem_is_listed(reference: pd.DataFrame) -> None:
    batch = reference.drop(columns=["c"]).assign(z=1, k=np.nan)

    with pytest.raises(CircuitBreakerOpen, match=r"\(and 2 more problems\)") as info:
        validate_batch(build_profile(reference), batch)

    assert len(info.value.problems) == 3


def test_extra_columns_can_be_allowed_or_ignored(reference: pd.DataFrame) -> None:
    profile = build_profile(reference)
    batch = reference.assign(z=1, w=2)

    validate_batch(profile, batch, config=ValidationConfig(allow_extra_columns=True))
    validate_batch(profile, batch, ignore=["z", "w"])


def test_ignored_columns_may_be_missing_or_broken(reference: pd.DataFrame) -> None:
    batch = reference.drop(columns=["c"]).assign(x=np.inf)

    validate_batch(build_profile(reference), batch, ignore=["c", "x"])


def test_numeric_text_that_parses_is_accepted(reference: pd.DataFrame) -> None:
    batch = reference.assign(x=reference["x"].astype(str).replace("nan", None))

    validate_batch(build_profile(reference), batch)


def test_null_rate_limit_is_configurable(reference: pd.DataFrame) -> None:
    batch = reference.assign(x=[np.nan] * 150 + [0.0] * 50)

    validate_batch(
        build_profile(reference), batch, config=ValidationConfig(max_null_rate_increase=0.8)
    )


def test_a_column_empty_in_the_reference_may_stay_empty() -> None:
    reference = pd.DataFrame({"x": [1.0, 2.0, 3.0], "e": [np.nan] * 3})

    validate_batch(build_profile(reference), reference.copy())


@pytest.mark.parametrize(
    ("batch_target", "message"),
    [
        (None, r"Target column 'y' is not in the current batch"),
        ([np.nan] * 200, r"Target column 'y' has no values"),
        ([1] * 200, r"Target column 'y' has 1 distinct value \('1'\)"),
    ],
    ids=["absent", "empty", "one_class"],
)
def test_required_labels(reference: pd.DataFrame, batch_target, message: str) -> None:
    batch = (
        reference.drop(columns=["y"]) if batch_target is None else reference.assign(y=batch_target)
    )

    with pytest.raises(CircuitBreakerOpen, match=message):
        validate_batch(build_profile(reference), batch, target="y", require_labels=True)


def test_unlabelled_batch_passes_when_labels_are_optional(reference: pd.DataFrame) -> None:
    validate_batch(build_profile(reference), reference.drop(columns=["y"]), target="y")


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"a": []}), r"reference has 0 rows"),
        (pd.DataFrame({"a": [1.0, np.inf]}), r"Column 'a' has 1 infinite values in the reference"),
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), r"duplicate column names \('a'\)"),
    ],
    ids=["empty", "inf", "duplicates"],
)
def test_reference_checks(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(CircuitBreakerOpen, match=message):
        validate_reference(frame)


def _levels(n_rows: int, n_levels: int) -> pd.DataFrame:
    return pd.DataFrame({"code": [f"c{i % n_levels}" for i in range(n_rows)]})


def test_an_identifier_in_a_categorical_column_opens_the_breaker() -> None:
    profile = build_profile(_levels(600, 5))

    with pytest.raises(CircuitBreakerOpen, match=r"'code' has 1,001 distinct values .* but 5"):
        validate_batch(profile, _levels(2000, 1001))


def test_many_levels_are_accepted_up_to_the_limit_or_when_the_reference_had_them() -> None:
    validate_batch(build_profile(_levels(600, 5)), _levels(2000, 1000))
    validate_batch(
        build_profile(_levels(600, 5)),
        _levels(2000, 1500),
        config=ValidationConfig(max_categories=2000),
    )
    # Mostly distinct in the reference already (an ID, a timestamp as text): not a change.
    validate_batch(build_profile(_levels(600, 600)), _levels(5000, 5000))

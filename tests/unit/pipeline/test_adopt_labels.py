"""Label reconciliation of ``adopt`` and a pyfunc's outputs as scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.pipeline.adopt import reconcile_labels
from mlflow_retrain.pipeline.compare import _pyfunc_output


@pytest.mark.parametrize(
    ("labels", "classes"),
    [
        ([1, 0, 1], [0, 1]),
        ([1.0, 0.0, 1.0], [0, 1]),
        (["1", "0", "1"], [0, 1]),
        ([True, False, True], [0, 1]),
        (["true", "false", "TRUE"], [False, True]),
        ([1, 0, 1], ["0", "1"]),
        ([1, 0, 1], [0.0, 1.0]),
        (["1.0", " 0", "1"], [0, 1]),
    ],
)
def test_one_zero_true_and_text_forms_are_the_same_class(labels: list, classes: list) -> None:
    reconciled = reconcile_labels(pd.Series(labels, dtype=object), classes)

    assert reconciled.tolist() == [classes[1], classes[0], classes[1]]
    assert {type(v) for v in reconciled} <= {type(c) for c in classes} | {np.int64, np.bool_}


def test_labels_the_model_never_predicts_are_named() -> None:
    with pytest.raises(InvalidInputError, match=r"Reference labels \[2, 'x'\] are not classes"):
        reconcile_labels(pd.Series([0, 1, 2, "x"], dtype=object), [0, 1])


def test_text_labels_keep_their_case_and_spelling() -> None:
    assert reconcile_labels(pd.Series(["yes", "no"]), ["no", "yes"]).tolist() == ["yes", "no"]
    with pytest.raises(InvalidInputError, match=r"\['Yes'\] are not classes"):
        reconcile_labels(pd.Series(["Yes", "no"]), ["no", "yes"])


def test_a_pyfunc_dataframe_of_class_columns_is_probabilities() -> None:
    out = _pyfunc_output(pd.DataFrame({"a": [0.9, 0.2], "b": [0.1, 0.8]}), task="classification")

    assert out.classes is not None
    assert out.classes.tolist() == ["a", "b"]
    assert out.predictions.tolist() == ["a", "b"]
    np.testing.assert_allclose(out.scores, [[0.9, 0.1], [0.2, 0.8]])


def test_a_pyfunc_2d_array_takes_the_sorted_labels_as_its_columns() -> None:
    out = _pyfunc_output(np.array([[0.3, 0.7], [0.6, 0.4]]), task="classification", labels=[0, 1])

    assert out.predictions.tolist() == [1, 0]
    with pytest.raises(InvalidInputError, match=r"2 probability columns for 3 classes"):
        _pyfunc_output(np.array([[0.3, 0.7]]), task="classification", labels=[0, 1, 2])


def test_a_pyfunc_1d_output_is_labels_only() -> None:
    out = _pyfunc_output(np.array([1, 0, 1]), task="classification")

    assert out.scores is None
    assert out.predictions.tolist() == [1, 0, 1]

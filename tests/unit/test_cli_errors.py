"""How the CLI words an MLflow error: a server's refusal of the user says what to do."""

from __future__ import annotations

from mlflow.exceptions import MlflowException

from mlflow_retrain.cli import _explain


def _rest_error(status: int, body: str) -> MlflowException:
    # The wording of mlflow.utils.rest_utils.verify_rest_response for a non-JSON error body.
    return MlflowException(
        f"API request to endpoint /api/2.0/mlflow/model-versions/set-tag failed with error code "
        f"{status} != 200. Response body: '{body}'"
    )


def test_a_403_names_the_permission_and_the_fix() -> None:
    message = _explain(_rest_error(403, "Permission denied"))

    assert "denied permission (HTTP 403 on /api/2.0/mlflow/model-versions/set-tag)" in message
    assert "MANAGE" in message
    assert "ask an admin" in message


def test_a_401_asks_for_credentials() -> None:
    message = _explain(_rest_error(401, "You are not authenticated."))

    assert "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in message


def test_other_errors_keep_their_message() -> None:
    err = MlflowException("Registered Model with name=x not found")

    assert _explain(err) == "Registered Model with name=x not found"
    assert _explain(_rest_error(500, "boom")) == _rest_error(500, "boom").message

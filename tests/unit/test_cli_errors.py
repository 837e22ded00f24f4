"""How the CLI words an MLflow error: a server's refusal of the user says what to do."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException

from mlflow_retrain.cli import _explain


def _rest_error(
    status: int, body: str, endpoint: str = "/api/2.0/mlflow/model-versions/set-tag"
) -> MlflowException:
    # The wording of mlflow.utils.rest_utils.verify_rest_response for a non-JSON error body.
    return MlflowException(
        f"API request to endpoint {endpoint} failed with error code {status} != 200. "
        f"Response body: '{body}'"
    )


def test_a_403_names_the_permission_and_the_fix() -> None:
    message = _explain(_rest_error(403, "Permission denied"))

    assert "denied permission (HTTP 403 on /api/2.0/mlflow/model-versions/set-tag)" in message
    assert "lacks EDIT on the registered model." in message
    assert "Ask an admin to grant it (docs/team-server.md, 'Permissions', has the exact" in message


@pytest.mark.parametrize(
    ("endpoint", "needs"),
    [
        ("/api/2.0/mlflow/runs/create", "EDIT on the experiment"),
        ("/api/2.0/mlflow/logged-models", "EDIT on the experiment"),
        ("/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/x.json", "EDIT on the experiment"),
        ("/api/2.0/mlflow/model-versions/create", "EDIT on the registered model"),
        ("/api/2.0/mlflow/registered-models/alias",
         "EDIT (MANAGE for `mlflow-retrain override`) on the registered model"),
    ],
)  # fmt: skip
def test_a_403_names_the_resource_of_the_failing_endpoint(endpoint: str, needs: str) -> None:
    message = _explain(_rest_error(403, "Permission denied", endpoint))

    assert f"lacks {needs}." in message


def test_a_401_asks_for_credentials() -> None:
    message = _explain(_rest_error(401, "You are not authenticated."))

    assert "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in message


def test_other_errors_keep_their_message() -> None:
    err = MlflowException("Registered Model with name=x not found")

    assert _explain(err) == "Registered Model with name=x not found"
    assert _explain(_rest_error(500, "boom")) == _rest_error(500, "boom").message

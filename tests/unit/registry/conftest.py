"""A registry for the tests of the registry's state: one SQLite store per module, a model each."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient


@pytest.fixture(scope="module")
def registry_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite registry shared by a module's tests (creating one costs seconds)."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).search_registered_models()
    return uri


@pytest.fixture
def client(registry_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=registry_uri, registry_uri=registry_uri)


@pytest.fixture
def model(client: MlflowClient, tmp_path: Path) -> str:
    """A fresh registered model with versions 1, 2 and 3."""
    name = f"fraud-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    for _ in range(3):
        client.create_model_version(name, str(tmp_path))
    return name

"""Contract: apart from the gated aliases, the plugin store behaves exactly like MLflow's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.integration


def _scenario(client: MlflowClient, source: str, run_id: str) -> list[Any]:
    """Registry operations a user performs, with their observable results."""
    out: list[Any] = []
    model = client.create_registered_model("m", tags={"team": "risk"}, description="d")
    out.append((model.name, model.tags, model.description))
    versions = [client.create_model_version("m", source, run_id=run_id, tags={"i": str(i)})
                for i in range(3)]  # fmt: skip
    out.append([(v.version, v.tags, v.status) for v in versions])
    client.set_model_version_tag("m", "2", "k", "v")
    client.delete_model_version_tag("m", "1", "i")
    client.set_registered_model_alias("m", "challenger", "3")
    client.set_registered_model_alias("m", "staging", "2")
    client.delete_registered_model_alias("m", "staging")
    client.delete_registered_model_alias("m", "never-set")  # silent no-op in MLflow
    out.append(dict(client.get_registered_model("m").aliases))
    out.append(str(client.get_model_version_by_alias("m", "challenger").version))
    out.append(sorted(
        (v.version, sorted(v.tags.items()))
        for v in client.search_model_versions("name = 'm' AND tags.`k` = 'v'")
    ))  # fmt: skip
    client.update_model_version("m", "1", description="first")
    out.append(client.get_model_version("m", "1").description)
    client.rename_registered_model("m", "m2")
    out.append([m.name for m in client.search_registered_models()])
    client.delete_model_version("m2", "3")
    out.append(dict(client.get_registered_model("m2").aliases))
    for bad in (lambda: client.get_model_version("m2", "9"),
                lambda: client.set_registered_model_alias("m2", "latest", "1")):  # fmt: skip
        try:
            bad()
        except MlflowException as err:
            out.append(err.error_code)
    out.append(len(client.list_webhooks()))
    return out


def test_plugin_and_stock_store_give_the_same_results(tracking_uri: str, tmp_path: Path) -> None:
    with mlflow.start_run() as run:
        mlflow.log_text("w", "model/w.txt")
    source = f"runs:/{run.info.run_id}/model"
    stock_db, plugin_db = tmp_path / "stock.db", tmp_path / "plugin.db"
    stock = MlflowClient(tracking_uri, registry_uri=f"sqlite:///{stock_db}")
    plugin = MlflowClient(tracking_uri, registry_uri=f"retrain+sqlite:///{plugin_db}")

    expected = _scenario(stock, source, run.info.run_id)
    actual = _scenario(plugin, source, run.info.run_id)

    assert type(plugin._get_registry_client().store).__name__ == "RetrainSqlAlchemyStore"
    assert actual == expected

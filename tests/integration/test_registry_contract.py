"""Contracts of the plugin stores.

Apart from the gated aliases, the SQL plugin store behaves exactly like MLflow's; and both
plugin stores (SQL, and REST against a server without the plugin) make the same moves through
the gate, with the same follow-ups and the same audit records.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import mlflow
import pytest
from helpers.registry import write_evidence
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage

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


#: What only the store knows when it applies a move, or says how it applied it.
_VOLATILE = ("time_ms", "user", "client_side")


def _move(client: MlflowClient, name: str, version: str) -> dict[str, Any]:
    """Move ``champion`` to ``version``; return the move's audit record and the state after."""
    before = set(client.get_registered_model(name).tags)
    client.set_registered_model_alias(name, "champion", version)
    model = client.get_registered_model(name)
    (record,) = [
        json.loads(value)
        for key, value in model.tags.items()
        if key.startswith(lineage.TAG_AUDIT_PREFIX) and key not in before
    ]
    versions = client.search_model_versions(f"name = '{name}'")
    return {
        "audit": {k: v for k, v in record.items() if k not in _VOLATILE},
        "volatile": sorted(k for k in record if k in _VOLATILE),
        "aliases": {k: str(v) for k, v in model.aliases.items()},
        "versions": sorted(
            (
                str(v.version),
                v.tags.get(lineage.TAG_STATUS),
                lineage.TAG_OVERRIDE_REASON in v.tags,
            )
            for v in versions
        ),
    }


def _promote_rollback_override(client: MlflowClient, source: str, run_id: str) -> list[Any]:
    """A first deployment, a promotion, a rollback and an override, through the gate."""
    name = f"contract-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    v1, v2, v3 = (
        str(client.create_model_version(name, source, run_id=run_id).version) for _ in range(3)
    )

    def evidence(version: str, baseline: str) -> None:
        write_evidence(client, name, version, baseline=baseline, run_id=f"evidence-of-{version}")

    evidence(v1, "none")
    first = _move(client, name, v1)
    client.set_registered_model_alias(name, "challenger", v2)
    evidence(v2, v1)
    promotion = _move(client, name, v2)
    client.set_model_version_tag(name, v1, lineage.TAG_ROLLBACK_REASON, "latency doubled")
    rollback = _move(client, name, v1)
    client.set_model_version_tag(name, v3, lineage.TAG_OVERRIDE_REASON, "incident 42 hotfix")
    override = _move(client, name, v3)
    return [first, promotion, rollback, override]


def test_both_plugin_stores_make_the_same_moves_and_audit_records(
    tracking_uri: str, tmp_path: Path, mlflow_server: str
) -> None:
    with mlflow.start_run() as run:
        mlflow.log_text("w", "model/w.txt")
    sql = MlflowClient(tracking_uri, registry_uri=f"retrain+sqlite:///{tmp_path / 'plugin.db'}")
    rest = MlflowClient(mlflow_server, registry_uri="retrain+" + mlflow_server)
    server_run = rest.create_run(rest.create_experiment(f"contract-{uuid.uuid4().hex[:8]}"))

    on_sql = _promote_rollback_override(sql, f"runs:/{run.info.run_id}/model", run.info.run_id)
    on_rest = _promote_rollback_override(
        rest, f"runs:/{server_run.info.run_id}/model", server_run.info.run_id
    )

    assert type(rest._get_registry_client().store).__name__ == "RetrainRestStore"
    assert [m["audit"]["kind"] for m in on_sql] == [
        "first_deployment", "promotion", "rollback", "override",
    ]  # fmt: skip
    assert on_sql[2]["audit"]["reason"].endswith("Reason: latency doubled")
    assert on_sql[3]["versions"] == [("1", "retired", False), ("2", "rolled_back", False),
                                     ("3", "promoted", False)]  # fmt: skip
    assert [m["volatile"] for m in on_sql] == [["time_ms", "user"]] * 4
    assert [m["volatile"] for m in on_rest] == [["client_side", "time_ms", "user"]] * 4
    for m in (*on_sql, *on_rest):
        del m["volatile"]
    assert on_rest == on_sql

"""The promotion gate on a real ``mlflow server`` (``--registry-store-uri retrain+...``).

Every change goes through HTTP, as the MLflow UI (``/ajax-api``) or a REST client (``/api``)
would send it, against SQLite and PostgreSQL; PostgreSQL runs two server workers, so
concurrent promotions race across processes. The client-side behaviour of the store is
covered by ``test_registry_store.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers.registry import (
    aliases,
    audit_records,
    register_versions,
    version_status,
    write_evidence,
)
from mlflow.server.auth.client import AuthServiceClient
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage

pytestmark = pytest.mark.integration

REST = "/api/2.0/mlflow/registered-models/alias"
AJAX = "/ajax-api/2.0/mlflow/registered-models/alias"
ENDPOINTS = pytest.mark.parametrize("endpoint", [REST, AJAX], ids=["rest", "ajax"])
TIMEOUT_S = 30
ADMIN_PASSWORD = "admin-password-42"  # MLflow requires at least 12 characters


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mysql"])
def server(
    request: pytest.FixtureRequest,
    start_module_mlflow_server: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """A tracking server whose registry store is the plugin, on the same database."""
    if request.param == "sqlite":
        backend = f"sqlite:///{tmp_path_factory.mktemp('gate-db') / 'mlflow.db'}"
        workers = "1"  # SQLite serialises writes; several processes would only add lock errors
    else:
        fixture = {"postgresql": "module_postgres_url", "mysql": "module_mysql_url"}
        backend = request.getfixturevalue(fixture[request.param])
        workers = "2"  # promotions race across server processes, not only threads
    return start_module_mlflow_server(
        backend_store_uri=backend,
        extra_args=("--registry-store-uri", "retrain+" + backend, "--workers", workers),
    )


@pytest.fixture
def client(server: str) -> MlflowClient:
    return MlflowClient(tracking_uri=server)


@pytest.fixture
def model(client: MlflowClient) -> str:
    """A fresh registered model's name (the server is shared by the module's tests)."""
    name = f"fraud-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    return name


def _set(
    server: str, name: str, alias: str, version: str, endpoint: str = REST, **kw: Any
) -> requests.Response:
    body = {"name": name, "alias": alias, "version": version}
    return requests.post(server + endpoint, json=body, timeout=TIMEOUT_S, **kw)


def _delete(server: str, name: str, alias: str, endpoint: str = REST) -> requests.Response:
    body = {"name": name, "alias": alias}
    return requests.delete(server + endpoint, json=body, timeout=TIMEOUT_S)


def _assert_refused(response: requests.Response, *fragments: str) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    message = response.json()["message"]
    for fragment in fragments:
        assert fragment in message, message


def _first_champion(server: str, client: MlflowClient, name: str, version: str) -> None:
    write_evidence(client, name, version, baseline="none")
    response = _set(server, name, "champion", version)
    assert response.status_code == 200, response.text


# --- one identity per alias and version ----------------------------------------------------------

#: Spellings of the gated aliases. MariaDB's utf8mb4_general_ci compares without case and
#: accents and takes ß for s, so there each of these *is* the gated alias.
LOOK_ALIKES = [
    "Champion",
    "CHAMPION",
    "chámpion",
    "\uff43hampion",  # a full-width c
    "Previous-Champion",
    "previouß-champion",
]


@pytest.mark.parametrize("alias", LOOK_ALIKES)
def test_a_spelling_of_a_gated_alias_is_refused_and_changes_nothing(
    request: pytest.FixtureRequest, server: str, client: MlflowClient, model: str, alias: str
) -> None:
    # The REST and the UI's ajax routes reach the same store call (tested above for both).
    endpoint = AJAX if alias.isupper() else REST
    v1, v2 = register_versions(client, model, 2)
    _first_champion(server, client, model, v1)
    before = (aliases(client, model), audit_records(client, model))

    set_response = _set(server, model, alias, v2, endpoint)
    delete_response = _delete(server, model, alias, endpoint)

    if alias == "previouß-champion" and request.node.callspec.params["server"] != "mysql":
        # Only MariaDB's collation takes ß for s: elsewhere it is another alias, and harmless.
        assert set_response.status_code == 200, set_response.text
        now = aliases(client, model)
        assert (now["champion"], "previous-champion" in now) == (v1, False)
        assert audit_records(client, model) == before[1]
        return
    _assert_refused(set_response, "gated alias")
    _assert_refused(delete_response, "gated alias")
    assert (aliases(client, model), audit_records(client, model)) == before
    assert client.get_model_version_by_alias(model, "champion").version == v1


@pytest.mark.parametrize("spelling", ["0{}", " {}", "+{}", "{}_0"])
def test_a_version_spelt_another_way_is_still_the_version_the_gate_judges(
    server: str, client: MlflowClient, model: str, spelling: str
) -> None:
    v1, v2 = register_versions(client, model, 2)
    _first_champion(server, client, model, v1)
    spelt = spelling.format(v2)

    response = _set(server, model, "champion", spelt)

    # v2 has no evidence: however it is spelt, the gate judges v2 (or MLflow refuses the
    # spelling), and champion stays on v1.
    assert 400 <= response.status_code < 500, response.text
    assert aliases(client, model)["champion"] == v1
    write_evidence(client, model, v2, baseline=v1)
    if spelling == "{}_0":
        return  # int("2_0") is 20: not v2, and MLflow has no version 20
    response = _set(server, model, "champion", spelt)
    assert response.status_code == 200, response.text
    assert aliases(client, model) == {"champion": v2, "previous-champion": v1}


# --- refusals ------------------------------------------------------------------------------------


@ENDPOINTS
def test_champion_without_evidence_is_refused_with_a_400(
    server: str, client: MlflowClient, model: str, endpoint: str
) -> None:
    (v1,) = register_versions(client, model, 1)

    response = _set(server, model, "champion", v1, endpoint)

    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    _assert_refused(response, "Promotion gate", "mlflow-retrain compare")
    lookup = requests.get(
        server + REST, params={"name": model, "alias": "champion"}, timeout=TIMEOUT_S
    )
    # MLflow's own answer for a missing alias is a 400 "not found", not a 404.
    assert lookup.status_code in (400, 404), lookup.text
    assert "not found" in lookup.json()["message"]
    assert aliases(client, model) == {}
    assert audit_records(client, model) == []


@ENDPOINTS
@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("delete_champion", "cannot be removed"),
        ("delete_previous", "kept by the promotion gate"),
        ("set_previous", "kept by the promotion gate"),
    ],
)
def test_gated_aliases_cannot_be_forced(
    server: str, client: MlflowClient, model: str, endpoint: str, action: str, message: str
) -> None:
    v1, v2 = register_versions(client, model, 2)
    _first_champion(server, client, model, v1)
    write_evidence(client, model, v2, baseline=v1)
    assert _set(server, model, "champion", v2).status_code == 200
    before = (aliases(client, model), audit_records(client, model))

    if action == "delete_champion":
        response = _delete(server, model, "champion", endpoint)
    elif action == "delete_previous":
        response = _delete(server, model, "previous-champion", endpoint)
    else:
        response = _set(server, model, "previous-champion", v2, endpoint)

    _assert_refused(response, "Promotion gate", message)
    assert (aliases(client, model), audit_records(client, model)) == before
    assert before[0] == {"champion": v2, "previous-champion": v1}


@ENDPOINTS
def test_stale_evidence_is_refused(
    server: str, client: MlflowClient, model: str, endpoint: str
) -> None:
    v1, v2, v3 = register_versions(client, model, 3)
    _first_champion(server, client, model, v1)
    write_evidence(client, model, v2, baseline=v1)
    write_evidence(client, model, v3, baseline=v1)
    assert _set(server, model, "champion", v2, endpoint).status_code == 200

    response = _set(server, model, "champion", v3, endpoint)

    _assert_refused(response, "Promotion gate", "stale", "mlflow-retrain compare")
    assert aliases(client, model)["champion"] == v2


# --- permitted moves -----------------------------------------------------------------------------


@ENDPOINTS
def test_promotion_with_evidence_moves_every_alias_and_is_audited(
    server: str, client: MlflowClient, model: str, endpoint: str
) -> None:
    v1, v2 = register_versions(client, model, 2)
    write_evidence(client, model, v1, baseline="none")
    assert _set(server, model, "champion", v1, endpoint).status_code == 200
    assert _set(server, model, "challenger", v2, endpoint).status_code == 200  # not gated
    write_evidence(client, model, v2, baseline=v1)

    response = _set(server, model, "champion", v2, endpoint)

    assert response.status_code == 200, response.text
    assert aliases(client, model) == {"champion": v2, "previous-champion": v1}
    assert version_status(client, model, v2) == lineage.STATUS_PROMOTED
    assert version_status(client, model, v1) == lineage.STATUS_RETIRED
    audit = audit_records(client, model)
    assert [(a["from"], a["to"], a["kind"]) for a in audit] == [
        (None, v1, "first_deployment"),
        (v1, v2, "promotion"),
    ]
    assert audit[1]["evidence_run"] == "run-x"
    assert audit[1]["user"] is None  # no authentication on this server


def test_rollback_and_override_are_audited(server: str, client: MlflowClient, model: str) -> None:
    v1, v2, v3 = register_versions(client, model, 3)
    _first_champion(server, client, model, v1)
    write_evidence(client, model, v2, baseline=v1)
    assert _set(server, model, "champion", v2).status_code == 200

    rollback = _set(server, model, "champion", v1)  # to the previous champion: no evidence
    assert rollback.status_code == 200, rollback.text
    assert aliases(client, model) == {"champion": v1, "previous-champion": v2}
    assert version_status(client, model, v2) == lineage.STATUS_ROLLED_BACK

    _assert_refused(_set(server, model, "champion", v3), "no comparison evidence")
    client.set_model_version_tag(model, v3, lineage.TAG_OVERRIDE_REASON, "incident 42 hotfix")
    override = _set(server, model, "champion", v3)
    assert override.status_code == 200, override.text
    assert aliases(client, model) == {"champion": v3, "previous-champion": v1}

    audit = audit_records(client, model)
    assert [(a["from"], a["to"], a["kind"]) for a in audit] == [
        (None, v1, "first_deployment"),
        (v1, v2, "promotion"),
        (v2, v1, "rollback"),
        (v1, v3, "override"),
    ]
    assert "incident 42 hotfix" in audit[-1]["reason"]


@ENDPOINTS
@pytest.mark.security
@pytest.mark.parametrize(
    ("on", "key", "value"),
    [
        ("model", lineage.TAG_AUDIT_PREFIX + "1700000000000-abcdef", "{}"),
        ("model", lineage.TAG_CHANGE_PREFIX + "1700000000000-abcdef", "{}"),
        ("version", lineage.TAG_STATUS, lineage.STATUS_PROMOTED),
        ("version", lineage.TAG_OVERRIDE_BY, '{"user": null}'),
    ],
    ids=["audit", "change", "status-promoted", "override-writer"],
)
def test_without_authentication_what_only_the_store_writes_is_still_refused(
    server: str, client: MlflowClient, model: str, endpoint: str, on: str, key: str, value: str
) -> None:
    (v1,) = register_versions(client, model, 1)
    _first_champion(server, client, model, v1)
    before = (aliases(client, model), client.get_registered_model(model).tags,
              client.get_model_version(model, v1).tags)  # fmt: skip
    prefix = endpoint.removesuffix("registered-models/alias")
    if on == "model":
        path, body = "registered-models/set-tag", {"name": model, "key": key, "value": value}
    else:
        path = "model-versions/set-tag"
        body = {"name": model, "version": v1, "key": key, "value": value}

    response = requests.post(server + prefix + path, json=body, timeout=TIMEOUT_S)

    assert response.status_code == 403, response.text
    _assert_refused(response, "No client may set or delete it", key)
    assert "\n" not in response.json()["message"]
    after = (aliases(client, model), client.get_registered_model(model).tags,
             client.get_model_version(model, v1).tags)  # fmt: skip
    assert after == before


def test_other_aliases_are_not_gated(server: str, client: MlflowClient, model: str) -> None:
    v1, v2 = register_versions(client, model, 2)

    assert _set(server, model, "challenger", v1, AJAX).status_code == 200
    assert _set(server, model, "challenger", v2, REST).status_code == 200
    assert aliases(client, model) == {"challenger": v2}
    assert _delete(server, model, "challenger", AJAX).status_code == 200
    assert aliases(client, model) == {}


# --- concurrency ---------------------------------------------------------------------------------

_PROCESS_SNIPPET = """
import sys, time, requests
url, name, version, start_at = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
time.sleep(max(0.0, start_at - time.time()))
r = requests.post(url, json={"name": name, "alias": "champion", "version": version}, timeout=30)
print(r.status_code)
print(r.text)
"""


def _race_threads(server: str, model: str, versions: list[str]) -> list[tuple[int, str]]:
    barrier = threading.Barrier(len(versions))
    results: dict[str, tuple[int, str]] = {}

    def promote(version: str) -> None:
        with requests.Session() as session:
            session.get(server + "/health", timeout=TIMEOUT_S)  # connect before the race
            barrier.wait()
            body = {"name": model, "alias": "champion", "version": version}
            response = session.post(server + REST, json=body, timeout=TIMEOUT_S)
        results[version] = (response.status_code, response.text)

    threads = [threading.Thread(target=promote, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=2 * TIMEOUT_S)
    return [results[v] for v in versions]


def _race_processes(server: str, model: str, versions: list[str]) -> list[tuple[int, str]]:
    start_at = time.time() + 2.0  # after every interpreter has started and imported requests
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _PROCESS_SNIPPET, server + REST, model, v, str(start_at)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for v in versions
    ]
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=2 * TIMEOUT_S)
        status, _, text = out.partition("\n")
        results.append((int(status), text))
    return results


@pytest.mark.parametrize(("race", "n"), [(_race_threads, 10), (_race_processes, 10)],
                         ids=["threads", "processes"])  # fmt: skip
def test_concurrent_promotions_have_exactly_one_winner(
    request: pytest.FixtureRequest,
    server: str,
    client: MlflowClient,
    model: str,
    race: Any,
    n: int,
) -> None:
    v1, *challengers = register_versions(client, model, n + 1)
    _first_champion(server, client, model, v1)
    for version in challengers:
        write_evidence(client, model, version, baseline=v1)
    audit_before = len(audit_records(client, model))

    results = race(server, model, challengers)

    winners = [v for v, (code, _) in zip(challengers, results, strict=True) if code == 200]
    assert len(winners) == 1, results
    for code, text in results:
        if code != 200:
            assert 400 <= code < 500, (code, text)
            assert "stale" in json.loads(text)["message"], text
    assert aliases(client, model) == {"champion": winners[0], "previous-champion": v1}
    audit = audit_records(client, model)
    assert len(audit) == audit_before + 1
    assert (audit[-1]["from"], audit[-1]["to"], audit[-1]["kind"]) == (
        v1,
        winners[0],
        "promotion",
    )


# --- basic-auth ----------------------------------------------------------------------------------


@pytest.fixture
def auth_server(start_mlflow_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite server with ``--app-name basic-auth`` and user ``admin`` (``ADMIN_PASSWORD``)."""
    pytest.importorskip("flask_wtf", reason="basic-auth needs mlflow[auth] (Flask-WTF)")
    config = tmp_path / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{tmp_path / 'basic_auth.db'}\n"
        "admin_username = admin\n"
        f"admin_password = {ADMIN_PASSWORD}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "auth_cache_ttl_seconds = 600\n"  # one password hash per user, not one per request
    )
    backend = f"sqlite:///{tmp_path / 'mlflow.db'}"
    url = start_mlflow_server(
        backend_store_uri=backend,
        extra_args=("--registry-store-uri", "retrain+" + backend, "--app-name", "basic-auth"),
        env={
            "MLFLOW_FLASK_SERVER_SECRET_KEY": uuid.uuid4().hex,
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MLFLOW_AUTH_CONFIG_PATH": str(config),
            "MLFLOW_RETRAIN_PIPELINE_USERS": "pipeline",
        },
    )
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    return url


def test_basic_auth_user_is_recorded_in_the_audit(auth_server: str) -> None:
    client = MlflowClient(tracking_uri=auth_server)
    model = "fraud"
    client.create_registered_model(model)
    (v1,) = register_versions(client, model, 1)
    write_evidence(client, model, v1, baseline="none")

    anonymous = _set(auth_server, model, "champion", v1)
    assert anonymous.status_code == 401
    assert aliases(client, model) == {}

    response = _set(auth_server, model, "champion", v1, auth=("admin", ADMIN_PASSWORD))

    assert response.status_code == 200, response.text
    assert aliases(client, model) == {"champion": v1}
    (record,) = audit_records(client, model)
    assert (record["to"], record["kind"], record["user"]) == (v1, "first_deployment", "admin")


def test_override_needs_manage_permission_under_basic_auth(auth_server: str) -> None:
    admin = ("admin", ADMIN_PASSWORD)
    client = MlflowClient(tracking_uri=auth_server)
    model = "fraud"
    client.create_registered_model(model)
    v1, v2 = register_versions(client, model, 2)
    write_evidence(client, model, v1, baseline="none")
    assert _set(auth_server, model, "champion", v1, auth=admin).status_code == 200
    alice = ("alice", "alice-password-42")
    auth = AuthServiceClient(auth_server)  # as admin: the fixture sets the credentials
    auth.create_user(*alice)
    auth.grant_user_permission(alice[0], "registered_model", model, "EDIT")
    tag = {"name": model, "version": v2, "key": lineage.TAG_OVERRIDE_REASON, "value": "hotfix"}
    set_tag = auth_server + "/api/2.0/mlflow/model-versions/set-tag"
    tagged = requests.post(set_tag, json=tag, auth=alice, timeout=TIMEOUT_S)
    assert tagged.status_code == 403, tagged.text  # EDIT may not even write the override
    _assert_refused(tagged, "override of the promotion gate", "MANAGE", "'alice'")

    refused = _set(auth_server, model, "champion", v2, auth=alice)

    _assert_refused(refused, "no comparison evidence")
    assert aliases(client, model) == {"champion": v1}

    auth.revoke_user_permission(alice[0], "registered_model", model)
    auth.grant_user_permission(alice[0], "registered_model", model, "MANAGE")
    tagged = requests.post(set_tag, json=tag, auth=alice, timeout=TIMEOUT_S)
    assert tagged.status_code == 200, tagged.text
    allowed = _set(auth_server, model, "champion", v2, auth=alice)
    assert allowed.status_code == 200, allowed.text
    assert aliases(client, model) == {"champion": v2, "previous-champion": v1}
    record = audit_records(client, model)[-1]
    assert (record["to"], record["kind"], record["user"]) == (v2, "override", "alice")


def test_an_edit_account_writes_evidence_and_retires_a_rejected_challenger(
    auth_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pipeline account holds EDIT, never MANAGE; MLflow's basic-auth lets only MANAGE
    # delete a tag or an alias. Writing evidence must not need either, and a challenger
    # rejected in shadow keeps its alias (status rejected) rather than failing the step.
    from mlflow_retrain.comparison import Evidence
    from mlflow_retrain.pipeline.shadow import _retire_challenger_alias
    from mlflow_retrain.registry.evidence import write_offline_evidence

    client = MlflowClient(tracking_uri=auth_server)
    model = "fraud"
    client.create_registered_model(model)
    (v1,) = register_versions(client, model, 1)
    # The evidence record is bound to the version's artifacts: the version needs some.
    client.log_text(client.get_model_version(model, v1).run_id, "flavors: {}", "model/MLmodel")
    client.set_registered_model_alias(model, lineage.ALIAS_CHALLENGER, v1)
    auth = AuthServiceClient(auth_server)  # as admin: the fixture sets the credentials
    auth.create_user("pipeline", "pipeline-password-42")
    auth.grant_user_permission("pipeline", "registered_model", model, "EDIT")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "pipeline")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pipeline-password-42")
    pipeline = MlflowClient(tracking_uri=auth_server)
    evidence = Evidence(decision="reject", reason="worse", metrics=(), n=100, alpha=0.05,
                        first_deployment=False, policy={})  # fmt: skip

    write_offline_evidence(pipeline, model, v1, evidence, baseline="none", run_id="r",
                           data_digest="d")  # fmt: skip
    write_offline_evidence(
        pipeline, model, v1, evidence, baseline="none", run_id="r2", data_digest="d"
    )  # fmt: skip  (rewriting sets, never deletes)
    _retire_challenger_alias(pipeline, model, v1)

    tags = client.get_model_version(model, v1).tags
    assert tags[lineage.TAG_DECISION] == lineage.DECISION_REJECT
    assert tags[lineage.TAG_EVIDENCE_RUN] == "r2"
    assert tags[lineage.TAG_STATUS] == lineage.STATUS_REJECTED
    assert aliases(client, model) == {lineage.ALIAS_CHALLENGER: v1}  # kept: EDIT cannot delete

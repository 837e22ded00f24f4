"""A hostile insider against the server's store: what the gate trusts, no client may forge.

A real ``mlflow server`` with MLflow's basic-auth app and the ``retrain+`` registry store, on
SQLite, PostgreSQL and MariaDB (one server each, shared by the module's tests). Its users:

- ``pipeline``: EDIT on each model, and one of the pipeline's accounts
  (``MLFLOW_RETRAIN_PIPELINE_USERS``): registers versions, writes evidence, promotes;
- ``bob``: EDIT on each model and nothing else: the insider;
- ``alice`` and ``carol``: MANAGE on each model: the people who own it.

Every refused route is tried through ``MlflowClient``, ``/api/2.0/mlflow/...`` and the UI's
``/ajax-api/2.0/mlflow/...``; each answers a one-line 403 and leaves the aliases, the tags of
the model and of every version, the stages and the audit trail as they were.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from helpers.evidence import evidence_tags
from mlflow.exceptions import MlflowException
from mlflow.server.auth.client import AuthServiceClient
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage

pytestmark = [pytest.mark.integration, pytest.mark.security]

PASSWORDS = {
    "admin": "admin-password-42",
    "pipeline": "pipeline-password-42",
    "bob": "bob-password-4242",
    "alice": "alice-password-42",
    "carol": "carol-password-42",
}
GRANTS = {"pipeline": "EDIT", "bob": "EDIT", "alice": "MANAGE", "carol": "MANAGE"}
TIMEOUT_S = 30
ROUTES = ("client", "api", "ajax")


@contextlib.contextmanager
def _as(user: str) -> Iterator[None]:
    """MLflow's client in this process speaks as ``user`` inside the block."""
    keys = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(dict(zip(keys, (user, PASSWORDS[user]), strict=True)))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class Team:
    """The guarded server: call it as one of its users."""

    url: str

    def call(self, user: str, fn: Callable[[MlflowClient], Any]) -> Any:
        with _as(user):
            return fn(MlflowClient(tracking_uri=self.url))

    def http(self, user: str, method: str, path: str, body: dict[str, Any]) -> requests.Response:
        return requests.request(method, self.url + path, json=body, timeout=TIMEOUT_S,
                                auth=(user, PASSWORDS[user]))  # fmt: skip

    def new_model(self) -> str:
        """A registered model the admin creates, with the module's grants on it."""
        name = f"credit-{uuid.uuid4().hex[:8]}"
        with _as("admin"):
            MlflowClient(tracking_uri=self.url).create_registered_model(name)
            auth = AuthServiceClient(self.url)
            for user, permission in GRANTS.items():
                auth.grant_user_permission(user, "registered_model", name, permission)
        return name

    def version(self, name: str, user: str = "pipeline", **tags: str) -> str:
        """A new version of ``name`` that ``user`` registers (the run is the admin's)."""
        run = self.call("admin", lambda c: c.create_run("0"))
        source = f"runs:/{run.info.run_id}/model"
        return str(self.call(user, lambda c: c.create_model_version(
            name, source, run_id=run.info.run_id, tags=tags or None).version))  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mysql"])
def team(
    request: pytest.FixtureRequest,
    start_module_mlflow_server: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> Team:
    pytest.importorskip("flask_wtf", reason="basic-auth needs mlflow[auth] (Flask-WTF)")
    folder = tmp_path_factory.mktemp("guard")
    config = folder / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{folder / 'basic_auth.db'}\n"
        "admin_username = admin\n"
        f"admin_password = {PASSWORDS['admin']}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "auth_cache_ttl_seconds = 600\n"  # one password hash per user, not one per request
    )
    if request.param == "sqlite":
        backend, workers = f"sqlite:///{folder / 'mlflow.db'}", "1"
    else:
        fixture = {"postgresql": "module_postgres_url", "mysql": "module_mysql_url"}
        backend, workers = request.getfixturevalue(fixture[request.param]), "2"
    url = start_module_mlflow_server(
        backend_store_uri=backend,
        extra_args=("--registry-store-uri", "retrain+" + backend, "--app-name", "basic-auth",
                    "--workers", workers),
        env={
            "MLFLOW_FLASK_SERVER_SECRET_KEY": uuid.uuid4().hex,
            "MLFLOW_AUTH_ADMIN_PASSWORD": PASSWORDS["admin"],
            "MLFLOW_AUTH_CONFIG_PATH": str(config),
            "MLFLOW_RETRAIN_PIPELINE_USERS": "etl-bot, pipeline",
        },
    )  # fmt: skip
    with _as("admin"):
        auth = AuthServiceClient(url)
        for user in GRANTS:
            auth.create_user(user, PASSWORDS[user])
    return Team(url)


def _write_evidence(team: Team, name: str, version: str, baseline: str) -> None:
    def write(c: MlflowClient) -> None:
        for key, value in evidence_tags(baseline).items():
            c.set_model_version_tag(name, version, key, value)

    team.call("pipeline", write)


def _gated_model(team: Team) -> tuple[str, str, str, str]:
    """A model with champion v1, challenger v2 (valid evidence) and a bare v3."""
    name = team.new_model()
    v1, v2, v3 = (team.version(name) for _ in range(3))
    _write_evidence(team, name, v1, "none")
    team.call("pipeline", lambda c: c.set_registered_model_alias(name, "champion", v1))
    _write_evidence(team, name, v2, v1)
    team.call("pipeline", lambda c: c.set_registered_model_alias(name, "challenger", v2))
    team.call("alice", lambda c: c.set_registered_model_tag(name, lineage.TAG_POLICY, "{}"))
    return name, v1, v2, v3


@pytest.fixture(scope="module")
def shared(team: Team) -> tuple[str, str, str, str]:
    """One gated model for the refusals (a refusal changes nothing, which each test checks)."""
    return _gated_model(team)


@dataclass(frozen=True)
class RefusalTarget:
    """What the refusals aim at: the shared gated model, a run to register from, and the
    model's state before any of them, which every refusal must leave exactly as it was (one
    that changes it fails, and so, visibly, does every refusal after it)."""

    model: tuple[str, str, str, str]
    run_id: str
    before: dict[str, Any]


@pytest.fixture(scope="module")
def refusal_target(team: Team, shared: tuple[str, str, str, str]) -> RefusalTarget:
    run = team.call("admin", lambda c: c.create_run("0"))
    return RefusalTarget(shared, run.info.run_id, _state(team, shared[0]))


def _state(team: Team, name: str) -> dict[str, Any]:
    """Everything a refusal must leave alone: aliases, tags, stages, the audit trail."""

    def read(c: MlflowClient) -> dict[str, Any]:
        model = c.get_registered_model(name)
        versions = c.search_model_versions(f"name = '{name}'")
        return {
            "aliases": {k: str(v) for k, v in model.aliases.items()},
            "tags": dict(model.tags),
            "versions": {str(v.version): (dict(v.tags), v.current_stage) for v in versions},
        }

    return dict(team.call("admin", read))


def _records(team: Team, name: str, prefix: str) -> list[dict[str, Any]]:
    tags = team.call("admin", lambda c: c.get_registered_model(name).tags)
    return [json.loads(v) for k, v in sorted(tags.items()) if k.startswith(prefix)]


# --- the refusals: one case per protected class and route ----------------------------------------

# A refused write: who tries, what (an MlflowClient call and its REST request), the words the
# one-line 403 must hold. ``m`` is (model, v1 champion, v2 challenger, v3 bare, a run's model
# source, an unused model name, that run).


def _refusal(
    user: str,
    name: str,
    call: Callable[[MlflowClient, Any], Any],
    method: str,
    endpoint: str,
    body: Callable[[Any], dict[str, Any]],
    *words: str,
) -> Any:
    """One case of ``REFUSALS``, with the id ``user-name``.

    Args:
        user: Who tries it.
        name: What they try, for the id.
        call: The attempt through ``MlflowClient``, given the client and the model's names.
        method: The HTTP method of the same attempt through ``/api`` and ``/ajax-api``.
        endpoint: Its endpoint, after ``/2.0/mlflow/``.
        body: Its request body, given the model's names.
        words: What the refusal's message must say.
    """
    return pytest.param(user, call, (method, endpoint, body), words, id=f"{user}-{name}")


def _set_version_tag(version: int, key: str, value: str, *words: str, user: str = "bob") -> Any:
    return _refusal(
        user, f"sets-version-{key.removeprefix(lineage.TAG_PREFIX)}={value}",
        lambda c, m: c.set_model_version_tag(m[0], m[version], key, value),
        "POST", "model-versions/set-tag",
        lambda m: {"name": m[0], "version": m[version], "key": key, "value": value},
        *words,
    )  # fmt: skip


def _delete_version_tag(version: int, key: str, *words: str, user: str) -> Any:
    return _refusal(
        user, f"deletes-version-{key.removeprefix(lineage.TAG_PREFIX)}",
        lambda c, m: c.delete_model_version_tag(m[0], m[version], key),
        "DELETE", "model-versions/delete-tag",
        lambda m: {"name": m[0], "version": m[version], "key": key},
        *words,
    )  # fmt: skip


def _set_model_tag(key: str, value: str, *words: str, user: str = "bob") -> Any:
    return _refusal(
        user, f"sets-model-{key.removeprefix(lineage.TAG_PREFIX)}",
        lambda c, m: c.set_registered_model_tag(m[0], key, value),
        "POST", "registered-models/set-tag",
        lambda m: {"name": m[0], "key": key, "value": value},
        *words,
    )  # fmt: skip


def _delete_model_tag(key: str, *words: str, user: str = "bob") -> Any:
    return _refusal(
        user, f"deletes-model-{key.removeprefix(lineage.TAG_PREFIX)}",
        lambda c, m: c.delete_registered_model_tag(m[0], key),
        "DELETE", "registered-models/delete-tag", lambda m: {"name": m[0], "key": key},
        *words,
    )  # fmt: skip


PIPELINE_ONLY = "only the pipeline's accounts (MLFLOW_RETRAIN_PIPELINE_USERS on the server)"
MANAGE_ONLY = "only users with MANAGE on the registered model and admins"
NO_CLIENT = "No client may set or delete it"
AUDIT = lineage.TAG_AUDIT_PREFIX + "1700000000000-abcdef"
CHANGE = lineage.TAG_CHANGE_PREFIX + "1700000000000-abcdef"
PROMPT = "mlflow.prompt.is_prompt"
SOURCE_TAGS = {**evidence_tags("1"), lineage.TAG_STATUS: lineage.STATUS_CANDIDATE}

REFUSALS = [
    # Evidence, reference and gate data: the pipeline's, not an EDIT user's (nor MANAGE's).
    _set_version_tag(3, lineage.TAG_DECISION, "promote", "evidence the gate reads", PIPELINE_ONLY,
                     "user 'bob'"),
    _set_version_tag(3, lineage.TAG_EVIDENCE_BASELINE, "1", "evidence the gate reads"),
    _set_version_tag(3, lineage.TAG_EVIDENCE_TIME, "1", "evidence the gate reads"),
    _set_version_tag(1, lineage.TAG_REFERENCE_PREFIX + "roc_auc", "0.99,0.98,1;metrics-v2",
                     "decay reference", PIPELINE_ONLY),
    _set_version_tag(2, lineage.TAG_GATE_URI, "runs:/x/forged.csv", "gate data", PIPELINE_ONLY),
    _set_version_tag(3, lineage.TAG_DECISION, "promote", "evidence the gate reads", "'alice'",
                     user="alice"),
    _delete_version_tag(2, lineage.TAG_DECISION, "evidence the gate reads", PIPELINE_ONLY,
                        user="alice"),
    # What only the gate writes.
    _set_version_tag(3, lineage.TAG_STATUS, lineage.STATUS_PROMOTED, "only the gate writes",
                     NO_CLIENT),
    _set_version_tag(3, lineage.TAG_OVERRIDE_BY, '{"user": "alice"}', NO_CLIENT),
    _delete_version_tag(1, lineage.TAG_STATUS, "only the gate writes", user="alice"),
    _set_model_tag(AUDIT, "{}", "audit trail", NO_CLIENT),
    _set_model_tag(CHANGE, "{}", "audit trail", NO_CLIENT),
    _delete_model_tag(AUDIT, "audit trail", NO_CLIENT),
    _delete_model_tag(AUDIT, "audit trail", NO_CLIENT, user="alice"),
    # What people with MANAGE write.
    _set_version_tag(3, lineage.TAG_OVERRIDE_REASON, "trust me", "override of the promotion gate",
                     MANAGE_ONLY),
    _set_version_tag(1, lineage.TAG_ROLLBACK_REASON, "because", "rollback", MANAGE_ONLY),
    _set_model_tag(lineage.TAG_POLICY, '{"max_evidence_age_days": 9999}', "promotion policy",
                   MANAGE_ONLY),
    _delete_model_tag(lineage.TAG_POLICY, "promotion policy", MANAGE_ONLY),
    _set_model_tag(lineage.TAG_HALTED, "halted by bob", "the loop's halt"),
    _delete_model_tag(lineage.TAG_HALTED, "which only a person lifts", MANAGE_ONLY),
    _set_model_tag(lineage.TAG_REJECTIONS, "0", "count of rejected challengers"),
    _set_model_tag(lineage.TAG_RESUMED_PREFIX + "1", "x", "record of a resume", MANAGE_ONLY),
    # A protected key spelt another way: MariaDB's collation takes it for the key itself.
    _set_model_tag("MLFLOW_RETRAIN.POLICY", '{"primary_metric": "accuracy"}', "promotion policy",
                   MANAGE_ONLY),
    _set_version_tag(3, "Mlflow_Retrain.Decision", "promote", "evidence the gate reads",
                     PIPELINE_ONLY),
    _delete_version_tag(1, "MLFLOW_RETRAIN.STATUS", "only the gate writes", user="alice"),
    _set_model_tag("mlflow_retrain.aud\u0131t.1700000000000-abcdef", "{}", NO_CLIENT),
    # Tags MLflow reads: a prompt is hidden from the model list and checked as a prompt.
    _set_model_tag(PROMPT, "true", "list and treat the model as a prompt", MANAGE_ONLY),
    _set_version_tag(1, PROMPT, "true", "list and treat the model as a prompt", MANAGE_ONLY),
    # Tags passed to create calls.
    _refusal("bob", "creates-a-version-with-evidence",
             lambda c, m: c.create_model_version(m[0], m[4], run_id=m[6], tags=SOURCE_TAGS),
             "POST", "model-versions/create",
             lambda m: {"name": m[0], "source": m[4], "run_id": m[6],
                        "tags": [{"key": k, "value": v} for k, v in SOURCE_TAGS.items()]},
             "Creating a version of", "evidence the gate reads", PIPELINE_ONLY),
    _refusal("bob", "creates-a-version-with-an-override",
             lambda c, m: c.create_model_version(
                 m[0], m[4], run_id=m[6], tags={lineage.TAG_OVERRIDE_REASON: "trust me"}),
             "POST", "model-versions/create",
             lambda m: {"name": m[0], "source": m[4], "run_id": m[6],
                        "tags": [{"key": lineage.TAG_OVERRIDE_REASON, "value": "trust me"}]},
             "Creating a version of", "override", MANAGE_ONLY),
    _refusal("bob", "creates-a-model-with-an-audit-record",
             lambda c, m: c.create_registered_model(m[5], tags={AUDIT: "{}"}),
             "POST", "registered-models/create",
             lambda m: {"name": m[5], "tags": [{"key": AUDIT, "value": "{}"}]},
             "Creating", "audit trail", NO_CLIENT),
    # Structure changes of the gated model.
    _refusal("bob", "renames-the-model", lambda c, m: c.rename_registered_model(m[0], m[5]),
             "POST", "registered-models/rename", lambda m: {"name": m[0], "new_name": m[5]},
             "Renaming", "structure change", MANAGE_ONLY),
    _refusal("bob", "moves-a-version-to-production",
             lambda c, m: c.transition_model_version_stage(m[0], m[3], "Production"),
             "POST", "model-versions/transition-stage",
             lambda m: {"name": m[0], "version": m[3], "stage": "Production",
                        "archive_existing_versions": True},
             "stage 'Production'", "structure change", MANAGE_ONLY),
    # basic-auth itself lets only MANAGE delete; listed so the guard's answer is pinned too.
    _refusal("bob", "deletes-the-champion-version",
             lambda c, m: c.delete_model_version(m[0], m[1]),
             "DELETE", "model-versions/delete", lambda m: {"name": m[0], "version": m[1]},
             "Permission denied"),
]  # fmt: skip


def _refused_message(outcome: Any) -> str:
    """The message of a refusal, from a response or the exception MlflowClient raised."""
    if isinstance(outcome, requests.Response):
        assert outcome.status_code == 403, (outcome.status_code, outcome.text)
        try:
            return str(outcome.json()["message"])
        except ValueError:
            return outcome.text  # basic-auth's own refusal is plain text
    assert isinstance(outcome, MlflowException), outcome
    assert outcome.get_http_status_code() == 403 or "error code 403" in outcome.message, outcome
    return outcome.message


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(("user", "call", "rest", "words"), REFUSALS)
def test_an_unauthorised_write_is_a_one_line_403_that_changes_nothing(
    team: Team,
    refusal_target: RefusalTarget,
    route: str,
    user: str,
    call: Callable[..., Any],
    rest: tuple[str, str, Callable[..., dict[str, Any]]],
    words: tuple[str, ...],
) -> None:
    name, run_id = refusal_target.model[0], refusal_target.run_id
    elsewhere = f"{name}-{route}-{uuid.uuid4().hex[:4]}"
    m = (*refusal_target.model, f"runs:/{run_id}/model", elsewhere, run_id)

    if route == "client":
        try:
            team.call(user, lambda c: call(c, m))
        except MlflowException as err:
            outcome: Any = err
        else:
            pytest.fail("the write went through")
    else:
        method, path, body = rest
        prefix = "/api/2.0/mlflow/" if route == "api" else "/ajax-api/2.0/mlflow/"
        outcome = team.http(user, method, prefix + path, body(m))

    message = _refused_message(outcome)
    assert "\n" not in message.strip(), message
    for word in words:
        assert word in message, message
    assert _state(team, name) == refusal_target.before
    assert elsewhere not in {
        r.name for r in team.call("admin", lambda c: c.search_registered_models())
    }


def test_copying_a_version_with_evidence_is_refused(
    team: Team, shared: tuple[str, str, str, str]
) -> None:
    name, _, v2, _ = shared
    before = _state(team, name)

    with pytest.raises(MlflowException, match="evidence the gate reads") as err:
        team.call("bob", lambda c: c.copy_model_version(f"models:/{name}/{v2}", name))

    assert "PERMISSION_DENIED" in err.value.message
    assert _state(team, name) == before


def test_a_key_the_database_takes_for_a_protected_one_never_reaches_it(
    team: Team, shared: tuple[str, str, str, str], request: pytest.FixtureRequest
) -> None:
    # A dotless i (U+0131) does not fold to "i", but MariaDB's utf8mb4_general_ci takes it for
    # one: there the write would land on the stored policy's own row.
    name = shared[0]
    key = "mlflow_retra\u0131n.policy"
    before = _state(team, name)
    write = lambda c: c.set_registered_model_tag(name, key, '{"primary_metric": "accuracy"}')  # noqa: E731

    if request.node.callspec.params["team"] == "mysql":
        with pytest.raises(MlflowException, match="collation takes the key for one under") as err:
            team.call("bob", write)
        assert "PERMISSION_DENIED" in err.value.message
        assert _state(team, name) == before
    else:  # another row, which the gate never reads
        team.call("bob", write)
        after = _state(team, name)
        team.call("bob", lambda c: c.delete_registered_model_tag(name, key))
        assert after["tags"][key] == '{"primary_metric": "accuracy"}'
        assert after["tags"][lineage.TAG_POLICY] == before["tags"][lineage.TAG_POLICY]


# --- what the pipeline, the owners and the store still do ----------------------------------------


def test_the_pipeline_account_registers_writes_evidence_and_promotes(team: Team) -> None:
    from mlflow_retrain.comparison import Evidence
    from mlflow_retrain.registry.evidence import cache_reference, write_offline_evidence

    name = team.new_model()
    lineage_tags = {
        lineage.TAG_STATUS: lineage.STATUS_CANDIDATE,
        lineage.TAG_TRAINING_RUN: "r",
        lineage.TAG_GATE_URI: "runs:/r/gate.csv",
        lineage.TAG_TASK: "classification",
    }
    v1 = team.version(name, **lineage_tags)
    evidence = Evidence(decision="promote", reason="first", metrics=(), n=100, alpha=0.05,
                        first_deployment=True, policy={})  # fmt: skip

    def cycle(c: MlflowClient) -> None:
        write_offline_evidence(c, name, v1, evidence, baseline=None, run_id="r", data_digest="d")
        c.set_registered_model_alias(name, "champion", v1)
        cache_reference(c, name, v1, "roc_auc", (0.9, 0.88, 0.92))

    team.call("pipeline", cycle)

    version = team.call("admin", lambda c: c.get_model_version(name, v1))
    assert version.tags[lineage.TAG_STATUS] == lineage.STATUS_PROMOTED
    assert version.tags[lineage.TAG_GATE_URI] == "runs:/r/gate.csv"
    assert version.tags[lineage.TAG_REFERENCE_PREFIX + "roc_auc"].startswith("0.9,0.88,0.92")
    (record,) = _records(team, name, lineage.TAG_AUDIT_PREFIX)
    assert (record["to"], record["kind"], record["user"]) == (v1, "first_deployment", "pipeline")


def test_a_manage_user_sets_the_policy_audited_with_user_before_and_after(team: Team) -> None:
    name = team.new_model()
    first, second = '{"max_evidence_age_days": 7}', '{"max_evidence_age_days": 3}'

    team.call("alice", lambda c: c.set_registered_model_tag(name, lineage.TAG_POLICY, first))
    team.call("carol", lambda c: c.set_registered_model_tag(name, lineage.TAG_POLICY, second))

    records = [r for r in _records(team, name, lineage.TAG_CHANGE_PREFIX)
               if r["key"] == lineage.TAG_POLICY]  # fmt: skip
    assert [(r["user"], r["before"], r["after"]) for r in records] == [
        ("alice", None, first), ("carol", first, second),
    ]  # fmt: skip
    assert all(r["kind"] == "tag_set" and r["time_ms"] > 0 for r in records)


def test_protected_tags_passed_to_create_calls_are_audited(team: Team) -> None:
    # Alice creates the model, so she owns it (MANAGE) and may give it a policy; then she
    # registers a version that carries an override.
    name = f"credit-{uuid.uuid4().hex[:8]}"
    policy = '{"max_evidence_age_days": 5}'
    team.call(
        "alice", lambda c: c.create_registered_model(name, tags={lineage.TAG_POLICY: policy})
    )
    version = team.version(name, "alice", **{lineage.TAG_OVERRIDE_REASON: "hotfix 7"})

    records = _records(team, name, lineage.TAG_CHANGE_PREFIX)
    assert [(r["kind"], r["key"], r["version"], r["user"], r["before"], r["after"])
            for r in records] == [
        ("tag_set", lineage.TAG_POLICY, None, "alice", None, policy),
        ("tag_set", lineage.TAG_OVERRIDE_REASON, version, "alice", None, "hotfix 7"),
    ]  # fmt: skip
    tags = team.call("admin", lambda c: c.get_model_version(name, version).tags)
    assert json.loads(tags[lineage.TAG_OVERRIDE_BY])["user"] == "alice"


def test_an_override_counts_only_for_the_user_who_wrote_it_and_is_spent(team: Team) -> None:
    name, v1, _, v3 = _gated_model(team)
    team.call("alice", lambda c: c.set_model_version_tag(
        name, v3, lineage.TAG_OVERRIDE_REASON, "incident 42"))  # fmt: skip
    tags = team.call("admin", lambda c: c.get_model_version(name, v3).tags)
    assert json.loads(tags[lineage.TAG_OVERRIDE_BY])["user"] == "alice"
    (record,) = [r for r in _records(team, name, lineage.TAG_CHANGE_PREFIX)
                 if r["key"] == lineage.TAG_OVERRIDE_REASON]  # fmt: skip
    assert (record["user"], record["before"], record["after"]) == ("alice", None, "incident 42")

    # Carol holds MANAGE too, but the override is Alice's: a routine move does not perform it.
    with pytest.raises(MlflowException, match=r"written by user 'alice' and counts only when"):
        team.call("carol", lambda c: c.set_registered_model_alias(name, "champion", v3))
    assert _state(team, name)["aliases"]["champion"] == v1

    team.call("alice", lambda c: c.set_registered_model_alias(name, "champion", v3))

    audit = _records(team, name, lineage.TAG_AUDIT_PREFIX)[-1]
    assert (audit["to"], audit["kind"], audit["user"]) == (v3, "override", "alice")
    spent = team.call("admin", lambda c: c.get_model_version(name, v3).tags)
    assert lineage.TAG_OVERRIDE_REASON not in spent
    assert lineage.TAG_OVERRIDE_BY not in spent


def test_a_routine_promote_by_manage_does_not_perform_someone_elses_override(
    team: Team,
) -> None:
    from mlflow_retrain.registry.lifecycle import promote

    name, v1, v2, v3 = _gated_model(team)
    for version in (v2, v3):
        team.call("alice", lambda c, v=version: c.set_model_version_tag(
            name, v, lineage.TAG_OVERRIDE_REASON, "alice's hotfix"))  # fmt: skip
    os.environ["MLFLOW_TRACKING_URI"] = team.url
    try:
        with _as("carol"), pytest.raises(MlflowException, match="no comparison evidence"):
            promote(name, version=v3)
        with _as("carol"):
            move = promote(name)  # the challenger, v2: valid evidence, and Alice's override
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]

    assert (move.champion, move.kind) == (v2, "promotion")
    assert move.audit is not None
    assert move.audit["user"] == "carol"
    assert _state(team, name)["aliases"] == {"champion": v2, "previous-champion": v1}


def test_the_pipeline_halts_the_loop_and_only_manage_resumes_it(team: Team) -> None:
    from mlflow_retrain.registry.halt import count_rejection, resume

    name = team.new_model()
    halted = team.call("pipeline", lambda c: [count_rejection(c, name, limit=2) for _ in "ab"])
    assert halted == [False, True]

    os.environ["MLFLOW_TRACKING_URI"] = team.url
    try:
        with _as("bob"), pytest.raises(MlflowException, match="which only a person lifts"):
            resume(name)
        with _as("alice"):
            resumed = resume(name)
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]

    assert "2 challengers in a row" in resumed.was_halted_because
    tags = team.call("admin", lambda c: c.get_registered_model(name).tags)
    assert lineage.TAG_HALTED not in tags
    records = [(r["kind"], r["key"].removeprefix(lineage.TAG_PREFIX), r["user"], r["before"],
                r["after"]) for r in _records(team, name, lineage.TAG_CHANGE_PREFIX)]  # fmt: skip
    assert records[:3] == [
        ("tag_set", "consecutive_rejections", "pipeline", None, "1"),
        ("tag_set", "consecutive_rejections", "pipeline", "1", "2"),
        ("tag_set", "halted", "pipeline", None, resumed.was_halted_because),
    ]
    assert ("tag_delete", "halted", "alice", resumed.was_halted_because, None) in records
    assert ("tag_set", "consecutive_rejections", "alice", "2", "0") in records


def test_structure_changes_by_manage_are_audited(team: Team) -> None:
    name, v1, _, v3 = _gated_model(team)
    renamed = f"{name}-renamed"

    team.call("alice", lambda c: c.transition_model_version_stage(name, v3, "Staging"))
    team.call("alice", lambda c: c.delete_model_version(name, v1))  # the champion
    team.call("alice", lambda c: c.rename_registered_model(name, renamed))

    records = [(r["kind"], r["version"], r["user"], r["before"], r["after"])
               for r in _records(team, renamed, lineage.TAG_CHANGE_PREFIX)
               if r["kind"] != "tag_set"]  # fmt: skip
    assert records == [
        ("stage", v3, "alice", "None", "Staging"),
        ("delete_version", v1, "alice", "champion", None),
        ("rename", None, "alice", name, renamed),
    ]


def test_the_server_logs_moves_refusals_and_protected_writes_with_the_user(
    team: Team, server_log: Callable[[str], str]
) -> None:
    name, _, v2, v3 = _gated_model(team)
    with contextlib.suppress(MlflowException):
        team.call("bob", lambda c: c.set_model_version_tag(name, v3, lineage.TAG_DECISION, "x"))
    with contextlib.suppress(MlflowException):
        team.call("carol", lambda c: c.set_registered_model_alias(name, "champion", v3))
    team.call("carol", lambda c: c.set_registered_model_alias(name, "champion", v2))

    log = server_log(team.url)

    assert (
        f"INFO mlflow_retrain.registry.guard: Registry guard: user bob: Setting tag "
        f"'{lineage.TAG_DECISION}' on version {v3} of '{name}' is refused"
    ) in log
    assert (
        f"Registry guard: user pipeline: Setting tag '{lineage.TAG_DECISION}' on version "
        f"{v2} of '{name}' (allowed)."
    ) in log
    assert (
        f"Registry guard: user alice: Setting tag '{lineage.TAG_POLICY}' on '{name}' (allowed)."
    ) in log
    assert f"Promotion gate refused AliasChange(action='set', alias='champion', version='{v3}')" \
           f" on '{name}' (user carol)" in log  # fmt: skip
    assert f"'to': '{v2}', 'kind': 'promotion'" in log
    assert "'user': 'carol'" in log
    assert not [p for p in PASSWORDS.values() if p in log]

"""The fail-fast check of the tracking server, and the request-header plugin that runs it under
``mlflow run`` before MLflow's own retries start."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from importlib import metadata

import pytest
from helpers.servers import free_port

from mlflow_retrain.tracking_check import TrackingServerUnreachable, check_tracking_server
from mlflow_retrain.tracking_plugin import FailFastHeaderProvider


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FailFastHeaderProvider, "_checked", set())
    for proxy in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(proxy, raising=False)


def test_the_plugin_is_registered_with_mlflow() -> None:
    (entry,) = [e for e in metadata.entry_points(group="mlflow.request_header_provider")
                if e.name == "mlflow-retrain-fail-fast"]  # fmt: skip

    assert entry.load() is FailFastHeaderProvider


def test_a_refused_connection_is_named_without_the_password() -> None:
    port = free_port()

    with pytest.raises(TrackingServerUnreachable, match=rf"nothing listens on port {port}") as err:
        check_tracking_server(f"http://bot:hunter2@127.0.0.1:{port}")

    assert "hunter2" not in err.value.message
    assert f"http://***@127.0.0.1:{port}" in err.value.message


@pytest.mark.parametrize("uri", ["sqlite:///mlflow.db", "postgresql://u:p@db/x", "databricks"])
def test_non_http_stores_are_left_to_mlflow(uri: str) -> None:
    check_tracking_server(uri)  # no connection attempted, nothing raised


@pytest.mark.parametrize(
    "argv",
    [
        ["/venv/bin/mlflow", "run", "."],
        ["/usr/lib/python3/site-packages/mlflow/__main__.py", "run"],
    ],
)
def test_under_mlflow_run_a_dead_server_ends_the_process_with_one_line(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    monkeypatch.setattr(sys, "argv", argv)

    with pytest.raises(SystemExit) as exited:
        FailFastHeaderProvider().in_context()

    assert exited.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        f"mlflow-retrain: error: Cannot reach the MLflow tracking server at "
        f"http://127.0.0.1:{port} (nothing listens on port {port}). Start the server or fix "
        "MLFLOW_TRACKING_URI (and check the network or VPN)."
    ]


@pytest.mark.parametrize(
    "argv",
    [["/venv/bin/pytest"], ["/venv/bin/mlflow", "ui"], ["/venv/bin/mlflow-retrain", "run"]],
)
def test_other_processes_are_never_stopped(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(sys, "argv", argv)

    assert FailFastHeaderProvider().in_context() is False
    assert FailFastHeaderProvider().request_headers() == {}


def test_a_live_server_is_checked_once_per_process(
    listening: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"http://127.0.0.1:{listening}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setattr(sys, "argv", ["/venv/bin/mlflow", "run", "."])
    calls: list[str] = []
    monkeypatch.setattr("mlflow_retrain.tracking_plugin.check_tracking_server", calls.append)

    provider = FailFastHeaderProvider()
    assert provider.in_context() is False
    assert provider.in_context() is False

    assert calls == [uri]

"""Fixtures shared by every test: a clean MLflow environment and a private tracking store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _clean_mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop every MLFLOW_* variable (ours included) so no test sees the developer's setup.

    Also forget the experiment and the tracking URI an earlier test set with
    ``mlflow.set_experiment`` and ``mlflow.set_tracking_uri``: MLflow keeps them in module
    globals, which would point into another test's store (or a server that has stopped).
    """
    from mlflow.tracking import fluent
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    for key in list(os.environ):
        if key.startswith("MLFLOW_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(fluent, "_active_experiment_id", None)
    monkeypatch.setattr(registry_utils, "_registry_uri", None)  # mlflow.set_registry_uri's
    monkeypatch.setattr(tracking_utils, "_tracking_uri", None)  # mlflow.set_tracking_uri's


@pytest.fixture
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private SQLite tracking store with local artifacts, set as the process default."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment_name="test")
    try:
        yield uri
    finally:
        while mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(None)


# --- counting the corpus cases -----------------------------------------------------------------

#: Markers whose tests are counted in the terminal summary, with the label printed for each.
_COUNTED_MARKERS = {
    "bad_input": "bad-input corpus",
    "fault": "fault cases",
    "security": "hostile-insider cases",
}
#: The ``user_properties`` key under which a collected test names its counted marker. Reports
#: carry their user properties from pytest-xdist's workers to the controller, which collects
#: nothing itself, so the summary reads the marker from each report.
_COUNTED_PROPERTY = "mlflow_retrain_counted"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test that carries a counted marker, and put the slow modules first.

    The summary reads the mark. The modules of :data:`SLOW_FIRST` come first, in its order,
    each whole: this runs after pytest's own ordering (tests grouped by the params of their
    module-scoped fixtures) and keeps it inside each module, and every pytest-xdist worker
    sorts its collection the same way, as xdist requires.
    """
    for item in items:
        for marker in _COUNTED_MARKERS:
            if item.get_closest_marker(marker) is not None:
                item.user_properties.append((_COUNTED_PROPERTY, marker))
    items[:] = sorted(items, key=lambda item: _slowness(item.nodeid))


def _counted_marker(report: pytest.TestReport) -> str | None:
    for key, value in getattr(report, "user_properties", ()):
        if key == _COUNTED_PROPERTY:
            return str(value)
    return None


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """Print ``bad-input corpus: N cases, N passed`` (the same for faults and the hostile
    insider) when any ran.

    A case passed when its call phase passed; a failure or error in any phase, or a skip,
    counts against it.
    """
    outcomes: dict[str, dict[str, str]] = {marker: {} for marker in _COUNTED_MARKERS}
    for reports in terminalreporter.stats.values():
        for report in reports:
            nodeid = getattr(report, "nodeid", None)
            when = getattr(report, "when", None)
            marker = _counted_marker(report) if isinstance(report, pytest.TestReport) else None
            if nodeid is None or when is None or marker is None:
                continue
            seen = outcomes[marker]
            if report.failed:
                seen[nodeid] = "failed"
            elif report.skipped:
                seen.setdefault(nodeid, "skipped")
            elif when == "call" and report.passed:
                seen.setdefault(nodeid, "passed")
    for marker, label in _COUNTED_MARKERS.items():
        states = list(outcomes[marker].values())
        if not states:
            continue
        line = f"{label}: {len(states)} cases, {states.count('passed')} passed"
        for state in ("failed", "skipped"):
            if states.count(state):
                line += f", {states.count(state)} {state}"
        terminalreporter.write_line(line)


# --- spreading the suite over pytest-xdist's workers ---------------------------------------------

#: Test modules that start their own servers or run ``mlflow run``, slowest first (measured with
#: ``pytest --durations``): they are handed out before everything else, so
#: that no worker starts a five-minute module when the others are nearly done.
SLOW_FIRST = (
    "tests/integration/test_team_server.py",
    "tests/integration/test_bad_input_corpus.py",
    "tests/integration/test_faults.py",
    "tests/ui/",
    "tests/unit/pipeline/test_retrain.py",
    "tests/unit/pipeline/test_loop.py",
    "tests/integration/test_retrain_studies.py",
    "tests/e2e/test_example_projects.py",
    "tests/integration/test_gate_server.py",
    "tests/integration/test_server_extra.py",
    "tests/unit/test_floor_simulation.py",
    "tests/unit/test_cli_drift.py",
    "tests/integration/test_signed_evidence.py",
    "tests/integration/test_loop_remote.py",
    "tests/integration/test_guard_server.py",
    "tests/integration/test_audit_server.py",
    "tests/unit/drift/test_drift_simulation.py",
    "tests/e2e/",
)
#: Backend parameters of module-scoped server fixtures: a module's tests on one backend are a
#: work unit of their own, so its SQLite, PostgreSQL and MariaDB servers run on three workers.
_BACKENDS = ("sqlite", "postgresql", "mysql")


def _backend_scope(nodeid: str) -> str:
    """The xdist work unit of ``nodeid``: its module, and its backend where it has one."""
    module = nodeid.split("::", 1)[0]
    params = nodeid.partition("[")[2]
    backend = params.split("-", 1)[0].rstrip("]")
    return f"{module}[{backend}]" if backend in _BACKENDS else module


def _slowness(scope: str) -> int:
    """The rank of ``scope`` in :data:`SLOW_FIRST` (``len(SLOW_FIRST)`` when not listed)."""
    for rank, prefix in enumerate(SLOW_FIRST):
        if scope.startswith(prefix):
            return rank
    return len(SLOW_FIRST)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadscope`` with one work unit per module and backend, in collection order."""
    if config.getoption("dist", None) != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class BackendScopeScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return _backend_scope(nodeid)

    config.option.loadscopereorder = False  # the collection order is the slow-first order
    return BackendScopeScheduling(config, log)

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each collected test that carries a counted marker (the summary reads the mark)."""
    for item in items:
        for marker in _COUNTED_MARKERS:
            if item.get_closest_marker(marker) is not None:
                item.user_properties.append((_COUNTED_PROPERTY, marker))


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

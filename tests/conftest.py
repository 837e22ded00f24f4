"""Fixtures shared by every test: a clean MLflow environment and a private tracking store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _clean_mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop every MLFLOW_* variable (ours included) so no test sees the developer's setup.

    Also forget the experiment an earlier test set with ``mlflow.set_experiment``: MLflow keeps
    it in a module global, which would point into another test's store.
    """
    from mlflow.tracking import fluent
    from mlflow.tracking._model_registry import utils as registry_utils

    for key in list(os.environ):
        if key.startswith("MLFLOW_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(fluent, "_active_experiment_id", None)
    monkeypatch.setattr(registry_utils, "_registry_uri", None)  # mlflow.set_registry_uri's


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
_COUNTED_MARKERS = {"bad_input": "bad-input corpus", "fault": "fault cases"}
_COUNTED_KEY = pytest.StashKey[dict[str, set[str]]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Remember which collected tests carry a counted marker (the summary reads their ids)."""
    counted: dict[str, set[str]] = {marker: set() for marker in _COUNTED_MARKERS}
    for item in items:
        for marker in _COUNTED_MARKERS:
            if item.get_closest_marker(marker) is not None:
                counted[marker].add(item.nodeid)
    config.stash[_COUNTED_KEY] = counted


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """Print ``bad-input corpus: N cases, N passed`` (and the same for faults) when collected.

    A case passed when its call phase passed; a failure or error in any phase, or a skip,
    counts against it.
    """
    counted = config.stash.get(_COUNTED_KEY, {})
    outcomes: dict[str, dict[str, str]] = {marker: {} for marker in counted}
    for reports in terminalreporter.stats.values():
        for report in reports:
            nodeid = getattr(report, "nodeid", None)
            when = getattr(report, "when", None)
            if nodeid is None or when is None:
                continue
            for marker, ids in counted.items():
                if nodeid not in ids:
                    continue
                seen = outcomes[marker]
                if report.failed:
                    seen[nodeid] = "failed"
                elif report.skipped:
                    seen.setdefault(nodeid, "skipped")
                elif when == "call" and report.passed:
                    seen.setdefault(nodeid, "passed")
    for marker, label in _COUNTED_MARKERS.items():
        ran = outcomes.get(marker, {})
        if not counted.get(marker) or not ran:
            continue
        states = list(ran.values())
        line = f"{label}: {len(ran)} cases, {states.count('passed')} passed"
        for state in ("failed", "skipped"):
            if states.count(state):
                line += f", {states.count(state)} {state}"
        terminalreporter.write_line(line)

"""Fixtures for the MLflow UI tests: a gated tracking server, headless Chromium, screenshots.

* ``chromium_path`` (session): Debian's ``chromium`` binary. Without one the UI tests skip,
  except under ``CI=true``, where they fail: CI installs it (``.ci/run``).
* ``browser`` (module): a headless Chromium driven by Playwright for Python, launched from
  that binary (never ``playwright install``).
* ``gated_server`` (module): an ``mlflow server`` whose registry store is the plugin
  (``--registry-store-uri retrain+sqlite:///...``) on the same SQLite database.
* ``screenshot`` (function): save a page's screenshot in the test's ``tmp_path`` and copy it
  to ``test-output/ui/`` under the repository root, where it outlives the test run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.servers import run_mlflow_server

REPO = Path(__file__).resolve().parents[2]
#: Screenshots are copied here (git-ignored) so they can be looked at after CI.
STABLE_OUTPUT = REPO / "test-output" / "ui"
_FALLBACK_CHROMIUM = "/usr/bin/chromium"


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the UI tests (.ci/run installs Chromium).")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium binary: ``chromium`` on the PATH, else ``/usr/bin/chromium``."""
    found = shutil.which("chromium") or (
        _FALLBACK_CHROMIUM if os.access(_FALLBACK_CHROMIUM, os.X_OK) else None
    )
    if found is None:
        _missing("No Chromium binary (apt-get install chromium)")
    assert found is not None
    return found


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    """A headless Chromium browser (Playwright), closed when the module's tests end."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def gated_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A tracking server with the promotion gate as its registry store; yields its URI."""
    workdir = tmp_path_factory.mktemp("ui-server")
    backend = f"sqlite:///{workdir / 'mlflow.db'}"
    with run_mlflow_server(
        workdir,
        backend_store_uri=backend,
        extra_args=("--registry-store-uri", "retrain+" + backend),
    ) as url:
        yield url


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[[Any, str], Path]:
    """Return ``save(page, name)``: a full-page PNG in ``tmp_path``, copied to test-output/ui."""

    def save(page: Any, name: str) -> Path:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        STABLE_OUTPUT.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, STABLE_OUTPUT / path.name)
        return path

    return save

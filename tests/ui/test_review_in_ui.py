"""What a reviewer sees in the MLflow UI, checked in headless Chromium against a gated server.

One small scenario serves every test: a tracking server with the promotion gate as its
registry store; a replay of two months of the credit example: the first cycle deploys version
1, the second, on a drifted month, retrains version 2, which beats the champion and is
promoted, so version 1 becomes ``previous-champion``; version 3 is registered from the same
model without any evidence. The tests then read the UI as a person would: aliases, the
version description's tables (evidence, drift, training) with cells kept apart, the replay
and cycle run descriptions, every figure (tuning, drift, intervals, ROC) in the artifact
viewer, the HTML reports, and the gate's refusal when the UI's alias editor tries to make
version 3 champion.

Screenshots go to each test's ``tmp_path`` and to ``test-output/ui/`` in the repository.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers.examples import example_generator
from mlflow.tracking import MlflowClient

from mlflow_retrain import lineage
from mlflow_retrain.config import RetrainConfig

pytestmark = pytest.mark.ui

MODEL = "credit-review"
#: Milliseconds to wait for the UI to show something before the test fails.
TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Scenario:
    """The registry a reviewer opens."""

    server: str
    experiment_id: str
    drift_run_id: str
    no_evidence_version: str
    replay_run_id: str
    cycle_run_ids: tuple[str, ...]
    retrain_run_id: str
    compare_run_id: str


@pytest.fixture(scope="module")
def scenario(gated_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    """Two loop cycles through the gated server (deploy, then promote), and a bare version."""
    import mlflow

    data = tmp_path_factory.mktemp("ui-data")
    generate = example_generator()
    for month in (1, 8):  # month 8: a covariate and a concept shift
        generate.generate_month(month, rows=2000).to_csv(data / f"month_{month:02d}.csv",
                                                         index=False)  # fmt: skip
    config = RetrainConfig.from_dict(
        {
            "model_name": MODEL,
            "target": "default",
            "timestamp": "application_date",
            "history": {"source": str(data), "pattern": "month_*.csv"},
            "triggers": {"drift_k": 1, "drift_n": 1},
            "window": {"kind": "last_rows", "rows": 1600},
            # Both estimators, enough trials for the pruner to stop some: every tuning
            # figure has something to show.
            "tuning": {
                "n_trials": 8,
                "estimators": ["hist_gradient_boosting", "linear"],
                "cv_folds": 2,
            },
            "model": {"create": True},
        }
    )
    mlflow.set_tracking_uri(gated_server)
    with pytest.MonkeyPatch.context() as patch:
        # A module fixture starts before the autouse one that clears MLFLOW_* variables; a
        # leftover MLFLOW_REGISTRY_URI would send the versions to another store.
        for key in [k for k in os.environ if k.startswith("MLFLOW_")]:
            patch.delenv(key)
        patch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        yield from _run_scenario(gated_server, config, data)


def _run_scenario(gated_server: str, config: RetrainConfig, data: Path) -> Iterator[Scenario]:
    import mlflow

    from mlflow_retrain.pipeline.timeline import replay

    try:
        mlflow.set_experiment("ui-review")
        first, second = replay(config)
        assert (first.decision, second.decision, second.champion) == ("promote", "promote", "2")
        assert second.run_id is not None
        client = MlflowClient(gated_server)
        experiment_id = client.get_experiment_by_name("ui-review").experiment_id

        def step(name: str) -> Any:
            (found,) = client.search_runs(
                [experiment_id],
                filter_string=(
                    f"tags.`{lineage.TAG_STEP}` = '{name}' and "
                    f"tags.`mlflow.parentRunId` = '{second.run_id}'"
                ),
            )
            return found

        drift_run = step("drift")
        (replay_run,) = client.search_runs(
            [experiment_id], filter_string=f"tags.`{lineage.TAG_STEP}` = 'replay'"
        )
        champion = client.get_model_version(MODEL, "2")
        bare = client.create_model_version(
            MODEL, champion.source, run_id=champion.run_id,
            model_id=champion.source.removeprefix("models:/"),
        )  # fmt: skip
        yield Scenario(
            server=gated_server,
            experiment_id=drift_run.info.experiment_id,
            drift_run_id=drift_run.info.run_id,
            no_evidence_version=str(bare.version),
            replay_run_id=replay_run.info.run_id,
            cycle_run_ids=(str(first.run_id), str(second.run_id)),
            retrain_run_id=step("retrain").info.run_id,
            compare_run_id=step("compare").info.run_id,
        )
    finally:
        mlflow.set_tracking_uri(None)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def _open(page: Any, url: str) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(url)
    # The assistant side panel (MLflow 3.x) takes a third of the width: close it when shown
    # (other MLflow versions may not have it).
    with contextlib.suppress(PlaywrightTimeout):
        page.get_by_role("button", name="Close", exact=True).click(timeout=5000)


def _version_aliases(page: Any) -> list[str]:
    """The alias tags shown next to "Aliases" on a model version page."""
    item = page.get_by_test_id("descriptions-item").filter(
        has=page.get_by_test_id("descriptions-item-label").get_by_text("Aliases", exact=True)
    )
    item.wait_for()
    tags = item.locator("[role=status][title]")
    return sorted(str(tags.nth(i).get_attribute("title")) for i in range(tags.count()))


def test_aliases_show_the_champion_and_the_previous_champion(
    scenario: Scenario, page: Any, screenshot: Callable[[Any, str], Path]
) -> None:
    _open(page, f"{scenario.server}/#/models/{MODEL}/versions/1")
    page.get_by_text("Status: retired").wait_for()
    assert _version_aliases(page) == ["previous-champion"]
    screenshot(page, "version-1-previous-champion")

    _open(page, f"{scenario.server}/#/models/{MODEL}/versions/2")
    page.get_by_text("Status: promoted").wait_for()
    assert _version_aliases(page) == ["champion"]

    _open(page, f"{scenario.server}/#/models/{MODEL}")
    history = page.locator("table", has=page.locator("th", has_text="from → to"))
    history.wait_for()
    assert "1 → 2" in history.inner_text()
    assert "promotion" in history.inner_text()
    screenshot(page, "registered-model-policy-and-alias-history")


def test_the_version_page_renders_the_evidence_table(
    scenario: Scenario, page: Any, screenshot: Callable[[Any, str], Path]
) -> None:
    _open(page, f"{scenario.server}/#/models/{MODEL}/versions/2")

    evidence = page.locator("table", has=page.locator("th", has_text="difference [90% interval]"))
    evidence.wait_for()
    headers = [h.strip() for h in evidence.locator("th").all_inner_texts()]
    assert headers == ["metric", "role", "champion", "challenger", "difference [90% interval]",
                       "p (adj.)", "test", "result"]  # fmt: skip
    (row,) = evidence.locator("tbody tr").all()
    cells = [c.strip() for c in row.locator("td").all_inner_texts()]
    assert cells[0] == "roc_auc"
    assert cells[6] == "delong"
    assert cells[7].startswith("pass")
    assert float(cells[3]) > float(cells[2])  # the challenger's ROC AUC beats the champion's
    drifted = page.locator("table", has=page.locator("th", has_text="drifted column"))
    assert "income" in drifted.inner_text()
    # The section markers are HTML comments: never shown.
    assert "mlflow-retrain:" not in page.locator("body").inner_text()
    screenshot(page, "version-2-evidence")


#: The screen extents (left, right) of each cell's text without its surrounding white space.
_TEXT_EXTENTS = """(row) => [...row.children].map((cell) => {
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  let start = null, end = null;
  while (walker.nextNode()) {
    const node = walker.currentNode, text = node.textContent;
    const first = text.search(/\\S/);
    if (first >= 0 && start === null) start = [node, first];
    const kept = text.replace(/\\s+$/u, "").length;
    if (kept > 0) end = [node, kept];
  }
  if (start === null) return null;
  const range = document.createRange();
  range.setStart(...start);
  range.setEnd(...end);
  const box = range.getBoundingClientRect();
  return [box.left, box.right];
})"""
#: Least white space between two cells' texts, in CSS pixels (about one em of the UI's font).
MIN_CELL_GAP_PX = 12


def _gaps(row: Any) -> list[float]:
    """The white space between the texts of each pair of neighbouring cells of ``row``."""
    extents = [e for e in row.evaluate(_TEXT_EXTENTS) if e is not None]
    return [right[0] - left[1] for left, right in itertools.pairwise(extents)]


@pytest.mark.parametrize("header", ["difference [90% interval]", "drifted column", "gate digest"])
def test_the_version_tables_keep_their_cells_apart(
    scenario: Scenario, page: Any, header: str
) -> None:
    _open(page, f"{scenario.server}/#/models/{MODEL}/versions/2")
    table = page.locator("table", has=page.get_by_text(header, exact=True))
    table.wait_for()

    # Every row with two or more filled cells (the training table's header row is empty).
    gaps = {row.inner_text(): _gaps(row) for row in table.locator("tr").all()}
    filled = {text: found for text, found in gaps.items() if found}
    assert len(filled) >= 2, gaps
    for text, found in filled.items():
        assert min(found) >= MIN_CELL_GAP_PX, (text, found)


def _expand_description(page: Any) -> None:
    """Unfold a run description the run page shows folded ("Show more")."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):
        page.get_by_text("Show more", exact=True).click(timeout=5000)


def test_the_replay_run_page_shows_the_timeline_linked_to_its_cycles(
    scenario: Scenario, page: Any, screenshot: Callable[[Any, str], Path]
) -> None:
    _open(page, f"{scenario.server}/#/experiments/{scenario.experiment_id}/runs/"
                f"{scenario.replay_run_id}")  # fmt: skip

    page.get_by_text("Replay of 2 batches").wait_for()
    _expand_description(page)
    timeline = page.locator("table", has=page.get_by_text("next-batch roc_auc", exact=True))
    timeline.wait_for()
    rows = timeline.locator("tbody tr").all()
    assert len(rows) == 2
    for row, cycle in zip(rows, scenario.cycle_run_ids, strict=True):
        link = row.locator("td").first.locator("a")
        assert link.get_attribute("href") == (
            f"#/experiments/{scenario.experiment_id}/runs/{cycle}"
        )
        assert min(_gaps(row)) >= MIN_CELL_GAP_PX
    last = [c.strip() for c in rows[1].locator("td").all_inner_texts()]
    assert last[3:6] == ["v2", "promote", "v2"]
    assert rows[1].get_by_role("link", name="v2").first.get_attribute("href") == (
        f"#/models/{MODEL}/versions/2"
    )
    screenshot(page, "replay-run-timeline")


@pytest.mark.parametrize(("index", "outcome"), [(0, "promoted"), (1, "promoted")])
def test_each_cycle_run_page_shows_its_outcome_and_links_its_steps(
    scenario: Scenario,
    page: Any,
    screenshot: Callable[[Any, str], Path],
    index: int,
    outcome: str,
) -> None:
    cycle = scenario.cycle_run_ids[index]
    _open(page, f"{scenario.server}/#/experiments/{scenario.experiment_id}/runs/{cycle}")

    page.get_by_text(f"Cycle: {outcome}").wait_for()
    _expand_description(page)
    key = page.locator("strong", has_text=re.compile(r"^[A-Z][a-z ]+:$"))
    items = {
        item.locator("strong").first.inner_text().strip().rstrip(":"): item
        for item in page.locator("li").filter(has=key).all()
    }
    assert next(iter(items)) == "Batch"
    assert "PROMOTE" in items["Comparison"].inner_text()
    assert items["Champion after"].inner_text() == f"Champion after: version {index + 1}"
    assert items["Champion after"].get_by_role("link").get_attribute("href") == (
        f"#/models/{MODEL}/versions/{index + 1}"
    )
    if index == 1:
        link = items["Trained"].get_by_role("link", name="tuning run")
        assert link.get_attribute("href") == (
            f"#/experiments/{scenario.experiment_id}/runs/{scenario.retrain_run_id}"
        )
        assert "found" in items["Drift"].inner_text()
        assert "roc_auc" in items["Decay check"].inner_text()
    screenshot(page, f"cycle-run-{index + 1}")


@pytest.mark.parametrize(
    ("run", "path"),
    [
        ("retrain", "tuning/optimization_history.png"),
        ("retrain", "tuning/slice.png"),
        ("retrain", "tuning/param_importances.png"),
        ("drift", "drift/plots/income.png"),
        ("compare", "comparison/differences.png"),
        ("compare", "comparison/roc.png"),
    ],
)
def test_every_figure_opens_in_the_artifact_viewer(
    scenario: Scenario,
    page: Any,
    screenshot: Callable[[Any, str], Path],
    run: str,
    path: str,
) -> None:
    run_id = {"retrain": scenario.retrain_run_id, "drift": scenario.drift_run_id,
              "compare": scenario.compare_run_id}[run]  # fmt: skip
    _open(page, f"{scenario.server}/#/experiments/{scenario.experiment_id}/runs/{run_id}"
                f"/artifacts/{path}")  # fmt: skip

    image = page.locator("img").filter(has_not=page.locator("svg")).last
    page.wait_for_function(
        "() => [...document.images].some((i) => i.complete && i.naturalWidth >= 600)"
    )
    widths = page.evaluate("() => [...document.images].map((i) => i.naturalWidth)")
    assert max(widths) >= 600, widths
    assert image.count() >= 1
    screenshot(page, "figure-" + path.rsplit("/", 1)[-1].removesuffix(".png").replace("_", "-"))


def test_the_drift_report_opens_in_the_artifact_view_from_the_version_page(
    scenario: Scenario, page: Any, screenshot: Callable[[Any, str], Path]
) -> None:
    _open(page, f"{scenario.server}/#/models/{MODEL}/versions/2")
    link = page.get_by_role("link", name="HTML drift report")
    expected = (
        f"#/experiments/{scenario.experiment_id}/runs/{scenario.drift_run_id}"
        "/artifacts/drift/report.html"
    )
    assert link.get_attribute("href") == expected  # relative: works on any server

    with page.context.expect_page() as opened:
        link.click()  # the UI opens description links in a new tab
    report = opened.value
    report.wait_for_load_state("networkidle")
    frame = report.frame_locator("iframe").first
    frame.get_by_text("DRIFT DETECTED").wait_for()
    assert "income" in frame.locator("table").first.inner_text()
    screenshot(report, "drift-report-artifact")


def test_the_comparison_report_opens_in_the_artifact_view(
    scenario: Scenario, page: Any, screenshot: Callable[[Any, str], Path]
) -> None:
    client = MlflowClient(scenario.server)
    run_id = client.get_model_version(MODEL, "2").tags[lineage.TAG_EVIDENCE_RUN]
    experiment_id = client.get_run(run_id).info.experiment_id

    _open(page, f"{scenario.server}/#/experiments/{experiment_id}/runs/{run_id}"
                "/artifacts/comparison/report.html")  # fmt: skip

    frame = page.frame_locator("iframe").first
    frame.get_by_text("PROMOTE", exact=True).wait_for()
    table = frame.locator("table").first
    assert "roc_auc" in table.inner_text()
    assert frame.locator("img").count() == 2  # the intervals and the ROC curves, embedded
    screenshot(page, "comparison-report-artifact")


def test_the_alias_editor_cannot_move_champion_past_the_gate(
    scenario: Scenario, page: Any, screenshot: Callable[[Any, str], Path]
) -> None:
    version = scenario.no_evidence_version
    _open(page, f"{scenario.server}/#/models/{MODEL}/versions/{version}")
    page.get_by_title("Add aliases").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("input").fill("champion")
    page.keyboard.press("Enter")
    with page.expect_response(lambda r: r.url.endswith("/registered-models/alias")) as sent:
        dialog.get_by_role("button", name="Save aliases").click()

    assert sent.value.status == 400
    refusal = dialog.get_by_text("Promotion gate:")
    refusal.wait_for()
    assert f"Version {version} has no comparison evidence" in refusal.inner_text()
    screenshot(page, "alias-editor-refused")
    client = MlflowClient(scenario.server)
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "2"
    assert client.get_model_version(MODEL, version).aliases == []
    _open(page, f"{scenario.server}/#/models/{MODEL}/versions/2")
    assert _version_aliases(page) == ["champion"]

"""The self-contained HTML evidence report of a comparison."""

from __future__ import annotations

import base64

import pytest
from helpers.evidence import comparison_evidence, metric_comparison

from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.report.html import render_evidence_html

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def test_the_report_holds_the_decision_table_and_embedded_figures() -> None:
    document = render_evidence_html(
        comparison_evidence(), model_name="churn", challenger_version="2", champion_version="1",
        figures={"ROC curves": PNG},
    )  # fmt: skip

    assert document.startswith("<!DOCTYPE html>")
    assert 'class="badge ok">PROMOTE</span>' in document
    assert "against champion version 1, on 1,200 gate rows" in document.replace(
        "Against", "against"
    )
    assert '<td class="num">0.1 [0.05, 0.15]</td>' in document
    assert f"data:image/png;base64,{base64.b64encode(PNG).decode()}" in document
    assert "<script" not in document
    assert "://" not in document  # nothing external


def test_text_from_data_is_escaped() -> None:
    document = render_evidence_html(
        comparison_evidence(
            metric_comparison("<script>alert(1)</script>", passed=False),
            decision="reject", reason="The challenger is better <really>.",
        ), model_name="m<x>",
        challenger_version="3", champion_version=None,
    )  # fmt: skip

    assert "<script>alert(1)</script>" not in document
    assert "&lt;script&gt;" in document
    assert "m&lt;x&gt;" in document
    assert "better &lt;really&gt;." in document
    assert "no champion (first deployment: policy floor)" in document


def test_a_figure_that_is_not_png_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="'curves' is not a PNG image"):
        render_evidence_html(
            comparison_evidence(), model_name="m", challenger_version="2", champion_version="1",
            figures={"curves": b"GIF89a"},
        )  # fmt: skip

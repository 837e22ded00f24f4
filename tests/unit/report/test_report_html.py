"""The self-contained HTML drift report."""

from __future__ import annotations

import base64
import math
import re
from html.parser import HTMLParser

import pytest
from helpers.drift import feature_drift

from mlflow_retrain.drift.report import DriftReport, FeatureDrift, SkippedColumn
from mlflow_retrain.exceptions import InvalidInputError
from mlflow_retrain.report import render_drift_html
from mlflow_retrain.report.html import format_number, format_pvalue

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
MALICIOUS = "<script>alert(1)</script>"
VOID = {"meta", "img", "br", "hr", "link", "input"}


def _report(
    features: tuple[FeatureDrift, ...] | None = None,
    *,
    target: FeatureDrift | None = None,
    skipped: tuple[SkippedColumn, ...] = (),
    drift_detected: bool = True,
) -> DriftReport:
    if features is None:
        features = (
            feature_drift("age", shifted=False),
            feature_drift("amount", effect_size=0.5),
            feature_drift(
                "country",
                effect_size=0.2,
                kind="categorical",
                critical=True,
                unseen_categories=("XX", "YY", "ZZ", "QQ"),
                n_unseen_categories=7,
                unseen_share=0.08,
            ),
            feature_drift(
                "income",
                shifted=False,
                drifted=True,
                missing_rate_current=0.3,
                missing_drifted=True,
            ),
        )
    drifted = tuple(f.name for f in features if f.drifted)
    return DriftReport(
        drift_detected=drift_detected,
        n_reference=1000,
        n_current=500,
        features=features,
        target=target,
        n_drifted=len(drifted),
        share_drifted=len(drifted) / len(features) if features else 0.0,
        drifted_columns=drifted,
        critical_drifted=tuple(f.name for f in features if f.drifted and f.critical),
        reason=f"{len(drifted)} of {len(features)} columns drifted.",
        alpha=0.05,
        fdr_method="bh",
        drift_share=0.5,
        reference_source="table",
        skipped=skipped,
    )


class _Structure(HTMLParser):
    """Collects tags, checks nesting and records every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.ids: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for key, value in attrs:
            if key in {"src", "href", "action", "srcset", "poster"}:
                self.urls.append(value or "")
            if key == "id":
                self.ids.append(value or "")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")


def _parse(document: str) -> _Structure:
    parser = _Structure()
    parser.feed(document)
    parser.close()
    return parser


def test_report_is_one_well_formed_document() -> None:
    document = render_drift_html(_report())
    structure = _parse(document)

    assert document.startswith("<!DOCTYPE html>")
    assert document.rstrip().endswith("</html>")
    assert document.count("<!DOCTYPE html>") == 1
    assert structure.tags.count("html") == 1
    assert structure.tags.count("body") == 1
    assert structure.errors == []
    assert structure.stack == []


@pytest.mark.parametrize(
    ("detected", "badge", "absent"),
    [(True, "DRIFT DETECTED", "NO DRIFT"), (False, "NO DRIFT", "DRIFT DETECTED")],
)
def test_report_shows_the_decision(detected: bool, badge: str, absent: str) -> None:
    document = render_drift_html(_report(drift_detected=detected))

    assert badge in document
    assert absent not in document


def test_report_shows_the_reason_and_counts() -> None:
    document = render_drift_html(_report())

    assert "3 of 4 columns drifted." in document
    assert "reference 1,000" in document
    assert "current 500" in document
    assert "bh" in document


def test_report_lists_every_column() -> None:
    document = render_drift_html(_report())

    for name in ("age", "amount", "country", "income"):
        assert f"<code>{name}</code>" in document


def test_report_sorts_drifted_columns_first_by_effect() -> None:
    document = render_drift_html(_report())
    table = document[document.index('id="features"') :]

    positions = [table.index(f"<code>{n}</code>") for n in ("amount", "country", "income", "age")]
    assert positions == sorted(positions)


def _row_of(document: str, column: str) -> str:
    """The features table's row of ``column``."""
    table = document[document.index('id="features"') :]
    start = table.index(f"<code>{column}</code>")
    return table[table.rindex("<tr", 0, start) : table.index("</tr>", start)]


def test_report_marks_critical_columns_and_unseen_levels() -> None:
    document = render_drift_html(_report())

    # Only the critical column's row carries the marker (the CSS class is in every document).
    assert '<span class="tag critical">critical</span>' in _row_of(document, "country")
    for column in ("age", "amount", "income"):
        assert "critical" not in _row_of(document, column)
    assert "Critical drifted" in document
    assert "<code>XX</code>, <code>YY</code>, <code>ZZ</code>, \u2026" in document
    assert "QQ" not in document
    assert "8.0% of current" in document


def test_report_flags_missing_rate_drift() -> None:
    document = render_drift_html(_report())

    assert "0.0% \u2192 30.0%" in document
    assert "missing rate" in document


@pytest.mark.parametrize(
    "where",
    ["feature", "target", "skipped", "unseen", "title", "uri", "figure"],
)
def test_report_escapes_untrusted_text(where: str) -> None:
    features = (feature_drift("safe", shifted=False),)
    target = None
    skipped: tuple[SkippedColumn, ...] = ()
    kwargs: dict[str, object] = {}
    if where == "feature":
        features = (feature_drift(MALICIOUS, effect_size=0.3),)
    elif where == "target":
        target = feature_drift(MALICIOUS, shifted=False)
    elif where == "skipped":
        skipped = (SkippedColumn(MALICIOUS, MALICIOUS),)
    elif where == "unseen":
        features = (
            feature_drift(
                "c",
                shifted=False,
                kind="categorical",
                unseen_categories=(MALICIOUS,),
                n_unseen_categories=1,
            ),
        )
    elif where == "title":
        kwargs["title"] = MALICIOUS
    elif where == "uri":
        kwargs["reference_uri"] = MALICIOUS
        kwargs["current_uri"] = f'x" onerror="{MALICIOUS}'
    else:
        features = (feature_drift(MALICIOUS, effect_size=0.3),)
        kwargs["figures"] = {MALICIOUS: PNG}

    document = render_drift_html(
        _report(features, target=target, skipped=skipped),
        **kwargs,  # type: ignore[arg-type]
    )

    assert "<script" not in document.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in document
    assert "script" not in _parse(document).tags


def test_report_embeds_figures_as_png_data_uris() -> None:
    document = render_drift_html(_report(), figures={"amount": PNG, "country": PNG})
    encoded = base64.b64encode(PNG).decode("ascii")

    assert document.count(f'src="data:image/png;base64,{encoded}"') == 2


def test_report_links_table_rows_to_figures() -> None:
    document = render_drift_html(_report(), figures={"amount": PNG})
    structure = _parse(document)

    anchors = [url[1:] for url in structure.urls if url.startswith("#figure-")]
    assert anchors
    assert all(anchor in structure.ids for anchor in anchors)


def test_report_has_no_external_references() -> None:
    document = render_drift_html(
        _report(),
        figures={"amount": PNG},
        reference_uri="s3://bucket/reference.parquet",
        current_uri="/data/batch.csv",
    )
    urls = _parse(document).urls

    assert "http://" not in document
    assert "https://" not in document
    assert "<script" not in document
    assert urls
    assert all(url.startswith(("#", "data:image/png;base64,")) for url in urls)


def test_report_shows_source_uris_with_password_masked() -> None:
    document = render_drift_html(
        _report(),
        reference_uri="s3://bucket/ref.parquet",
        current_uri="postgresql://scott:tiger@db:5432/sales?table=batch",
    )

    assert "s3://bucket/ref.parquet" in document
    assert "postgresql://scott:***@db:5432/sales?table=batch" in document
    assert "tiger" not in document


def test_report_shows_nan_statistics_as_dashes() -> None:
    inconclusive = feature_drift(
        "tiny",
        shifted=False,
        statistic=math.nan,
        p_value=math.nan,
        p_value_adjusted=math.nan,
        effect_size=math.nan,
        inconclusive_reason="fewer than 5 non-missing values (reference 3, current 2)",
    )

    document = render_drift_html(_report((feature_drift("a", effect_size=0.4), inconclusive)))

    assert not re.search(r"\bnan\b", document, flags=re.IGNORECASE)
    assert '<td class="num">\u2014</td>' in document
    assert "inconclusive" in document
    assert "fewer than 5 non-missing values" in document


def test_report_writes_small_p_values_in_scientific_notation() -> None:
    document = render_drift_html(_report())

    assert "1e-7" in document
    assert "5e-7" in document


def test_report_has_a_target_section() -> None:
    target = feature_drift("label", effect_size=0.3, kind="categorical")

    document = render_drift_html(_report(target=target))

    assert 'id="target"' in document
    assert "<code>label</code>" in document


def test_report_without_target_has_no_target_section() -> None:
    document = render_drift_html(_report())

    assert 'id="target"' not in document


def test_report_lists_skipped_columns() -> None:
    skipped = (SkippedColumn("created_at", "date and time column"),)

    document = render_drift_html(_report(skipped=skipped))

    assert 'id="skipped"' in document
    assert "<code>created_at</code>" in document
    assert "date and time column" in document


def test_report_with_no_features() -> None:
    document = render_drift_html(_report((), drift_detected=False))

    assert "No column was tested." in document
    assert "NO DRIFT" in document


def test_report_rejects_a_figure_that_is_not_png() -> None:
    with pytest.raises(InvalidInputError, match=r"figure for column 'amount' is not a PNG"):
        render_drift_html(_report(), figures={"amount": b"GIF89a..."})


def test_report_is_deterministic() -> None:
    report = _report()

    assert render_drift_html(report, figures={"amount": PNG}) == render_drift_html(
        report, figures={"amount": PNG}
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "\u2014"),
        (math.nan, "\u2014"),
        (0.0, "< 1e-300"),
        (1e-320, "1e-320"),
        (3.2e-5, "3.2e-5"),
        (3.3124e-19, "3.31e-19"),
        (3.0849e-6, "3.08e-6"),
        (0.001, "0.001"),
        (0.04567, "0.0457"),
        (1.0, "1"),
    ],
)
def test_format_pvalue(value: float | None, text: str) -> None:
    assert format_pvalue(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "\u2014"),
        (math.nan, "\u2014"),
        (math.inf, "\u221e"),
        (0.0, "0"),
        (0.7043124512345678, "0.7043"),
        (0.12345, "0.1235"),
        (12.345, "12.35"),
        (0.0785, "0.0785"),
        (-0.0421, "-0.0421"),
        (9999.4, "9999"),
        (12345.6, "12350"),
        (123456.0, "123500"),
        (2.5e7, "2.5e7"),
        (-2e-4, "-2e-4"),
        (1.23456e-5, "1.235e-5"),
    ],
)
def test_format_number(value: float | None, text: str) -> None:
    assert format_number(value) == text


def test_report_uses_no_markup_outside_known_tags() -> None:
    document = render_drift_html(_report(), figures={"amount": PNG})
    tags = set(_parse(document).tags)

    assert tags <= {
        "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p",
        "span", "dl", "dt", "dd", "code", "section", "table", "thead", "tbody", "tr", "th",
        "td", "a", "br", "ul", "li", "figure", "img", "footer", "div",
    }  # fmt: skip
    assert not re.search(r"\son\w+\s*=", document)

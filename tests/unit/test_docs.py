"""The README stays short, and the docs' generated references cover the code."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from types import ModuleType

import pytest
from helpers.examples import load_module

from mlflow_retrain import lineage
from mlflow_retrain.config import RetrainConfig

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


@pytest.fixture(scope="module")
def reference() -> ModuleType:
    """The mkdocs hook ``docs/reference.py``, loaded as mkdocs loads it: from its path."""
    # Its dataclasses look their module up in sys.modules.
    return load_module(DOCS / "reference.py", "docs_reference", register=True)


def _public_constants() -> dict[str, object]:
    return {
        name: getattr(lineage, name)
        for name in lineage.__all__
        if name.isupper() and not callable(getattr(lineage, name))
    }


def _config_keys(cls: type = RetrainConfig, prefix: str = "") -> list[str]:
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            keys += _config_keys(hint, f"{prefix}{f.name}.")
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def test_readme_is_at_most_250_lines() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()

    assert len(lines) <= 250


def test_every_public_lineage_constant_is_in_the_generated_reference(
    reference: ModuleType,
) -> None:
    rendered = reference.render_lineage()

    for name, value in _public_constants().items():
        assert f"| `{name}` | `{value}` |" in rendered


def test_every_tag_constant_has_a_description(reference: ModuleType) -> None:
    undocumented = [c.name for c in reference.lineage_constants() if not c.description]

    assert undocumented == []


def test_every_config_key_is_in_the_generated_reference(reference: ModuleType) -> None:
    rendered = reference.render_config()
    keys = _config_keys()

    assert sorted(reference.config_keys()) == sorted(keys)
    for key in keys:
        assert f"| `{key}` |" in rendered


def test_every_config_key_has_a_description(reference: ModuleType) -> None:
    sections = reference.config_sections()
    undocumented = [k.key for s in sections for k in s.keys if not k.description]

    assert undocumented == []


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("drift.alpha", "(0, 1)"),
        ("tuning.gate_fraction", "[0.05, 0.5]"),
        ("window.days", "> 0"),
        ("window.tune_fractions", "each [0, 1]"),
        ("triggers.drift_k", "[1, `triggers.drift_n`]"),
        ("safety.max_consecutive_rejections", "≥ 1"),
    ],
)
def test_ranges_are_read_from_the_config_checks(
    reference: ModuleType, key: str, expected: str
) -> None:
    assert reference.config_ranges()[key] == expected


def test_every_range_check_names_a_real_config_key(reference: ModuleType) -> None:
    checked = set(reference.config_ranges())
    source = (REPO / "mlflow_retrain" / "config.py").read_text(encoding="utf-8")
    literal_keys = set(re.findall(r'_check_range\(\s*"([\w.]+)"', source))

    assert checked <= set(_config_keys())
    assert literal_keys <= checked


def test_a_note_for_a_constant_that_is_gone_fails_the_build(
    reference: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(reference.CONSTANT_NOTES, "TAG_NO_SUCH_THING", "stale")

    with pytest.raises(ValueError, match=r"TAG_NO_SUCH_THING, which mlflow_retrain\.lineage"):
        reference.lineage_constants()


def test_a_note_for_a_key_that_is_gone_fails_the_build(
    reference: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(reference.KEY_NOTES, "drift.no_such_key", "stale")

    with pytest.raises(ValueError, match=r"drift\.no_such_key, which retrain\.yaml no longer"):
        reference.config_sections()


@pytest.mark.parametrize(
    ("page", "marker_name"),
    [("names.md", "LINEAGE_MARKER"), ("configuration.md", "CONFIG_MARKER")],
)
def test_the_hook_fills_the_marker_of_its_page(
    reference: ModuleType, page: str, marker_name: str
) -> None:
    marker = getattr(reference, marker_name)
    markdown = (DOCS / page).read_text(encoding="utf-8")

    assert marker in markdown
    rendered = reference.on_page_markdown(markdown, page=None, config=None, files=None)
    assert marker not in rendered
    assert "| --- |" in rendered


def test_a_marker_quoted_in_a_sentence_is_left_alone(reference: ModuleType) -> None:
    markdown = f"The hook fills `{reference.CONFIG_MARKER}` in configuration.md.\n"

    assert reference.on_page_markdown(markdown, page=None, config=None, files=None) == markdown


def test_the_drift_page_has_one_mlflow_run_drift_example() -> None:
    page = (DOCS / "commands" / "drift.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.+?)\n```", page, flags=re.DOTALL)

    assert len([b for b in blocks if b.startswith("mlflow run . -e drift")]) == 1


def _command_names() -> list[str]:
    import click

    from mlflow_retrain.cli import main

    names = []
    for name, command in main.commands.items():
        if isinstance(command, click.Group):
            names += [f"{name} {sub}" for sub in command.commands]
        else:
            names.append(name)
    return names


def test_every_command_is_in_the_commands_overview() -> None:
    overview = (DOCS / "commands" / "index.md").read_text(encoding="utf-8")
    table = [line for line in overview.splitlines() if line.startswith("| [`")]

    missing = [n for n in _command_names() if not any(f"`{n}`" in row for row in table)]

    assert missing == []


def test_every_command_but_policy_has_an_mlproject_entry_point() -> None:
    import yaml

    project = yaml.safe_load((REPO / "MLproject").read_text(encoding="utf-8"))
    commands = {n for n in _command_names() if not n.startswith("policy ")}

    assert commands - set(project["entry_points"]) == set()

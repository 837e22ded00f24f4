"""The README's two quick-start commands are exactly what CI runs."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _quickstart_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section, flags=re.DOTALL)


def test_readme_has_two_quickstart_commands() -> None:
    commands = _quickstart_commands()

    assert len(commands) == 2
    assert all("\n" not in c for c in commands)
    assert commands[0].endswith("mlflow run . --env-manager local")
    assert commands[1].endswith("pytest")


def test_ci_runs_the_readme_commands_verbatim() -> None:
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()

    for command in _quickstart_commands():
        assert command in ci_lines

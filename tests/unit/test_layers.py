"""The pure modules import without mlflow, and no module imports another package's private names.

The layering itself is checked by import-linter (``lint-imports``; the contracts are in
``pyproject.toml``). These tests check what a static import graph cannot: what importing a
module really loads, each in a fresh interpreter.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mlflow_retrain
from mlflow_retrain import _errors, exceptions

PACKAGE = Path(mlflow_retrain.__file__).parent

#: Importing one of these loads neither mlflow nor the heavy libraries of the adapters.
PURE_MODULES = [
    "mlflow_retrain.column_types",
    "mlflow_retrain.comparison",
    "mlflow_retrain.config",
    "mlflow_retrain.drift",
    "mlflow_retrain.lineage",
    "mlflow_retrain.metrics",
    "mlflow_retrain.policy",
    "mlflow_retrain.registry.access",
    "mlflow_retrain.registry.gate",
    "mlflow_retrain.registry.signing",
    "mlflow_retrain.stats",
]
HEAVY = ["mlflow", "sklearn", "optuna", "matplotlib", "boto3", "click"]


def _pythonpath() -> list[str]:
    return [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]


def _loaded_after(module: str, statement: str = "pass") -> list[str]:
    """The heavy libraries loaded after importing ``module`` and running ``statement``."""
    code = (
        f"import json, sys, {module}\n{statement}\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & {set(HEAVY)!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        # The package under test, wherever it was imported from here.
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(PACKAGE.parent), *_pythonpath()])},
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("module", PURE_MODULES)
def test_importing_a_pure_module_loads_no_mlflow(module: str) -> None:
    assert _loaded_after(module) == []


def test_loading_a_valid_configuration_loads_no_mlflow() -> None:
    # tuning.threads is "auto" | int: the option that does not fit is skipped, not raised.
    load = "mlflow_retrain.config.load_config(overrides={'tuning.threads': 2}, environ={})"

    assert _loaded_after("mlflow_retrain.config", load) == []


@pytest.mark.parametrize(
    "argv", [["--help"], ["drift", "--no-such-option"], ["verify", "--model", "no-version"]]
)
def test_the_command_lines_help_and_usage_errors_load_no_mlflow(argv: list[str]) -> None:
    # `mlflow-retrain --help` and a mistyped option answer without paying mlflow's second.
    run = (
        "from contextlib import redirect_stderr, redirect_stdout\n"
        "from io import StringIO\n"
        "with redirect_stdout(StringIO()), redirect_stderr(StringIO()):\n"
        "    try:\n"
        f"        mlflow_retrain.cli.main({argv!r}, standalone_mode=False)\n"
        "    except Exception as err:\n"
        "        assert type(err).__name__ in ('NoSuchOption', 'BadParameter'), err\n"
    )

    assert "mlflow" not in _loaded_after("mlflow_retrain.cli", run)


def test_raising_through_the_lazy_errors_gives_the_one_hierarchy() -> None:
    from mlflow.exceptions import MlflowException

    from mlflow_retrain.stats import mcnemar_test

    with pytest.raises(exceptions.InvalidInputError, match="same length") as caught:
        mcnemar_test([1, 0], [1], [0])

    assert isinstance(caught.value, MlflowException)
    assert _errors.InvalidInputError is exceptions.InvalidInputError


def test_the_lazy_errors_name_every_error_class() -> None:
    classes = {n for n in exceptions.__all__ if isinstance(getattr(exceptions, n), type)}

    assert set(_errors.__all__) == classes
    for name in _errors.__all__:
        assert getattr(_errors, name) is getattr(exceptions, name)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _package_of(name: str) -> str:
    """The package a dotted name belongs to: itself if it is a package, else its parent."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return name if (path / "__init__.py").is_file() else name.rpartition(".")[0]


def _cross_package_private_imports(path: Path) -> list[str]:
    importer = _module_name(path)
    home = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            module = node.module
            names = [f"{module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != "mlflow_retrain":
                continue
            # The first private part decides: its package may share it (``stats._common``
            # within ``stats``; ``_lazy`` and ``_errors`` of the top level with everyone).
            depth = next((i for i in range(1, len(parts)) if _private(parts[i])), None)
            if depth is None:
                continue
            owner = _package_of(".".join(parts[:depth]))
            if home != owner and not home.startswith(owner + "."):
                found.append(f"{importer} imports {name}")
    return found


def test_no_module_imports_a_private_name_of_another_package() -> None:
    offenders = [
        line
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in _cross_package_private_imports(path)
    ]

    assert offenders == []

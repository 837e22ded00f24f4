"""The stats package's public names, and its independence from MLflow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mlflow_retrain.stats as stats

STATS_DIR = Path(stats.__file__).parent


def test_stats_package_exports_exactly_its_public_names() -> None:
    assert sorted(stats.__all__) == [
        "AdjustMethod",
        "Alternative",
        "BettingState",
        "BootstrapMetric",
        "McNemarMethod",
        "ResampledMetric",
        "SequentialState",
        "TailCheck",
        "TestResult",
        "UNITS",
        "VarianceEstimator",
        "WilcoxonMethod",
        "ZeroMethod",
        "adjust_pvalues",
        "auc_variance",
        "batches_before_a_bound",
        "bootstrap_t_test",
        "delong_test",
        "diebold_mariano_test",
        "hill_index",
        "mcnemar_test",
        "mixture_bound",
        "mixture_log_likelihood_ratio",
        "optimal_rho",
        "paired_bootstrap_test",
        "paired_bootstrap_tests",
        "paired_t_test",
        "rho_for_effect",
        "root_ratio_interval",
        "t_mixture_interval",
        "t_mixture_log_likelihood_ratio",
        "tail_check",
        "wilcoxon_test",
    ]
    for name in stats.__all__:
        assert getattr(stats, name) is not None, name


def _imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return found


@pytest.mark.parametrize("path", sorted(STATS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_stats_modules_do_not_import_mlflow(path: Path) -> None:
    assert not [m for m in _imports(path) if m == "mlflow" or m.startswith("mlflow.")]


def test_no_module_outside_stats_imports_a_private_stats_name() -> None:
    package = STATS_DIR.parent
    offenders = []
    for path in package.rglob("*.py"):
        if path.parent == STATS_DIR:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            module = (node.module or "") if isinstance(node, ast.ImportFrom) else ""
            if not module.startswith("mlflow_retrain.stats"):
                continue
            assert isinstance(node, ast.ImportFrom)
            private_module = any(part.startswith("_") for part in module.split("."))
            private_names = [a.name for a in node.names if a.name.startswith("_")]
            if private_module or private_names:
                offenders.append(f"{path.relative_to(package)}: {module}")
    assert offenders == []

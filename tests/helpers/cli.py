"""Run the ``mlflow-retrain`` CLI in-process, as a shell would."""

from __future__ import annotations


def invoke(*args: str, catch_exceptions: bool = False) -> tuple[int, str, str]:
    """Run ``mlflow-retrain *args`` with click's runner; return exit code, stdout, stderr.

    An exception the CLI does not turn into an exit code propagates, unless
    ``catch_exceptions`` (then it exits 1, like an uncaught error in a shell).
    """
    from click.testing import CliRunner

    from mlflow_retrain.cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=catch_exceptions)
    return result.exit_code, result.stdout, result.stderr

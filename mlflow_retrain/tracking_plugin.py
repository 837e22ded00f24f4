"""The ``mlflow.request_header_provider`` plugin that makes ``mlflow run`` fail fast.

``mlflow run`` contacts the tracking server itself, to create the project's run, before the
entry point's command starts, and MLflow retries a refused connection for minutes.
:class:`FailFastHeaderProvider` is the hook MLflow calls before each REST request: in an
``mlflow run`` process it checks the server once, before the first request, and ends the
process with the package's one-line error when nothing answers. In every other process it
does nothing.

MLflow loads this module into every process that uses the MLflow client, so it imports only
the standard library, MLflow's header-provider base class and
:mod:`mlflow_retrain.tracking_check`.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from mlflow.tracking.request_header.abstract_request_header_provider import (
    RequestHeaderProvider,
)

from mlflow_retrain.tracking_check import TrackingServerUnreachable, check_tracking_server

__all__ = ["FailFastHeaderProvider"]


def _is_mlflow_run(argv: list[str]) -> bool:
    """Whether ``argv`` is the ``mlflow run`` command (``mlflow run`` or ``python -m mlflow``)."""
    if len(argv) < 2 or argv[1] != "run":
        return False
    program = Path(argv[0])
    return program.name == "mlflow" or (
        program.name == "__main__.py" and program.parent.name == "mlflow"
    )


class FailFastHeaderProvider(RequestHeaderProvider):
    """MLflow request-header plugin that makes ``mlflow run`` fail fast on a dead server.

    It adds no headers. In an ``mlflow run`` process, the first REST request first checks
    that the tracking server accepts a TCP connection; when it does not, the process prints
    ``mlflow-retrain: error: Cannot reach the MLflow tracking server at ...`` on stderr and
    exits with code 1, in seconds rather than after minutes of MLflow's retries. MLflow calls
    header providers inside ``except Exception``, so the exit is a ``SystemExit``; no other
    process is ever stopped.
    """

    _lock = threading.Lock()
    _checked: set[str] = set()  # noqa: RUF012 - per process, shared by design

    def in_context(self) -> bool:
        """Check the server once per process and URI under ``mlflow run``; never adds headers."""
        if not _is_mlflow_run(sys.argv):
            return False
        import mlflow

        uri = mlflow.get_tracking_uri()
        with self._lock:
            if uri in self._checked:
                return False
            try:
                check_tracking_server(uri)
            except TrackingServerUnreachable as err:
                sys.stderr.write(f"mlflow-retrain: error: {err.message}\n")
                raise SystemExit(1) from None
            self._checked.add(uri)
        return False

    def request_headers(self) -> dict[str, str]:
        """No headers."""
        return {}

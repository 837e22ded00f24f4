"""Fail fast when the MLflow tracking server cannot be reached, before MLflow's retries start.

MLflow retries a refused connection with exponential backoff for minutes
(``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, default 7, ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR``, 2)
before it reports the failure in a long traceback; one TCP connection tells at once whether a
server listens. Two callers:

- every ``mlflow-retrain`` command checks first (:func:`check_tracking_server`);
- ``mlflow run`` contacts the server itself, to create the project's run, before the entry
  point's command starts. :class:`FailFastHeaderProvider`, registered under MLflow's
  ``mlflow.request_header_provider`` entry point, is the hook MLflow calls before each REST
  request; in an ``mlflow run`` process it checks the server once, before the first request,
  and ends the process with the one-line error when nothing answers. In every other process
  it does nothing.

This module imports only the standard library and MLflow's header-provider base class, since
MLflow loads it into every process that uses the MLflow client.
"""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

from mlflow.tracking.request_header.abstract_request_header_provider import (
    RequestHeaderProvider,
)

__all__ = [
    "TRACKING_CONNECT_TIMEOUT_S",
    "FailFastHeaderProvider",
    "TrackingServerUnreachable",
    "check_tracking_server",
]

#: Seconds to wait for a TCP connection to an http(s) tracking server before giving up.
TRACKING_CONNECT_TIMEOUT_S = 5.0


class TrackingServerUnreachable(Exception):
    """Nothing answers at the http(s) tracking URI.

    Attributes:
        message: One line: the redacted URI, why, and the fix.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _redacted(uri: str) -> str:
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


def check_tracking_server(uri: str | None = None) -> None:
    """Raise at once when nothing listens at an http(s) tracking URI.

    Non-HTTP URIs (SQLite, PostgreSQL, a folder) and hosts reached through an HTTP proxy are
    left to MLflow.

    Args:
        uri: The tracking URI (default: MLflow's current one).

    Raises:
        TrackingServerUnreachable: The host is unknown, refuses, or does not answer within
            :data:`TRACKING_CONNECT_TIMEOUT_S` seconds.
    """
    if uri is None:
        import mlflow

        uri = mlflow.get_tracking_uri()
    try:
        parts = urlsplit(uri)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return  # MLflow reports a malformed URI itself
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        return
    if parts.scheme in getproxies() and not proxy_bypass(host):
        return
    try:
        with socket.create_connection((host, port), timeout=TRACKING_CONNECT_TIMEOUT_S):
            return
    except socket.gaierror:
        why = f"the host '{host}' is unknown"
    except TimeoutError:
        why = f"no answer within {TRACKING_CONNECT_TIMEOUT_S:g} s"
    except ConnectionRefusedError:
        why = f"nothing listens on port {port}"
    except OSError as err:
        why = err.strerror or err.__class__.__name__
    raise TrackingServerUnreachable(
        f"Cannot reach the MLflow tracking server at {_redacted(uri)} ({why}). Start the "
        "server or fix MLFLOW_TRACKING_URI (and check the network or VPN)."
    )


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

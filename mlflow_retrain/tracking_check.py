"""Fail fast when the MLflow tracking server cannot be reached, before MLflow's retries start.

MLflow retries a refused connection with exponential backoff for minutes
(``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, default 7, ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR``, 2)
before it reports the failure in a long traceback; one TCP connection tells at once whether a
server listens. Two callers:

- every ``mlflow-retrain`` command checks first (:func:`check_tracking_server`);
- ``mlflow run`` contacts the server itself, to create the project's run, before the entry
  point's command starts: :class:`mlflow_retrain.tracking_plugin.FailFastHeaderProvider`
  checks there.

This module imports only the standard library (mlflow only to read the current tracking URI,
when none is given), so ``mlflow-retrain --help`` and a usage error load no mlflow.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

from mlflow_retrain.redaction import describe_uri

__all__ = [
    "TRACKING_CONNECT_TIMEOUT_S",
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
        f"Cannot reach the MLflow tracking server at {describe_uri(uri)} ({why}). Start the "
        "server or fix MLFLOW_TRACKING_URI (and check the network or VPN)."
    )

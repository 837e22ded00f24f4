"""Secrets out of what is shown: URIs and free text made safe to log and to print.

Standard library only, so the command line can redact an error line without loading the
readers (boto3, pyarrow, mlflow) that :mod:`mlflow_retrain.data.io` needs.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["describe_uri", "redact_text", "scheme_of"]

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):")
_USERINFO_IN_TEXT = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s]*@")


def describe_uri(uri: str | os.PathLike[str]) -> str:
    """Return ``uri`` in a form that is safe to log and to put in an error message.

    The user information of a URI (``user:password@``, or a bare token) becomes ``***`` and every
    query value becomes ``***`` (pre-signed URLs carry their signature there). Local paths and
    URIs without secrets come back unchanged.

    Args:
        uri: A local path or a URI.

    Returns:
        The redacted URI.
    """
    text = os.fspath(uri)
    if not scheme_of(text):
        return text
    try:
        parts = urlsplit(text)
    except ValueError:
        # Unparsable (e.g. a broken IPv6 host): redact by pattern and drop the query wholesale.
        head, sep, _ = text.partition("?")
        return _USERINFO_IN_TEXT.sub(r"\g<scheme>***@", head) + (sep and "?***")
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "&".join(
        f"{key}=***" if sep else "***"
        for key, sep, _ in (item.partition("=") for item in parts.query.split("&"))
        if key or sep
    )
    if netloc == parts.netloc and query == parts.query:
        return text
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def redact_text(text: str) -> str:
    """Return ``text`` with the user information of every URI in it replaced by ``***``.

    For free text such as an error message from MLflow or boto3, which may quote a URI with
    ``user:password@`` in it.
    """
    return _USERINFO_IN_TEXT.sub(r"\g<scheme>***@", text)


def scheme_of(uri: str) -> str:
    """Return the lower-cased URI scheme, or ``""`` for a local path (``C:\\`` included)."""
    match = _SCHEME.match(uri)
    if match is None or len(match["scheme"]) == 1:
        return ""
    return match["scheme"].lower()

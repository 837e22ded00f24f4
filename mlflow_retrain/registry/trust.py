"""Where signed evidence meets MLflow: a version's artifacts digest, signing, the server's check.

The pure part (:mod:`mlflow_retrain.registry.signing`) defines the record, the signature and
the keyring; this module reaches MLflow for what they bind to:

* the digest of a version's artifacts (:func:`version_binding`), computed the same way by the
  pipeline (on the files it downloads through the tracking server) and by the server (on the
  files in its own artifact store: with proxied artifacts, ``mlflow-artifacts:/`` paths under
  ``--artifacts-destination``, read as MLflow's artifact handlers read them);
* signing a record with the pipeline's key (:func:`sign`), or leaving it unsigned;
* the server's keyring (:func:`server_keyring`, read once per store) and the facts it hands
  the gate (:func:`signed_evidence`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlparse

from mlflow_retrain import lineage
from mlflow_retrain.registry.gate import SignedEvidence
from mlflow_retrain.registry.signing import (
    ENV_KEY,
    ENV_KEY_FILE,
    EvidenceRecord,
    Keyring,
    artifacts_digest,
    check_evidence,
    load_keyring,
)

__all__ = [
    "model_id_of",
    "server_keyring",
    "sign",
    "signed_evidence",
    "version_binding",
]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


def model_id_of(source: str | None) -> str | None:
    """The logged model id of a version's source (``models:/m-...``), or ``None``.

    MLflow 3's SQL registry does not store a version's ``model_id`` (it comes back ``None``);
    the source the version was created from names it, and no API changes a version's source.
    """
    if source and source.startswith("models:/m-"):
        return source[len("models:/") :].split("/", 1)[0]
    return None


def _file_digests(folder: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(_CHUNK), b""):
                    digest.update(chunk)
            yield path.relative_to(folder).as_posix(), digest.hexdigest()


def folder_digest(folder: str | Path) -> str:
    """The artifacts digest of a local folder (every file under it, by relative path)."""
    return artifacts_digest(_file_digests(Path(folder)))


def _in_server() -> bool:
    """Whether this process is a tracking server's (``mlflow server`` sets this for workers)."""
    return "_MLFLOW_SERVER_FILE_STORE" in os.environ


def _download(location: str, dst: str, tracking_uri: str | None, *, server: bool) -> str:
    """Download the artifacts at ``location`` into ``dst``; return the local folder.

    In a tracking server's process, a ``runs:/`` location is resolved through the server's
    own tracking store, and a proxied one (``mlflow-artifacts:/...``) is read from the
    artifacts destination directly, as MLflow's artifact handlers do: going through the
    server's HTTP API from inside it would need credentials the store does not have.
    """
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    if server and location.startswith("runs:/"):
        from mlflow.server.handlers import _get_tracking_store

        run_id, _, path = location[len("runs:/") :].partition("/")
        root = _get_tracking_store().get_run(run_id).info.artifact_uri
        location = f"{root.rstrip('/')}/{path}" if path else root
    destination = os.environ.get("_MLFLOW_SERVER_ARTIFACT_DESTINATION")  # set by mlflow server
    if server and location.startswith("mlflow-artifacts:") and destination:
        path = urlparse(location).path.lstrip("/")
        return get_artifact_repository(destination).download_artifacts(path, dst_path=dst)
    import mlflow

    return mlflow.artifacts.download_artifacts(
        artifact_uri=location, dst_path=dst, tracking_uri=tracking_uri
    )


def version_binding(
    location: str, *, tracking_uri: str | None = None, server: bool = False
) -> str:
    """The digest of the artifacts at a version's storage ``location``.

    Args:
        location: The version's download URI (``MlflowClient.get_model_version_download_uri``
            on the pipeline's side, the version's storage location on the server's).
        tracking_uri: The tracking server a ``runs:/`` location belongs to (default: the
            current one).
        server: Read them as the tracking server itself does (from its stores).

    Raises:
        MlflowException: If the artifacts cannot be read.
    """
    with tempfile.TemporaryDirectory() as tmp:
        return folder_digest(_download(location, tmp, tracking_uri, server=server))


def sign(record: EvidenceRecord, keyring: Keyring | None = None) -> tuple[str, str]:
    """The record's text and its signature under the pipeline's key (``""``: no key).

    Args:
        record: The evidence.
        keyring: The keys; default: from ``MLFLOW_RETRAIN_EVIDENCE_KEY(_FILE)``.
    """
    text = record.to_json()
    keyring = keyring if keyring is not None else load_keyring()
    if keyring is None:
        logger.warning(
            "No evidence key (%s or %s): the evidence of version %s of '%s' is written "
            "unsigned, and a tracking server holding a key will refuse it.",
            ENV_KEY, ENV_KEY_FILE, record.version, record.model_name,
        )  # fmt: skip
        return text, ""
    return text, keyring.sign(text)


def server_keyring() -> Keyring | None:
    """The store's keyring, read once when MLflow builds it; warns when there is none.

    Raises:
        InvalidConfigError: A malformed key variable or key file (the server must not start
            half-configured).
    """
    keyring = load_keyring()
    if keyring is None:
        logger.warning(
            "mlflow-retrain: no evidence key (%s or %s): the promotion gate trusts evidence "
            "tags as written, so anyone who may edit a model can forge its evidence. Give the "
            "server and the pipeline a key (docs/team-server.md).",
            ENV_KEY, ENV_KEY_FILE,
        )  # fmt: skip
    else:
        logger.info("mlflow-retrain: evidence keys %s (signing: %s).", list(keyring.key_ids),
                    keyring.signing_id)  # fmt: skip
    return keyring


def signed_evidence(
    keyring: Keyring,
    name: str,
    *,
    tags: Mapping[str, str],
    source: str | None,
    location: str,
) -> SignedEvidence:
    """What the gate needs to judge the version's signed evidence.

    The artifacts are read only when the record verifies (a forged one costs no download).

    Args:
        keyring: The server's keys.
        name: The registered model.
        tags: The target version's tags.
        source: The version's source (its logged model id).
        location: The version's storage location.
    """
    check = check_evidence(
        tags.get(lineage.TAG_EVIDENCE_RECORD), tags.get(lineage.TAG_EVIDENCE_SIGNATURE), keyring
    )
    offline = None
    if lineage.TAG_OFFLINE_RECORD in tags:
        offline = check_evidence(
            tags.get(lineage.TAG_OFFLINE_RECORD), tags.get(lineage.TAG_OFFLINE_SIGNATURE), keyring
        )
    from mlflow.exceptions import MlflowException

    digest = None
    if check.record is not None:
        try:
            digest = version_binding(location, server=_in_server())
        except (MlflowException, OSError) as err:  # the gate refuses and says why
            logger.warning("Cannot read the artifacts of a version of '%s' (%s).", name,
                           type(err).__name__)  # fmt: skip
    return SignedEvidence(
        model_name=name,
        check=check,
        offline=offline,
        model_id=model_id_of(source),
        artifact_digest=digest,
    )

"""Signed evidence: the record a comparison or shadow step vouches for, and its signature (pure).

``compare`` and ``shadow`` describe their verdict in one :class:`EvidenceRecord`: the model
and version judged, the version's model id and a digest of its artifacts, the champion it was
judged against, the decision with each test's result, the digest of the data, the digest of
the policy, the step's run and the time. The record is stored as canonical JSON (sorted keys,
no whitespace, the numbers rounded as the evidence summary rounds them) in the version tag
``mlflow_retrain.evidence.record``; its HMAC-SHA256, written ``v1:<key id>:<hex>``, goes in
``mlflow_retrain.evidence.signature``. The signature covers the stored text byte for byte, so
nothing is re-serialised before it is checked.

The key is shared by the pipeline and the tracking server only
(:func:`load_keyring`: ``MLFLOW_RETRAIN_EVIDENCE_KEY=<key id>:<secret>`` or
``MLFLOW_RETRAIN_EVIDENCE_KEY_FILE``, one ``<key id> <secret>`` per line). A key file's first
line signs and every line verifies, so a rotation keeps the evidence signed under an older
key id valid while it stays in the file. Key ids are not secret; secrets never appear in a
``repr``, a log line or a message.

No mlflow import: the gate checks the bindings of a verified record
(:func:`mlflow_retrain.registry.gate.decide_alias_change`), the store gathers the facts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow_retrain import _errors as errors
from mlflow_retrain.config import ENV_EVIDENCE_KEY, ENV_EVIDENCE_KEY_FILE

__all__ = [
    "ENV_KEY",
    "ENV_KEY_FILE",
    "RECORD_FORMAT",
    "EvidenceCheck",
    "EvidenceRecord",
    "Keyring",
    "artifacts_digest",
    "check_evidence",
    "load_keyring",
    "policy_digest",
    "signature_key_id",
]

#: ``<key id>:<secret>``: the one key that signs and verifies.
ENV_KEY = ENV_EVIDENCE_KEY
#: A file of ``<key id> <secret>`` lines (the first signs); readable by its owner only.
ENV_KEY_FILE = ENV_EVIDENCE_KEY_FILE
#: The record's format (field ``format``) and the signature's scheme prefix.
RECORD_FORMAT = 1
_SCHEME = "v1"
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_MIN_SECRET = 32
#: Longest record stored (a model-version tag holds up to 100,000 characters in MLflow 3.17;
#: stay inside the package's own tag limit so the UI's tag table stays readable).
MAX_RECORD_LENGTH = 5000


@dataclass(frozen=True)
class EvidenceRecord:
    """What a comparison or shadow step vouches for on one model version.

    Attributes:
        model_name: Registered model.
        version: The challenger version judged.
        model_id: The version's logged model (``m-...``), from its source; ``None`` when the
            version was registered from a path.
        artifact_digest: :func:`artifacts_digest` of the version's artifacts.
        baseline: The champion version it was judged against (``none``: first deployment).
        decision: ``promote``, ``reject`` or ``inconclusive``.
        source: ``compare`` (offline) or ``shadow`` (live batches).
        tests: Each test's result (metric, role, difference, interval, adjusted p, passed),
            rounded as in the evidence summary.
        data_digest: Digest of the rows compared on (``None`` for shadow evidence, which
            accumulates over live batches).
        policy_digest: :func:`policy_digest` of the stored policy it was judged under.
        run_id: The run holding the full evidence.
        time_ms: When it was computed (epoch milliseconds).
    """

    model_name: str
    version: str
    model_id: str | None
    artifact_digest: str
    baseline: str
    decision: str
    source: str
    tests: tuple[Mapping[str, Any], ...]
    data_digest: str | None
    policy_digest: str
    run_id: str
    time_ms: int

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (what the record tag holds)."""
        return {
            "format": RECORD_FORMAT,
            "model_name": self.model_name,
            "version": self.version,
            "model_id": self.model_id,
            "artifact_digest": self.artifact_digest,
            "baseline": self.baseline,
            "decision": self.decision,
            "source": self.source,
            "tests": [dict(t) for t in self.tests],
            "data_digest": self.data_digest,
            "policy_digest": self.policy_digest,
            "run_id": self.run_id,
            "time_ms": self.time_ms,
        }

    def to_json(self) -> str:
        """The canonical text: sorted keys, no whitespace, ASCII only.

        Tests that do not fit :data:`MAX_RECORD_LENGTH` keep their metric, role and result
        only (the comparison run keeps the rest).
        """
        text = _canonical(self.to_dict())
        if len(text) <= MAX_RECORD_LENGTH:
            return text
        short = [{k: t.get(k) for k in ("metric", "role", "passed")} for t in self.tests]
        return _canonical({**self.to_dict(), "tests": short})

    @classmethod
    def from_json(cls, text: str) -> EvidenceRecord:
        """Parse a stored record.

        Raises:
            ValueError: If the text is not a record of this format.
        """
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
            raise ValueError("not an evidence record of format 1")
        try:
            return cls(
                model_name=str(data["model_name"]),
                version=str(data["version"]),
                model_id=None if data["model_id"] is None else str(data["model_id"]),
                artifact_digest=str(data["artifact_digest"]),
                baseline=str(data["baseline"]),
                decision=str(data["decision"]),
                source=str(data["source"]),
                tests=tuple(dict(t) for t in data["tests"]),
                data_digest=None if data["data_digest"] is None else str(data["data_digest"]),
                policy_digest=str(data["policy_digest"]),
                run_id=str(data["run_id"]),
                time_ms=int(data["time_ms"]),
            )
        except (KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"incomplete evidence record ({err})") from err


def _canonical(data: Mapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)  # fmt: skip


def policy_digest(policy: str | None) -> str:
    """The digest that binds evidence to the stored policy text (``none``: no stored policy).

    The text is hashed as stored (``mlflow_retrain.policy``): any rewrite of the tag makes
    evidence judged under the old one stale.
    """
    if not policy:
        return "none"
    return "sha256:" + hashlib.sha256(policy.encode("utf-8")).hexdigest()


def artifacts_digest(files: Iterable[tuple[str, str]]) -> str:
    """The digest of a model's artifacts from ``(relative path, sha256 hex of content)`` pairs.

    Order does not matter; paths use ``/``. Both the pipeline (on the files it downloaded)
    and the tracking server (on the files in its artifact store) compute it this way.
    """
    lines = sorted(f"{path}\0{digest}\n" for path, digest in files)
    return "sha256:" + hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


class Keyring:
    """Evidence keys by key id: one signs, all verify. Its ``repr`` shows the key ids only.

    Args:
        keys: Key id -> secret, in order; the first signs unless ``signing_id`` is given.
        signing_id: The key id that signs.

    Raises:
        InvalidConfigError: No key, a malformed key id, a secret shorter than 32 characters,
            or ``signing_id`` not among the keys.
    """

    __slots__ = ("_keys", "signing_id")

    def __init__(self, keys: Mapping[str, str], *, signing_id: str | None = None) -> None:
        if not keys:
            raise errors.InvalidConfigError(
                f"The evidence keyring is empty. Set {ENV_KEY}=<key id>:<secret>."
            )
        for key_id, secret in keys.items():
            if not _KEY_ID.match(key_id):
                raise errors.InvalidConfigError(
                    "An evidence key id is not valid: use 1 to 64 letters, digits, '.', '_' or "
                    "'-' (e.g. 2026-01), then ':' (or a space in a key file) and the secret."
                )
            if len(secret) < _MIN_SECRET:
                raise errors.InvalidConfigError(
                    f"An evidence key's secret is {len(secret)} characters long; "
                    f'use at least {_MIN_SECRET}. Generate one with `python -c "import secrets; '
                    'print(secrets.token_hex(32))"`.'
                )
        self._keys = {k: v.encode("utf-8") for k, v in keys.items()}
        self.signing_id = signing_id if signing_id is not None else next(iter(keys))
        if self.signing_id not in self._keys:
            raise errors.InvalidConfigError(
                f"The signing key id '{self.signing_id}' is not in the evidence keyring."
            )

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The key ids that verify (the signing one first)."""
        return (self.signing_id, *(k for k in self._keys if k != self.signing_id))

    def __repr__(self) -> str:
        return f"Keyring(signing_id={self.signing_id!r}, key_ids={list(self.key_ids)!r})"

    __str__ = __repr__

    def sign(self, text: str) -> str:
        """The signature of ``text`` under the signing key: ``v1:<key id>:<hex>``."""
        mac = hmac.new(self._keys[self.signing_id], text.encode("utf-8"), hashlib.sha256)
        return f"{_SCHEME}:{self.signing_id}:{mac.hexdigest()}"

    def verify(self, text: str, signature: str) -> str | None:
        """Why ``signature`` does not vouch for ``text``, or ``None`` when it does."""
        key_id, digest = _split_signature(signature)
        if key_id is None or not digest:
            return "its signature is not of the form v1:<key id>:<hex>"
        secret = self._keys.get(key_id)
        if secret is None:
            return f"it is signed with key id '{key_id[:70]}', which this server does not hold"
        expected = hmac.new(secret, text.encode("utf-8"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, digest):
            return f"its signature does not match its record under key id '{key_id}'"
        return None


def _split_signature(signature: str) -> tuple[str | None, str]:
    """The key id and digest of a ``v1:<key id>:<hex>`` signature (``None``: another form)."""
    scheme, _, rest = signature.partition(":")
    key_id, _, digest = rest.partition(":")
    return (key_id if scheme == _SCHEME and key_id else None), digest


def signature_key_id(signature: str | None) -> str | None:
    """The key id a signature names, or ``None`` when it is not of the ``v1`` form."""
    return _split_signature(signature or "")[0]


def load_keyring(environ: Mapping[str, str] | None = None) -> Keyring | None:
    """The evidence keyring from the environment, or ``None`` when none is configured.

    ``MLFLOW_RETRAIN_EVIDENCE_KEY_FILE`` (one ``<key id> <secret>`` per line; blank lines and
    ``#`` comments skipped; the first key signs) wins over ``MLFLOW_RETRAIN_EVIDENCE_KEY``
    (``<key id>:<secret>``). Like ssh with its private keys, a key file that its group or
    others may read is refused.

    Raises:
        InvalidConfigError: A malformed variable or file, or a key file others can read.
    """
    environ = os.environ if environ is None else environ
    path = environ.get(ENV_KEY_FILE, "").strip()
    if path:
        return Keyring(_read_key_file(Path(path)))
    value = environ.get(ENV_KEY, "").strip()
    if not value:
        return None
    key_id, sep, secret = value.partition(":")
    if not sep or not key_id.strip():
        raise errors.InvalidConfigError(
            f"{ENV_KEY} must read <key id>:<secret> (e.g. 2026-01:<64 hex characters>); its "
            "value has no key id."
        )
    return Keyring({key_id.strip(): secret.strip()})


def _read_key_file(path: Path) -> dict[str, str]:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise errors.InvalidConfigError(
                f"Evidence key file '{path}' is accessible by its group or others "
                f"(mode {stat.S_IMODE(mode):o}). Run `chmod 600 {path}`."
            )
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise errors.InvalidConfigError(
            f"Cannot read evidence key file '{path}' ({err.strerror}). Check {ENV_KEY_FILE}."
        ) from err
    keys: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split()
        if len(parts) != 2:
            raise errors.InvalidConfigError(
                f"Evidence key file '{path}', line {number}: expected '<key id> <secret>'."
            )
        if parts[0] in keys:
            raise errors.InvalidConfigError(
                f"Evidence key file '{path}', line {number}: its key id repeats an earlier one."
            )
        keys[parts[0]] = parts[1]
    return keys


@dataclass(frozen=True)
class EvidenceCheck:
    """The signature check of a version's evidence: the verified record, or why there is none.

    Attributes:
        record: The record, when its signature verified.
        failure: Why the evidence cannot be trusted (no record, unsigned, forged or tampered,
            unreadable), when it did not.
    """

    record: EvidenceRecord | None
    failure: str | None = None


def check_evidence(record: str | None, signature: str | None, keyring: Keyring) -> EvidenceCheck:
    """Verify a version's stored record against its signature.

    Args:
        record: The record tag's text, if any.
        signature: The signature tag's text, if any.
        keyring: The server's keys.

    Returns:
        The verified record, or the failure (one clause, for the gate's refusal).
    """
    if not record:
        return EvidenceCheck(None, "it has no signed evidence record")
    if not signature:
        return EvidenceCheck(
            None,
            f"its evidence is unsigned (the step that wrote it had no key: set {ENV_KEY} or "
            f"{ENV_KEY_FILE} for the pipeline)",
        )
    failure = keyring.verify(record, signature)
    if failure is not None:
        return EvidenceCheck(None, f"{failure}: it was forged or tampered with")
    try:
        return EvidenceCheck(EvidenceRecord.from_json(record))
    except ValueError as err:
        return EvidenceCheck(None, f"its signed record cannot be read ({err})")

"""Read a model's audit trail back and check the evidence behind it; verify a version to serve.

The store writes two kinds of record on a registered model, and no client can write or delete
either (:mod:`mlflow_retrain.registry.access`): ``mlflow_retrain.audit.<ms>-<hex>``, one per
move of ``champion`` (:class:`~mlflow_retrain.registry.gate.AuditEntry`), and
``mlflow_retrain.change.<ms>-<hex>``, one per protected write the store allowed
(:mod:`mlflow_retrain.registry.guard`). :func:`read_audit` lists both, oldest first, and checks
the signed evidence of every version a promotion (or first deployment) moved to, with the
keyring of this process: the signature says whether the evidence still on the version is the
one the pipeline signed.

:func:`verify_version` is the check a deploy job runs before it serves a version: the
evidence's signature, and that the signed record names the model, the version, its logged
model and the digest of the artifacts it holds now (downloaded and hashed exactly as the
pipeline and the server hash them, :func:`~mlflow_retrain.registry.trust.version_binding`).

Neither writes anything to the registry. The parsing, the classification of a signature
check and the text are pure functions of the tags; only :func:`read_audit` and
:func:`verify_version` reach MLflow.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from mlflow_retrain import _errors as errors
from mlflow_retrain import lineage
from mlflow_retrain.registry.signing import (
    ENV_KEY,
    ENV_KEY_FILE,
    EvidenceRecord,
    Keyring,
    check_evidence,
    load_keyring,
    signature_key_id,
)

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = [
    "AuditRecord",
    "AuditTrail",
    "ModelRef",
    "SignatureStatus",
    "SignatureVerdict",
    "Verification",
    "audit_records",
    "check_signature",
    "format_audit",
    "format_verification",
    "parse_model_ref",
    "read_audit",
    "verify_version",
]

#: What the signature check of a promotion's evidence found.
#:
#: ``ok``: the evidence verifies under a key of this keyring and is for this version;
#: ``unsigned``: no signed record (written without a key, or no record at all);
#: ``tampered``: the signature does not match the record (or is malformed);
#: ``unknown_key``: signed with a key id this keyring does not hold;
#: ``mismatch``: a valid signature, but the record is for another model or version;
#: ``replaced``: a valid signature on evidence from another run than the promotion's (the
#: version was judged again since);
#: ``no_key``: this process holds no keyring, so nothing can be verified;
#: ``version_deleted``: the version is gone, and its evidence with it.
SignatureStatus = Literal[
    "ok", "unsigned", "tampered", "unknown_key", "mismatch", "replaced", "no_key",
    "version_deleted",
]  # fmt: skip

#: The statuses that fail ``audit`` (exit 1): evidence someone altered, or cannot be verified
#: by the keys that should verify it.
FAILING: frozenset[str] = frozenset({"tampered", "unknown_key", "mismatch"})

#: Audit kinds whose move rested on the version's evidence (and so get a signature check).
EVIDENCE_KINDS = frozenset({"promotion", "first_deployment"})


@dataclass(frozen=True)
class SignatureVerdict:
    """The signature check of one version's evidence.

    Attributes:
        status: What was found (:data:`SignatureStatus`).
        key_id: The key id the signature names, when it names one.
        detail: One clause saying why, for anything but ``ok``.
        record: The verified record, for ``ok``, ``mismatch`` and ``replaced``.
    """

    status: SignatureStatus
    key_id: str | None = None
    detail: str = ""
    record: EvidenceRecord | None = field(default=None, compare=False)

    @property
    def failed(self) -> bool:
        """Whether this check fails the audit."""
        return self.status in FAILING

    def text(self) -> str:
        """The short form a line of ``audit`` ends with."""
        return {
            "ok": f"signature ok (key id {self.key_id})",
            "unsigned": "unsigned",
            "tampered": "forged/tampered",
            "unknown_key": f"signed with unknown key id {self.key_id}",
            "mismatch": f"signature ok (key id {self.key_id}) but {self.detail}",
            "replaced": f"signature ok (key id {self.key_id}) but {self.detail}",
            "no_key": "no key here to verify",
            "version_deleted": "version deleted, nothing to verify",
        }[self.status]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"status": self.status, "key_id": self.key_id, "detail": self.detail or None}


def _signature_key_id(signature: str | None) -> str | None:
    key_id = signature_key_id(signature)
    return None if key_id is None else key_id[:64]


def _check_one(record: str | None, signature: str | None, keyring: Keyring) -> SignatureVerdict:
    key_id = _signature_key_id(signature)
    check = check_evidence(record, signature, keyring)
    if check.record is not None:
        return SignatureVerdict("ok", key_id, record=check.record)
    failure = check.failure or ""
    if not record or not signature:
        return SignatureVerdict("unsigned", key_id, failure)
    if key_id is not None and key_id not in keyring.key_ids:
        return SignatureVerdict("unknown_key", key_id, failure)
    return SignatureVerdict("tampered", key_id, failure)


def check_signature(
    tags: Mapping[str, str],
    keyring: Keyring | None,
    *,
    model_names: Iterable[str],
    version: str,
    evidence_run: str | None = None,
) -> SignatureVerdict:
    """Check the signed evidence among a version's ``tags`` (and its offline record, if any).

    Args:
        tags: The version's tags.
        keyring: The keys that verify; ``None``: none here (status ``no_key``).
        model_names: The names the record may carry: the model's, and the names it had
            before a rename.
        version: The version the evidence must be for.
        evidence_run: The evidence run the audit record names; a verified record from another
            run is ``replaced``.

    Returns:
        The verdict on the evidence record; an offline record that fails its own check turns
        an ``ok`` into that failure.
    """
    if keyring is None:
        return SignatureVerdict("no_key", detail=f"set {ENV_KEY} or {ENV_KEY_FILE} to verify")
    main = _check_one(
        tags.get(lineage.TAG_EVIDENCE_RECORD), tags.get(lineage.TAG_EVIDENCE_SIGNATURE), keyring
    )
    if main.status == "ok" and lineage.TAG_OFFLINE_RECORD in tags:
        offline = _check_one(
            tags.get(lineage.TAG_OFFLINE_RECORD), tags.get(lineage.TAG_OFFLINE_SIGNATURE), keyring
        )
        if offline.status != "ok":
            return SignatureVerdict(
                offline.status, offline.key_id, f"its offline record: {offline.detail}"
            )
    if main.record is None:
        return main
    names = set(model_names)
    record = main.record
    if record.model_name not in names or record.version != str(version):
        return SignatureVerdict(
            "mismatch",
            main.key_id,
            f"the record is for version {record.version} of '{record.model_name}'",
            record=record,
        )
    if evidence_run and record.run_id != evidence_run:
        return SignatureVerdict(
            "replaced",
            main.key_id,
            f"it is evidence from run {record.run_id}, not the promotion's run {evidence_run} "
            "(the version was judged again since)",
            record=record,
        )
    return main


@dataclass(frozen=True)
class AuditRecord:
    """One record of the audit trail.

    Attributes:
        key: The registered-model tag that holds it.
        source: ``move`` (``mlflow_retrain.audit.*``, a move of ``champion``) or ``change``
            (``mlflow_retrain.change.*``, a protected write the store allowed).
        time_ms: When the store wrote it (epoch milliseconds; ``None`` if unreadable).
        kind: A move's kind (``promotion``, ``first_deployment``, ``rollback``, ``override``)
            or a change's (``tag_set``, ``tag_delete``, ``rename``, ``stage``,
            ``delete_version``); ``unreadable`` for a tag that is not valid JSON.
        alias: The alias moved (moves: ``champion``), or the gated aliases a deleted
            version held.
        from_version: The champion a move replaced (``None``: there was none).
        version: The version a move made champion, or a change's version.
        user: Who made it, as the store recorded it (``None``: no identity).
        reason: The gate's reason of a move; for a change, what was written.
        evidence_run: The evidence run a move rested on.
        client_side: A client, not the server's store, wrote the move's follow-ups.
        signature: The check of the promoted version's evidence (evidence moves only).
    """

    key: str
    source: Literal["move", "change"]
    time_ms: int | None
    kind: str
    alias: str | None = None
    from_version: str | None = None
    version: str | None = None
    user: str | None = None
    reason: str = ""
    evidence_run: str | None = None
    client_side: bool = False
    signature: SignatureVerdict | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "key": self.key,
            "source": self.source,
            "time_ms": self.time_ms,
            "time": _iso(self.time_ms),
            "kind": self.kind,
            "alias": self.alias,
            "from_version": self.from_version,
            "version": self.version,
            "user": self.user,
            "reason": self.reason,
            "evidence_run": self.evidence_run,
            "client_side": self.client_side,
            "signature": None if self.signature is None else self.signature.to_dict(),
        }


def _iso(time_ms: int | None) -> str | None:
    if time_ms is None:
        return None
    seconds, millis = divmod(int(time_ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _time(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _time_of_key(key: str, prefix: str) -> int | None:
    return _time(key[len(prefix) :].split("-", 1)[0])


_SHOWN_VALUE = 80


def _shown(value: Any) -> str:
    text = " ".join(str(value).split())
    return repr(text if len(text) <= _SHOWN_VALUE else text[: _SHOWN_VALUE - 3] + "...")


def _change_reason(data: Mapping[str, Any]) -> str:
    kind, key = data.get("kind"), data.get("key")
    before, after = data.get("before"), data.get("after")
    if kind == "tag_set":
        return f"set {key} = {_shown(after)}" if after is not None else f"set {key}"
    if kind == "tag_delete":
        return f"deleted {key}" + (f" (was {_shown(before)})" if before is not None else "")
    if kind == "rename":
        return f"renamed '{before}' to '{after}'"
    if kind == "stage":
        return f"stage {before} -> {after}"
    if kind == "delete_version":
        return f"deleted version {data.get('version')}"
    return json.dumps(dict(data), sort_keys=True)


def _record(key: str, value: str) -> AuditRecord:
    move = key.startswith(lineage.TAG_AUDIT_PREFIX)
    prefix = lineage.TAG_AUDIT_PREFIX if move else lineage.TAG_CHANGE_PREFIX
    source: Literal["move", "change"] = "move" if move else "change"
    try:
        data = json.loads(value)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return AuditRecord(key, source, _time_of_key(key, prefix), "unreadable",
                           reason="the record is not valid JSON")  # fmt: skip
    when = _time(data.get("time_ms"))
    when = when if when is not None else _time_of_key(key, prefix)
    if move:
        return AuditRecord(
            key,
            "move",
            when,
            str(data.get("kind") or "unknown"),
            alias=lineage.ALIAS_CHAMPION,
            from_version=_text(data.get("from")),
            version=_text(data.get("to")),
            user=_text(data.get("user")),
            reason=str(data.get("reason") or ""),
            evidence_run=_text(data.get("evidence_run")),
            client_side=bool(data.get("client_side")),
        )
    alias = str(data.get("before") or "") if data.get("kind") == "delete_version" else ""
    return AuditRecord(
        key,
        "change",
        when,
        str(data.get("kind") or "unknown"),
        alias=alias or None,
        version=_text(data.get("version")),
        user=_text(data.get("user")),
        reason=_change_reason(data),
    )


def audit_records(tags: Mapping[str, str]) -> list[AuditRecord]:
    """The audit and change records among a registered model's ``tags``, oldest first.

    Records are ordered by the time the store wrote them, then by their key.
    """
    found = [
        _record(key, value)
        for key, value in tags.items()
        if key.startswith((lineage.TAG_AUDIT_PREFIX, lineage.TAG_CHANGE_PREFIX))
    ]
    return sorted(found, key=lambda r: (r.time_ms if r.time_ms is not None else -1, r.key))


def former_names(records: Iterable[AuditRecord], tags: Mapping[str, str]) -> set[str]:
    """The names the model had before a rename, from its change records."""
    names = set()
    for record in records:
        if record.source == "change" and record.kind == "rename":
            data = json.loads(tags[record.key])
            if data.get("before"):
                names.add(str(data["before"]))
    return names


@dataclass(frozen=True)
class AuditTrail:
    """What ``audit`` found on a registered model.

    Attributes:
        model_name: The registered model.
        records: Its records, oldest first.
        key_ids: The key ids of this process's keyring (empty: no keyring).
    """

    model_name: str
    records: tuple[AuditRecord, ...]
    key_ids: tuple[str, ...] = ()

    @property
    def checked(self) -> tuple[AuditRecord, ...]:
        """The records whose evidence was checked."""
        return tuple(r for r in self.records if r.signature is not None)

    @property
    def failures(self) -> tuple[AuditRecord, ...]:
        """The records whose evidence check failed."""
        return tuple(r for r in self.checked if r.signature is not None and r.signature.failed)

    @property
    def failure(self) -> str | None:
        """One line on the failed checks, or ``None`` when every verifiable one verified."""
        failed = self.failures
        if not failed:
            return None
        listed = ", ".join(f"version {r.version} ({r.signature.text()})" for r in failed
                           if r.signature is not None)  # fmt: skip
        return (
            f"The evidence of {len(failed)} of {len(self.checked)} promotion record(s) of "
            f"'{self.model_name}' does not verify: {listed}. Do not trust those versions' "
            "evidence: compare the tags with the server's log and re-run `mlflow-retrain "
            "compare` on them."
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (documented in docs/schemas.md)."""
        counts: dict[str, int] = {}
        for record in self.checked:
            if record.signature is not None:
                counts[record.signature.status] = counts.get(record.signature.status, 0) + 1
        return {
            "model_name": self.model_name,
            "order": "oldest_first",
            "key_ids": list(self.key_ids),
            "records": [r.to_dict() for r in self.records],
            "signatures": dict(sorted(counts.items())),
            "verified": self.failure is None,
            "failure": self.failure,
        }


def _line(record: AuditRecord) -> str:
    when = "unknown time" if record.time_ms is None else (
        time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(record.time_ms / 1000))
    )  # fmt: skip
    if record.source == "move":
        versions = f"{record.from_version or 'none'} -> {record.version}"
    else:
        versions = f"version {record.version}" if record.version is not None else "model"
    kind = record.kind + (" (client-side)" if record.client_side else "")
    user = f"user {record.user}" if record.user else "no user"
    parts = [when, kind, record.alias or "-", versions, user, record.reason]
    if record.signature is not None:
        parts.append(record.signature.text())
    return " | ".join(parts)


def format_audit(trail: AuditTrail) -> str:
    """What ``audit`` prints: one line per record, oldest first, then a summary line."""
    if not trail.records:
        return (
            f"'{trail.model_name}' has no audit records: no move of champion and no protected "
            "change was recorded on it."
        )
    lines = [_line(r) for r in trail.records]
    checked = trail.checked
    summary = f"{len(trail.records)} record(s), oldest first; {len(checked)} promotion(s) checked"
    if checked:
        counts: dict[str, int] = {}
        for record in checked:
            if record.signature is not None:
                text = record.signature.status.replace("_", " ")
                counts[text] = counts.get(text, 0) + 1
        summary += ": " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    if not trail.key_ids and checked:
        summary += f" (set {ENV_KEY} or {ENV_KEY_FILE} to verify signatures)"
    return "\n".join([*lines, summary + "."])


def read_audit(
    name: str, *, client: MlflowClient | None = None, keyring: Keyring | None = None
) -> AuditTrail:
    """Read the audit trail of registered model ``name`` and check its promotions' evidence.

    Args:
        name: The registered model.
        client: The registry client (default: ``MlflowClient()``).
        keyring: The keys that verify (default: :func:`load_keyring`; none configured:
            every promotion is ``no_key``).

    Raises:
        InvalidInputError: If the model does not exist.
        InvalidConfigError: A malformed key variable or key file.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode
    from mlflow.tracking import MlflowClient

    from mlflow_retrain.registry.versions import require_model_exists

    keyring = keyring if keyring is not None else load_keyring()
    client = client if client is not None else MlflowClient()
    require_model_exists(client, name)
    tags = dict(client.get_registered_model(name).tags)
    records = audit_records(tags)
    names = {name, *former_names(records, tags)}
    version_tags: dict[str, dict[str, str] | None] = {}
    checked = []
    for record in records:
        if record.source != "move" or record.kind not in EVIDENCE_KINDS or not record.version:
            checked.append(record)
            continue
        if record.version not in version_tags:
            try:
                version_tags[record.version] = dict(
                    client.get_model_version(name, record.version).tags
                )
            except MlflowException as err:
                if err.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
                    raise
                version_tags[record.version] = None
        held = version_tags[record.version]
        if held is None:
            verdict = SignatureVerdict("version_deleted", detail="the version was deleted")
        else:
            verdict = check_signature(
                held,
                keyring,
                model_names=names,
                version=record.version,
                evidence_run=record.evidence_run,
            )
        checked.append(replace(record, signature=verdict))
    return AuditTrail(name, tuple(checked), () if keyring is None else keyring.key_ids)


# --------------------------------------------------------------------------------------------
# verify: the version a deploy job is about to serve
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelRef:
    """A version named on the command line: ``NAME@ALIAS`` or ``NAME/VERSION``.

    Attributes:
        name: The registered model.
        alias: The alias, for ``NAME@ALIAS``.
        version: The version number, for ``NAME/VERSION``.
    """

    name: str
    alias: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        return f"{self.name}@{self.alias}" if self.alias else f"{self.name}/{self.version}"


def parse_model_ref(text: str) -> ModelRef:
    """Parse ``NAME@ALIAS`` or ``NAME/VERSION`` (a ``models:/`` prefix is allowed).

    MLflow's model names hold no ``/``, its aliases no ``@``: the first ``/`` or the last
    ``@`` separates the name.

    Raises:
        ValueError: If ``text`` is neither form (the message says what to write).
    """
    ref = text.strip()
    ref = ref[len("models:/") :] if ref.startswith("models:/") else ref
    if "/" in ref:
        name, _, version = ref.partition("/")
        if name and version.isdigit() and int(version) > 0:
            return ModelRef(name, version=str(int(version)))
    elif "@" in ref:
        name, _, alias = ref.rpartition("@")
        if name and alias:
            return ModelRef(name, alias=alias)
    raise ValueError(
        f"'{text}' names no model version: write NAME@ALIAS (e.g. fraud@champion) or "
        "NAME/VERSION (e.g. fraud/3)."
    )


@dataclass(frozen=True)
class Verification:
    """What ``verify`` found on the version about to be served.

    Attributes:
        ref: What was asked for (``NAME@ALIAS`` or ``NAME/VERSION``).
        model_name: The registered model.
        version: The version it resolved to (serve this number: an alias can move).
        model_id: The version's logged model, from its source (``None``: none).
        artifact_digest: The digest of the artifacts downloaded now.
        key_id: The key id the evidence is signed with, when it names one.
        problem: What differs or fails, one sentence; ``None`` when it verified.
        record: The verified evidence record, when the signature verified.
    """

    ref: str
    model_name: str
    version: str
    model_id: str | None
    artifact_digest: str | None
    key_id: str | None
    problem: str | None
    record: EvidenceRecord | None = field(default=None, compare=False)

    @property
    def verified(self) -> bool:
        """Whether the version matches its signed evidence."""
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (documented in docs/schemas.md)."""
        return {
            "ref": self.ref,
            "model_name": self.model_name,
            "version": self.version,
            "model_id": self.model_id,
            "artifact_digest": self.artifact_digest,
            "key_id": self.key_id,
            "verified": self.verified,
            "problem": self.problem,
            "evidence": None if self.record is None else self.record.to_dict(),
        }


def format_verification(result: Verification) -> str:
    """What ``verify`` prints when the version matches its evidence (one line)."""
    model_id = result.model_id or "none"
    return (
        f"verified: {result.model_name} version {result.version} (model id {model_id}, "
        f"artifacts {result.artifact_digest}) matches its evidence signed with key "
        f"{result.key_id}"
    )


def compare_binding(
    record: EvidenceRecord,
    *,
    name: str,
    version: str,
    model_id: str | None,
    artifact_digest: str,
) -> str | None:
    """What differs between a verified ``record`` and the version about to be served.

    Returns:
        One clause naming the first difference (model, version, model id, artifacts), or
        ``None`` when the record is for exactly this version.
    """
    if record.model_name != name:
        return f"its signed evidence is for model '{record.model_name}', not '{name}'"
    if record.version != version:
        return f"its signed evidence is for version {record.version}, not {version}"
    if record.model_id != model_id:
        return (
            f"its signed evidence is for logged model {record.model_id}, and the version holds "
            f"{model_id or 'no logged model'}"
        )
    if record.artifact_digest != artifact_digest:
        signed = record.artifact_digest or "no digest (it was written without a key)"
        return f"its artifacts are {artifact_digest}, but its signed evidence is for {signed}"
    return None


def verify_version(
    ref: ModelRef, *, client: MlflowClient | None = None, keyring: Keyring | None = None
) -> Verification:
    """Check that the version ``ref`` names matches the signed evidence it carries.

    Downloads the version's artifacts into a temporary folder and hashes them as the pipeline
    and the server do; writes nothing to the registry.

    Args:
        ref: The version (``NAME@ALIAS`` or ``NAME/VERSION``).
        client: The registry client (default: ``MlflowClient()``).
        keyring: The keys that verify (default: :func:`load_keyring`).

    Returns:
        The finding; ``problem`` names what differs.

    Raises:
        InvalidInputError: No evidence key here, or the model or version does not exist.
        MlflowException: If the artifacts cannot be downloaded.
    """
    from mlflow.tracking import MlflowClient

    from mlflow_retrain.registry.trust import model_id_of, version_binding
    from mlflow_retrain.registry.versions import resolve_version

    keyring = keyring if keyring is not None else load_keyring()
    if keyring is None:
        raise errors.InvalidInputError(
            f"verify needs the evidence key to check the signature: set {ENV_KEY}=<key id>:"
            f"<secret> or {ENV_KEY_FILE} (the pipeline's key; a key file may hold old keys)."
        )
    client = client if client is not None else MlflowClient()
    held = resolve_version(client, ref.name, ref.alias or str(ref.version))
    version = str(held.version)
    model_id = model_id_of(held.source)
    tags = dict(held.tags)
    signature = tags.get(lineage.TAG_EVIDENCE_SIGNATURE)
    verdict = _check_one(tags.get(lineage.TAG_EVIDENCE_RECORD), signature, keyring)
    where = f"Version {version} of '{ref.name}'"
    see = f"Do not serve it; see `mlflow-retrain audit --model {ref.name}`."
    digest = None
    problem = None
    if verdict.record is None:
        what = {
            "unsigned": "has no signed evidence (unsigned, or none: an override?)",
            "unknown_key": f"carries evidence signed with key id '{verdict.key_id}', which this "
            "keyring does not hold",
            "tampered": "carries evidence whose signature does not match it: forged or tampered",
        }[verdict.status]
        problem = f"{where} {what}. {see}"
    else:
        digest = version_binding(
            client.get_model_version_download_uri(ref.name, version),
            tracking_uri=getattr(getattr(client, "_tracking_client", None), "tracking_uri", None),
        )
        differs = compare_binding(
            verdict.record, name=ref.name, version=version, model_id=model_id,
            artifact_digest=digest,
        )  # fmt: skip
        if differs is not None:
            problem = f"{where} does not match its evidence: {differs}. {see}"
    return Verification(
        ref=str(ref),
        model_name=ref.name,
        version=version,
        model_id=model_id,
        artifact_digest=digest,
        key_id=verdict.key_id,
        problem=problem,
        record=verdict.record,
    )

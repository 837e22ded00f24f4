"""Load a table (CSV or Parquet) from a local path, S3 or an MLflow artifact store.

Supported locations:

* a local path, relative to the working directory or absolute, or a ``file://`` URI;
* ``s3://bucket/key``, read with boto3. The endpoint comes from ``MLFLOW_S3_ENDPOINT_URL``, then
  ``AWS_ENDPOINT_URL_S3``, then ``AWS_ENDPOINT_URL``, else AWS itself; credentials come from the
  usual boto3 chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ...);
* ``runs:/<run_id>/<path>``, a file logged to a run;
* ``models:/<name>/<version>/<path>``, ``models:/<name>/latest/<path>``,
  ``models:/<name>@<alias>/<path>`` and ``models:/<model_id>/<path>``: a file inside the
  artifacts of a registered model version or of a logged model (``m-`` followed by 32 hex
  digits). The path is required: a model is a directory, not a table. Stage names
  (``models:/<name>/Production/...``) are rejected because MLflow deprecated stages; use an alias;
* ``mlflow-artifacts:/<path>`` or ``mlflow-artifacts://<host>:<port>/<path>``, a file proxied by
  a tracking server. Either form needs an ``http(s)`` tracking URI: MLflow takes the server
  (or, in the second form, only the scheme) from it.

The format follows the extension: ``.csv``, ``.csv.gz``, ``.parquet`` or ``.pq``. Any other name is
sniffed: Parquet's ``PAR1`` magic means Parquet, gzip's magic means gzipped CSV, anything else
is read as CSV. Files are parsed as data only (pandas' CSV parser, pyarrow's Parquet reader);
nothing is unpickled or evaluated. Column dtypes are left as pandas infers them.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import logging
import os
import re
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal
from urllib.parse import urlsplit
from urllib.request import url2pathname

import boto3
import botocore.exceptions as boto_errors
import mlflow
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlflow_retrain.exceptions import InvalidInputError, MlflowRetrainError
from mlflow_retrain.redaction import describe_uri, redact_text
from mlflow_retrain.redaction import scheme_of as _scheme_of

__all__ = [
    "MAX_CELL_CHARS",
    "describe_uri",
    "list_s3_uris",
    "load_table",
    "read_bytes",
    "redact_text",
]

logger = logging.getLogger(__name__)

#: URI schemes :func:`load_table` and :func:`read_bytes` accept, besides plain local paths.
SUPPORTED_SCHEMES = ("file", "s3", "runs", "models", "mlflow-artifacts")

#: Environment variables naming the S3 endpoint, highest precedence first.
S3_ENDPOINT_ENV_VARS = ("MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")

# A logged model's ID, as in ``models:/m-<32 hex>``; registered model names never look like this
# in practice, so the first path segment decides between the two forms.
_LOGGED_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")
_PARQUET_MAGIC = b"PAR1"
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_DETAIL = 200

#: Longest text a table cell may hold. A bigger cell is a broken export (a file pasted into a
#: field, an unclosed quote swallowing the rest of the file), not tabular data; refusing it keeps
#: megabyte strings out of drift reports, plots, tags and models.
MAX_CELL_CHARS = 1_048_576
#: Delimiters of CSV dialects this reader does not parse; a header split by one of them means
#: the file was exported with the wrong delimiter.
_FOREIGN_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}

_S3_NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
_S3_AUTH_REASONS = {
    "InvalidAccessKeyId": "the access key ID is not known to the endpoint",
    "SignatureDoesNotMatch": "the secret access key does not match the access key ID",
    "AccessDenied": "these credentials may not read the object",
    "403": "these credentials may not read the object",
    "AllAccessDisabled": "all access to the bucket is disabled",
    "ExpiredToken": "the session token has expired",
    "InvalidToken": "the session token is invalid",
    "TokenRefreshRequired": "the session token has expired",
}

_Format = Literal["csv", "parquet"]
_Compression = Literal["gzip"] | None


def read_bytes(uri: str | os.PathLike[str], *, tracking_uri: str | None = None) -> bytes:
    """Read the raw bytes of a file from any supported location.

    Unlike :func:`load_table`, an empty file is not an error here: it returns ``b""``.

    Args:
        uri: A local path or a ``file://``, ``s3://``, ``runs:/``, ``models:/`` or
            ``mlflow-artifacts:`` URI (see the module docstring).
        tracking_uri: Tracking server used to resolve ``runs:/``, ``models:/`` and
            ``mlflow-artifacts:/`` URIs; defaults to MLflow's current tracking URI. Ignored for
            local paths and S3.

    Returns:
        The file's content.

    Raises:
        InvalidInputError: The URI is malformed or has an unsupported scheme, the file does not
            exist or is a directory, or S3 refused the request (bad credentials, no such bucket,
            endpoint unreachable).
    """
    text = os.fspath(uri)
    label = describe_uri(text)
    with _fetch(text, label=label, tracking_uri=tracking_uri) as blob:
        data = blob.read()
    logger.info("Read %s (%d bytes)", label, len(data))
    return data


def load_table(uri: str | os.PathLike[str], *, tracking_uri: str | None = None) -> pd.DataFrame:
    """Load a CSV or Parquet table from any supported location.

    A CSV with a header and no rows gives an empty DataFrame, not an error: deciding whether an
    empty batch is acceptable is the validation layer's job.

    Args:
        uri: A local path or a ``file://``, ``s3://``, ``runs:/``, ``models:/`` or
            ``mlflow-artifacts:`` URI (see the module docstring).
        tracking_uri: Tracking server used to resolve ``runs:/``, ``models:/`` and
            ``mlflow-artifacts:/`` URIs; defaults to MLflow's current tracking URI. Ignored for
            local paths and S3.

    Returns:
        The table, with the column dtypes pandas infers.

    Raises:
        InvalidInputError: The file cannot be fetched (see :func:`read_bytes`), is empty, is not
            UTF-8, is malformed CSV or CSV with another delimiter than ``,``, is truncated or
            corrupt Parquet or gzip, has duplicate column names, or has a cell longer than
            :data:`MAX_CELL_CHARS` characters.
    """
    text = os.fspath(uri)
    label = describe_uri(text)
    with _fetch(text, label=label, tracking_uri=tracking_uri) as blob:
        if blob.size() == 0:
            raise InvalidInputError(
                f"'{label}' is empty (0 bytes); a table needs at least a header line. "
                "Check that the export which wrote it finished, or point at the right file."
            )
        file_format, compression = _detect_format(blob.name, blob.head(4))
        if file_format == "parquet":
            frame = _read_parquet(blob, label=label)
        else:
            frame = _read_csv(blob, label=label, compression=compression)
    _check_cell_sizes(frame, label=label)
    logger.info(
        "Loaded %s (%s): %d rows x %d columns", label, file_format, len(frame), frame.shape[1]
    )
    return frame


@dataclass(frozen=True)
class _Blob:
    """A fetched file: a local path, or the bytes of a remote object.

    Attributes:
        name: The file's base name, used to pick the format.
        path: The local file, when the content is on disk.
        data: The content, when it was read into memory.
    """

    name: str
    path: Path | None = None
    data: bytes | None = None

    def open(self) -> BinaryIO:
        """Open the content for binary reading; the caller closes it."""
        if self.path is not None:
            return self.path.open("rb")
        return io.BytesIO(self.data or b"")

    def size(self) -> int:
        """Return the content's size in bytes."""
        if self.path is not None:
            return self.path.stat().st_size
        return len(self.data or b"")

    def head(self, n_bytes: int) -> bytes:
        """Return the first ``n_bytes`` bytes of the content."""
        with self.open() as handle:
            return handle.read(n_bytes)

    def read(self) -> bytes:
        """Return the whole content."""
        with self.open() as handle:
            return handle.read()


@contextlib.contextmanager
def _fetch(uri: str, *, label: str, tracking_uri: str | None) -> Iterator[_Blob]:
    """Make the file behind ``uri`` readable for the duration of the ``with`` block."""
    if not uri.strip():
        raise InvalidInputError(
            "The data URI is empty. Pass a local path or a URI such as s3://bucket/batch.csv."
        )
    scheme = _scheme_of(uri)
    if scheme == "s3":
        yield _fetch_s3(uri, label=label)
    elif scheme in ("runs", "models", "mlflow-artifacts"):
        with tempfile.TemporaryDirectory(prefix="mlflow-retrain-") as tmp:
            yield _fetch_mlflow(uri, label=label, tracking_uri=tracking_uri, dst=Path(tmp))
    elif scheme == "file":
        yield _local_blob(_file_uri_to_path(uri, label=label), label=label)
    elif not scheme or Path(uri).exists():
        # The second case is a local file whose name merely contains a colon ("a:b.csv").
        yield _local_blob(Path(uri), label=label)
    else:
        supported = ", ".join(f"{name}:" for name in SUPPORTED_SCHEMES)
        raise InvalidInputError(
            f"'{label}' has the unsupported scheme '{scheme}:'; supported are local paths and "
            f"{supported} URIs. Copy the file to one of those locations first."
        )


def _file_uri_to_path(uri: str, *, label: str) -> Path:
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise InvalidInputError(
            f"'{label}' names the host '{parts.netloc}'; file:// URIs must point at this "
            "machine. Use file:///absolute/path or mount the share and pass its local path."
        )
    return Path(url2pathname(parts.path))


def _local_blob(path: Path, *, label: str) -> _Blob:
    if path.is_dir():
        raise InvalidInputError(
            f"'{label}' is a directory, not a file. Point at a .csv, .csv.gz or .parquet file "
            "inside it."
        )
    if not path.is_file():
        where = "" if path.is_absolute() else f" (relative to the working directory {Path.cwd()})"
        raise InvalidInputError(
            f"'{label}' does not exist{where}. Check the path, or pass an absolute path."
        )
    return _Blob(name=path.name, path=path)


# --- S3 ----------------------------------------------------------------------------------------


def _s3_endpoint() -> tuple[str | None, str | None]:
    """Return the S3 endpoint URL and the environment variable that set it (``None`` = AWS)."""
    for var in S3_ENDPOINT_ENV_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            return value, var
    return None, None


def list_s3_uris(prefix: str) -> list[str]:
    """Return the ``s3://`` URI of every object under a prefix, in the order S3 lists them.

    The endpoint is chosen as for reading (``MLFLOW_S3_ENDPOINT_URL``, ...).

    Args:
        prefix: ``s3://bucket/prefix``; the prefix may be empty (the whole bucket).
    """
    bucket, _, key = prefix[len("s3://") :].partition("/")
    client = boto3.client("s3", endpoint_url=_s3_endpoint()[0])
    names: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        names += [f"s3://{bucket}/{item['Key']}" for item in page.get("Contents", [])]
    return names


def _fetch_s3(uri: str, *, label: str) -> _Blob:
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise InvalidInputError(f"'{label}' names no bucket. Use s3://<bucket>/<key>.")
    if not key or key.endswith("/"):
        raise InvalidInputError(
            f"'{label}' names a bucket or prefix, not an object. Add the object's key, e.g. "
            f"s3://{bucket}/path/to/batch.csv."
        )
    endpoint, endpoint_var = _s3_endpoint()
    try:
        # A fresh session per read: boto3's default session caches the credentials it resolved
        # first (rotated keys would go unseen) and is not safe to share between threads.
        client = boto3.session.Session().client("s3", endpoint_url=endpoint)
        response = client.get_object(Bucket=bucket, Key=key)
        data = response["Body"].read()
    except boto_errors.ClientError as err:
        raise _s3_client_error(err, label=label, bucket=bucket, key=key) from err
    except (boto_errors.NoCredentialsError, boto_errors.PartialCredentialsError) as err:
        raise InvalidInputError(
            f"No complete AWS credentials were found to read '{label}'. Set AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE."
        ) from err
    except boto_errors.ProfileNotFound as err:
        raise InvalidInputError(
            f"The AWS profile '{err.kwargs.get('profile', '?')}' named by AWS_PROFILE does not "
            f"exist, so '{label}' cannot be read. Fix AWS_PROFILE or add the profile to "
            "~/.aws/config."
        ) from err
    except boto_errors.ParamValidationError as err:
        raise InvalidInputError(
            f"'{label}' is not a valid S3 location: {_one_line(str(err))}. Check the bucket "
            "name and key."
        ) from err
    except boto_errors.ConnectionError as err:
        raise _s3_unreachable(endpoint, endpoint_var, label=label) from err
    return _Blob(name=key.rpartition("/")[2], data=data)


def _s3_client_error(
    err: boto_errors.ClientError, *, label: str, bucket: str, key: str
) -> MlflowRetrainError:
    code = str(err.response.get("Error", {}).get("Code", ""))
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
    if code in _S3_NOT_FOUND:
        return InvalidInputError(
            f"'{label}' does not exist: bucket '{bucket}' has no object with key '{key}'. Check "
            "the key (keys are case-sensitive and have no leading slash)."
        )
    if code == "NoSuchBucket":
        return InvalidInputError(
            f"'{label}' does not exist: there is no bucket '{bucket}' at this endpoint. Check "
            f"the bucket name, and the endpoint in {' / '.join(S3_ENDPOINT_ENV_VARS)}."
        )
    if code == "InvalidBucketName":
        return InvalidInputError(
            f"'{label}' names the invalid bucket '{bucket}' (3-63 lowercase letters, digits, "
            "dots or hyphens). Fix the bucket name."
        )
    if code in _S3_AUTH_REASONS:
        return InvalidInputError(
            f"S3 refused to read '{label}' ({code}: {_S3_AUTH_REASONS[code]}). Check the "
            "credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) or "
            "AWS_PROFILE, and that they may s3:GetObject on this key."
        )
    # Throttling, internal errors and the like: not a problem with the input, so not an
    # InvalidInputError.
    return MlflowRetrainError(
        f"S3 could not serve '{label}': {code or 'unknown error'} (HTTP {status}). Retry later, "
        "or check the S3 service's status."
    )


def _s3_unreachable(endpoint: str | None, var: str | None, *, label: str) -> InvalidInputError:
    if endpoint is None or var is None:
        return InvalidInputError(
            f"Cannot reach AWS S3 to read '{label}'. Check the network, or set "
            "MLFLOW_S3_ENDPOINT_URL if the data lives in S3-compatible storage (MinIO, ...)."
        )
    try:
        host = urlsplit(endpoint).netloc.rpartition("@")[2] or describe_uri(endpoint)
    except ValueError:
        host = describe_uri(endpoint)
    return InvalidInputError(
        f"Cannot reach the S3 endpoint {host} (from {var}) to read '{label}'. Check that the "
        f"server is running and reachable, or fix {var}."
    )


# --- MLflow artifact stores ----------------------------------------------------------------------


def _fetch_mlflow(uri: str, *, label: str, tracking_uri: str | None, dst: Path) -> _Blob:
    scheme = _scheme_of(uri)
    if scheme == "runs":
        run_id, _, artifact_path = uri[len("runs:") :].lstrip("/").partition("/")
        if not run_id or not artifact_path.strip("/"):
            raise InvalidInputError(
                f"'{label}' names no file. Use runs:/<run_id>/<path/to/file.csv>."
            )
        artifact_uri = uri
    elif scheme == "models":
        artifact_uri = _resolve_models_uri(uri, label=label, tracking_uri=tracking_uri)
    else:
        artifact_uri = uri
        effective = tracking_uri or mlflow.get_tracking_uri()
        if _scheme_of(effective) not in ("http", "https"):
            raise InvalidInputError(
                f"'{label}' is served by an MLflow tracking server, but the tracking URI is "
                f"'{describe_uri(effective)}', not http(s). Pass tracking_uri='http://host:port' "
                "or set MLFLOW_TRACKING_URI."
            )
    try:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=artifact_uri, dst_path=str(dst), tracking_uri=tracking_uri
        )
    except MlflowException as err:
        detail = None if isinstance(err, MlflowRetrainError) else _not_found_detail(err)
        if detail is None:
            raise
        raise InvalidInputError(
            f"'{label}' does not exist ({detail}). Check the run ID, model name/version and "
            "artifact path, e.g. with mlflow.artifacts.list_artifacts."
        ) from err
    path = Path(local)
    if path.is_dir():
        raise InvalidInputError(
            f"'{label}' is a directory of artifacts, not a file. Add the path of a .csv, "
            ".csv.gz or .parquet file inside it."
        )
    return _Blob(name=path.name, path=path)


def _not_found_detail(err: MlflowException) -> str | None:
    """Say why the run, model or artifact does not exist, or ``None`` for other errors."""
    if err.error_code == "RESOURCE_DOES_NOT_EXIST":
        return _one_line(err.message)
    # The HTTP artifact repository (mlflow-artifacts:) wraps a 404 into a generic INTERNAL_ERROR
    # that names the status only in its text.
    if err.error_code == "INTERNAL_ERROR" and "404 Client Error" in err.message:
        return "the tracking server answered 404 Not Found"
    return None


def _resolve_models_uri(uri: str, *, label: str, tracking_uri: str | None) -> str:
    """Turn ``models:/...`` with a sub-path into the artifact URI of that file.

    MLflow resolves a ``models:/`` URI through the process-wide registry URI even when
    ``download_artifacts`` gets an explicit ``tracking_uri`` (mlflow/mlflow#18313), and it
    reads ``models:/<model_id>/<path>`` as a registered model named ``<model_id>``. Resolving
    the version here, through a client bound to ``tracking_uri``, avoids both.
    """
    parts = urlsplit(uri)
    if parts.netloc:
        # models://<profile>@databricks/...: a Databricks registry, which MLflow handles itself.
        return uri
    segments = [segment for segment in parts.path.split("/") if segment]
    usage = (
        "Use models:/<name>/<version>/<path>, models:/<name>@<alias>/<path> or "
        "models:/<model_id>/<path>."
    )
    if not segments:
        raise InvalidInputError(f"'{label}' names no model. {usage}")
    first = segments[0]
    if "@" in first or _LOGGED_MODEL_ID.fullmatch(first):
        reference, sub_path = first, segments[1:]
    elif len(segments) >= 2:
        reference, sub_path = f"{first}/{segments[1]}", segments[2:]
        version = segments[1]
        if not version.isdigit() and version.lower() != "latest":
            raise InvalidInputError(
                f"'{label}' refers to the model stage '{version}'; stages are deprecated in "
                "MLflow and not supported here. Use a version number, 'latest' or an alias: "
                f"models:/{first}@<alias>/<path>."
            )
    else:
        raise InvalidInputError(f"'{label}' names no model version. {usage}")
    if not sub_path:
        raise InvalidInputError(
            f"'{label}' names a whole model, which is a directory. Add the path of a file "
            f"inside it, e.g. models:/{reference}/data/reference.csv."
        )
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        root = _model_artifact_root(client, reference)
    except MlflowException as err:
        if isinstance(err, MlflowRetrainError):
            raise
        raise InvalidInputError(
            f"'{label}' cannot be resolved ({_one_line(err.message)}). Check the model name, "
            "version or alias in the model registry."
        ) from err
    return root.rstrip("/") + "/" + "/".join(sub_path)


def _model_artifact_root(client: MlflowClient, reference: str) -> str:
    """Return where the artifacts of ``<name>/<version>``, ``<name>@<alias>`` or an ID live."""
    if _LOGGED_MODEL_ID.fullmatch(reference):
        return str(client.get_logged_model(reference).artifact_location)
    if "@" in reference:
        name, _, alias = reference.rpartition("@")
        version = str(client.get_model_version_by_alias(name, alias).version)
    else:
        name, _, version = reference.partition("/")
        if version.lower() == "latest":
            # ``latest_versions`` holds the newest version per stage; every version has a stage
            # (``None`` by default), so its maximum is the newest version overall.
            versions = client.get_registered_model(name).latest_versions or []
            if not versions:
                raise InvalidInputError(
                    f"The registered model '{name}' has no versions. Register one, or name "
                    "an existing model."
                )
            version = str(max(int(mv.version) for mv in versions))
    return str(client.get_model_version_download_uri(name, version))


# --- Parsing -------------------------------------------------------------------------------------


def _detect_format(name: str, head: bytes) -> tuple[_Format, _Compression]:
    """Pick the format and compression from the file name, else from its first bytes."""
    lower = name.lower()
    if lower.endswith((".parquet", ".pq")):
        return "parquet", None
    if lower.endswith(".csv.gz"):
        return "csv", "gzip"
    if lower.endswith(".csv"):
        return "csv", None
    if head.startswith(_PARQUET_MAGIC):
        return "parquet", None
    if head.startswith(_GZIP_MAGIC):
        return "csv", "gzip"
    return "csv", None


def _read_csv(blob: _Blob, *, label: str, compression: _Compression) -> pd.DataFrame:
    try:
        with blob.open() as handle:
            header = _csv_header(handle, compression=compression)
        _check_delimiter(header, label=label)
        _check_unique(header, label=label)
        with blob.open() as handle:
            return pd.read_csv(handle, compression=compression)
    except UnicodeDecodeError as err:
        bad = err.object[err.start : err.start + 1]
        raise InvalidInputError(
            f"'{label}' is not UTF-8 text (first invalid byte: 0x{bad.hex()}). Re-export it as "
            "UTF-8, e.g. with iconv -f latin1 -t utf-8 or Excel's 'CSV UTF-8' format."
        ) from err
    except pd.errors.EmptyDataError as err:
        raise InvalidInputError(
            f"'{label}' contains no columns: it has no header line, only blank lines. Write "
            "the column names on the first line."
        ) from err
    except (pd.errors.ParserError, csv.Error) as err:
        detail = _one_line(str(err)).split("C error: ")[-1]
        raise InvalidInputError(
            f"'{label}' is not well-formed CSV: {detail}. Fix that line: every row needs as "
            "many fields as the header, and quotes must be closed."
        ) from err
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise InvalidInputError(
            f"'{label}' cannot be decompressed: the gzip data is truncated or corrupt "
            f"({_one_line(str(err))}). Re-export it."
        ) from err


def _csv_header(handle: BinaryIO, *, compression: _Compression) -> list[str]:
    """Return the header record as written, before pandas renames duplicates to ``a.1``."""
    raw: BinaryIO | gzip.GzipFile = handle
    if compression == "gzip":
        raw = gzip.GzipFile(fileobj=handle, mode="rb")
    # utf-8-sig drops a byte-order mark, as pandas does.
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    for record in csv.reader(text):
        if any(field.strip() for field in record):  # pandas skips blank lines before the header
            return record
    return []


def _check_delimiter(header: Sequence[str], *, label: str) -> None:
    """Refuse a header that is one field holding several names split by another delimiter."""
    if len(header) != 1:
        return
    for delimiter, name in _FOREIGN_DELIMITERS.items():
        names = [n for n in header[0].split(delimiter) if n.strip()]
        if len(names) > 1:
            raise InvalidInputError(
                f"'{label}' looks {name}-separated: its header is one column "
                f"'{_one_line(header[0])[:60]}' holding {len(names)} names split by "
                f"{delimiter!r}. Export it comma-separated (CSV with ',') or as Parquet."
            )


def _check_cell_sizes(frame: pd.DataFrame, *, label: str) -> None:
    """Refuse a table with a text cell longer than :data:`MAX_CELL_CHARS` characters."""
    for position, column in enumerate(frame.columns):
        series = frame.iloc[:, position]
        if not (
            pd.api.types.is_string_dtype(series.dtype)
            or pd.api.types.is_object_dtype(series.dtype)
        ):
            continue
        lengths = series.astype("string").str.len()
        longest = lengths.max()
        if pd.isna(longest) or int(longest) <= MAX_CELL_CHARS:
            continue
        row = int(lengths.fillna(0).to_numpy().argmax())
        raise InvalidInputError(
            f"'{label}' has a {int(longest):,}-character value in column "
            f"'{_one_line(str(column))[:60]}' (row {row}); a cell may hold at most "
            f"{MAX_CELL_CHARS:,} characters. Remove or truncate it in the export (an unclosed "
            "quote can also swallow the rest of a file)."
        )


def _check_unique(names: Sequence[str], *, label: str) -> None:
    # pandas names empty header fields "Unnamed: <i>", so those never collide.
    counts = Counter(str(name) for name in names if str(name) != "")
    duplicates = [name for name, count in counts.items() if count > 1]
    if duplicates:
        listed = ", ".join(f"'{name}'" for name in duplicates)
        raise InvalidInputError(
            f"'{label}' has duplicate column names: {listed}. Column names must be unique; "
            "rename the duplicates and export the file again."
        )


def _read_parquet(blob: _Blob, *, label: str) -> pd.DataFrame:
    with blob.open() as handle:
        try:
            names = pq.read_schema(handle).names
        except (pa.ArrowException, OSError) as err:
            raise _corrupt_parquet(label, err) from err
        _check_unique(names, label=label)
        handle.seek(0)
        try:
            return pd.read_parquet(handle, engine="pyarrow")
        except (pa.ArrowException, OSError) as err:
            raise _corrupt_parquet(label, err) from err


def _corrupt_parquet(label: str, err: Exception) -> InvalidInputError:
    return InvalidInputError(
        f"'{label}' cannot be read as Parquet: the file is truncated or corrupt "
        f"({_one_line(str(err))}). Re-export it."
    )


def _one_line(text: str) -> str:
    """Return the first line of ``text``, shortened and with URI credentials redacted."""
    lines = text.strip().splitlines()
    line = lines[0].strip() if lines else ""
    line = redact_text(line).rstrip(".:")
    return line if len(line) <= _MAX_DETAIL else line[: _MAX_DETAIL - 3] + "..."

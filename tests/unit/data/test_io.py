"""Tests for loading tables from local files and from a local MLflow tracking store."""

from __future__ import annotations

import gzip
import logging
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers.tables import CSV, TABLE, assert_table, parquet_bytes
from mlflow import MlflowClient

import mlflow_retrain.data
from mlflow_retrain.data import describe_uri, load_table, read_bytes
from mlflow_retrain.exceptions import InvalidInputError

MODEL_CODE = """
import mlflow


class Identity(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input: list[str], params=None) -> list[str]:
        return model_input


mlflow.models.set_model(Identity())
"""


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- Public surface ------------------------------------------------------------------------------


def test_data_package_exports_the_loaders() -> None:
    assert {"describe_uri", "load_table", "read_bytes"} <= set(mlflow_retrain.data.__all__)


# --- Local files ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("batch.csv", CSV),
        ("batch.CSV", CSV),
        ("batch.csv.gz", gzip.compress(CSV, mtime=0)),
        ("batch.parquet", parquet_bytes()),
        ("batch.pq", parquet_bytes()),
    ],
)
def test_load_table_reads_format_from_extension(tmp_path: Path, name: str, data: bytes) -> None:
    assert_table(load_table(str(_write(tmp_path / name, data))))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("batch.bin", parquet_bytes()),
        ("batch", parquet_bytes()),
        ("batch.txt", CSV),
        ("batch.dat", gzip.compress(CSV, mtime=0)),
    ],
    ids=["parquet-bin", "parquet-no-extension", "csv-txt", "gzip-csv-dat"],
)
def test_load_table_sniffs_unknown_extensions(tmp_path: Path, name: str, data: bytes) -> None:
    assert_table(load_table(str(_write(tmp_path / name, data))))


def test_load_table_accepts_file_uri(tmp_path: Path) -> None:
    path = _write(tmp_path / "dir with space" / "batch.csv", CSV)
    assert_table(load_table(path.as_uri()))


def test_load_table_resolves_relative_path_against_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "data" / "batch.csv", CSV)
    monkeypatch.chdir(tmp_path)
    assert_table(load_table("data/batch.csv"))


def test_load_table_accepts_path_objects(tmp_path: Path) -> None:
    assert_table(load_table(_write(tmp_path / "batch.csv", CSV)))


def test_load_table_reads_local_file_whose_name_contains_a_colon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path / "batch:2024.csv", CSV)
    monkeypatch.chdir(tmp_path)
    assert_table(load_table("batch:2024.csv"))


def test_load_table_returns_empty_frame_for_header_only_csv(tmp_path: Path) -> None:
    frame = load_table(str(_write(tmp_path / "batch.csv", b"amount,country\n")))
    assert frame.shape == (0, 2)
    assert list(frame.columns) == ["amount", "country"]


def test_load_table_strips_utf8_byte_order_mark(tmp_path: Path) -> None:
    frame = load_table(str(_write(tmp_path / "batch.csv", b"\xef\xbb\xbf" + CSV)))
    assert list(frame.columns) == ["amount", "country", "score"]


def test_load_table_allows_several_blank_header_names(tmp_path: Path) -> None:
    frame = load_table(str(_write(tmp_path / "batch.csv", b",,c\n1,2,3\n")))
    assert frame.shape == (1, 3)


def test_load_table_logs_redacted_uri_and_shape(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write(tmp_path / "batch.csv", CSV)
    caplog.set_level(logging.INFO, logger="mlflow_retrain.data.io")
    load_table(str(path))
    assert f"Loaded {path} (csv): 3 rows x 3 columns" in caplog.messages


def test_read_bytes_returns_file_content(tmp_path: Path) -> None:
    assert read_bytes(str(_write(tmp_path / "model.json", b'{"a": 1}'))) == b'{"a": 1}'


def test_read_bytes_returns_empty_bytes_for_empty_file(tmp_path: Path) -> None:
    assert read_bytes(str(_write(tmp_path / "empty.txt", b""))) == b""


# --- Local errors --------------------------------------------------------------------------------


def test_load_table_rejects_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"'.*nope\.csv' does not exist\. Check the path"):
        load_table(str(tmp_path / "nope.csv"))


def test_load_table_names_working_directory_for_missing_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInputError, match="relative to the working directory"):
        load_table("nope.csv")


def test_load_table_rejects_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="is a directory, not a file"):
        load_table(str(tmp_path))


@pytest.mark.parametrize("name", ["batch.csv", "batch.parquet", "batch"])
def test_load_table_rejects_empty_file(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidInputError, match=r"is empty \(0 bytes\)"):
        load_table(str(_write(tmp_path / name, b"")))


def test_load_table_rejects_csv_of_blank_lines(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="contains no columns: it has no header line"):
        load_table(str(_write(tmp_path / "batch.csv", b"\n\n\n")))


@pytest.mark.parametrize(
    "data",
    [
        "amount,country\n1,d\xe9\n".encode("latin-1"),
        "montant,pa\xefs\n1,de\n".encode("latin-1"),
    ],
    ids=["body", "header"],
)
def test_load_table_rejects_csv_that_is_not_utf8(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(InvalidInputError, match=r"is not UTF-8 text .*Re-export it as UTF-8"):
        load_table(str(_write(tmp_path / "batch.csv", data)))


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"a,b\n1,2\n3,4,5\n", "Expected 2 fields in line 3, saw 3"),
        (b'a,b\n"unclosed,1\n', "EOF inside string starting at row 1"),
    ],
    ids=["field-count", "open-quote"],
)
def test_load_table_rejects_malformed_csv_with_line_info(
    tmp_path: Path, data: bytes, detail: str
) -> None:
    with pytest.raises(InvalidInputError, match=f"is not well-formed CSV: {detail}"):
        load_table(str(_write(tmp_path / "batch.csv", data)))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("batch.parquet", parquet_bytes()[:-20]),
        ("batch.parquet", parquet_bytes()[: len(parquet_bytes()) // 2]),
        ("batch.parquet", b"amount,country\n1,de\n"),
        ("batch", parquet_bytes()[:-20]),
    ],
    ids=["lost-footer", "half", "csv-named-parquet", "sniffed"],
)
def test_load_table_rejects_corrupt_parquet(tmp_path: Path, name: str, data: bytes) -> None:
    with pytest.raises(
        InvalidInputError,
        match=r"cannot be read as Parquet: the file is truncated or corrupt .*Re-export it",
    ):
        load_table(str(_write(tmp_path / name, data)))


@pytest.mark.parametrize(
    "data",
    [gzip.compress(CSV, mtime=0)[:25], b"\x1f\x8b not really gzip"],
    ids=["truncated", "garbage"],
)
def test_load_table_rejects_corrupt_gzip(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(InvalidInputError, match="cannot be decompressed: the gzip data is"):
        load_table(str(_write(tmp_path / "batch.csv.gz", data)))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("batch.csv", b"amount,country,amount\n1,de,2\n"),
        ("batch.csv", b'"amount",country,amount\n1,de,2\n'),
        ("batch.csv.gz", gzip.compress(b"amount,country,amount\n1,de,2\n", mtime=0)),
        ("batch.csv", b"\n\namount,country,amount\n1,de,2\n"),
    ],
    ids=["csv", "quoted", "gzip", "leading-blank-lines"],
)
def test_load_table_rejects_duplicate_csv_columns(tmp_path: Path, name: str, data: bytes) -> None:
    with pytest.raises(
        InvalidInputError, match=r"duplicate column names: 'amount'\. .*rename the duplicates"
    ):
        load_table(str(_write(tmp_path / name, data)))


def test_load_table_rejects_duplicate_parquet_columns(tmp_path: Path) -> None:
    table = pa.table([pa.array([1]), pa.array(["de"]), pa.array([2])], names=["a", "c", "a"])
    path = tmp_path / "batch.parquet"
    pq.write_table(table, path)
    with pytest.raises(InvalidInputError, match=r"duplicate column names: 'a'\."):
        load_table(str(path))


@pytest.mark.parametrize(
    "uri",
    ["gs://bucket/batch.csv", "https://example.com/batch.csv", "hdfs://nn/batch.csv"],
)
def test_load_table_rejects_unsupported_scheme(uri: str) -> None:
    with pytest.raises(
        InvalidInputError,
        match=r"unsupported scheme .*supported are local paths and file:, s3:, runs:",
    ):
        load_table(uri)


def test_load_table_error_does_not_leak_credentials() -> None:
    with pytest.raises(InvalidInputError, match=r"https://\*\*\*@example.com") as info:
        load_table("https://alice:hunter2@example.com/batch.csv?token=s3cr3t")
    assert "hunter2" not in str(info.value)
    assert "s3cr3t" not in str(info.value)
    assert "alice" not in str(info.value)


def test_load_table_rejects_file_uri_with_remote_host() -> None:
    with pytest.raises(InvalidInputError, match="file:// URIs must point at this machine"):
        load_table("file://fileserver/share/batch.csv")


@pytest.mark.parametrize("uri", ["", "   "])
def test_load_table_rejects_empty_uri(uri: str) -> None:
    with pytest.raises(InvalidInputError, match="The data URI is empty"):
        load_table(uri)


# --- describe_uri --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://user:secret@host/x", "https://***@host/x"),
        ("postgresql://u:pw@h:5432/db", "postgresql://***@h:5432/db"),
        ("https://ghp_token@github.com/o/r", "https://***@github.com/o/r"),
        ("postgresql://u:p@ss@h/db", "postgresql://***@h/db"),
        (
            "https://b.s3.amazonaws.com/k.csv?X-Amz-Credential=AKIA&X-Amz-Signature=abc",
            "https://b.s3.amazonaws.com/k.csv?X-Amz-Credential=***&X-Amz-Signature=***",
        ),
        ("https://host/x?sig", "https://host/x?***"),
        ("http://u:pw@[::1/x?a=b", "http://***@[::1/x?***"),
    ],
    ids=["password", "database", "token", "at-in-password", "presigned", "bare-query", "broken"],
)
def test_describe_uri_redacts_secrets(uri: str, expected: str) -> None:
    assert describe_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "data/batch.csv",
        "/abs/batch?.csv",
        "C:\\data\\batch.csv",
        "s3://bucket/key.csv",
        "runs:/abc/data/ref.csv",
        "models:/churn@champion/data/ref.csv",
        "mlflow-artifacts:/1/abc/artifacts/ref.csv",
        "file:///tmp/batch.csv",
    ],
)
def test_describe_uri_keeps_uris_without_secrets(uri: str) -> None:
    assert describe_uri(uri) == uri


# --- MLflow: runs:/ ------------------------------------------------------------------------------


@pytest.fixture
def logged_run(tracking_uri: str, tmp_path: Path) -> str:
    """Log ``data/ref.csv`` to a run of the private tracking store; return the run ID."""
    path = _write(tmp_path / "upload" / "ref.csv", CSV)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(path), artifact_path="data")
    return run.info.run_id


def test_load_table_reads_run_artifact(logged_run: str) -> None:
    assert_table(load_table(f"runs:/{logged_run}/data/ref.csv"))


def test_load_table_reads_run_artifact_from_explicit_tracking_uri(
    logged_run: str, tracking_uri: str, tmp_path: Path
) -> None:
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    assert_table(load_table(f"runs:/{logged_run}/data/ref.csv", tracking_uri=tracking_uri))


def test_read_bytes_reads_run_artifact(logged_run: str) -> None:
    assert read_bytes(f"runs:/{logged_run}/data/ref.csv") == CSV


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("runs:/{run_id}", "names no file"),
        ("runs:/{run_id}/", "names no file"),
        ("runs:/{run_id}/data", "is a directory of artifacts, not a file"),
        ("runs:/{run_id}/data/missing.csv", "does not exist"),
        ("runs:/0123456789abcdef0123456789abcdef/data/ref.csv", "does not exist .*not found"),
    ],
    ids=["no-path", "trailing-slash", "directory", "missing-artifact", "missing-run"],
)
def test_load_table_rejects_bad_run_uri(logged_run: str, template: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        load_table(template.format(run_id=logged_run))


@pytest.mark.parametrize(
    "uri",
    ["mlflow-artifacts:/1/abc/artifacts/ref.csv", "mlflow-artifacts://host:5000/1/abc/ref.csv"],
    ids=["path", "host"],
)
def test_load_table_rejects_mlflow_artifacts_uri_without_http_tracking_uri(
    tracking_uri: str, uri: str
) -> None:
    with pytest.raises(InvalidInputError, match=r"not http\(s\)\. Pass tracking_uri="):
        load_table(uri)


# --- MLflow: models:/ ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _RegisteredModel:
    name: str
    model_id: str


@pytest.fixture
def registered_model(tracking_uri: str, tmp_path: Path) -> _RegisteredModel:
    """Register version 1 of ``churn`` (alias ``champion``), carrying ``artifacts/ref.csv``."""
    reference = _write(tmp_path / "upload" / "ref.csv", CSV)
    code = tmp_path / "upload" / "model_code.py"
    code.write_text(MODEL_CODE)
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(code),
            artifacts={"reference": str(reference)},
            pip_requirements=["mlflow"],
            registered_model_name="churn",
        )
    MlflowClient().set_registered_model_alias("churn", "champion", "1")
    return _RegisteredModel(name="churn", model_id=info.model_id)


@pytest.mark.parametrize(
    "uri",
    [
        "models:/churn/1/artifacts/ref.csv",
        "models:/churn/latest/artifacts/ref.csv",
        "models:/churn@champion/artifacts/ref.csv",
    ],
    ids=["version", "latest", "alias"],
)
def test_load_table_reads_file_inside_registered_model(
    registered_model: _RegisteredModel, uri: str
) -> None:
    assert_table(load_table(uri))


def test_load_table_reads_file_inside_logged_model(registered_model: _RegisteredModel) -> None:
    assert_table(load_table(f"models:/{registered_model.model_id}/artifacts/ref.csv"))


def test_load_table_resolves_models_uri_with_explicit_tracking_uri(
    registered_model: _RegisteredModel, tracking_uri: str, tmp_path: Path
) -> None:
    # MLflow itself would look the model up in the process-wide registry (mlflow/mlflow#18313).
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    frame = load_table("models:/churn@champion/artifacts/ref.csv", tracking_uri=tracking_uri)
    assert_table(frame)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/", "names no model"),
        ("models:/churn", "names no model version"),
        ("models:/churn/1", "names a whole model, which is a directory"),
        ("models:/churn@champion", "names a whole model, which is a directory"),
        ("models:/churn/Production/artifacts/ref.csv", "stages are deprecated"),
        ("models:/nope/1/artifacts/ref.csv", "cannot be resolved .*nope"),
        ("models:/churn/7/artifacts/ref.csv", "cannot be resolved .*version=7"),
        ("models:/churn@nope/artifacts/ref.csv", "cannot be resolved .*alias nope"),
        ("models:/churn/1/artifacts/missing.csv", "does not exist"),
        ("models:/churn/1/artifacts", "is a directory of artifacts, not a file"),
    ],
)
def test_load_table_rejects_bad_models_uri(
    registered_model: _RegisteredModel, uri: str, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        load_table(uri)


@pytest.mark.parametrize(("delimiter", "name"), [(";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_a_file_with_another_delimiter_is_refused(
    tmp_path: Path, delimiter: str, name: str
) -> None:
    path = tmp_path / "batch.csv"
    TABLE.to_csv(path, sep=delimiter, index=False)

    with pytest.raises(InvalidInputError, match=rf"looks {name}-separated: .* 3 names"):
        load_table(path)


def test_a_one_column_file_is_not_mistaken_for_another_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    path.write_text("amount\n1\n2\n")

    assert load_table(path)["amount"].tolist() == [1, 2]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_cell_over_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    monkeypatch.setattr(mlflow_retrain.data.io, "MAX_CELL_CHARS", 10)
    frame = pd.DataFrame({"amount": [1, 2, 3], "note": ["ok", "x" * 11, None]})
    path = tmp_path / f"batch{suffix}"
    frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_parquet(path)

    with pytest.raises(InvalidInputError, match=r"11-character value in column 'note' \(row 1\)"):
        load_table(path)


def test_a_cell_at_the_limit_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mlflow_retrain.data.io, "MAX_CELL_CHARS", 10)
    path = tmp_path / "batch.csv"
    pd.DataFrame({"note": ["x" * 10, None]}).to_csv(path, index=False)

    assert load_table(path)["note"].iloc[0] == "x" * 10


def test_redact_text_hides_credentials_in_free_text() -> None:
    text = "request to http://user:s3cret@host:5000/api failed; see https://tok@x.io/a"

    redacted = mlflow_retrain.data.io.redact_text(text)

    assert redacted == "request to http://***@host:5000/api failed; see https://***@x.io/a"

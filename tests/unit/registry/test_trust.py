"""The MLflow side of signed evidence: what a version's evidence is bound to."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mlflow_retrain.registry.signing import artifacts_digest
from mlflow_retrain.registry.trust import folder_digest, model_id_of, version_binding


def test_a_folder_digest_covers_every_file_by_relative_path(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "MLmodel").write_bytes(b"flavors: {}")
    (tmp_path / "sub" / "model.pkl").write_bytes(b"\x80\x04")
    expected = artifacts_digest([
        ("MLmodel", hashlib.sha256(b"flavors: {}").hexdigest()),
        ("sub/model.pkl", hashlib.sha256(b"\x80\x04").hexdigest()),
    ])  # fmt: skip

    assert folder_digest(tmp_path) == expected
    (tmp_path / "sub" / "model.pkl").write_bytes(b"\x80\x05")
    assert folder_digest(tmp_path) != expected


def test_the_binding_of_a_local_location_is_its_folder_digest(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("x", encoding="utf-8")

    assert version_binding(str(tmp_path)) == folder_digest(tmp_path)


@pytest.mark.parametrize(
    ("source", "model_id"),
    [
        ("models:/m-0123abcd", "m-0123abcd"),
        ("models:/m-0123abcd/", "m-0123abcd"),
        ("models:/fraud/3", None),
        ("runs:/abc/model", None),
        (None, None),
    ],
)
def test_the_model_id_comes_from_the_versions_source(source: str | None, model_id: str) -> None:
    assert model_id_of(source) == model_id

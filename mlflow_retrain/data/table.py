"""A table already in memory, with the URI it came from: what one step hands the next.

Every step that reads data (``drift``, ``retrain``, ``compare``, ``shadow``) accepts a
:class:`Table` wherever it accepts a URI. The loop reads its batch once and hands the rows on,
instead of each step reading the same file again; the step still records ``source`` (the
dataset source of ``log_input``, its ``*_uri`` params and tags, its messages), so what MLflow
shows does not depend on who read the rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mlflow_retrain.data.io import load_table

__all__ = ["Table", "as_table", "source_of", "write_parquet"]


@dataclass(frozen=True, eq=False)
class Table:
    """Rows already read, and where they were read from.

    A step given a ``Table`` behaves as if it had read ``source`` itself, so ``frame`` must be
    what :func:`~mlflow_retrain.data.io.load_table` returns for ``source``: the step records
    ``source`` as the data's origin and the digest of ``frame`` as its content.

    Attributes:
        frame: The rows.
        source: The URI they came from (a local path, ``s3://``, ``runs:/``, ...).
    """

    frame: pd.DataFrame
    source: str

    @classmethod
    def read(cls, uri: str) -> Table:
        """Read the table at ``uri`` (see :func:`~mlflow_retrain.data.io.load_table`).

        Raises:
            InvalidInputError: The file cannot be read as a table.
        """
        return cls(load_table(uri), uri)


def as_table(data: str | Table) -> Table:
    """``data`` as a :class:`Table`: read when it is a URI, as it is when it is one already.

    Raises:
        InvalidInputError: ``data`` is a URI that cannot be read as a table.
    """
    return data if isinstance(data, Table) else Table.read(data)


def source_of(data: str | Table) -> str:
    """The URI of ``data``: the URI itself, or the source of a :class:`Table`."""
    return data.source if isinstance(data, Table) else data


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike[str]) -> pd.DataFrame:
    """Write ``frame`` to ``path`` as Parquet and return the rows as the file holds them.

    A step that stores a table and hands it on in memory hands on what a later reader of the
    file gets, not the frame it wrote: the Parquet round trip can change dtypes (a column
    missing in one batch and text in another, say), and with them the rows' digest. So a
    table shown in several places (the version's tags, each run's datasets, the evidence) has
    one digest, whether a step read it from the store or was given it.
    """
    frame.to_parquet(path, index=False)
    return pd.read_parquet(Path(path), engine="pyarrow")

"""A small table in the formats the loaders read, and the check that one was read right."""

from __future__ import annotations

import pandas as pd

#: Three rows: an integer, a string and a float column.
CSV = b"amount,country,score\n1,de,0.5\n2,fr,1.5\n3,de,2.5\n"
#: ``CSV`` as the frame a loader must return.
TABLE = pd.DataFrame(
    {"amount": [1, 2, 3], "country": ["de", "fr", "de"], "score": [0.5, 1.5, 2.5]}
)


def parquet_bytes(frame: pd.DataFrame = TABLE) -> bytes:
    """``frame`` as a Parquet file's bytes, without the index."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    return bytes(sink.getvalue().to_pybytes())


def assert_table(frame: pd.DataFrame) -> None:
    """``frame`` is ``TABLE``, with integer, float and string columns where it has them."""
    pd.testing.assert_frame_equal(frame, TABLE, check_dtype=False)
    assert pd.api.types.is_integer_dtype(frame["amount"])
    assert pd.api.types.is_float_dtype(frame["score"])
    assert pd.api.types.is_string_dtype(frame["country"])

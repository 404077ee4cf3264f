"""The payload formats pedata describes, their media types and the file suffixes that name them."""

from __future__ import annotations

MEDIA_TYPES: dict[str, str] = {
    "parquet": "application/vnd.apache.parquet",
    "hdf5": "application/x-hdf5",
    "csv": "text/csv",
}


EXTENSIONS: dict[str, str] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".csv": "csv",
}

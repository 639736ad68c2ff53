"""MLlib-style persistence for our Python stages: ``metadata/`` (params) plus ``data/`` (named blobs).

Everything goes through the DataFrame reader/writer, so any filesystem Spark reaches works (local,
HDFS, S3, ABFS, DBFS, volumes) on classic and Spark Connect sessions alike. Blobs are JSON or
tensor files; nothing is ever unpickled.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import TYPE_CHECKING, Any

from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter
from pyspark.sql import SparkSession

from synthohive_spark._spark import hadoop_fs, path_exists
from synthohive_spark.errors import ModelLoadError, OutputExistsError  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger("synthohive_spark.ml.persist")

#: Version of the on-disk layout written by this release. Readers refuse newer formats.
FORMAT_VERSION = 1


def save_stage(instance: Any, path: str, spark: SparkSession, blobs: dict[str, bytes],
               extra_metadata: dict[str, Any] | None, overwrite: bool) -> None:
    """Write ``instance``'s params to ``path/metadata`` and ``blobs`` to ``path/data``.

    ``data/`` is written first and ``metadata/`` last: a save that fails half way leaves no
    ``metadata/``, so the directory is never mistaken for a complete model.
    """
    mode = "overwrite" if overwrite else "errorifexists"
    if not overwrite and path_exists(spark, path):
        raise OutputExistsError(
            f"Cannot save {type(instance).__name__} to {path!r}: the path already exists. "
            "Use write().overwrite().save(path) to replace it.")
    if overwrite:
        # Remove a previous metadata marker first so a failure below cannot leave old metadata
        # describing new (partial) data.
        _delete_marker(spark, path)
    digests = {name: hashlib.sha256(blob).hexdigest() for name, blob in blobs.items()}
    rows = [(name, bytearray(blob)) for name, blob in sorted(blobs.items())]
    data_df = spark.createDataFrame(rows, schema="name string, blob binary")
    data_df.coalesce(1).write.mode(mode).parquet(os.path.join(path, "data"))
    extra = dict(extra_metadata or {})
    extra["synthohiveFormat"] = FORMAT_VERSION
    extra["blobDigests"] = digests
    from synthohive_spark import __version__
    extra["synthohiveVersion"] = __version__
    meta_json = DefaultParamsWriter._get_metadata_to_save(instance, spark, extra)
    spark.createDataFrame([(meta_json,)], schema="value string").coalesce(1).write.mode(
        mode).text(os.path.join(path, "metadata"))


def _delete_marker(spark: SparkSession, path: str) -> None:
    fs = hadoop_fs(spark, os.path.join(path, "metadata"))
    if fs is None:
        return  # Spark Connect: the overwrite-mode writes below replace the directories.
    if fs[0].exists(fs[1]):
        fs[0].delete(fs[1], True)


def load_stage(path: str, spark: SparkSession, expected_class: str) -> tuple[dict, dict[str, bytes]]:
    """Read and verify what :func:`save_stage` wrote. Returns (metadata dict, blobs)."""
    if not path_exists(spark, os.path.join(path, "metadata")):
        raise ModelLoadError(
            f"No saved synthohive-spark model at {path!r}: {path}/metadata does not exist "
            "(wrong path, or a save that did not finish).")
    meta_str = spark.read.text(os.path.join(path, "metadata")).first()
    if meta_str is None:
        raise ModelLoadError(f"The model at {path!r} has an empty metadata/ folder.")
    try:
        metadata = json.loads(meta_str[0])
    except json.JSONDecodeError as exc:
        raise ModelLoadError(f"The metadata of the model at {path!r} is not valid JSON: {exc}") from exc
    cls = metadata.get("class", "")
    if cls.rsplit(".", 1)[-1] != expected_class.rsplit(".", 1)[-1]:
        raise ModelLoadError(
            f"The model at {path!r} is a {cls!r}, not a {expected_class!r}.")
    fmt = metadata.get("synthohiveFormat")
    if not isinstance(fmt, int) or fmt > FORMAT_VERSION or fmt < 1:
        raise ModelLoadError(
            f"The model at {path!r} was saved by synthohive-spark "
            f"{metadata.get('synthohiveVersion', '?')} in format {fmt!r}; this version "
            f"reads format {FORMAT_VERSION}. Re-fit the model or use a matching release.")
    data = os.path.join(path, "data")
    if not path_exists(spark, data):
        raise ModelLoadError(f"The model at {path!r} is incomplete: it has no data/ folder "
                             "(the model's blobs); a save that did not finish, or a copy that "
                             "left it out.")
    try:
        rows = spark.read.parquet(data).collect()
        blobs = {r["name"]: bytes(r["blob"]) for r in rows}
    except Exception as exc:  # Spark's own errors differ by release and by damage: name it
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"The model at {path!r} is damaged: its data/ folder cannot be "
                             f"read as the model's blobs ({type(exc).__name__}: {first[:300]})"
                             ) from None
    digests = metadata.get("blobDigests", {})
    if set(digests) != set(blobs):
        raise ModelLoadError(
            f"The model at {path!r} is incomplete: expected blobs {sorted(digests)}, "
            f"found {sorted(blobs)}.")
    for name, blob in blobs.items():
        if hashlib.sha256(blob).hexdigest() != digests[name]:
            raise ModelLoadError(
                f"The model at {path!r} is corrupted: blob {name!r} does not match its checksum.")
    return metadata, blobs


def set_params_from_metadata(instance: Any, metadata: dict) -> None:
    """Restore params saved by :func:`save_stage`, skipping ones this release no longer knows."""
    DefaultParamsReader.getAndSetParams(instance, metadata, skipParams=None)


def frame_to_ipc(pdf: "pd.DataFrame") -> bytes:
    """A pandas frame as Arrow IPC stream bytes (a blob that loads without executing code)."""
    import pyarrow as pa

    table = pa.Table.from_pandas(pdf, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def frame_from_ipc(blob: bytes) -> "pd.DataFrame":
    """The pandas frame :func:`frame_to_ipc` wrote."""
    import pyarrow as pa

    return pa.ipc.open_stream(pa.py_buffer(blob)).read_all().to_pandas()

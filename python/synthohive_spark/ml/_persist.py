"""MLlib-style persistence for our Python stages: ``metadata/`` (params) plus ``data/`` (named blobs).

Everything goes through the DataFrame reader/writer, so any filesystem Spark reaches works (local,
HDFS, S3, ABFS, DBFS, volumes) on classic and Spark Connect sessions alike. Blobs are JSON or
tensor files; nothing is ever unpickled.

One writer/reader pair serves every stage (:class:`StageWriter`, :class:`StageReader`, mixed in
by :class:`PersistentStage`): a stage says what it saves (``_to_blobs``, ``_sub_stages``) and how
it takes it back (``_from_blobs``); the path checks, the marker and the checksums live here only.
Saved JSON state is snake_case (format 2); :func:`state_to_saved` and :func:`state_from_saved`
are the one place that writes it and reads both spellings (format 1 saved camelCase keys).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
from typing import TYPE_CHECKING, Any, Mapping, Optional

from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReadable, MLReader, MLWritable, MLWriter
from pyspark.sql import SparkSession

from synthohive_spark._spark import hadoop_fs, path_exists
from synthohive_spark.errors import ModelLoadError, OutputExistsError  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger("synthohive_spark.ml.persist")

#: Version of the on-disk layout written by this release (2: snake_case JSON state). Readers
#: refuse newer formats and read every older one.
FORMAT_VERSION = 2
_FIRST_FORMAT = 1


def save_stage(instance: Any, path: str, spark: SparkSession, blobs: dict[str, bytes],
               extra_metadata: dict[str, Any] | None, overwrite: bool,
               sub_stages: Optional[Mapping[str, Any]] = None) -> None:
    """Write ``instance``'s params to ``path/metadata`` and ``blobs`` to ``path/data``.

    ``sub_stages`` (relative path -> stage) are saved under ``path`` first. ``data/`` is written
    next and ``metadata/`` last: a save that fails half way leaves no ``metadata/``, so the
    directory is never mistaken for a complete model.
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
    for rel, stage in sorted((sub_stages or {}).items()):
        stage.write().overwrite().session(spark).save(os.path.join(path, rel))
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
    if not isinstance(fmt, int) or fmt > FORMAT_VERSION or fmt < _FIRST_FORMAT:
        raise ModelLoadError(
            f"The model at {path!r} was saved by synthohive-spark "
            f"{metadata.get('synthohiveVersion', '?')} in format {fmt!r}; this version "
            f"reads formats {_FIRST_FORMAT} to {FORMAT_VERSION}. Re-fit the model or use a "
            "matching release.")
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


def _class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__name__}"


@dataclasses.dataclass
class SavedStage:
    """What :class:`StageReader` found at ``path``: the metadata, the verified blobs, and the
    means to read a JSON blob or a stage saved under ``path`` (errors name the path)."""

    path: str
    metadata: dict[str, Any]
    blobs: dict[str, bytes]
    spark: SparkSession

    def json(self, name: str) -> Any:
        """The JSON blob ``name``; ModelLoadError when it is missing or unreadable."""
        try:
            return json.loads(self.blobs[name])
        except (KeyError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"The model at {self.path!r} has no readable {name}.") from exc

    def state(self, name: str, schema: "Record") -> dict[str, Any]:
        """The JSON state blob ``name`` with the in-memory keys of ``schema`` (either spelling)."""
        state = self.json(name)
        if not isinstance(state, dict):
            raise ModelLoadError(f"The model at {self.path!r} has no readable {name}: not a JSON "
                                 "object.")
        return state_from_saved(state, schema)

    def stage(self, cls: type, rel: str) -> Any:
        """The ``cls`` stage saved at ``path/rel``."""
        return cls.read().session(self.spark).load(os.path.join(self.path, rel))


class StageWriter(MLWriter):
    """The writer of every :class:`PersistentStage`: ``instance._to_blobs()`` -> (blobs, extra
    metadata), ``instance._sub_stages()`` -> stages saved under its path."""

    def __init__(self, instance: "PersistentStage") -> None:
        super().__init__()
        self.instance = instance

    def save(self, path: str) -> None:
        # The base class's overwrite handling needs a JVM; ours works on Spark Connect too.
        self.saveImpl(path)

    def saveImpl(self, path: str) -> None:
        blobs, extra = self.instance._to_blobs()
        save_stage(self.instance, path, self.sparkSession, blobs, extra, self.shouldOverwrite,
                   self.instance._sub_stages())


class StageReader(MLReader):
    """The reader of every :class:`PersistentStage`: params and uid from the metadata, then
    ``instance._from_blobs(saved)``."""

    def __init__(self, cls: type) -> None:
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> Any:
        metadata, blobs = load_stage(path, self.sparkSession, _class_name(self.cls))
        instance = self.cls()
        set_params_from_metadata(instance, metadata)
        instance._resetUid(metadata["uid"])
        instance._from_blobs(SavedStage(path, metadata, blobs, self.sparkSession))
        return instance


class PersistentStage(MLReadable, MLWritable):
    """``write()``/``save()``/``read()``/``load()`` through :class:`StageWriter`/:class:`StageReader`."""

    def write(self) -> StageWriter:
        return StageWriter(self)

    @classmethod
    def read(cls) -> StageReader:
        return StageReader(cls)

    def _to_blobs(self) -> tuple[dict[str, bytes], dict[str, Any]]:
        """(named blobs, extra metadata entries) to save."""
        raise NotImplementedError

    def _sub_stages(self) -> dict[str, Any]:
        """Stages saved under this stage's path (relative path -> stage)."""
        return {}

    def _from_blobs(self, saved: SavedStage) -> None:
        """Take back what ``_to_blobs`` saved (params and uid are set already)."""
        raise NotImplementedError


def json_blob(value: Any) -> bytes:
    """``value`` as the bytes of a JSON blob (sorted keys: the same state, the same bytes)."""
    return json.dumps(value, sort_keys=True).encode("utf-8")


# -- saved state: snake_case on disk, both spellings read --------------------------------------

class Record(dict):
    """Schema of a JSON object with fixed fields: in-memory field name -> schema of its value
    (None: a leaf, or an object kept exactly as it is). Fields not named are kept as they are."""

    def __init__(self, **fields: Optional["Record | MapOf"]) -> None:
        super().__init__(fields)
        self.saved = {name: _snake(name) for name in fields}
        self.loaded = {**{name: name for name in fields},
                       **{_snake(name): name for name in fields}}


class MapOf:
    """Schema of a JSON object keyed by data (table or column names, never renamed) whose values
    follow ``value``."""

    def __init__(self, value: Optional["Record | MapOf"]) -> None:
        self.value = value


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _convert(value: Any, schema: "Record | MapOf | None", saving: bool) -> Any:
    if schema is None or not isinstance(value, dict):
        return value
    if isinstance(schema, MapOf):
        return {k: _convert(v, schema.value, saving) for k, v in value.items()}
    names = schema.saved if saving else schema.loaded
    out = {}
    for k, v in value.items():
        name = names.get(k, k)
        out[name] = _convert(v, schema.get(k if saving else name), saving)
    return out


def state_to_saved(state: dict[str, Any], schema: Record) -> dict[str, Any]:
    """``state`` with the fields of ``schema`` spelled snake_case (what new saves write)."""
    return _convert(state, schema, True)


def state_from_saved(state: dict[str, Any], schema: Record) -> dict[str, Any]:
    """Saved ``state`` (snake_case, or the camelCase of format 1) with the in-memory names of
    ``schema``: the one place that reads both spellings."""
    return _convert(state, schema, False)


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

"""Executor-side generation: the functions ``mapInPandas`` runs.

The fitted model travels inside the function's closure as bytes (no ``SparkContext.broadcast``, which
Spark Connect lacks) and is deserialized once per Python worker, cached by its digest. Each task
seeds itself from (seed, stream, partition, chunk) so a recomputed partition yields the same rows.

This module owns, for every stage that generates rows: the worker cache (:func:`worker_cached`,
one eviction rule), the per-partition offsets (:func:`partition_frame` for counted partitions,
:func:`partition_offsets` for an input's own partitions) and the chunk loop
(:func:`partition_chunks` over counted partitions, :func:`row_chunks` over positioned input rows).
"""
from __future__ import annotations

import functools
import hashlib
import logging
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import pandas as pd

from synthohive_spark.ml._keys import key_values, key_values_at

logger = logging.getLogger("synthohive_spark.ml.generation")

#: the most values of each kind one Python worker keeps (:func:`worker_cached`): one generative
#: model and one child-count model (they may be large; workers are reused across stages), and the
#: small degree models and label permutations of a few tables
WORKER_CACHE_KEEP: dict[str, int] = {"model": 1, "child-counts": 1, "degree": 64, "labels": 64}

_WORKER_CACHE: dict[str, OrderedDict] = {}
_WORKER_CACHE_LOCK = threading.RLock()


def worker_cached(kind: str, key: Any, build: Callable[[], Any]) -> Any:
    """The value of ``kind`` under ``key``, built once per Python worker by ``build()`` (a pure
    function of the key). One rule for every kind: the least recently used values are dropped,
    before a new one is built, so that at most ``WORKER_CACHE_KEEP[kind]`` are kept."""
    keep = WORKER_CACHE_KEEP[kind]
    with _WORKER_CACHE_LOCK:
        store = _WORKER_CACHE.setdefault(kind, OrderedDict())
        if key in store:
            store.move_to_end(key)
            return store[key]
        while store and len(store) >= keep:
            store.popitem(last=False)
        value = store[key] = build()
        return value


@dataclass(frozen=True)
class GenerationPlan:
    """Everything an executor needs to generate rows of one table; plain data, pickled by Spark."""

    blobs: dict[str, bytes]
    digest: str
    seed: int
    stream: str                      # distinguishes tables / uses, part of every row's seed
    columns: list[str]               # output columns in order (the training schema)
    condition_cols: list[str]        # taken from input rows (transform) instead of generated
    # a sequential model's sequence key (taken from the input rows): each run of equal values
    # is generated as one sequence, never split between two chunks
    sequence_key: str | None = None
    key_specs: dict[str, dict] = field(default_factory=dict)  # generated key columns
    pii_specs: dict[str, dict] = field(default_factory=dict)  # PII columns: faker, never learned
    chunk_size: int = 50_000
    use_gpu: bool = False
    # transform: input partition -> (rows before it, its rows)
    partition_offsets: dict[int, tuple[int, int]] = field(default_factory=dict)
    labels: list[tuple] = field(default_factory=list)  # unique labels: (column, real values, null share)
    # TimestampType columns and the session time zone their wall-clock values are read in
    local_timestamps: list[str] = field(default_factory=list)
    time_zone: str | None = None
    # rejectCopies / minDCR: the real rows to keep away from (ml._copies.CopyGuard), set at
    # sample time, never saved
    copy_guard: Any = None


def make_plan(blobs: dict[str, bytes], **kwargs: Any) -> GenerationPlan:
    h = hashlib.sha256()
    for name in sorted(blobs):
        h.update(name.encode())
        h.update(hashlib.sha256(blobs[name]).digest())
    return GenerationPlan(blobs=blobs, digest=h.hexdigest(), **kwargs)


def _model_for(plan: GenerationPlan):
    device = _task_device(plan.use_gpu)

    def load() -> Any:
        from synthohive_spark.models import model_from_blobs

        model = model_from_blobs(plan.blobs)
        on = device
        if device != "cpu" and not model.to_device(device):
            on = "cpu"  # a model without a network (copula) samples with numpy
        logger.info("generation model %s loaded on %s", plan.digest[:12], on)
        return model

    return worker_cached("model", f"{plan.digest}@{device}", load)


def _task_device(use_gpu: bool) -> str:
    """``"cpu"``, or with ``use_gpu`` and CUDA on this executor the GPU Spark gave the task
    (``TaskContext.resources()["gpu"]``; device 0 of the visible ones when Spark assigns none).
    Without ``use_gpu`` CUDA is never touched."""
    if not use_gpu:
        return "cpu"
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    from pyspark import TaskContext

    ctx = TaskContext.get()
    index = 0
    if ctx is not None:
        try:
            gpus = ctx.resources().get("gpu")
        except Exception:  # noqa: BLE001 - resources() is absent on some runtimes
            gpus = None
        if gpus is not None and gpus.addresses and str(gpus.addresses[0]).isdigit():
            index = int(gpus.addresses[0]) % max(torch.cuda.device_count(), 1)
    return f"cuda:{index}"


def set_task_threads() -> None:
    """Torch threads per task follow ``spark.task.cpus``, not every core of the executor."""
    import torch
    from pyspark import TaskContext
    ctx = TaskContext.get()
    cpus = 1
    if ctx is not None:
        try:
            cpus = max(1, int(ctx.cpus()))
        except (AttributeError, TypeError, ValueError):
            cpus = 1
    if torch.get_num_threads() != cpus:
        torch.set_num_threads(cpus)


#: a sequential table's sampling call takes this many times ``chunkSize`` rows: its rows cost a
#: few hundred bytes (storms: 200,000 rows in 85 MiB), and its sampler pays a cost per step of the
#: longest sequence in each call (storms at scale 100: 23.1 s -> 19.4 s for the whole sample)
SEQUENCE_CHUNK_FACTOR = 4


def chunk_rows(chunk_size: int, sequential: bool) -> int:
    """Rows per model call for the stages' ``chunkSize`` (see :data:`SEQUENCE_CHUNK_FACTOR`)."""
    return int(chunk_size) * (SEQUENCE_CHUNK_FACTOR if sequential else 1)


def row_seed(seed: int, stream: str, *parts: int) -> int:
    """A 63-bit seed that depends only on the seed, the stream name and the integer parts."""
    stream_key = int.from_bytes(hashlib.sha256(stream.encode()).digest()[:4], "little")
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, stream_key, *[int(p) for p in parts]])
    return int(ss.generate_state(1, dtype=np.uint64)[0] & np.uint64(0x7FFFFFFFFFFFFFFF))


@functools.lru_cache(maxsize=1)
def arrow_columns_ok() -> bool:
    """Whether Spark's pandas -> Arrow writer takes Arrow-backed (``pd.ArrowDtype``) columns as they
    are (PySpark 4: ``_create_array`` hands ``__arrow_array__`` columns to Arrow without a mask)."""
    import pyspark

    try:
        return int(pyspark.__version__.split(".")[0]) >= 4
    except ValueError:
        return False


def generate_rows(plan: GenerationPlan, n: int, context: pd.DataFrame | None, seed: int,
              arrow: bool = False, groups: Any = None) -> pd.DataFrame:
    """``n`` rows from the plan's model; with ``arrow``, dates and decimals come back Arrow-backed
    (no per-row Python objects on the way to Spark's Arrow writer). A table with nothing learned
    (only keys and PII columns) has no model: ``n`` rows of no columns."""
    if not plan.blobs:
        return pd.DataFrame(index=pd.RangeIndex(n))
    model = _model_for(plan)
    transformer = getattr(model, "transformer", None)
    kwargs = {"groups": groups} if groups is not None else {}
    if not arrow or transformer is None:
        return model.sample(n, context=context, seed=seed, **kwargs)
    transformer.arrow_output = True
    try:
        return model.sample(n, context=context, seed=seed, **kwargs)
    finally:
        transformer.arrow_output = False


def pii_values(plan: GenerationPlan, col: str, n: int, seed: int) -> pd.Series:
    """Fresh PII or free-text values for ``col`` (never learned from the real column)."""
    return pii_series(plan.pii_specs[col], col, n, seed)


def pii_series(spec: dict, col: str, n: int, seed: int) -> pd.Series:
    """``n`` fresh values for a PII/free-text column from its spec (``kind``, ``fmt`` inferred from
    the real column, ``spark_type``, ``null_share``, ``locale``): the real format, never a value."""
    from synthohive_spark.privacy import generate_pii

    rng = np.random.default_rng(row_seed(seed, "pii-nulls/" + col))
    if spec["kind"] == "text":
        from synthohive_spark.privacy import generate_text
        values = generate_text(n, row_seed(seed, "text/" + col), spec.get("locale", "en_US"),
                               spec.get("fmt"))
    elif spec["kind"] == "token":
        values = pd.Series(["tok-" + format(int(v), "016x")
                            for v in rng.integers(0, 2**63 - 1, n, dtype=np.int64)], dtype=object)
    else:
        values = generate_pii(spec["kind"], n, row_seed(seed, "pii/" + col), spec.get("locale", "en_US"),
                              spec.get("fmt"))
    return _finish(values, spec, rng, n)


def _finish(values: pd.Series, spec: dict, rng: np.random.Generator, n: int) -> pd.Series:
    """PII values in the column's Spark type with the column's share of nulls (drawn by ``rng``)."""
    target = spec.get("spark_type", "string")
    if target == "string":
        values = values.map(lambda v: v if isinstance(v, str) else str(v)).astype(object)
    elif target == "date":
        values = pd.Series(pd.to_datetime(values.astype(str)).dt.date, dtype=object)
    elif target == "timestamp":
        values = pd.to_datetime(values.astype(str))
    elif target == "integer":
        values = pd.to_numeric(values.astype(str).str.replace(r"\D", "", regex=True),
                               errors="coerce").astype("Int64")
    null_share = float(spec.get("null_share", 0.0))
    if null_share > 0:
        values = values.astype(object).where(rng.random(n) >= null_share, None)
    return values.reset_index(drop=True)


#: PII kinds that can be made unique (``unique: true`` in the metadata) by the row's position.
UNIQUE_PII_KINDS: tuple[str, ...] = ("email", "username")


def unique_by_position(values: pd.Series, kind: str, positions: np.ndarray,
                       max_length: int = 0) -> pd.Series:
    """Values made distinct over the whole table by the rows' global ``positions``: an e-mail's
    local part (a user name) loses its trailing digits and ends in the position + 1
    (``maria.lopez1187@...``, ``mlopez1187``). Those digits are then exactly the position: two
    rows never share a value. Within ``max_length`` (the real column's width; 0: none) the name
    part is shortened first, then an e-mail takes the short reserved domain ``x.test``."""
    if kind not in UNIQUE_PII_KINDS:
        raise ValueError(f"unique values are made for {', '.join(UNIQUE_PII_KINDS)} columns, "
                         f"not {kind!r}")
    out = []
    for v, pos in zip(values.tolist(), np.asarray(positions, dtype=np.int64).tolist()):
        number = str(pos + 1)
        if kind == "username":
            name = str(v).rstrip("0123456789") or "user"
            if max_length:
                name = name[:max(1, max_length - len(number))].rstrip("0123456789") or "u"
            out.append(name + number)
            continue
        local, _, domain = str(v).rpartition("@")
        local = local.rstrip("0123456789") or "user"
        domain = domain or "example.com"
        if max_length and len(local) + len(number) + 1 + len(domain) > max_length:
            if max_length - len(number) - 1 - len(domain) < 1:
                domain = "x.test"
            local = (local[:max(1, max_length - len(number) - 1 - len(domain))]
                     .rstrip("._0123456789") or "u")  # no digit right before the number
        out.append(f"{local}{number}@{domain}")
    return pd.Series(out, index=values.index, dtype=object)


def pii_frame(items: list[tuple[str, dict]], n: int, seed_for: Callable[[str], int],
              columns: Mapping[str, Any], positions: np.ndarray | None = None) -> dict[str, pd.Series]:
    """``n`` fresh values for each PII/free-text column of ``items`` (``[(column, spec), ...]``).
    Columns marked ``contextual`` at fit are generated together, one persona per row in the locale
    of the row's country (``columns[spec["country_col"]]``, the row's generated or given values);
    the others one by one with :func:`pii_series` under ``seed_for(column)``, as before. Columns
    whose spec is ``unique`` are made distinct by the rows' global ``positions``. A birth date
    with ``anchors`` (fit: :func:`..privacy.birth_dates.birth_anchors`) is drawn within what its
    row's age and birth year allow, and the row's birth month or day (its parts) are returned
    recomputed from it, to replace the learned ones."""
    from synthohive_spark.privacy.contextual import contextual_items, generate_contextual

    out: dict[str, pd.Series] = {}
    together = contextual_items(items)
    if together:
        country_col = next((s["country_col"] for _, s in together if s.get("country_col")), None)
        countries = None
        if country_col is not None and country_col in columns:
            countries = pd.Series(columns[country_col]).reset_index(drop=True)
        frame = generate_contextual(together, n, row_seed(seed_for(_CONTEXT), "pii-context"),
                                    countries)
        for col, spec in together:
            rng = np.random.default_rng(row_seed(seed_for(col), "pii-nulls/" + col))
            out[col] = _finish(frame[col], spec, rng, n)
    for col, spec in items:
        if col not in out:
            out[col] = pii_series(spec, col, n, seed_for(col))
        if spec.get("anchors"):  # a birth date drawn to agree with its row's age, birth year...
            from synthohive_spark.privacy.birth_dates import anchor_birth_dates

            rng = np.random.default_rng(row_seed(seed_for(col), "pii-anchors/" + col))
            out[col], parts = anchor_birth_dates(out[col], spec["anchors"], columns, rng,
                                                 spec.get("fmt"))
            out.update(parts)
        if spec.get("unique"):
            if positions is None:
                raise ValueError(f"column {col!r} is unique: its values need the rows' positions")
            made = out[col]
            keep = made.notna().to_numpy()
            if keep.any():
                made = made.astype(object).copy()
                width = int((spec.get("fmt") or {}).get("max_length") or 0)
                made[keep] = unique_by_position(made[keep], spec["kind"],
                                                np.asarray(positions)[keep], width).to_numpy()
                out[col] = made
    return out


_CONTEXT = "\x00contextual"  # the seed name of the columns generated together


def label_values(seed: int, stream: str, col: str, values: list[str], positions: np.ndarray,
                 null: np.ndarray) -> pd.Series:
    """Distinct labels at global row ``positions``: a seeded permutation of the real values, then
    the same values numbered (``Rock (2)``) once every value has been used (``null``: rows left
    empty)."""
    k = len(values)
    key = (seed, stream, col, k)
    perm = worker_cached("labels", key, lambda: np.random.default_rng(
        row_seed(seed, f"{stream}/labels/{col}")).permutation(k))
    arr = np.asarray(values, dtype=object)
    rounds = positions // k
    out = arr[perm[positions % k]]
    out = np.where(rounds > 0, [f"{v} ({r + 1})" for v, r in zip(out, rounds)], out) \
        if (rounds > 0).any() else out
    result = pd.Series(out, dtype=object)
    result[null] = None
    return result


def session_time_zone() -> str | None:
    """The active session's time zone (``spark.sql.session.timeZone``), on the driver."""
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    return None if spark is None else str(spark.conf.get("spark.sql.session.timeZone"))


def local_timestamp_columns(schema: Any) -> list[str]:
    """The TIMESTAMP (session time zone) columns of a Spark schema; TIMESTAMP_NTZ ones are not."""
    from pyspark.sql import types as T

    return [f.name for f in schema.fields if isinstance(f.dataType, T.TimestampType)]


def localize_timestamps(frame: pd.DataFrame, columns: list[str], time_zone: str | None) -> pd.DataFrame:
    """Generated wall-clock times of ``columns`` placed in the session's ``time_zone`` before
    Spark reads them: a time in a daylight-saving gap (02:30 on a spring-forward night, which no
    clock shows) moves forward by the gap, a repeated time (fall back) takes standard time, as
    Spark's own conversion does. Without this, Spark's conversion raises on the gap."""
    if not time_zone or not columns:
        return frame
    for c in columns:
        if c not in frame.columns:
            continue
        s = frame[c]
        if isinstance(s.dtype, pd.ArrowDtype) or s.dtype == object:
            s = pd.to_datetime(s.astype(object), errors="raise")
        if not pd.api.types.is_datetime64_any_dtype(s) or getattr(s.dt, "tz", None) is not None:
            continue
        try:
            frame[c] = s.dt.tz_localize(time_zone, ambiguous=False, nonexistent="shift_forward")
        except Exception as exc:  # an unknown zone name: say which column and zone
            raise ValueError(f"column {c!r}: cannot place generated times in the session time "
                             f"zone {time_zone!r}: {exc}") from exc
    return frame


def _assemble(plan: GenerationPlan, generated: pd.DataFrame, given: pd.DataFrame | None,
              keys: dict[str, pd.Series], seed: int, positions: np.ndarray) -> pd.DataFrame:
    """The output rows: keys, given (condition) columns, generated columns, then PII (rows at
    global ``positions``)."""
    out = {}
    labels = {c: (values, share) for c, values, share in plan.labels}
    for col in plan.columns:  # .array keeps extension (Arrow-backed, nullable) columns as they are
        if col in plan.pii_specs:
            continue  # below, once the row's other columns (its country) are known
        elif col in keys:
            out[col] = keys[col].array
        elif col in labels and not (given is not None and col in plan.condition_cols):
            values, share = labels[col]
            null = np.random.default_rng(row_seed(seed, "label-null/" + col)).random(len(positions)) < share
            out[col] = label_values(plan.seed, plan.stream, col, values, positions, null).array
        elif given is not None and (col in plan.condition_cols or col == plan.sequence_key):
            out[col] = given[col].array
        else:
            out[col] = generated[col].array
    pii = [(c, plan.pii_specs[c]) for c in plan.columns if c in plan.pii_specs]
    if pii:
        made = pii_frame(pii, len(generated), lambda _c: seed, out, positions)
        out.update({c: v.array for c, v in made.items()})
    return localize_timestamps(pd.DataFrame(out, columns=plan.columns), plan.local_timestamps,
                               plan.time_zone)


#: the most partitions one sample plans (each is a Spark task the driver tracks) and the most
#: rows (row positions, keys and seeds are exact integers in float64 up to 2**53)
MAX_PARTITIONS = 200_000
MAX_ROWS = 2**53


def estimated_bytes(schema: Any, rows: float) -> float:
    """A rough size of ``rows`` rows of ``schema`` in memory (8 bytes a number or time, 24 a
    string), for messages."""
    from pyspark.sql import types as T

    per_row = sum(24 if isinstance(f.dataType, (T.StringType, T.BinaryType)) else 8
                  for f in schema.fields)
    return float(rows) * max(per_row, 1)


def plan_partitions(what: str, rows: float, rows_per_partition: int,
                    num_partitions: int | None = None, schema: Any = None) -> int:
    """The partitions that generate ``rows`` rows (``num_partitions`` when given, else one per
    ``rows_per_partition``), refused before any job when they cannot be planned: more than
    MAX_ROWS rows or MAX_PARTITIONS partitions."""
    size = "" if schema is None else f" (about {estimated_bytes(schema, rows) / 2**40:,.1f} TiB)"
    if rows > MAX_ROWS:
        raise ValueError(f"{what}: {rows:,.0f} rows{size} cannot be generated: at most 2**53 "
                         f"({MAX_ROWS:,}) rows per table")
    parts = num_partitions or max(1, math.ceil(rows / rows_per_partition))
    if parts > MAX_PARTITIONS:
        raise ValueError(f"{what}: {rows:,.0f} rows{size} at rowsPerPartition="
                         f"{rows_per_partition:,} need {parts:,} partitions; at most "
                         f"{MAX_PARTITIONS:,} are planned (each is a Spark task the driver "
                         "tracks): raise rowsPerPartition or generate in several calls")
    return parts


#: columns that carry each input row's partition (of the input itself) and position in it
PART_COL, POS_COL = "__synthohive_part", "__synthohive_pos"


def with_row_positions(df: Any) -> Any:
    """``df`` plus each row's partition and position in that partition, computed by a projection
    directly over ``df``: Spark evaluates it with the partition index of ``df``'s own partitions,
    which a later union, join or ``exceptAll`` of the result does not renumber (the Python
    worker's ``TaskContext.partitionId()`` is the task's number: it does)."""
    from pyspark.sql import functions as F

    part = F.spark_partition_id()
    return df.select("*", part.alias(PART_COL),
                     (F.monotonically_increasing_id() - F.shiftleft(part.cast("long"), 33))
                     .alias(POS_COL))


def partition_offsets(indexed: Any) -> dict[int, tuple[int, int]]:
    """For a frame from :func:`with_row_positions`: partition -> (rows before it, its rows). One
    small aggregate of the same projection the generation reads, never the rows."""
    from pyspark.sql import functions as F

    return offsets_of({int(r[0]): int(r[1]) for r in
                       indexed.groupBy(PART_COL).agg(F.count(F.lit(1))).collect()})


def offsets_of(counts: dict[int, int]) -> dict[int, tuple[int, int]]:
    """Rows per partition -> partition -> (rows before it, its rows)."""
    out, running = {}, 0
    for p in sorted(counts):
        out[p] = (running, counts[p])
        running += counts[p]
    return out


def needs_positions(plan: GenerationPlan) -> bool:
    """Whether rows need their global position: keys, unique labels or unique PII."""
    return bool(plan.key_specs or plan.labels
                or any(s.get("unique") for s in plan.pii_specs.values()))


def global_positions(offsets: dict[int, tuple[int, int]], part: int, pos: np.ndarray) -> np.ndarray:
    """Global row positions of rows at ``pos`` in partition ``part``; an error, never duplicate
    keys, when the partitioning seen now is not the one counted (a nondeterministic input)."""
    before, rows = offsets.get(part, (None, 0))
    if before is None or (len(pos) and (int(pos.max()) >= rows or int(pos.min()) < 0)):
        raise RuntimeError(
            f"the input's partition {part} holds rows at positions {int(pos.min())}.."
            f"{int(pos.max())}, but {rows} rows were counted there before the generation: the "
            "input DataFrame is not deterministic (its rows or partitions changed between two "
            "evaluations); persist or checkpoint it before transform/sample")
    return before + pos


def partition_runs(batch: pd.DataFrame) -> Iterator[tuple[int, int, int]]:
    """(partition, first row, end row) of the runs of equal partition in ``batch``."""
    parts = batch[PART_COL].to_numpy(dtype=np.int64)
    if len(parts) == 0:
        return
    cuts = np.flatnonzero(np.diff(parts)) + 1
    bounds = [0, *cuts.tolist(), len(parts)]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        yield int(parts[lo]), lo, hi


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Rows of several Arrow batches as one frame whose columns each hold one chunk: pandas 3
    concatenates Arrow-backed strings as a chunked array, which Spark cannot take back from
    ``mapInPandas`` (``RecordBatch.from_arrays``: "Cannot convert ChunkedArray"); those columns
    become plain Python strings."""
    out = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    for c in out.columns:
        chunks = getattr(getattr(out[c].array, "_pa_array", None), "num_chunks", 1)
        if chunks > 1:
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out.reset_index(drop=True)


def aligned_pieces(batches: Iterator[pd.DataFrame], chunk_size: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """(partition, rows) pieces of the input rows (which carry ``PART_COL`` and ``POS_COL``): each
    piece holds the rows of one input partition whose positions fall in one aligned chunk
    ``[k * chunk_size, (k + 1) * chunk_size)``. The pieces, and so the seeds taken from a piece's
    partition and first position, are the same whatever Arrow batches the rows arrive in
    (``spark.sql.execution.arrow.maxRecordsPerBatch``). A piece is given as soon as its chunk's
    last position arrives, when the next partition or chunk starts, or at the end."""
    current: tuple[int, int] | None = None
    held: list[pd.DataFrame] = []
    for batch in batches:
        for part, lo, hi in partition_runs(batch):
            run = batch.iloc[lo:hi]
            chunk = run[POS_COL].to_numpy(dtype=np.int64) // chunk_size
            cuts = [0, *(np.flatnonzero(np.diff(chunk)) + 1).tolist(), len(run)]
            for a, b in zip(cuts[:-1], cuts[1:]):
                key = (part, int(chunk[a]))
                if held and key != current:
                    yield current[0], _concat(held)
                    held = []
                current = key
                held.append(run.iloc[a:b])
                if int(run[POS_COL].iloc[b - 1]) == (key[1] + 1) * chunk_size - 1:  # chunk complete
                    yield part, _concat(held)
                    held = []
    if held:
        yield current[0], _concat(held)


def partition_frame(spark: Any, n: int, parts: int) -> Any:
    """One row per output partition, exactly: (part, start, count) with ``n`` rows spread evenly
    (the first ``n % parts`` partitions hold one row more), for :func:`partition_chunks`.

    ``spark.range(parts, numPartitions=parts)`` puts row ``p`` alone in partition ``p``, so each
    partition's rows depend only on ``p`` (and the seed), never on the cluster.
    """
    from pyspark.sql import functions as F

    base, extra = divmod(n, parts)
    p = F.col("id")
    return spark.range(0, parts, 1, parts).select(
        p.alias("part"),
        (p * F.lit(base) + F.least(p, F.lit(extra))).alias("start"),
        (F.lit(base) + F.when(p < F.lit(extra), 1).otherwise(0)).cast("long").alias("count"))


def partition_chunks(batches: Iterator[pd.DataFrame],
                     chunk_size: int) -> Iterator[tuple[int, int, int, int]]:
    """The chunk loop over counted partitions (rows of :func:`partition_frame`): (partition, chunk
    number in it, global position of its first row, rows) of every chunk of at most
    ``chunk_size`` rows; a chunk's seed follows (partition, chunk number)."""
    for batch in batches:
        for part, start, count in zip(batch["part"], batch["start"], batch["count"]):
            done, chunk = 0, 0
            while done < count:
                m = int(min(chunk_size, count - done))
                yield int(part), chunk, int(start) + done, m
                done += m
                chunk += 1


def whole_groups(pieces: Iterator[tuple[int, pd.DataFrame]],
                 key: str) -> Iterator[tuple[int, pd.DataFrame]]:
    """``pieces`` with no run of equal ``key`` values split between two of them: a piece is held
    until the next one arrives; its last run then goes on in the next piece of the same partition,
    and a partition's last piece is given whole (its last run is not a sampling call of its own:
    a sequential model's call costs a step per row of its longest sequence). The pieces follow
    from the rows alone, so seeds taken from them are as deterministic as the pieces'."""
    held: tuple[int, pd.DataFrame] | None = None
    for part, piece in pieces:
        if held is not None:
            if held[0] == part:
                codes = pd.factorize(held[1][key])[0]  # a missing key (-1): a sequence of its own row
                other = np.flatnonzero(codes != codes[-1])
                start = len(codes) if codes[-1] < 0 else (int(other[-1]) + 1 if len(other) else 0)
                if start > 0:
                    yield part, held[1].iloc[:start].reset_index(drop=True)
                if start < len(codes):
                    piece = _concat([held[1].iloc[start:].reset_index(drop=True), piece])
            else:
                yield held[0], held[1].reset_index(drop=True)
        held = (part, piece)
    if held is not None:
        yield held[0], held[1].reset_index(drop=True)


def row_chunks(batches: Iterator[pd.DataFrame], chunk_size: int,
               offsets: dict[int, tuple[int, int]] | None, group_key: str | None = None
               ) -> Iterator[tuple[int, pd.DataFrame, np.ndarray, np.ndarray]]:
    """The chunk loop over input rows that carry their partition and position
    (:func:`with_row_positions`): (partition, piece, positions in the partition, global positions)
    of every :func:`aligned_pieces` piece (with ``group_key``, of :func:`whole_groups` of them);
    without ``offsets`` (:func:`partition_offsets`) the global positions are the positions in the
    partition."""
    pieces = aligned_pieces(batches, chunk_size)
    if group_key is not None:
        pieces = whole_groups(pieces, group_key)
    for part, piece in pieces:
        pos = piece[POS_COL].to_numpy(dtype=np.int64)
        positions = pos if offsets is None else global_positions(offsets, part, pos)
        yield part, piece, pos, positions


def sample_partitions(plan: GenerationPlan, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``mapInPandas`` body for ``sample`` over :func:`partition_frame`."""
    from synthohive_spark.ml._copies import without_close_rows

    set_task_threads()
    arrow = arrow_columns_ok()
    for part, chunk, start, m in partition_chunks(batches, plan.chunk_size):
        seed = row_seed(plan.seed, plan.stream, part, chunk)
        gen = without_close_rows(plan.copy_guard, generate_rows(plan, m, None, seed, arrow),
                                 lambda idx, s: generate_rows(plan, len(idx), None, s, arrow), seed)
        keys = {c: key_values(s, start, m, arrow) for c, s in plan.key_specs.items()}
        yield _assemble(plan, gen, None, keys, seed, np.arange(start, start + m, dtype=np.int64))


def transform_partitions(plan: GenerationPlan, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``mapInPandas`` body for ``transform``: one synthetic row per input row, conditioned on the
    input's ``condition_cols``. The input carries each row's partition and position in the input
    itself (:func:`with_row_positions`): seeds follow (seed, that partition, the piece's first
    position) and the twins' keys the row's global position, so a row is the same wherever Spark
    computes it (a union renumbers the tasks, not the input's own partitions)."""
    from synthohive_spark.ml._copies import subset, without_close_rows

    set_task_threads()
    arrow = arrow_columns_ok()
    offsets = plan.partition_offsets if needs_positions(plan) else None
    for part, piece, pos, positions in row_chunks(batches, plan.chunk_size, offsets,
                                                  plan.sequence_key):
        m = len(piece)
        context = piece[plan.condition_cols] if plan.condition_cols else None
        seed = row_seed(plan.seed, plan.stream + "/transform", part, int(pos[0]))
        groups = piece[plan.sequence_key] if plan.sequence_key else None
        gen = without_close_rows(
            plan.copy_guard, generate_rows(plan, m, context, seed, arrow, groups),
            lambda idx, s: generate_rows(plan, len(idx), subset(context, idx), s, arrow,
                                         subset(groups, idx)), seed, groups)
        keys = {c: key_values_at(s, positions, arrow) for c, s in plan.key_specs.items()}
        yield _assemble(plan, gen, piece, keys, seed, positions)

"""Reference tables (small lookups kept as they are) and copied / derived column rules."""
from __future__ import annotations

import logging
from typing import Any

from synthohive_spark._spark import qcol
from synthohive_spark.metadata.detect._profile import _full_frame, _PandasProfile, _Profile
from synthohive_spark.metadata.detect.columns import _ColumnGuess
from synthohive_spark.metadata.detect.keys import _Candidate
from synthohive_spark.metadata.schema import PII_KINDS, SDType, dtype_family

logger = logging.getLogger("synthohive_spark.metadata")


REFERENCE_MAX_ROWS = 1000
#: ... and at most this share of the rows of its largest child table (each of its rows is
#: referenced many times: a lookup, not an entity with a few children of its own)
REFERENCE_MAX_SHARE = 0.1
#: parents whose children are read to find copied and derived columns
RULE_SAMPLE_PARENTS = 20_000


def _reference_tables(profiles: dict[str, _Profile], guesses: dict[str, dict[str, _ColumnGuess]],
                      edges: list[_Candidate]) -> set[str]:
    """Small lookup tables without personal data that other tables point at and that point at no
    other table, with a label among their columns (genres, media types, species, a menu)."""
    out = set()
    for t, p in profiles.items():
        children = [e.child for e in edges if e.parent == t and e.child != t]
        if not children or any(e.child == t and e.parent != t for e in edges):
            continue
        if any(str(g.config["sdtype"]) in PII_KINDS for g in guesses[t].values()):
            continue
        keys = {e.parent_column for e in edges if e.parent == t}
        if not any(dtype_family(p.dtypes[c]) == "string" for c in p.dtypes if c not in keys):
            continue  # a lookup names things: a type, a label, a description
        biggest = max(profiles[c].n_rows for c in children)
        if p.n_rows <= REFERENCE_MAX_ROWS and p.n_rows <= REFERENCE_MAX_SHARE * biggest:
            out.add(t)
            logger.info("table %s (%d rows, referenced by %s) is a reference table: kept as it "
                        "is", t, p.n_rows, sorted(set(children)))
    return out


def _rule_frames(child: _Profile, fk: str, parent: _Profile, pk: str,
                 ccols: list[str], pcols: list[str]) -> tuple[Any, Any]:
    """The parent rows and ALL their children, for at most RULE_SAMPLE_PARENTS parents (a hash
    of the key picks them, the same on both sides)."""
    import pandas as pd

    complete = all(isinstance(q, _PandasProfile) or q.complete for q in (child, parent))
    if complete:
        cdf, pdf = _full_frame(child)[[fk, *ccols]], _full_frame(parent)[[pk, *pcols]]
        if len(pdf) > RULE_SAMPLE_PARENTS:
            keep = pdf[pk].astype(str).map(hash) % max(1, len(pdf) // RULE_SAMPLE_PARENTS) == 0
            pdf = pdf[keep]
            cdf = cdf[cdf[fk].isin(pdf[pk])]
        return cdf, pdf
    from pyspark.sql import functions as F

    buckets = max(1, parent.n_rows // RULE_SAMPLE_PARENTS)
    pick = lambda c: F.pmod(F.xxhash64(qcol(c).cast("string")), F.lit(buckets)) == 0  # noqa: E731
    cdf = child.df.where(pick(fk)).select(qcol(fk), *[qcol(c) for c in ccols]).toPandas()
    pdf = parent.df.where(pick(pk)).select(qcol(pk), *[qcol(c) for c in pcols]).toPandas()
    return cdf, pd.DataFrame(pdf)


def _detect_rules(profiles: dict[str, _Profile], out: dict[str, Any],
                  edges: list[_Candidate]) -> None:
    """Copied child columns and derived parent columns, written into ``out``'s column configs."""
    from synthohive_spark.relational.rules import find_copies, find_derived

    def plain(t: str) -> list[str]:
        cfg = out[t]
        keys = {cfg["primary_key"], *(f["column"] for f in cfg["foreign_keys"])}
        return [c for c, cc in cfg["columns"].items() if c not in keys
                and cc["sdtype"] not in (SDType.ID, SDType.TEXT)]

    def numbers(t: str) -> list[str]:  # numbers, and integers with few values (counts)
        cols = out[t]["columns"]
        return [c for c in plain(t) if cols[c]["sdtype"] == SDType.NUMERICAL
                or (cols[c]["sdtype"] == SDType.CATEGORICAL and cols[c].get("integer"))]

    def times(t: str) -> list[str]:  # datetimes Spark and pandas hold as such (not as text)
        cols = out[t]["columns"]
        return [c for c in plain(t) if cols[c]["sdtype"] == SDType.DATETIME
                and dtype_family(cols[c].get("dtype") or "") in ("date", "timestamp")]

    for e in edges:
        if e.child == e.parent:
            continue
        cp, pp = profiles[e.child], profiles[e.parent]
        ccols, pcols = plain(e.child), plain(e.parent)
        if not ccols and not pcols:
            continue
        children, parents = _rule_frames(cp, e.column, pp, e.parent_column, ccols, pcols)
        prefix = "__parent__"
        joined = children.merge(parents.rename(columns={c: prefix + c for c in pcols}),
                                left_on=e.column, right_on=e.parent_column, how="inner")
        ccfg = out[e.child]["columns"]
        for f in find_copies(joined, [c for c in ccols if "copy_of" not in ccfg[c]], pcols,
                             prefix):
            ccfg[f.column]["copy_of"] = {"foreign_key": e.column, "column": f.parent_column,
                                         "agreement": round(f.agreement, 4)}
            logger.info("%s.%s copies %s.%s (%.1f%% of rows agree)", e.child, f.column,
                        e.parent, f.parent_column, 100 * f.agreement)
        pcfg = out[e.parent]["columns"]
        dcols = [c for c in numbers(e.parent) + times(e.parent) if "derived" not in pcfg[c]
                 and "copy_of" not in pcfg[c]]
        if not dcols:
            continue
        decimals = {c: (0 if pcfg[c].get("integer") else pcfg[c].get("decimals")) for c in dcols}
        kids = numbers(e.child)[:8] + times(e.child)[:4]
        # a child column copied from this parent is its value again, not what it aggregates
        extremes = [c for c in kids if "copy_of" not in ccfg[c]]
        for f in find_derived(parents, e.parent_column, dcols, decimals, children, e.column,
                              kids, extremes):
            pcfg[f.column]["derived"] = {"aggregate": f.aggregate, "table": e.child,
                                         "foreign_key": e.column, "columns": list(f.columns)}
            if f.part is not None:
                pcfg[f.column]["derived"]["part"] = f.part
            if pcfg[f.column]["sdtype"] != SDType.DATETIME:
                pcfg[f.column]["sdtype"] = SDType.NUMERICAL  # a count with few values is one
            logger.info("%s.%s is the %s%s of its %s rows%s (holds on %.1f%%)", e.parent,
                        f.column, f"{f.part} of the " if f.part else "", f.aggregate, e.child,
                        f" ({' x '.join(f.columns)})" if f.columns else "", 100 * f.share)

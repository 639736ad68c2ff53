"""Key detection: primary keys from names and uniqueness, foreign keys from names, value
ranges, containment and how the child's values spread over the parent's keys."""
from __future__ import annotations

import logging
import math
import re
from typing import Any, Optional

from synthohive_spark.metadata.detect._profile import _Profile
from synthohive_spark.metadata.detect.columns import _ColumnGuess, _share, _tokens
from synthohive_spark.metadata.schema import PII_KINDS, SDType, dtype_family

logger = logging.getLogger("synthohive_spark.metadata")

_FK_SUFFIXES = {"id", "key", "code", "no", "num", "number", "fk", "ref", "sk", "uuid", "guid"}
_PK_STRONG_SUFFIXES = {"id", "uuid", "guid", "key", "pk"}
_PK_WEAK_SUFFIXES = {"code", "no", "num", "number", "sku"}
#: one-word key names that say nothing of the table they belong to
_GENERIC_KEY_NAMES = {"id", "key", "code", "no", "num", "number", "uuid", "guid", "pk", "name",
                      "value", "ref", "sk", "fk"}
_SELF_HINTS = {"parent", "manager", "reports", "supervisor", "boss", "mentor", "referrer",
               "referred", "predecessor", "successor", "superior", "lead", "head", "sponsor"}
#: Names of measures and counts: such a column is never a foreign key without a name hint.
_MEASURE_TOKENS = {"quantity", "qty", "count", "cnt", "amount", "amt", "total", "sum", "price",
                   "cost", "age", "year", "years", "month", "day", "days", "hour", "hours",
                   "minute", "minutes", "second", "seconds", "score", "rating", "rank", "level",
                   "size", "weight", "height", "width", "length", "duration", "priority",
                   "version", "seq", "sequence", "position", "pos", "percent", "pct", "rate",
                   "balance", "salary", "points", "units", "num", "number", "floor", "stock",
                   "nights", "visits"}
_NAMELESS_MIN_P = 0.01
_NAMELESS_MIN_COVERAGE = 0.8
_NAMELESS_MIN_DISTINCT = 3


def _singular(word: str) -> str:
    irregular = {"people": "person", "children": "child", "men": "man", "women": "woman",
                 "staff": "staff", "data": "data", "news": "news", "series": "series"}
    if word in irregular:
        return irregular[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if re.search(r"(ss|sh|ch|x|z)es$", word) or word.endswith("sses"):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 2:
        return word[:-1]
    return word


def _plural(word: str) -> str:
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if re.search(r"(s|sh|ch|x|z)$", word):
        return word + "es"
    return word + "s"


def _forms(table: str) -> set[tuple[str, ...]]:
    toks = _tokens(table)
    if not toks:
        return set()
    head, last = toks[:-1], toks[-1]
    return {tuple(toks), tuple(head + [_singular(last)]), tuple(head + [_plural(_singular(last))])}


def _ends_with(seq: tuple[str, ...], tail: tuple[str, ...]) -> bool:
    return 0 < len(tail) < len(seq) and seq[-len(tail):] == tail


def _fk_name_score(col: str, child: str, parent: str, parent_pk: str) -> int:
    """3: the name names the parent; 2: it names it with a role or prefix; 1: a self-reference
    word (``reports_to``, ``manager_id``) on the parent table itself; 0: no hint."""
    toks = tuple(_tokens(col))
    if not toks:
        return 0
    pk_toks = tuple(_tokens(parent_pk))
    pforms = _forms(parent)
    if toks == pk_toks and (len(pk_toks) > 1 or toks[0] not in _GENERIC_KEY_NAMES):
        return 3 if parent != child else 0
    entity = toks[:-1] if (len(toks) > 1 and toks[-1] in _FK_SUFFIXES) else toks
    last = toks[-1]
    if last not in _FK_SUFFIXES and not re.search(r"(ss|us|is)$", last) and _singular(last) != last:
        return 0  # a plural names a count of rows (orders.items), a reference names one row
    if parent == child:
        # a column named after its own table (flights.flight, a trip number) is an attribute;
        # a reference to another row of the table says so (parent_id, reports_to, manager_id)
        return 1 if any(t in _SELF_HINTS for t in toks) else 0
    if entity in pforms:
        return 3
    if any(_ends_with(entity, f) or _ends_with(f, entity) for f in pforms):
        return 2
    return 0


def _pk_name_score(col: str, table: str, position: int, family: Optional[str],
                   is_pattern_id: bool) -> int:
    toks = tuple(_tokens(col))
    if not toks:
        return 0
    if toks == ("id",):
        return 100
    last, entity = toks[-1], toks[:-1]
    forms = _forms(table)
    if toks in forms and position == 0:
        return 60  # the entity the table is named after, first: countries.country, teams.team
    if last in _PK_STRONG_SUFFIXES | _PK_WEAK_SUFFIXES and entity:
        if entity in forms:
            return 95
        if any(_ends_with(f, entity) or _ends_with(entity, f) for f in forms):
            return 85
    if last in _PK_STRONG_SUFFIXES:
        return 70
    if last in _PK_WEAK_SUFFIXES:
        return 50
    if is_pattern_id:
        return 40
    if position == 0 and family in ("integer", "code"):
        return 30  # the first column, unique: an integer id or a natural code (N10156, UA)
    return 0


_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./:-]{0,23}$")


def _is_code(values: Any) -> bool:
    """Whether string values look like codes (``UA``, ``N10156``, ``2015-000002``, ``NL``): short,
    no blanks, and at least one holding a digit or in capitals, so that plain words do not."""
    vals = [str(v) for v in values.dropna().tolist()[:5000]]
    if not vals or not all(_CODE_RE.match(v) for v in vals):
        return False
    return _share(vals, lambda v: any(ch.isdigit() for ch in v) or v.isupper()) >= 0.8


def _is_measure_name(toks: list[str]) -> bool:
    return any(t in _MEASURE_TOKENS for t in toks) or (bool(toks) and toks[0] in {"n", "num"})


class _Candidate:
    def __init__(self, child: str, column: str, parent: str, parent_column: str,
                 name_score: int) -> None:
        self.child, self.column = child, column
        self.parent, self.parent_column = parent, parent_column
        self.name_score = name_score
        self.p_spread = 0.0
        self.coverage = 0.0
        self.distinct = 0

    def key(self) -> tuple:
        return (self.name_score, self.p_spread, self.coverage)


def _spread_probability(d: int, span: int, k: int) -> float:
    """Chance that ``d`` keys drawn at random from ``k`` parent keys fall within a window of
    ``span`` consecutive keys (the window the child's values actually occupy)."""
    if d <= 1 or k <= 1:
        return 1.0
    w = (span - 1) / (k - 1)
    if w >= 1:
        return 1.0
    if w <= 0:
        return 0.0
    log_p = (d - 1) * math.log(w) + math.log(max(d - (d - 1) * w, 1e-300))
    return math.exp(log_p) if log_p > -700 else 0.0


def _detect_primary_key(p: _Profile, guesses: dict[str, _ColumnGuess]) -> Optional[str]:
    scored = []
    for pos, column in enumerate(p.dtypes):
        fam = dtype_family(p.dtypes[column])
        if fam not in ("integer", "string"):
            continue
        cfg = guesses[column].config
        if cfg["sdtype"] in (SDType.TEXT, SDType.BOOLEAN, SDType.DATETIME) or \
                cfg["sdtype"].value in PII_KINDS:
            continue
        s = p.sample[column]
        if p.nulls[column] > 0 or s.isna().any() or not s.is_unique or len(s) == 0:
            continue
        if fam == "string" and _is_code(s):
            fam = "code"
        score = _pk_name_score(column, p.name, pos, fam,
                               is_pattern_id=cfg["sdtype"] == SDType.ID and cfg.get("regex"))
        if score > 0:
            scored.append((-score, pos, column))
    for _, _, column in sorted(scored):
        if p.n_distinct([column])[column] == p.n_rows:
            return column
    return None


def _detect_foreign_keys(profiles: dict[str, _Profile], pks: dict[str, Optional[str]],
                         guesses: dict[str, dict[str, _ColumnGuess]]) -> list[_Candidate]:
    chosen: list[_Candidate] = []
    for child, cp in profiles.items():
        child_pk = pks[child]
        cand_by_col: dict[str, list[_Candidate]] = {}
        for column in cp.dtypes:
            fam = dtype_family(cp.dtypes[column])
            if fam not in ("integer", "string") or column not in cp.mins:
                continue
            if guesses[child][column].config["sdtype"] in (SDType.TEXT,):
                continue
            for parent, pp in profiles.items():
                ppk = pks[parent]
                if ppk is None or (parent == child and column == ppk):
                    continue
                if dtype_family(pp.dtypes[ppk]) != fam or ppk not in pp.mins:
                    continue
                try:
                    inside = pp.mins[ppk] <= cp.mins[column] and cp.maxs[column] <= pp.maxs[ppk]
                except TypeError:
                    inside = False
                if not inside:
                    continue
                score = _fk_name_score(column, child, parent, ppk)
                if column == child_pk and (score < 3 or parent == child):
                    continue  # a table's own key is a foreign key only when its name says so
                cand_by_col.setdefault(column, []).append(
                    _Candidate(child, column, parent, ppk, score))
        if not cand_by_col:
            continue
        distinct = cp.n_distinct(list(cand_by_col))
        for column, cands in cand_by_col.items():
            d = distinct[column]
            non_null = cp.n_rows - cp.nulls[column]
            unique = d == non_null
            measure = _is_measure_name(_tokens(column))
            for c in cands:
                pp = profiles[c.parent]
                k = pp.n_rows
                lo = pp.rank(c.parent_column, cp.mins[column], inclusive=False)
                hi = pp.rank(c.parent_column, cp.maxs[column], inclusive=True)
                c.distinct = d
                c.coverage = d / k if k else 0.0
                c.p_spread = _spread_probability(d, max(hi - lo, d), k)
            pick = _pick_foreign_key(cp, column, cands, unique, measure, profiles)
            if pick is not None:
                chosen.append(pick)
                logger.info("detected foreign key %s.%s -> %s.%s (name score %d, spread p=%.3g, "
                            "coverage %.2f)", child, column, pick.parent, pick.parent_column,
                            pick.name_score, pick.p_spread, pick.coverage)
    return _break_cycles(chosen)


def _pick_foreign_key(cp: _Profile, column: str, cands: list[_Candidate], unique: bool,
                      measure: bool, profiles: dict[str, _Profile]) -> Optional[_Candidate]:
    def contained(c: _Candidate) -> bool:
        missing = cp.missing_in(column, profiles[c.parent], c.parent_column)
        if missing and c.name_score >= 2:
            logger.info("%s.%s is named like a foreign key to %s.%s but %d of its values have "
                        "no parent; not a foreign key", cp.name, column, c.parent,
                        c.parent_column, missing)
        return missing == 0

    named = sorted((c for c in cands if c.name_score >= 2), key=lambda c: c.key(), reverse=True)
    for c in named:
        if contained(c):
            return c
    if not measure and not unique and not _names_a_table(column, profiles):
        nameless = [c for c in cands if c.name_score <= 1 and c.parent != c.child
                    and c.distinct >= _NAMELESS_MIN_DISTINCT
                    and (c.p_spread >= _NAMELESS_MIN_P or c.coverage >= _NAMELESS_MIN_COVERAGE)]
        nameless.sort(key=lambda c: (c.p_spread, c.coverage, c.name_score), reverse=True)
        for c in nameless:
            if contained(c):
                return c
    selfish = [c for c in cands if c.name_score == 1]
    for c in selfish:
        if contained(c):
            return c
    return None


def _names_a_table(column: str, tables: Any) -> bool:
    """Whether ``column`` is named after a table of the database (its own included), with or
    without a key suffix (``episode``, ``episode_no``): it refers to that table's rows (or is
    the row's own number, ``flights.flight``), so a nameless match of its values with another
    table's key is chance (episode numbers 1-10 against ten series numbered 1-10)."""
    toks = tuple(_tokens(column))
    entity = toks[:-1] if (len(toks) > 1 and toks[-1] in _FK_SUFFIXES) else toks
    return bool(entity) and any(entity in _forms(t) for t in tables)


def _break_cycles(chosen: list[_Candidate]) -> list[_Candidate]:
    from synthohive_spark.relational.graph import strongly_connected_components

    edges = list(chosen)
    while True:
        graph: dict[str, list[str]] = {}
        for c in edges:
            graph.setdefault(c.child, [])
            graph.setdefault(c.parent, [])
            if c.parent != c.child:
                graph[c.child].append(c.parent)
        cycles = [comp for comp in strongly_connected_components(graph) if len(comp) > 1]
        if not cycles:
            return edges
        comp = set(cycles[0])
        inside = [c for c in edges if c.child in comp and c.parent in comp and c.child != c.parent]
        weakest = min(inside, key=lambda c: c.key())
        logger.warning("detected foreign keys form a cycle among %s; dropping the weakest one, "
                       "%s.%s -> %s.%s", sorted(comp), weakest.child, weakest.column,
                       weakest.parent, weakest.parent_column)
        edges.remove(weakest)


def _depths(tables: list[str], edges: list[_Candidate]) -> dict[str, int]:
    parents: dict[str, set[str]] = {t: set() for t in tables}
    for c in edges:
        if c.parent != c.child:
            parents[c.child].add(c.parent)
    depth: dict[str, int] = {}

    def visit(t: str) -> int:
        if t not in depth:
            depth[t] = 0  # cycles were broken; guards against recursion anyway
            depth[t] = 1 + max((visit(p) for p in parents[t]), default=-1)
        return depth[t]

    for t in tables:
        visit(t)
    return depth

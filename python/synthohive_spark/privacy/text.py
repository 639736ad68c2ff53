"""Free text is never learned as values: real sentences would be copied word for word by any
model that treats them as categories. Synthetic tables get fresh text with the real column's
length profile (word counts and null share) made of the column's common words: those that at
least :data:`TEXT_MIN_ROWS` rows (and one in a thousand) of the training sample hold, chained by
the word pairs that as many rows hold. A rare word (a name, a number, an address in a note) never
enters; a column without common words (or under differential privacy: ``vocabulary=False``) gets
filler words of its locale."""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from synthohive_spark.privacy.strategies import check_locale

_POOL = 4096

#: a word, or a pair of consecutive words, enters a free-text column's vocabulary when at least
#: this many rows of the training sample hold it, and at least TEXT_MIN_ROW_SHARE of them
TEXT_MIN_ROWS = 5
TEXT_MIN_ROW_SHARE = 0.001
#: the most common words (and word pairs) a vocabulary keeps
TEXT_MAX_WORDS = 2000
TEXT_MAX_PAIRS = 20000
#: the texts a vocabulary is counted on: the first of the (random) training sample, up to this
#: many characters in all (a couple of seconds of counting)
TEXT_VOCABULARY_CHARS = 2_000_000
#: a word: letters of any script, joined by an apostrophe or a hyphen (no digits)
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*")
#: letters glued to these (before or after) belong to an e-mail address, a handle (@name), a
#: path or a URL (https://t.co/x), a file or host name, a code (A_1): left out of the vocabulary
_GLUED_BEFORE = frozenset("@/\\._:=&%+#~")
_GLUED_AFTER = frozenset("@/\\_=&%+~")


def text_format(values: pd.Series, vocabulary: bool = True) -> dict[str, Any]:
    """A JSON-able profile of a free-text column: word-count quantiles, maximum length, null
    share and (``vocabulary``) its common words and word pairs (:data:`TEXT_MIN_ROWS`, counted on
    the first texts, :data:`TEXT_VOCABULARY_CHARS` characters), each with the number of rows
    that hold it. Holds no rare word and no whole value."""
    total = len(values)
    present = values.dropna().astype(str)
    words = present.str.split().str.len().fillna(0).to_numpy(dtype=float)
    lengths = present.str.len()
    qs = np.linspace(0, 1, 11)
    out: dict[str, Any] = {
        "null_share": float(1 - len(present) / total) if total else 0.0,
        "word_quantiles": [float(q) for q in np.quantile(words, qs)] if len(words) else [1.0] * 11,
        "max_length": int(lengths.max()) if len(present) else 0,
    }
    if vocabulary:
        upto = int(np.searchsorted(lengths.cumsum().to_numpy(), TEXT_VOCABULARY_CHARS))
        out.update(_vocabulary(present.iloc[:upto + 1].tolist()))
    return out


def _vocabulary(texts: list[str]) -> dict[str, Any]:
    """The common words of ``texts`` (see :func:`text_format`): ``words`` (as written inside a
    sentence: lower case unless mostly capitalised there, a name or "I"), ``word_rows``,
    ``starts`` ([word, rows] of the words that begin texts) and ``pairs`` ([first, second, rows]);
    a word mostly capitalised inside sentences keeps its most frequent such form (UnitedHealth);
    empty when no word is common."""
    need = max(TEXT_MIN_ROWS, math.ceil(TEXT_MIN_ROW_SHARE * len(texts)))
    rows: Counter = Counter()
    inner: Counter = Counter()      # occurrences not at a sentence's start
    upper: Counter = Counter()      # ... of which capitalised
    forms: Counter = Counter()      # ... as written
    tokenised = []
    for text in texts:
        toks = []
        for m in _WORD.finditer(text):
            a, b = m.start(), m.end()
            if ((a and text[a - 1] in _GLUED_BEFORE) or text[b:b + 1] in _GLUED_AFTER
                    or text[b:b + 3] == "://"):
                toks.append(None)  # part of an address, a handle, a path or a URL: never a
                continue           # word, nor the neighbour that makes a pair
            w = m.group(0)
            low = w.lower()
            j = a - 1
            while j >= 0 and text[j].isspace():
                j -= 1
            if j >= 0 and text[j] not in ".!?":   # inside a sentence
                inner[low] += 1
                upper[low] += w[:1].isupper()
                forms[low, w] += 1
            toks.append(low)
        tokenised.append(toks)
        rows.update(set(toks) - {None})
    common = sorted((w for w, c in rows.items() if c >= need), key=lambda w: (-rows[w], w))
    common = common[:TEXT_MAX_WORDS]
    if not common:
        return {}
    index = {w: i for i, w in enumerate(common)}
    pair_rows: Counter = Counter()
    start_rows: Counter = Counter()
    for toks in tokenised:
        ids = [index.get(w, -1) for w in toks]
        if ids and ids[0] >= 0:
            start_rows[ids[0]] += 1
        pair_rows.update({(a, b) for a, b in zip(ids, ids[1:]) if a >= 0 and b >= 0})
    pairs = sorted(((a, b, c) for (a, b), c in pair_rows.items() if c >= need),
                   key=lambda p: (-p[2], p[0], p[1]))[:TEXT_MAX_PAIRS]
    written: dict[str, tuple[int, str]] = {}   # the most frequent capitalised form
    for (low, w), c in forms.items():
        if w[:1].isupper() and (c, w) > written.get(low, (0, "")):
            written[low] = (c, w)
    shown = [written[w][1] if inner[w] and upper[w] >= 0.9 * inner[w] else w for w in common]
    shown = ["I" if w == "i" else w for w in shown]
    return {"words": shown, "word_rows": [int(rows[w]) for w in common],
            "starts": sorted([[i, int(c)] for i, c in start_rows.items() if c >= need]),
            "pairs": sorted([[int(a), int(b), int(c)] for a, b, c in pairs])}


def _chain(fmt: dict[str, Any], counts: np.ndarray, rng: np.random.Generator) -> list[str]:
    """Texts of ``counts`` words from a vocabulary (:func:`_vocabulary`): the first word drawn
    among the words that begin texts (by rows), each next one among the words that follow the
    previous one (by rows), or among all words where none does."""
    words = np.asarray(fmt["words"], dtype=object)
    n_words = len(words)
    uni = np.cumsum(np.asarray(fmt["word_rows"], dtype=float))
    starts = np.asarray(fmt.get("starts") or [], dtype=np.int64).reshape(-1, 2)
    pairs = np.asarray(fmt.get("pairs") or [], dtype=np.int64).reshape(-1, 3)
    pair_cum = np.cumsum(pairs[:, 2].astype(float))
    first = np.searchsorted(pairs[:, 0], np.arange(n_words + 1))  # pairs sorted by first word

    def draw(cum: np.ndarray, k: int) -> np.ndarray:
        return np.minimum(np.searchsorted(cum, rng.random(k) * cum[-1], "right"), len(cum) - 1)

    n = len(counts)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    ids = np.empty(int(bounds[-1]), dtype=np.int64)
    prev = (starts[draw(np.cumsum(starts[:, 1].astype(float)), n), 0] if len(starts)
            else draw(uni, n))
    ids[bounds[:-1]] = prev
    for t in range(1, int(counts.max()) if n else 0):
        act = np.flatnonzero(counts > t)
        p = prev[act]
        lo, hi = first[p], first[p + 1]
        nxt = draw(uni, len(act))
        has = np.flatnonzero(hi > lo)
        if len(has):
            base = np.where(lo[has] > 0, pair_cum[np.maximum(lo[has] - 1, 0)], 0.0)
            u = base + rng.random(len(has)) * (pair_cum[hi[has] - 1] - base)
            nxt[has] = pairs[np.minimum(np.searchsorted(pair_cum, u, "right"), hi[has] - 1), 1]
        ids[bounds[:-1][act] + t] = nxt
        prev[act] = nxt
    picks = words[ids]
    return [" ".join(picks[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def _word_counts(qs: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` word counts drawn between the stored deciles ``qs`` (an inverse CDF), at least 1."""
    return np.maximum(1, np.rint(np.interp(rng.random(n), np.linspace(0, 1, len(qs)), qs))
                      ).astype(int)


def generate_text(n: int, seed: int, locale: str = "en_US",
                  fmt: dict[str, Any] | None = None) -> pd.Series:
    """``n`` texts whose word counts follow ``fmt`` (from :func:`text_format`), of its common
    words (filler words of ``locale`` when it has none).
    Deterministic for (n, seed, locale, fmt); no nulls (the caller applies ``null_share``)."""
    if n < 0:
        raise ValueError(f"generate_text: n must be >= 0, got {n}.")
    check_locale(locale, "generate_text: ")
    fmt = dict(fmt or {})
    if n == 0:
        return pd.Series([], dtype=object)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, 7919])
    qs = np.asarray(fmt.get("word_quantiles") or [1.0] * 11, dtype=float)
    if fmt.get("words"):  # the column's common words, chained by its common pairs
        counts = _word_counts(qs, rng, n)
        out = pd.Series(_chain(fmt, counts, rng), dtype=object)
        max_len = int(fmt.get("max_length") or 0)
        if max_len > 1:  # the whole words that fit, and the full stop
            out = out.map(lambda t: t if len(t) < max_len else
                          (t[:max_len].rsplit(" ", 1)[0] if " " in t[:max_len] else t)[:max_len - 1])
        return out.str[:1].str.upper() + out.str[1:] + "."   # "Paris" stays capitalised
    from faker import Faker  # filler words of the locale

    fk = Faker(locale)
    fk.seed_instance(int(rng.integers(0, 2**63 - 1)))
    pool = np.array(fk.words(nb=min(_POOL, max(64, n)), unique=False), dtype=object)
    counts = _word_counts(qs, rng, n)
    picks = pool[rng.integers(0, len(pool), counts.sum())]
    bounds = np.concatenate([[0], np.cumsum(counts)])
    texts = [" ".join(picks[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    out = pd.Series(texts, dtype=object).str.capitalize() + "."
    max_len = int(fmt.get("max_length") or 0)
    if max_len > 0:
        out = out.str.slice(0, max_len)
    return out

"""Free text is never learned: real sentences would be copied word for word by any model that
treats them as categories. Synthetic tables get fresh filler text with the real column's length
profile (word counts and null share), and nothing of the real words."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from synthohive_spark.privacy.strategies import check_locale

_POOL = 4096


def text_format(values: pd.Series) -> dict[str, Any]:
    """A JSON-able length profile of a free-text column: word-count quantiles, maximum length,
    null share. Holds no real value."""
    total = len(values)
    present = values.dropna().astype(str)
    words = present.str.split().str.len().fillna(0).to_numpy(dtype=float)
    qs = np.linspace(0, 1, 11)
    return {
        "null_share": float(1 - len(present) / total) if total else 0.0,
        "word_quantiles": [float(q) for q in np.quantile(words, qs)] if len(words) else [1.0] * 11,
        "max_length": int(present.str.len().max()) if len(present) else 0,
    }


def generate_text(n: int, seed: int, locale: str = "en_US",
                  fmt: dict[str, Any] | None = None) -> pd.Series:
    """``n`` filler texts whose word counts follow ``fmt`` (from :func:`text_format`).
    Deterministic for (n, seed, locale, fmt); no nulls (the caller applies ``null_share``)."""
    if n < 0:
        raise ValueError(f"generate_text: n must be >= 0, got {n}.")
    check_locale(locale, "generate_text: ")
    fmt = dict(fmt or {})
    if n == 0:
        return pd.Series([], dtype=object)
    from faker import Faker

    rng = np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, 7919])
    fk = Faker(locale)
    fk.seed_instance(int(rng.integers(0, 2**63 - 1)))
    pool = np.array(fk.words(nb=min(_POOL, max(64, n)), unique=False), dtype=object)
    qs = np.asarray(fmt.get("word_quantiles") or [1.0] * 11, dtype=float)
    # inverse-CDF draw of word counts between the stored deciles
    counts = np.maximum(1, np.rint(np.interp(rng.random(n), np.linspace(0, 1, len(qs)), qs))).astype(int)
    picks = pool[rng.integers(0, len(pool), counts.sum())]
    bounds = np.concatenate([[0], np.cumsum(counts)])
    texts = [" ".join(picks[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    out = pd.Series(texts, dtype=object).str.capitalize() + "."
    max_len = int(fmt.get("max_length") or 0)
    if max_len > 0:
        out = out.str.slice(0, max_len)
    return out

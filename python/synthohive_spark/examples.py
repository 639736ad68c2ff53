"""A small retail database to learn from: customers, products, employees, orders, order items.

``retail_tables(seed, scale)`` builds it as pandas DataFrames, ``retail_spark(spark, seed, scale)``
as Spark DataFrames, and ``retail_metadata()`` returns its true metadata. The same seed gives the
same rows. Parent attributes drive child counts (corporate customers order more, web orders have
more items) and the surrogate ids of every table start at 1, so they overlap on purpose.
"""
from __future__ import annotations

import datetime as _dt
import logging
from typing import Any

import numpy as np
import pandas as pd

from synthohive_spark.metadata import Metadata

logger = logging.getLogger("synthohive_spark.examples")

__all__ = ["retail_tables", "retail_spark", "retail_metadata", "RETAIL_SCHEMAS"]

SEGMENTS = ("consumer", "corporate", "home_office")
SEGMENT_P = (0.7, 0.2, 0.1)
ORDERS_PER_SEGMENT = {"consumer": 3.0, "corporate": 7.0, "home_office": 4.5}
TIERS = ("bronze", "silver", "gold", "platinum")
CATEGORIES = ("electronics", "home", "clothing", "sports", "books", "toys")
CATEGORY_P = (0.35, 0.25, 0.2, 0.1, 0.07, 0.03)
CATEGORY_PRICE = {"electronics": 5.3, "home": 4.0, "clothing": 3.5, "sports": 3.8, "books": 2.7,
                  "toys": 3.0}
DEPARTMENTS = ("sales", "support", "engineering", "marketing", "finance")
DEPARTMENT_P = (0.3, 0.25, 0.2, 0.15, 0.1)
CHANNELS = ("web", "mobile", "store")
ITEMS_PER_CHANNEL = {"web": 2.0, "mobile": 1.2, "store": 1.6}
STATUSES = ("delivered", "shipped", "processing", "cancelled", "returned")
STATUS_P = (0.75, 0.1, 0.05, 0.06, 0.04)
_ADJECTIVES = ("Ergonomic", "Rustic", "Sleek", "Compact", "Deluxe", "Classic", "Smart",
               "Portable", "Vintage", "Modern", "Premium", "Eco", "Heavy-Duty", "Mini", "Ultra")
_MATERIALS = ("Steel", "Wooden", "Cotton", "Leather", "Plastic", "Bamboo", "Glass", "Wool",
              "Granite", "Copper", "Rubber", "Silk")
_NOUNS = ("Chair", "Lamp", "Backpack", "Headphones", "Kettle", "Jacket", "Watch", "Blender",
          "Notebook", "Ball", "Puzzle", "Speaker", "Mug", "Tent", "Keyboard", "Shoes", "Novel",
          "Camera", "Drone", "Scarf")

#: Spark DDL of every table, in column order.
RETAIL_SCHEMAS: dict[str, str] = {
    "customers": "customer_id bigint, first_name string, last_name string, email string, "
                 "phone string, address string, city string, signup_date date, segment string, "
                 "loyalty_tier string, birth_year bigint, lifetime_value double",
    "products": "product_id string, name string, category string, price double, "
                "in_stock boolean",
    "employees": "employee_id bigint, full_name string, email string, hire_date date, "
                 "department string, salary double, reports_to bigint",
    "orders": "order_id bigint, customer_id bigint, account_manager bigint, order_ts timestamp, "
              "channel string, status string, shipping_cost double, notes string",
    "order_items": "item_id bigint, order_id bigint, product_id string, quantity bigint, "
                   "unit_price double, discount double",
}


def _size(base: int, scale: float, minimum: int) -> int:
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    return max(minimum, int(round(base * scale)))


def _faker(seed: int):
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    return fake


def _dates(rng: np.random.Generator, n: int, start: _dt.date, end: _dt.date) -> list[_dt.date]:
    days = rng.integers(0, (end - start).days + 1, size=n)
    return [start + _dt.timedelta(days=int(d)) for d in days]


def retail_tables(seed: int = 0, scale: float = 1.0) -> dict[str, pd.DataFrame]:
    """The retail database as pandas DataFrames (same seed, same rows).

    Sizes at ``scale=1``: about 1000 customers, 200 products, 50 employees, 4000 orders and
    10000 order items.
    """
    rng = np.random.default_rng(seed)
    fake = _faker(seed)

    # ---------------------------------------------------------------- customers
    n_c = _size(1000, scale, 10)
    first = [fake.first_name() for _ in range(n_c)]
    last = [fake.last_name() for _ in range(n_c)]
    domains = ("example.com", "mail.com", "inbox.org", "post.net", "webmail.io")
    email = [f"{f}.{l}{int(k)}@{domains[int(d)]}".lower().replace(" ", "").replace("'", "")
             for f, l, k, d in zip(first, last, rng.integers(1, 999, n_c),
                                   rng.integers(0, len(domains), n_c))]
    segment = rng.choice(SEGMENTS, size=n_c, p=SEGMENT_P)
    tier_p = {"consumer": (0.6, 0.25, 0.12, 0.03), "corporate": (0.2, 0.3, 0.3, 0.2),
              "home_office": (0.4, 0.35, 0.2, 0.05)}
    tier = np.array([rng.choice(TIERS, p=tier_p[s]) for s in segment])
    birth_year = pd.array(rng.integers(1945, 2006, n_c), dtype="Int64")
    birth_year[rng.random(n_c) < 0.08] = pd.NA
    ltv_mu = np.where(segment == "corporate", 7.5, np.where(segment == "home_office", 6.5, 6.0))
    customers = pd.DataFrame({
        "customer_id": np.arange(1, n_c + 1, dtype="int64"),
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": [fake.phone_number() for _ in range(n_c)],
        "address": [fake.street_address() for _ in range(n_c)],
        "city": [fake.city() for _ in range(n_c)],
        "signup_date": _dates(rng, n_c, _dt.date(2019, 1, 1), _dt.date(2024, 6, 30)),
        "segment": segment,
        "loyalty_tier": tier,
        "birth_year": birth_year,
        "lifetime_value": np.round(rng.lognormal(ltv_mu, 0.8), 2),
    })

    # ---------------------------------------------------------------- products
    n_p = _size(200, scale, 5)
    category = rng.choice(CATEGORIES, size=n_p, p=CATEGORY_P)
    names = [f"{_ADJECTIVES[a]} {_MATERIALS[m]} {_NOUNS[o]}" for a, m, o in zip(
        rng.integers(0, len(_ADJECTIVES), n_p), rng.integers(0, len(_MATERIALS), n_p),
        rng.integers(0, len(_NOUNS), n_p))]
    price = np.round([rng.lognormal(CATEGORY_PRICE[c], 0.5) for c in category], 2)
    products = pd.DataFrame({
        "product_id": [f"PRD-{i:05d}" for i in range(1, n_p + 1)],
        "name": names,
        "category": category,
        "price": np.maximum(price, 0.99),
        "in_stock": rng.random(n_p) < 0.85,
    })

    # ---------------------------------------------------------------- employees
    n_e = _size(50, scale, 8)
    department = rng.choice(DEPARTMENTS, size=n_e, p=DEPARTMENT_P)
    sales_needed = max(3, n_e // 10)
    if (department == "sales").sum() < sales_needed:  # keep enough account managers
        idx = rng.choice(np.flatnonzero(department != "sales"),
                         size=sales_needed - int((department == "sales").sum()), replace=False)
        department[idx] = "sales"
    n_mgr = max(2, n_e // 8)
    reports_to = pd.array([pd.NA] * n_e, dtype="Int64")
    for i in range(2, n_e + 1):  # employee 1 runs the company; ids below n_mgr are managers
        reports_to[i - 1] = 1 if i <= n_mgr else int(rng.integers(2, n_mgr + 1))
    salary_base = {"sales": 11.0, "support": 10.8, "engineering": 11.6, "marketing": 11.1,
                   "finance": 11.3}
    full_names = [f"{fake.first_name()} {fake.last_name()}" for _ in range(n_e)]
    employees = pd.DataFrame({
        "employee_id": np.arange(1, n_e + 1, dtype="int64"),
        "full_name": full_names,
        "email": [n.lower().replace(" ", ".").replace("'", "") + "@retail-corp.com"
                  for n in full_names],
        "hire_date": _dates(rng, n_e, _dt.date(2010, 1, 1), _dt.date(2024, 1, 1)),
        "department": department,
        "salary": np.round([rng.lognormal(salary_base[d], 0.25) for d in department], 2),
        "reports_to": reports_to,
    })

    # ---------------------------------------------------------------- orders
    sales_ids = employees.loc[employees["department"] == "sales", "employee_id"].to_numpy()
    manager_of = rng.choice(sales_ids, size=n_c)
    n_orders = rng.poisson([ORDERS_PER_SEGMENT[s] for s in segment])
    cust_of_order = np.repeat(customers["customer_id"].to_numpy(), n_orders)
    cust_idx = cust_of_order - 1
    signup = pd.to_datetime(customers["signup_date"]).to_numpy()[cust_idx]
    end = np.datetime64("2024-12-31T23:59:59")
    span = (end - signup).astype("timedelta64[s]").astype("int64")
    order_ts = signup + (rng.random(len(cust_idx)) * span).astype("timedelta64[s]")
    seg_of_order = segment[cust_idx]
    channel_p = {"consumer": (0.6, 0.3, 0.1), "corporate": (0.45, 0.15, 0.4),
                 "home_office": (0.55, 0.35, 0.1)}
    channel = np.array([rng.choice(CHANNELS, p=channel_p[s]) for s in seg_of_order])
    n_o = len(cust_idx)
    status = rng.choice(STATUSES, size=n_o, p=STATUS_P)
    shipping = np.round(rng.gamma(2.0, 3.5, n_o) + 2.99, 2)
    shipping_cost = np.where((channel == "store") | (rng.random(n_o) < 0.05), np.nan, shipping)
    notes = [fake.sentence(nb_words=int(k)) if r < 0.3 else None
             for k, r in zip(rng.integers(5, 14, n_o), rng.random(n_o))]
    orders = pd.DataFrame({
        "customer_id": cust_of_order.astype("int64"),
        "account_manager": manager_of[cust_idx].astype("int64"),
        "order_ts": pd.to_datetime(order_ts).floor("s"),
        "channel": channel,
        "status": status,
        "shipping_cost": shipping_cost,
        "notes": notes,
    }).sort_values(["order_ts", "customer_id"], kind="stable").reset_index(drop=True)
    orders.insert(0, "order_id", np.arange(1, len(orders) + 1, dtype="int64"))

    # ---------------------------------------------------------------- order items
    n_items = 1 + rng.poisson([ITEMS_PER_CHANNEL[c] for c in orders["channel"]])
    item_order = np.repeat(orders["order_id"].to_numpy(), n_items)
    popularity = 1.0 / np.arange(1, n_p + 1) ** 1.1  # Zipf over a random product ranking
    popularity /= popularity.sum()
    ranking = rng.permutation(n_p)
    prod_idx = ranking[rng.choice(n_p, size=len(item_order), p=popularity)]
    n_i = len(item_order)
    quantity = np.minimum(rng.geometric(0.45, n_i), 10).astype("int64")
    unit_price = np.round(products["price"].to_numpy()[prod_idx]
                          * rng.choice([1.0, 1.0, 1.0, 0.95, 1.05], size=n_i), 2)
    discount = np.where(rng.random(n_i) < 0.6, np.nan,
                        rng.choice([0.05, 0.1, 0.15, 0.2, 0.25, 0.3], size=n_i))
    order_items = pd.DataFrame({
        "item_id": np.arange(1, n_i + 1, dtype="int64"),
        "order_id": item_order.astype("int64"),
        "product_id": products["product_id"].to_numpy()[prod_idx],
        "quantity": quantity,
        "unit_price": unit_price,
        "discount": discount,
    })
    tables = {"customers": customers, "products": products, "employees": employees,
              "orders": orders, "order_items": order_items}
    logger.info("retail example (seed=%d, scale=%s): %s", seed, scale,
                {k: len(v) for k, v in tables.items()})
    return tables


def retail_spark(spark: Any, seed: int = 0, scale: float = 1.0) -> dict[str, Any]:
    """The retail database as Spark DataFrames with the types of :data:`RETAIL_SCHEMAS`."""
    return {name: spark.createDataFrame(pdf, schema=RETAIL_SCHEMAS[name])
            for name, pdf in retail_tables(seed=seed, scale=scale).items()}


def retail_metadata() -> Metadata:
    """The true metadata of the retail database."""
    def col(sdtype: str, dtype: str, **kw: Any) -> dict[str, Any]:
        out = {"sdtype": sdtype, "dtype": dtype, "nullable": False}
        if dtype == "bigint":
            out["integer"] = True
        out.update(kw)
        return out

    return Metadata.from_dict({"tables": {
        "customers": {"primary_key": "customer_id", "columns": {
            "customer_id": col("id", "bigint"),
            "first_name": col("first_name", "string"),
            "last_name": col("last_name", "string"),
            "email": col("email", "string"),
            "phone": col("phone", "string"),
            "address": col("address", "string"),
            "city": col("city", "string"),
            "signup_date": col("datetime", "date"),
            "segment": col("categorical", "string"),
            "loyalty_tier": col("categorical", "string"),
            "birth_year": col("numerical", "bigint", nullable=True),
            "lifetime_value": col("numerical", "double", decimals=2),
        }},
        "products": {"primary_key": "product_id", "columns": {
            "product_id": col("id", "string", regex="PRD-[0-9]{5}"),
            "name": col("categorical", "string"),
            "category": col("categorical", "string"),
            "price": col("numerical", "double", decimals=2),
            "in_stock": col("boolean", "boolean"),
        }},
        "employees": {"primary_key": "employee_id", "columns": {
            "employee_id": col("id", "bigint"),
            "full_name": col("name", "string"),
            "email": col("email", "string"),
            "hire_date": col("datetime", "date"),
            "department": col("categorical", "string"),
            "salary": col("numerical", "double", decimals=2),
            "reports_to": col("id", "bigint", nullable=True),
        }, "foreign_keys": [
            {"column": "reports_to", "parent_table": "employees", "parent_column": "employee_id"},
        ]},
        "orders": {"primary_key": "order_id", "columns": {
            "order_id": col("id", "bigint"),
            "customer_id": col("id", "bigint"),
            "account_manager": col("id", "bigint"),
            "order_ts": col("datetime", "timestamp"),
            "channel": col("categorical", "string"),
            "status": col("categorical", "string"),
            "shipping_cost": col("numerical", "double", nullable=True, decimals=2),
            "notes": col("text", "string", nullable=True),
        }, "foreign_keys": [
            {"column": "customer_id", "parent_table": "customers", "parent_column": "customer_id",
             "driver": True},
            {"column": "account_manager", "parent_table": "employees",
             "parent_column": "employee_id"},
        ]},
        "order_items": {"primary_key": "item_id", "columns": {
            "item_id": col("id", "bigint"),
            "order_id": col("id", "bigint"),
            "product_id": col("id", "string", regex="PRD-[0-9]{5}"),
            "quantity": col("numerical", "bigint"),
            "unit_price": col("numerical", "double", decimals=2),
            "discount": col("numerical", "double", nullable=True, decimals=2),
        }, "foreign_keys": [
            {"column": "order_id", "parent_table": "orders", "parent_column": "order_id",
             "driver": True},
            {"column": "product_id", "parent_table": "products", "parent_column": "product_id"},
        ]},
    }})

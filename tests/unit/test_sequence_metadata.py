"""The sequence index of a child table that is a history of its parent: validation, YAML round
trip, and detection on real databases (``../shared/datasets/realdata.py``)."""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from synthohive_spark.metadata import Metadata, MetadataError, SDType
from synthohive_spark.metadata.detect import detect_sequences
from synthohive_spark.metadata.detect.sequences import orders_by_name

@pytest.fixture(scope="module")
def storms(realdata):
    tables, _ = realdata.storms()
    return tables


@pytest.fixture(scope="module")
def storms_md(storms) -> Metadata:
    return Metadata.detect(storms)


def _without_index(md: Metadata) -> Metadata:
    """``md`` with its keys and no sequence index: metadata declared by hand."""
    data = copy.deepcopy(md.to_dict())
    for cfg in data["tables"].values():
        cfg.pop("sequence_index", None)
    return Metadata.from_dict(data)


def _history(sequence_index=None, **observations) -> dict:
    obs = {
        "primary_key": "obs_id",
        "columns": {"obs_id": {"sdtype": "id", "dtype": "bigint"},
                    "storm_id": {"sdtype": "id", "dtype": "bigint"},
                    "observed_at": {"sdtype": "datetime", "dtype": "timestamp"},
                    "wind": {"sdtype": "numerical", "dtype": "bigint"},
                    "status": {"sdtype": "categorical", "dtype": "string"},
                    "reporter": {"sdtype": "email", "dtype": "string"}},
        "foreign_keys": [{"column": "storm_id", "parent_table": "storms",
                          "parent_column": "storm_id"}],
    }
    if sequence_index is not None:
        obs["sequence_index"] = sequence_index
    obs.update(observations)
    return {"tables": {
        "storms": {"primary_key": "storm_id",
                   "columns": {"storm_id": {"sdtype": "id", "dtype": "bigint"},
                               "name": {"sdtype": "categorical", "dtype": "string"}}},
        "observations": obs,
    }}


# ------------------------------------------------------------------------------ the field


def test_sequence_index_is_kept_in_yaml_json_and_dict_round_trips():
    md = Metadata.from_dict(_history("observed_at"))
    assert md.tables["observations"].sequence_index == "observed_at"
    text = md.to_yaml()
    assert "  sequence_index: observed_at\n" in text
    back = Metadata.from_yaml(text)
    assert back == md and back.to_yaml() == text
    assert Metadata.from_json(md.to_json()) == md
    assert md.to_dict()["tables"]["observations"]["sequence_index"] == "observed_at"


def test_metadata_written_before_the_field_still_loads_and_stays_without_it():
    old = _history()
    assert "sequence_index" not in old["tables"]["observations"]
    md = Metadata.from_dict(old)
    assert md.tables["observations"].sequence_index is None
    assert "sequence_index" not in md.to_dict()["tables"]["observations"]
    assert "sequence_index" not in md.to_yaml()


@pytest.mark.parametrize("column,words", [
    ("rain", ["table 'observations'", "column 'rain'", "not a column of the table",
              "expected the datetime or numerical column"]),
    ("status", ["table 'observations', column 'status'", "sdtype 'categorical'",
                "expected a datetime or numerical column"]),
    ("obs_id", ["table 'observations', column 'obs_id'", "primary key",
                "expected a datetime or numerical column"]),
    ("storm_id", ["table 'observations', column 'storm_id'", "foreign key",
                  "storms.storm_id", "expected a datetime or numerical column"]),
    ("reporter", ["table 'observations', column 'reporter'", "personal data",
                  "expected a datetime or numerical column"]),
])
def test_a_sequence_index_must_be_a_plain_datetime_or_number(column, words):
    with pytest.raises(MetadataError) as err:
        Metadata.from_dict(_history(column))
    msg = str(err.value)
    assert all(w in msg for w in words), msg
    assert len(err.value.errors) == 1  # one specific problem, not a cascade


def test_numbers_and_datetimes_are_valid_sequence_indexes():
    assert Metadata.from_dict(_history("wind")).tables["observations"].sequence_index == "wind"
    md = Metadata.from_dict(_history("observed_at"))
    md.tables["observations"].sequence_index = "status"  # edits are checked on validate()
    with pytest.raises(MetadataError, match="sdtype 'categorical'"):
        md.validate()


def test_a_sequence_index_needs_a_parent_to_group_the_rows():
    data = _history("observed_at", foreign_keys=[])
    with pytest.raises(MetadataError) as err:
        Metadata.from_dict(data)
    msg = str(err.value)
    assert "table 'observations', column 'observed_at'" in msg and "no foreign key" in msg
    data = _history("observed_at")
    data["tables"]["storms"]["reference"] = True
    with pytest.raises(MetadataError, match=r"only at reference tables \(storms\)"):
        Metadata.from_dict(data)


# ------------------------------------------------------------------------------ names


@pytest.mark.parametrize("name", ["year", "seq_no", "stepIndex", "t", "sort_order", "Quarter",
                                  "observation_time", "dayOfWeek", "position"])
def test_names_that_order_rows(name):
    assert orders_by_name(name)


@pytest.mark.parametrize("name", ["price", "pop", "quantity", "order_total", "step_count",
                                  "lifeExp", "tier", "days", "orders", "timezone"])
def test_names_that_do_not_order_rows(name):
    assert not orders_by_name(name)


# ------------------------------------------------------------------------------ detection


def test_storm_observations_are_a_sequence_ordered_by_their_time(storms_md):
    obs = storms_md.tables["observations"]
    assert obs.sequence_index == "observed_at"
    # a storm owns its track: an entity, not a lookup kept as it is
    assert not storms_md.tables["storms"].reference
    assert storms_md.driver_fk("observations").parent_table == "storms"
    back = Metadata.from_yaml(storms_md.to_yaml())
    assert back.tables["observations"].sequence_index == "observed_at"
    assert back.to_dict() == storms_md.to_dict()


def test_rows_shuffled_within_each_storm_have_no_sequence_index(storms, storms_md):
    rng = np.random.default_rng(0)
    obs = storms["observations"]
    shuffled = obs.assign(__r=rng.random(len(obs))).sort_values(["storm_id", "__r"]) \
        .drop(columns="__r").reset_index(drop=True)
    shuffled["obs_id"] = np.arange(1, len(shuffled) + 1)
    tables = {"storms": storms["storms"], "observations": shuffled}
    assert Metadata.detect(tables).tables["observations"].sequence_index is None
    # with the keys declared (storms a parent, not a lookup) the order still decides
    declared = _without_index(storms_md)
    assert detect_sequences(declared, tables).tables["observations"].sequence_index is None
    # ... and the same declared metadata finds the index on the rows in their real order
    assert detect_sequences(declared, storms).tables["observations"].sequence_index \
        == "observed_at"


def test_times_that_repeat_within_a_storm_are_no_sequence_index(storms, storms_md):
    obs = storms["observations"].assign(observed_at=storms["observations"]["observed_at"]
                                        .dt.floor("D"))
    found = detect_sequences(_without_index(storms_md),
                             {"storms": storms["storms"], "observations": obs})
    assert found.tables["observations"].sequence_index is None


def test_a_datetime_is_preferred_to_a_step_number(storms):
    obs = storms["observations"].copy()
    obs.insert(3, "step", obs.groupby("storm_id").cumcount() + 1)
    md = Metadata.detect({"storms": storms["storms"], "observations": obs})
    assert md.tables["observations"].sequence_index == "observed_at"
    # without the time, the step number (no ties at all) orders the rows
    md = Metadata.detect({"storms": storms["storms"],
                          "observations": obs.drop(columns="observed_at")})
    assert md.tables["observations"].sequence_index == "step"
    assert md.tables["observations"].columns["step"].sdtype == SDType.NUMERICAL


def test_gapminder_years_are_a_sequence_under_their_country(realdata):
    tables, keys = realdata.gapminder()
    assert keys["years"] == ("row_id", {"country": "countries"})
    # the country's name is the key of the table named after it (countries.country)
    md = Metadata.detect(tables)
    assert md.tables["countries"].primary_key == "country"
    assert [(f.column, f.parent_table) for f in md.tables["years"].foreign_keys] == \
        [("country", "countries")]
    data = md.to_dict()
    data["tables"]["years"].pop("sequence_index", None)
    md = detect_sequences(Metadata.from_dict(data), tables)
    assert md.tables["years"].sequence_index == "year"
    assert md.tables["countries"].sequence_index is None
    # rows in another order than the years' (by population) are no sequence in their own order
    by_pop = tables["years"].sort_values(["country", "pop"]).reset_index(drop=True)
    by_pop["row_id"] = np.arange(1, len(by_pop) + 1)
    in_order = by_pop.groupby("country")["year"].apply(lambda s: s.is_monotonic_increasing)
    assert 0.05 < 1 - in_order.mean() < 0.5  # populations that fell put those years out of order
    md = detect_sequences(Metadata.from_dict(data), {**tables, "years": by_pop})
    assert md.tables["years"].sequence_index is None


def test_pizza_order_items_are_no_sequence(realdata):
    tables, _ = realdata.pizzaplace()
    md = Metadata.detect(tables)
    assert md.tables["orders"].foreign_keys == []  # a root: no parent, no sequence
    assert md.driver_fk("order_items").parent_table == "orders"
    assert md.tables["menu"].reference
    assert all(t.sequence_index is None for t in md.tables.values())


def test_rodent_surveys_are_no_sequence(realdata):
    tables, _ = realdata.ratdat()
    md = Metadata.detect(tables)
    assert md.tables["plots"].reference and md.tables["species"].reference
    assert all(t.sequence_index is None for t in md.tables.values())


def test_detect_sequences_keeps_declared_indexes_and_needs_the_child_tables(storms, storms_md):
    declared = _without_index(storms_md)
    declared.tables["observations"].sequence_index = "wind"
    assert detect_sequences(declared, storms).tables["observations"].sequence_index == "wind"
    declared.tables["observations"].sequence_index = None
    with pytest.raises(MetadataError, match=r"no data for tables \['observations'\]"):
        detect_sequences(declared, {"storms": storms["storms"]})


def test_without_a_primary_key_the_frame_order_decides(storms):
    obs = storms["observations"].drop(columns="obs_id")
    md = Metadata.detect({"storms": storms["storms"], "observations": obs})
    assert md.tables["observations"].primary_key is None
    assert md.tables["observations"].sequence_index == "observed_at"
    reversed_rows = obs.iloc[::-1].reset_index(drop=True)
    md = Metadata.detect({"storms": storms["storms"], "observations": reversed_rows})
    assert md.tables["observations"].sequence_index is None


def test_pandas_frames_are_not_modified(storms):
    before = {t: df.copy() for t, df in storms.items()}
    Metadata.detect(storms)
    for t, df in storms.items():
        pd.testing.assert_frame_equal(df, before[t])


def test_times_written_as_text_order_rows_too(storms):
    obs = storms["observations"].assign(
        observed_at=storms["observations"]["observed_at"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    md = Metadata.detect({"storms": storms["storms"], "observations": obs})
    col = md.tables["observations"].columns["observed_at"]
    assert col.dtype == "string" and col.datetime_format and col.sdtype == SDType.DATETIME
    assert md.tables["observations"].sequence_index == "observed_at"


def test_a_quarter_number_with_few_values_becomes_a_numerical_sequence_index():
    rng = np.random.default_rng(1)
    accounts = pd.DataFrame({"account_id": np.arange(1, 61),
                             "segment": rng.choice(["retail", "public", "industry"], 60)})
    rows = pd.DataFrame({"account_id": np.repeat(accounts["account_id"], 4),
                         "quarter": np.tile([1, 2, 3, 4], 60),
                         "revenue": np.round(rng.gamma(2, 1000, 240), 2)})
    rows.insert(0, "report_id", np.arange(1, 241))
    md = Metadata.detect({"accounts": accounts, "reports": rows})
    reports = md.tables["reports"]
    assert reports.driver.parent_table == "accounts"
    assert reports.sequence_index == "quarter"
    assert reports.columns["quarter"].sdtype == SDType.NUMERICAL  # few values, still an order
    # the same numbers in another order than the rows': no sequence, and the category stays
    shuffled = rows.assign(quarter=rows.groupby("account_id")["quarter"].transform(
        lambda s: rng.permutation(s.to_numpy())))
    md = Metadata.detect({"accounts": accounts, "reports": shuffled})
    assert md.tables["reports"].sequence_index is None
    assert md.tables["reports"].columns["quarter"].sdtype == SDType.CATEGORICAL


def test_a_lookup_whose_children_interleave_stays_a_lookup():
    # an event log in time order: each type's events are distinct and in order, but the types
    # take turns, so a type owns no block of rows: a lookup, and the log no history of it
    rng = np.random.default_rng(2)
    types = pd.DataFrame({"type_id": np.arange(1, 13),
                          "label": ["login", "logout", "view", "search", "cart", "buy", "refund",
                                    "rate", "share", "follow", "report", "block"]})
    n = 2000
    events = pd.DataFrame({"event_id": np.arange(1, n + 1),
                           "type_id": rng.integers(1, 13, n),
                           "happened_at": pd.Timestamp("2024-01-01")
                           + pd.to_timedelta(np.cumsum(rng.integers(1, 600, n)), unit="s"),
                           "latency_ms": rng.integers(5, 900, n)})
    md = Metadata.detect({"event_types": types, "events": events})
    assert md.tables["event_types"].reference
    assert md.tables["events"].driver is None and md.tables["events"].sequence_index is None
    # the same log with each type's events together: the type owns its history
    grouped = events.sort_values(["type_id", "event_id"]).reset_index(drop=True)
    grouped["event_id"] = np.arange(1, n + 1)
    md = Metadata.detect({"event_types": types, "events": grouped})
    assert not md.tables["event_types"].reference
    assert md.tables["events"].sequence_index == "happened_at"

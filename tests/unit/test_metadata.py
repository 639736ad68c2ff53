"""Metadata: model, validation, serialisation and detection over pandas frames (no JVM)."""
from __future__ import annotations

import copy
import datetime as dt
import decimal
import json
import re

import numpy as np
import pandas as pd
import pytest

from synthohive_spark.examples import retail_metadata, retail_tables
from synthohive_spark.metadata import (
    PII_KINDS,
    ColumnConfig,
    ForeignKey,
    Metadata,
    MetadataError,
    PrivacyConfig,
    SDType,
    TableConfig,
    UnknownTableError,
)


def _two_tables(**orders_overrides) -> dict:
    orders = {
        "primary_key": "order_id",
        "columns": {"order_id": {"sdtype": "id", "dtype": "bigint"},
                    "customer_id": {"sdtype": "id", "dtype": "bigint"},
                    "amount": {"sdtype": "numerical", "dtype": "double"}},
        "foreign_keys": [{"column": "customer_id", "parent_table": "customers",
                          "parent_column": "customer_id"}],
    }
    orders.update(orders_overrides)
    return {"tables": {
        "customers": {"primary_key": "customer_id",
                      "columns": {"customer_id": {"sdtype": "id", "dtype": "bigint"},
                                  "email": {"sdtype": "email", "dtype": "string"}}},
        "orders": orders,
    }}


@pytest.fixture(scope="module")
def retail() -> dict[str, pd.DataFrame]:
    return retail_tables(seed=0, scale=1.0)


@pytest.fixture(scope="module")
def detected(retail) -> Metadata:
    return Metadata.detect(retail)


def _keys(md: Metadata) -> dict:
    return {t: (cfg.primary_key,
                sorted((fk.column, fk.parent_table, fk.parent_column, fk.driver)
                       for fk in cfg.foreign_keys))
            for t, cfg in md.tables.items()}


# ------------------------------------------------------------------------------ model basics


def test_pii_kinds_are_marked_pii_and_others_are_not():
    assert ColumnConfig(sdtype="email").pii is True
    assert ColumnConfig(sdtype="numerical").pii is False
    assert ColumnConfig(sdtype="categorical", pii=True).pii is True
    assert {k.value for k in SDType} >= PII_KINDS
    with pytest.raises(MetadataError, match="always holds personal data"):
        ColumnConfig(sdtype="ssn", pii=False)


def test_pii_flag_applies_when_built_from_a_dict():
    md = Metadata.from_dict(_two_tables())
    assert md.tables["customers"].columns["email"].pii is True
    assert md.pii_columns("customers") == ["email"]
    assert md.pii_columns("orders") == []


def test_driver_is_assigned_to_first_fk_to_another_table():
    data = {"tables": {
        "staff": {"primary_key": "id", "columns": {"id": {"sdtype": "id", "dtype": "bigint"}}},
        "teams": {"primary_key": "id", "columns": {"id": {"sdtype": "id", "dtype": "bigint"}}},
        "people": {"primary_key": "id", "columns": {
            "id": {"sdtype": "id", "dtype": "bigint"},
            "boss": {"sdtype": "id", "dtype": "bigint"},
            "team": {"sdtype": "id", "dtype": "bigint"},
            "staff_id": {"sdtype": "id", "dtype": "bigint"}},
            "foreign_keys": [
                {"column": "boss", "parent_table": "people", "parent_column": "id"},
                {"column": "team", "parent_table": "teams", "parent_column": "id"},
                {"column": "staff_id", "parent_table": "staff", "parent_column": "id"}]},
    }}
    md = Metadata.from_dict(data)
    assert md.driver_fk("people").column == "team"
    assert [fk.driver for fk in md.tables["people"].foreign_keys] == [False, True, False]
    assert [fk.column for fk in md.self_references("people")] == ["boss"]
    # an explicit driver is kept
    data2 = copy.deepcopy(data)
    data2["tables"]["people"]["foreign_keys"][2]["driver"] = True
    assert Metadata.from_dict(data2).driver_fk("people").column == "staff_id"
    assert md.driver_fk("staff") is None


def test_self_reference_only_table_has_no_driver():
    md = retail_metadata()
    emp = md.table("employees")
    assert emp.driver is None
    assert [(fk.column, fk.parent_table, fk.parent_column) for fk in md.self_references("employees")] \
        == [("reports_to", "employees", "employee_id")]
    assert emp.self_references_of("employees")[0].driver is False
    assert emp.name == "employees" and emp.self_references == md.self_references("employees")
    assert md.table("orders").self_references == []
    with pytest.raises(MetadataError, match="not part of a Metadata"):
        TableConfig(columns={"a": {"sdtype": "id"}}).self_references


def test_helpers_on_the_retail_metadata():
    md = retail_metadata()
    order = md.topological_order()
    assert sorted(order) == sorted(md.tables)
    for parent, child, fk in md.relationships(include_self=False):
        assert order.index(parent) < order.index(child), (parent, child)
    assert ("employees", "employees") in {(p, c) for p, c, _ in md.relationships()}
    assert ("employees", "employees") not in {(p, c) for p, c, _ in
                                              md.relationships(include_self=False)}
    assert md.children("customers") == ["orders"]
    assert md.children("employees") == ["orders"]
    assert md.children("orders") == ["order_items"]
    assert md.parents("order_items") == ["orders", "products"]
    assert md.parents("employees") == []
    assert md.driver_fk("order_items").column == "order_id"
    assert md.driver_fk("orders").parent_table == "customers"
    assert set(md.pii_columns("customers")) == {"first_name", "last_name", "email", "phone",
                                                "address", "city"}
    assert md.pii_columns("employees") == ["full_name", "email"]


def test_unknown_table_lists_known_tables():
    md = retail_metadata()
    with pytest.raises(UnknownTableError) as err:
        md.table("customer")
    assert isinstance(err.value, KeyError) and isinstance(err.value, MetadataError)
    assert "'customer'" in str(err.value) and "customers" in str(err.value) \
        and "order_items" in str(err.value)
    with pytest.raises(KeyError):
        md.children("nope")


# ------------------------------------------------------------------------------ round trips


def test_yaml_round_trip_is_exact(tmp_path):
    md = retail_metadata()
    text = md.to_yaml()
    back = Metadata.from_yaml(text)
    assert back == md
    assert back.to_yaml() == text
    path = tmp_path / "meta.yaml"
    assert md.to_yaml(path) == text
    assert path.read_text() == text
    assert Metadata.from_yaml(path) == md
    assert Metadata.from_yaml(str(path)) == md


def test_json_and_dict_round_trips(tmp_path, detected):
    for md in (retail_metadata(), detected):
        assert Metadata.from_dict(md.to_dict()) == md
        assert Metadata.from_dict(json.loads(json.dumps(md.to_dict()))).to_dict() == md.to_dict()
        text = md.to_json()
        assert Metadata.from_json(text) == md
        assert Metadata.from_json(text).to_json() == text
        path = tmp_path / "meta.json"
        md.to_json(path)
        assert Metadata.from_json(path) == md
        assert Metadata.from_yaml(md.to_yaml()).to_dict() == md.to_dict()


def test_round_trip_keeps_constraints_privacy_and_column_order():
    data = _two_tables()
    data["tables"]["orders"]["columns"]["amount"].update(
        {"min": 0.5, "max": 99.25, "decimals": 2, "nullable": False})
    data["tables"]["orders"]["columns"]["placed"] = {
        "sdtype": "datetime", "dtype": "string", "datetime_format": "%Y-%m-%d",
        "min": "2020-01-01", "max": "2021-12-31"}
    data["tables"]["customers"]["columns"]["code"] = {"sdtype": "id", "dtype": "string",
                                                      "regex": "CUST-[0-9]{6}", "unique": True}
    data["privacy"] = {"pii_strategy": "hmac", "hmac_key_env": "MY_KEY", "locale": "de_DE",
                       "k_anonymity": 5, "min_dcr": 0.1, "exact_copy_tolerance": 0.01}
    md = Metadata.from_dict(data)
    back = Metadata.from_yaml(md.to_yaml())
    assert back == md
    assert list(back.tables["orders"].columns) == ["order_id", "customer_id", "amount", "placed"]
    amount = back.tables["orders"].columns["amount"]
    assert (amount.min, amount.max, amount.decimals, amount.nullable) == (0.5, 99.25, 2, False)
    assert back.tables["orders"].columns["placed"].max == "2021-12-31"
    assert back.privacy == PrivacyConfig(pii_strategy="hmac", hmac_key_env="MY_KEY",
                                         locale="de_DE", k_anonymity=5, min_dcr=0.1,
                                         exact_copy_tolerance=0.01)
    assert back.tables["customers"].columns["code"].regex == "CUST-[0-9]{6}"


def test_exact_copy_tolerance_is_set_or_not_and_old_files_keep_what_they_did(caplog):
    from synthohive_spark.metadata.schema import METADATA_VERSION
    from synthohive_spark.ml._copies import copy_settings
    from synthohive_spark.ml.relational import RelationalSynthesizer

    def reject(md: Metadata) -> bool:
        return copy_settings("test", RelationalSynthesizer(), md.privacy).reject_copies

    unset = Metadata.from_dict(_two_tables())
    assert unset.privacy.exact_copy_tolerance is None and not reject(unset)
    # set to 0: no copy at all; it survives the round trip and turns rejection on
    data = _two_tables()
    data["privacy"] = {"exact_copy_tolerance": 0.0}
    zero = Metadata.from_dict(data)
    assert zero.to_dict()["version"] == METADATA_VERSION
    for back in (Metadata.from_yaml(zero.to_yaml()), Metadata.from_json(zero.to_json())):
        assert back.privacy.exact_copy_tolerance == 0.0 and reject(back)
    assert Metadata.from_yaml(unset.to_yaml()).privacy.exact_copy_tolerance is None
    # an explicit stage param still wins over the metadata
    stage = RelationalSynthesizer(rejectCopies=False)
    assert not copy_settings("test", stage, zero.privacy).reject_copies
    # a file dumped before the version key wrote 0.0 as the default (beside every other
    # setting): read as unset, with a warning
    old = zero.to_dict()
    del old["version"]
    for k in ("epsilon", "delta"):  # version 1 dumps had no DP settings yet
        del old["privacy"][k]
    with caplog.at_level("WARNING", logger="synthohive_spark.metadata"):
        legacy = Metadata.from_dict(old)
    assert legacy.privacy.exact_copy_tolerance is None and not reject(legacy)
    assert "exact_copy_tolerance: 0.0" in caplog.text and "version: 2" in caplog.text
    old["privacy"]["exact_copy_tolerance"] = 0.05  # a real choice, old or not
    assert Metadata.from_dict(old).privacy.exact_copy_tolerance == 0.05
    with pytest.raises(MetadataError, match="newer synthohive-spark"):
        Metadata.from_dict({**zero.to_dict(), "version": METADATA_VERSION + 1})
    with pytest.raises(MetadataError, match="'version' must be a whole number"):
        Metadata.from_dict({**zero.to_dict(), "version": "two"})


# ------------------------------------------------------------------------------ malformed input


def test_malformed_yaml_reports_line_and_column():
    text = "tables:\n  customers:\n    primary_key: id\n   columns: {id: {sdtype: id}}\n"
    with pytest.raises(MetadataError) as err:
        Metadata.from_yaml(text)
    msg = str(err.value)
    assert "malformed YAML" in msg
    m = re.search(r"line (\d+), column (\d+)", msg)
    assert m is not None and int(m.group(1)) == 4


def test_duplicate_yaml_key_is_rejected_with_its_line():
    text = ("tables:\n  t:\n    columns:\n      a: {sdtype: id}\n      a: {sdtype: text}\n")
    with pytest.raises(MetadataError, match=r"duplicate key 'a'.*|line 5") as err:
        Metadata.from_yaml(text)
    assert "line 5" in str(err.value)


def test_missing_file_and_empty_document():
    with pytest.raises(MetadataError, match="does not exist"):
        Metadata.from_yaml("no/such/file.yaml")
    with pytest.raises(MetadataError, match="empty"):
        Metadata.from_yaml("# nothing\n")
    with pytest.raises(MetadataError, match=r"line 1, column"):
        Metadata.from_json('{"tables": ')


def test_unknown_keys_are_rejected_clearly():
    data = _two_tables()
    data["tables"]["orders"]["columns"]["amount"]["sdtyp"] = "numerical"
    with pytest.raises(MetadataError) as err:
        Metadata.from_dict(data)
    msg = str(err.value)
    assert "table 'orders'" in msg and "column 'amount'" in msg and "unknown key 'sdtyp'" in msg
    assert "sdtype" in msg.split("allowed keys:")[1]

    data = _two_tables(primary_keys="order_id")
    with pytest.raises(MetadataError, match=r"table 'orders': unknown key 'primary_keys'"):
        Metadata.from_dict(data)
    data = _two_tables()
    data["privacy"] = {"strategy": "fake"}
    with pytest.raises(MetadataError, match=r"privacy.*unknown key 'strategy'"):
        Metadata.from_dict(data)
    data = _two_tables()
    data["table"] = {}
    with pytest.raises(MetadataError, match=r"unknown key 'table'"):
        Metadata.from_dict(data)


def test_bad_values_name_their_place():
    data = _two_tables()
    data["tables"]["customers"]["columns"]["email"]["sdtype"] = "e-mail"
    with pytest.raises(MetadataError) as err:
        Metadata.from_dict(data)
    assert "table 'customers', column 'email'" in str(err.value)
    assert "numerical" in str(err.value)  # lists what was expected
    data = _two_tables()
    data["tables"]["orders"]["columns"]["amount"]["regex"] = "([0-9]"
    with pytest.raises(MetadataError, match="does not compile"):
        Metadata.from_dict(data)


# ------------------------------------------------------------------------------ validation


def test_primary_key_must_be_a_column():
    with pytest.raises(MetadataError) as err:
        Metadata.from_dict(_two_tables(primary_key="oid"))
    msg = str(err.value)
    assert "table 'orders'" in msg and "primary key 'oid' is not a column" in msg
    assert "order_id" in msg  # lists the columns


def test_foreign_key_column_must_exist():
    data = _two_tables()
    data["tables"]["orders"]["foreign_keys"][0]["column"] = "cust"
    with pytest.raises(MetadataError, match=r"table 'orders': foreign key column 'cust' is not a "
                                            r"column"):
        Metadata.from_dict(data)


def test_foreign_key_to_missing_table():
    data = _two_tables()
    data["tables"]["orders"]["foreign_keys"][0]["parent_table"] = "customer"
    with pytest.raises(MetadataError) as err:
        Metadata.from_dict(data)
    msg = str(err.value)
    assert "table 'orders', column 'customer_id'" in msg
    assert "table 'customer', which is not in the metadata" in msg and "customers" in msg


def test_foreign_key_must_reference_primary_or_unique_key():
    data = _two_tables()
    data["tables"]["customers"]["columns"]["code"] = {"sdtype": "id", "dtype": "bigint"}
    data["tables"]["orders"]["foreign_keys"][0]["parent_column"] = "code"
    with pytest.raises(MetadataError) as err:
        Metadata.from_dict(data)
    msg = str(err.value)
    assert "table 'orders', column 'customer_id'" in msg
    assert "customers.code" in msg and "neither the primary key" in msg
    data["tables"]["customers"]["columns"]["code"]["unique"] = True
    assert Metadata.from_dict(data).tables["orders"].foreign_keys[0].parent_column == "code"
    data["tables"]["orders"]["foreign_keys"][0]["parent_column"] = "nope"
    with pytest.raises(MetadataError, match="customers.nope, which is not a column"):
        Metadata.from_dict(data)


def test_foreign_key_type_must_match_parent_key():
    data = _two_tables()
    data["tables"]["orders"]["columns"]["customer_id"]["dtype"] = "string"
    with pytest.raises(MetadataError) as err:
        Metadata.from_dict(data)
    msg = str(err.value)
    assert "table 'orders', column 'customer_id'" in msg
    assert "string" in msg and "bigint" in msg and "customers.customer_id" in msg
    # int vs bigint are both integers: fine
    data["tables"]["orders"]["columns"]["customer_id"]["dtype"] = "int"
    Metadata.from_dict(data)
    # without dtypes, the sdtype is compared
    data = _two_tables()
    data["tables"]["orders"]["columns"]["customer_id"] = {"sdtype": "datetime"}
    data["tables"]["customers"]["columns"]["customer_id"] = {"sdtype": "id"}
    with pytest.raises(MetadataError, match=r"sdtype 'datetime'"):
        Metadata.from_dict(data)


def test_cycle_across_tables_names_the_tables():
    def table(fk_col, parent):
        return {"primary_key": "id",
                "columns": {"id": {"sdtype": "id", "dtype": "bigint"},
                            fk_col: {"sdtype": "id", "dtype": "bigint"}},
                "foreign_keys": [{"column": fk_col, "parent_table": parent,
                                  "parent_column": "id"}]}

    data = {"tables": {"a": table("b_id", "b"), "b": table("c_id", "c"), "c": table("a_id", "a"),
                       "d": table("a_id", "a")}}
    with pytest.raises(MetadataError) as err:
        Metadata.from_dict(data)
    msg = str(err.value)
    assert "cycle" in msg
    cycle_line = [line for line in err.value.errors if "cycle" in line]
    assert len(cycle_line) == 1
    assert all(f"{t} ->" in cycle_line[0] or f"-> {t}" in cycle_line[0] for t in "abc")
    assert "d" not in re.findall(r"\b\w\b", cycle_line[0].split("(")[0])


def test_driver_rules():
    data = _two_tables()
    data["tables"]["orders"]["columns"]["ref"] = {"sdtype": "id", "dtype": "bigint"}
    data["tables"]["orders"]["foreign_keys"][0]["driver"] = True
    data["tables"]["orders"]["foreign_keys"].append(
        {"column": "ref", "parent_table": "customers", "parent_column": "customer_id",
         "driver": True})
    with pytest.raises(MetadataError, match=r"table 'orders': 2 foreign keys are marked driver"):
        Metadata.from_dict(data)
    md = retail_metadata().to_dict()
    md["tables"]["employees"]["foreign_keys"][0]["driver"] = True
    with pytest.raises(MetadataError, match=r"table 'employees', column 'reports_to': a "
                                            r"self-reference cannot be the driver"):
        Metadata.from_dict(md)


def test_all_errors_are_collected_in_one_exception():
    data = _two_tables(primary_key="oid")
    data["tables"]["orders"]["foreign_keys"].append(
        {"column": "amount", "parent_table": "ghosts", "parent_column": "id"})
    data["tables"]["orders"]["columns"]["amount"].update({"min": 5, "max": 1})
    with pytest.raises(MetadataError) as err:
        Metadata.from_dict(data)
    errors = err.value.errors
    assert len(errors) == 3
    assert any("primary key 'oid'" in e for e in errors)
    assert any("'ghosts'" in e for e in errors)
    assert any("min 5 is greater than max 1" in e for e in errors)


def test_validate_can_be_rerun_after_editing():
    md = Metadata.from_dict(_two_tables())
    md.tables["orders"].primary_key = "nope"
    with pytest.raises(MetadataError, match="primary key 'nope'"):
        md.validate()


def test_direct_construction_converts_errors():
    with pytest.raises(MetadataError, match="column"):
        TableConfig(columns={"a": {"sdtype": "numerical"}}, primay_key="a")
    fk = ForeignKey(column="a", parent_table="p", parent_column="id")
    assert fk.driver is False


# ------------------------------------------------------------------------------ detection


def test_detect_recovers_true_keys_of_the_example(detected):
    truth = retail_metadata()
    assert _keys(detected) == _keys(truth)
    assert detected.driver_fk("orders").column == "customer_id"
    assert detected.driver_fk("order_items").column == "order_id"
    assert detected.driver_fk("employees") is None
    fk = detected.tables["orders"].foreign_key("account_manager")
    assert (fk.parent_table, fk.parent_column) == ("employees", "employee_id")
    assert [f.column for f in detected.self_references("employees")] == ["reports_to"]


def test_detect_recovers_column_types_of_the_example(detected, retail):
    truth = retail_metadata()
    for t, cfg in truth.tables.items():
        assert list(detected.tables[t].columns) == list(cfg.columns)
        for c, want in cfg.columns.items():
            got = detected.tables[t].columns[c]
            assert (got.sdtype, got.dtype, got.nullable, got.pii, got.integer, got.decimals,
                    got.regex) == (want.sdtype, want.dtype, want.nullable, want.pii,
                                   want.integer, want.decimals, want.regex), (t, c)
    q = detected.tables["order_items"].columns["quantity"]
    assert (q.min, q.max) == (int(retail["order_items"]["quantity"].min()),
                              int(retail["order_items"]["quantity"].max()))
    ts = detected.tables["orders"].columns["order_ts"]
    assert ts.min == retail["orders"]["order_ts"].min().isoformat()


def test_detect_with_a_small_sample_keeps_exact_keys(retail):
    md = Metadata.detect(retail, sample_rows=300, seed=3)
    assert _keys(md) == _keys(retail_metadata())
    # nullability and bounds come from the whole table, not the sample
    assert md.tables["customers"].columns["birth_year"].nullable is True
    assert md.tables["order_items"].columns["unit_price"].max == \
        float(retail["order_items"]["unit_price"].max())


def test_surrogate_id_trap_gives_no_false_foreign_keys():
    rng = np.random.default_rng(7)
    tables = {
        "alpha": pd.DataFrame({"id": np.arange(1, 201), "units": rng.integers(1, 6, 200),
                               "label": rng.choice(["x", "y", "z"], 200)}),
        "beta": pd.DataFrame({"id": np.arange(1, 1001), "bin": rng.integers(1, 6, 1000),
                              "score": rng.normal(size=1000)}),
        "gamma": pd.DataFrame({"id": np.arange(1, 501), "quantity": rng.integers(1, 6, 500),
                               "slot": rng.integers(3, 40, 500),
                               "serial": np.arange(1, 501)}),
    }
    md = Metadata.detect(tables)
    assert {t: c.primary_key for t, c in md.tables.items()} == \
        {"alpha": "id", "beta": "id", "gamma": "id"}
    assert md.relationships() == []


def test_nameless_foreign_key_is_found_when_values_fit():
    rng = np.random.default_rng(1)
    staff = pd.DataFrame({"id": np.arange(1, 41), "grade": rng.integers(1, 4, 40)})
    clients = pd.DataFrame({"id": np.arange(1, 801),
                            "minder": rng.choice(np.arange(1, 41), 800)})
    md = Metadata.detect({"staff": staff, "clients": clients})
    fks = md.tables["clients"].foreign_keys
    assert [(f.column, f.parent_table, f.parent_column, f.driver) for f in fks] == \
        [("minder", "staff", "id", True)]
    assert md.tables["clients"].columns["minder"].sdtype == SDType.ID
    # the same values with one orphan are not a foreign key
    clients.loc[5, "minder"] = 41
    md = Metadata.detect({"staff": staff, "clients": clients})
    assert md.tables["clients"].foreign_keys == []


@pytest.mark.parametrize("style", ["camel", "pascal", "bare"])
def test_camel_and_pascal_case_hints(style):
    rng = np.random.default_rng(2)
    n_c, n_o = 60, 300
    if style == "camel":
        names = ("customers", "customerId", "orders", "orderId", "customerId")
    elif style == "pascal":
        names = ("Customer", "CustomerID", "PurchaseOrder", "PurchaseOrderID", "CustomerID")
    else:
        names = ("customers", "id", "orders", "id", "customer")
    ct, cpk, ot, opk, ofk = names
    # the child values sit in the lowest tenth of the parent keys: only the name can tell
    parent = pd.DataFrame({cpk: np.arange(1, n_c + 1), "tier": rng.choice(["a", "b"], n_c)})
    child = pd.DataFrame({opk: np.arange(1, n_o + 1), ofk: rng.integers(1, 7, n_o),
                          "total": rng.normal(50, 5, n_o).round(2)})
    md = Metadata.detect({ct: parent, ot: child})
    assert md.tables[ct].primary_key == cpk
    assert md.tables[ot].primary_key == opk
    assert [(f.column, f.parent_table, f.parent_column) for f in md.tables[ot].foreign_keys] == \
        [(ofk, ct, cpk)]


def test_self_reference_with_manager_hint():
    staff = pd.DataFrame({"staff_id": np.arange(1, 31),
                          "manager_id": pd.array([None] + [1] * 4 + [2, 3, 4, 5] * 6 + [2],
                                                 dtype="Int64"),
                          "level": np.arange(30) % 3})
    md = Metadata.detect({"staff": staff})
    assert md.tables["staff"].primary_key == "staff_id"
    refs = md.self_references("staff")
    assert [(f.column, f.parent_column, f.driver) for f in refs] == \
        [("manager_id", "staff_id", False)]
    assert md.driver_fk("staff") is None
    assert md.tables["staff"].columns["manager_id"].nullable is True


def test_string_ids_get_a_regex_and_fks_follow_them():
    rng = np.random.default_rng(3)
    cust = pd.DataFrame({"code": [f"CUST-{i:06d}" for i in rng.choice(999_999, 100,
                                                                          replace=False)],
                         "plan": rng.choice(["free", "pro"], 100)})
    bills = pd.DataFrame({"bill_no": [f"B{i}" for i in range(1, 401)],
                          "customer_code": rng.choice(cust["code"], 400)})
    md = Metadata.detect({"customers": cust, "bills": bills})
    assert md.tables["customers"].primary_key == "code"
    assert md.tables["customers"].columns["code"].regex == "CUST-[0-9]{6}"
    assert md.tables["bills"].primary_key == "bill_no"
    assert md.tables["bills"].columns["bill_no"].regex == "B[0-9]{1,3}"
    fk = md.tables["bills"].foreign_keys
    assert [(f.column, f.parent_table, f.parent_column) for f in fk] == \
        [("customer_code", "customers", "code")]
    assert md.tables["bills"].columns["customer_code"].regex == "CUST-[0-9]{6}"


def test_float_and_text_columns_are_never_primary_keys():
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"value": rng.normal(size=50),
                       "comment": [f"this is free comment number {i} here" for i in range(50)],
                       "flag": rng.random(50) < 0.5})
    md = Metadata.detect({"readings": df})
    assert md.tables["readings"].primary_key is None
    assert md.tables["readings"].columns["value"].sdtype == SDType.NUMERICAL
    assert md.tables["readings"].columns["comment"].sdtype == SDType.TEXT
    assert md.tables["readings"].columns["flag"].sdtype == SDType.BOOLEAN


def test_pii_is_found_by_values_without_name_hints():
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(5)
    n = 80
    df = pd.DataFrame({
        "id": np.arange(1, n + 1),
        "contact": [fake.email() for _ in range(n)],
        "ident": [fake.ssn() for _ in range(n)],
        "pay": [fake.credit_card_number() for _ in range(n)],
        "host": [fake.ipv4() for _ in range(n)],
        "who": [f"{fake.first_name()} {fake.last_name()}" for _ in range(n)],
        "tel": [fake.numerify("(###) ###-####") for _ in range(n)],
        "account": [fake.iban() for _ in range(n)],
        # 16-digit numbers that fail the Luhn check are not card numbers
        "serial16": [_non_luhn(fake.numerify("################")) for _ in range(n)],
    })
    md = Metadata.detect({"people": df})
    cols = md.tables["people"].columns
    assert cols["contact"].sdtype == SDType.EMAIL
    assert cols["ident"].sdtype == SDType.SSN
    assert cols["pay"].sdtype == SDType.CREDIT_CARD
    assert cols["host"].sdtype == SDType.IP
    assert cols["who"].sdtype == SDType.NAME
    assert cols["tel"].sdtype == SDType.PHONE
    assert cols["account"].sdtype == SDType.IBAN
    assert cols["serial16"].sdtype != SDType.CREDIT_CARD and not cols["serial16"].pii
    assert set(md.pii_columns("people")) == {"contact", "ident", "pay", "host", "who", "tel",
                                             "account"}


def _non_luhn(digits: str) -> str:
    from synthohive_spark.privacy.validators import luhn_ok as _luhn

    if _luhn(digits):
        last = (int(digits[-1]) + 1) % 10
        digits = digits[:-1] + str(last)
    return digits


def test_product_names_are_not_person_names(detected):
    assert detected.tables["products"].columns["name"].sdtype == SDType.CATEGORICAL  # a short label, not a person nor free text
    assert not detected.tables["products"].columns["name"].pii


def test_decimals_dates_and_small_int_categories():
    df = pd.DataFrame({
        "id": np.arange(1, 41),
        "amount": [decimal.Decimal(f"{i}.{i % 100:02d}") for i in range(40)],
        "day": [f"2024-01-{(i % 28) + 1:02d}" for i in range(40)],
        "born": [dt.date(1980, 1, 1) + dt.timedelta(days=300 * i) for i in range(40)],
        "dob": [dt.date(1970, 1, 1) + dt.timedelta(days=200 * i) for i in range(40)],
        "rating": np.arange(40) % 5 + 1,
        "temperature": np.linspace(0, 10, 40).round(1),
    })
    md = Metadata.detect({"t": df})
    cols = md.tables["t"].columns
    assert cols["amount"].dtype.startswith("decimal(") and cols["amount"].dtype.endswith(",2)")
    assert cols["amount"].decimals == 2 and cols["amount"].sdtype == SDType.NUMERICAL
    assert cols["day"].sdtype == SDType.DATETIME and cols["day"].datetime_format == "%Y-%m-%d"
    assert cols["day"].min == "2024-01-01T00:00:00"
    assert cols["born"].dtype == "date" and cols["born"].sdtype == SDType.DATETIME
    assert cols["dob"].sdtype == SDType.DATE_OF_BIRTH and cols["dob"].pii
    assert cols["rating"].sdtype == SDType.CATEGORICAL
    assert cols["temperature"].decimals == 1


@pytest.mark.parametrize("values,label", [
    ([{"a": 1}] * 3, "map/struct"),
    ([[1, 2]] * 3, "array"),
    ([b"\x00\x01"] * 3, "binary"),
])
def test_unsupported_pandas_columns_are_rejected(values, label):
    df = pd.DataFrame({"id": [1, 2, 3], "payload": values})
    with pytest.raises(MetadataError) as err:
        Metadata.detect({"events": df})
    msg = str(err.value)
    assert "table 'events', column 'payload'" in msg and label in msg and "not supported" in msg


def test_detect_rejects_bad_inputs():
    with pytest.raises(MetadataError, match="non-empty dict"):
        Metadata.detect({})
    with pytest.raises(MetadataError, match="table 'x': expected a pandas or Spark DataFrame"):
        Metadata.detect({"x": [1, 2, 3]})
    with pytest.raises(MetadataError, match="mixed value types"):
        Metadata.detect({"x": pd.DataFrame({"a": ["1", 2, "3"]})})


def test_detect_checks_column_names():
    df = pd.DataFrame([[1, 2], [3, 4]], columns=["a", "a"])
    with pytest.raises(MetadataError, match=r"table 't': duplicate column names \['a'\]"):
        Metadata.detect({"t": df})
    md = Metadata.detect({"t": pd.DataFrame({0: [1, 2, 3], 1: ["x", "y", "x"]})})
    assert list(md.tables["t"].columns) == ["0", "1"]


def test_pii_is_found_by_column_name_hints():
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(9)
    n = 60
    df = pd.DataFrame({
        "userId": np.arange(1, n + 1),
        "name": [fake.name() for _ in range(n)],
        "mobile": [fake.numerify("##########") for _ in range(n)],
        "postal_code": [fake.postcode() for _ in range(n)],
        "Town": [fake.city() for _ in range(n)],
        "streetAddress": [fake.street_address() for _ in range(n)],
        "ip_address": [fake.ipv4() for _ in range(n)],
        "birthDate": [fake.date_of_birth() for _ in range(n)],
        "plan": np.resize(["free", "pro", "team"], n),
    })
    md = Metadata.detect({"users": df}, privacy=PrivacyConfig(locale="en_GB"))
    kinds = {c: cfg.sdtype.value for c, cfg in md.tables["users"].columns.items()}
    assert kinds == {"userId": "id", "name": "name", "mobile": "phone", "postal_code": "zip",
                     "Town": "city", "streetAddress": "address", "ip_address": "ip",
                     "birthDate": "date_of_birth", "plan": "categorical"}
    assert md.tables["users"].primary_key == "userId"
    assert md.privacy.locale == "en_GB"
    assert set(md.pii_columns("users")) == set(kinds) - {"userId", "plan"}


def test_named_foreign_key_with_orphans_is_not_a_foreign_key():
    rng = np.random.default_rng(12)
    customers = pd.DataFrame({"customer_id": np.arange(1, 101), "x": rng.normal(size=100)})
    orders = pd.DataFrame({"order_id": np.arange(1, 301),
                           "customer_id": rng.integers(1, 101, 300)})
    assert [f.column for f in Metadata.detect({"customers": customers, "orders": orders})
            .tables["orders"].foreign_keys] == ["customer_id"]
    orders.loc[0, "customer_id"] = 100  # still inside; an id beyond the parents is an orphan
    orders.loc[1, "customer_id"] = 0
    md = Metadata.detect({"customers": customers, "orders": orders})
    assert md.tables["orders"].foreign_keys == []


def test_detected_reference_cycle_is_broken():
    rng = np.random.default_rng(13)
    a = pd.DataFrame({"a_id": np.arange(1, 101), "b_id": rng.integers(1, 101, 100)})
    b = pd.DataFrame({"b_id": np.arange(1, 101), "a_id": rng.integers(1, 101, 100)})
    md = Metadata.detect({"a": a, "b": b})
    rels = [(p, c, fk.column) for p, c, fk in md.relationships()]
    assert len(rels) == 1 and rels[0] in {("b", "a", "b_id"), ("a", "b", "a_id")}
    assert md.topological_order() in (["a", "b"], ["b", "a"])


def test_year_number_codes_are_keys_not_phone_numbers() -> None:
    """Order numbers such as ``2015-000123`` have a phone number's shape; in a column whose name
    says it is an identifier they are a natural key (found as PK and FK), while the same values
    under a name that says nothing are still read as phone numbers."""
    rng = np.random.default_rng(3)
    codes = [f"2015-{i:06d}" for i in range(1, 301)]
    orders = pd.DataFrame({"order_id": codes, "total": rng.gamma(2.0, 20.0, 300).round(2)})
    items = pd.DataFrame({"item_id": np.arange(1, 901),
                          "order_id": rng.choice(codes, 900),
                          "price": rng.choice([9.75, 12.5, 16.0], 900)})
    md = Metadata.detect({"orders": orders, "order_items": items})
    assert md.tables["orders"].primary_key == "order_id"
    assert md.tables["orders"].columns["order_id"].sdtype == SDType.ID
    fks = [(f.column, f.parent_table, f.parent_column) for f in md.tables["order_items"].foreign_keys]
    assert fks == [("order_id", "orders", "order_id")]
    assert not md.tables["order_items"].columns["order_id"].is_pii
    contacts = pd.DataFrame({"contact": codes[:50], "n": np.arange(50)})
    assert Metadata.detect({"c": contacts}).tables["c"].columns["contact"].sdtype == SDType.PHONE


def test_detect_types_personal_data_named_in_other_languages():
    """One PII vocabulary: the multilingual names of privacy.detect type the columns too."""
    n = 30
    df = pd.DataFrame({
        "id": np.arange(n),
        "telefono": [f"+34 612 345 {i:03d}" for i in range(n)],
        "correo": [f"usuario{i}@ejemplo.es" for i in range(n)],
        "vorname": ["Hans", "Anna", "Peter", "Maria", "Klaus", "Sabine"] * 5,
        "plz": [f"{10115 + 7 * i:05d}" for i in range(n)],
        "geburtsdatum": [dt.date(1960 + i, 1 + i % 12, 1 + i % 28) for i in range(n)],
    })
    cols = Metadata.detect({"kunden": df}).tables["kunden"].columns
    assert {c: cols[c].sdtype for c in df.columns if c != "id"} == {
        "telefono": SDType.PHONE, "correo": SDType.EMAIL, "vorname": SDType.FIRST_NAME,
        "plz": SDType.ZIP, "geburtsdatum": SDType.DATE_OF_BIRTH}
    assert all(cols[c].pii for c in df.columns if c != "id")
    assert cols["id"].sdtype == SDType.ID

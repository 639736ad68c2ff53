"""Quasi-identifiers of k-anonymity (by kind, by name, by the explicit flag), the metadata field's
round trip, and the k-anonymity / membership-inference parts of the HTML report (no Spark)."""
from __future__ import annotations

from synthohive_spark.metadata import ColumnConfig, Metadata, PrivacyConfig, TableConfig
from synthohive_spark.privacy import QUASI_IDENTIFIER_KINDS, is_quasi_identifier, quasi_identifiers
from synthohive_spark.validation import ValidationReport


def _table() -> TableConfig:
    return TableConfig(primary_key="id", columns={
        "id": ColumnConfig(sdtype="id"),
        "email": ColumnConfig(sdtype="email"),
        "full_name": ColumnConfig(sdtype="name"),
        "postal": ColumnConfig(sdtype="zip"),
        "town": ColumnConfig(sdtype="city"),
        "born": ColumnConfig(sdtype="date_of_birth"),
        "customer_age": ColumnConfig(sdtype="numerical"),
        "Gender": ColumnConfig(sdtype="categorical"),
        "job_title": ColumnConfig(sdtype="categorical"),
        "page": ColumnConfig(sdtype="numerical"),
        "usage": ColumnConfig(sdtype="numerical"),
        "age_id": ColumnConfig(sdtype="id"),
        "income": ColumnConfig(sdtype="numerical"),
    })


def test_quasi_identifiers_by_kind_and_name():
    assert set(QUASI_IDENTIFIER_KINDS) == {"city", "zip", "date_of_birth"}
    assert quasi_identifiers(_table()) == ["postal", "town", "born", "customer_age", "Gender",
                                           "job_title"]
    # direct identifiers and keys are not quasi-identifiers, whatever their name
    assert not is_quasi_identifier("age", "email")
    assert not is_quasi_identifier("gender", "id")
    assert is_quasi_identifier("patient_sex", None)
    assert is_quasi_identifier("Beruf", "zip")       # the kind decides, not the name
    assert not is_quasi_identifier("storage", "numerical")


def test_explicit_flag_overrides_the_kind():
    t = _table()
    t.columns["town"] = ColumnConfig(sdtype="city", quasi_identifier=False)
    t.columns["income"] = ColumnConfig(sdtype="numerical", quasi_identifier=True)
    t.columns["Gender"] = ColumnConfig(sdtype="categorical", quasi_identifier=False)
    assert quasi_identifiers(t) == ["postal", "born", "customer_age", "job_title", "income"]
    # a dict of the same shape (metadata written by hand or by other tools)
    as_dict = {"columns": {"zip": {"sdtype": "zip"}, "age": {"sdtype": "numerical"},
                           "weight": {"sdtype": "numerical", "quasi_identifier": True},
                           "zip2": {"sdtype": "zip", "quasi_identifier": False}}}
    assert quasi_identifiers(as_dict) == ["zip", "age", "weight"]


def test_quasi_identifier_field_round_trips_through_yaml_and_dict():
    md = Metadata(tables={"t": TableConfig(columns={
        "zip": ColumnConfig(sdtype="zip", quasi_identifier=False),
        "income": ColumnConfig(sdtype="numerical", quasi_identifier=True),
        "age": ColumnConfig(sdtype="numerical")})}, privacy=PrivacyConfig(k_anonymity=5))
    cols = md.to_dict()["tables"]["t"]["columns"]
    assert cols["zip"]["quasi_identifier"] is False and cols["income"]["quasi_identifier"] is True
    assert "quasi_identifier" not in cols["age"]                 # None is left out
    text = md.to_yaml()
    assert "quasi_identifier: false" in text and "quasi_identifier: true" in text
    back = Metadata.from_yaml(text)
    assert back == md and back.to_yaml() == text
    assert back.tables["t"].columns["age"].quasi_identifier is None
    assert quasi_identifiers(back.tables["t"]) == ["income", "age"]
    assert back.privacy.k_anonymity == 5


def _report(privacy: dict) -> ValidationReport:
    return ValidationReport({"score": 0.9, "properties": {}, "additional_properties": {},
                             "details": {}, "tables": {}, "privacy": privacy, "settings": {}})


def test_html_shows_k_anonymity_and_membership_inference():
    ka = {"applicable": True, "k": 5, "quasi_identifiers": ["zip", "<age>"], "rows": 30,
          "classes": 3, "smallest_class": 3, "rows_below_k": 3, "classes_below_k": 1,
          "share_rows_below_k": 0.1, "satisfied": False}
    html = _report({"k_anonymity": {"people": ka}}).to_html()
    assert "k-anonymity of the synthetic data" in html and "zip, &lt;age&gt;" in html
    assert "3 of 30" in html and '<span class="bad">no</span>' in html
    assert "no real holdout" in html                         # DCR not computed, k-anonymity is
    table = {"applicable": True, "synthetic_sample_rows": 100, "reference_sample_rows_each": 80,
             "membership_inference_auc": 0.6123, "membership_inference_member_rows": 80,
             "membership_inference_non_member_rows": 80}
    html2 = _report({"people": table, "membership_inference_auc": {"people": 0.6123}}).to_html()
    assert "Membership inference AUC (80 training vs 80 holdout rows)" in html2
    assert "0.6123" in html2 and "Table membership_inference_auc" not in html2
    assert "k-anonymity" not in html2

"""The params every stage shares in one way: dict params, range checks, the default seed (no Spark)."""
from __future__ import annotations

import json

import pytest

from synthohive_spark.errors import ParamError
from synthohive_spark.ml._params import DEFAULT_SEED
from synthohive_spark.ml.cardinality import CardinalityEstimator, CardinalityModel
from synthohive_spark.ml.pii import PIISanitizer
from synthohive_spark.ml.relational import RelationalSynthesizer, RelationalSynthesizerModel
from synthohive_spark.ml.table import TableSynthesizer, TableSynthesizerModel


def test_every_stage_defaults_to_the_same_seed():
    for stage in (TableSynthesizer(), TableSynthesizerModel(), RelationalSynthesizer(),
                  RelationalSynthesizerModel(), CardinalityEstimator(), CardinalityModel(),
                  PIISanitizer()):
        assert stage.getSeed() == DEFAULT_SEED == 42, type(stage).__name__


@pytest.mark.parametrize("make, getter", [
    (lambda v: TableSynthesizer(model="tvae", modelParams=v), "getModelParams"),
    (lambda v: RelationalSynthesizer(model="tvae", modelParams=v), "getModelParams"),
    (lambda v: RelationalSynthesizer(contextCols=v), "getContextCols"),
    (lambda v: PIISanitizer(strategies=v), "getStrategies"),
])
def test_dict_params_take_a_dict_or_its_json_and_give_a_dict(make, getter):
    value = {"b": "mask", "a": "hash"}
    assert getattr(make(value), getter)() == value
    assert getattr(make(json.dumps(value)), getter)() == value
    stage = make(value)
    got = getattr(stage, getter)()
    got["c"] = "x"  # a copy: the stage keeps its value
    assert getattr(stage, getter)() == value
    name = getter[3].lower() + getter[4:]
    assert stage.getOrDefault(name) == json.dumps(value, sort_keys=True)  # saved as a string


@pytest.mark.parametrize("make, label", [
    (lambda v: TableSynthesizer(modelParams=v), "TableSynthesizer: modelParams"),
    (lambda v: RelationalSynthesizer(tableParams=v), "RelationalSynthesizer: tableParams"),
    (lambda v: PIISanitizer(strategies=v), "PIISanitizer: strategies"),
])
@pytest.mark.parametrize("bad", ["{not json", "[1, 2]", 5])
def test_a_bad_dict_param_is_refused_naming_the_stage_and_param(make, label, bad):
    with pytest.raises(ParamError, match=label):
        make(bad)


def test_setters_and_the_pii_column_list_still_work():
    t = TableSynthesizer(model="ctgan").setModelParams('{"embedding_dim": 8}')
    assert t.getModelParams() == {"embedding_dim": 8}
    assert PIISanitizer(piiColumns=["ssn"], defaultStrategy="mask").getPiiColumns() == {"ssn": ""}


def test_range_checks_speak_one_way():
    with pytest.raises(ParamError, match="TableSynthesizer: epochs must be >= 1, got 0"):
        TableSynthesizer(epochs=0)
    with pytest.raises(ParamError, match="RelationalSynthesizer: chunkSize must be >= 1"):
        RelationalSynthesizer(chunkSize=0)
    with pytest.raises(ParamError, match=r"PIISanitizer: sampleFraction must be in \(0, 1\]"):
        PIISanitizer(sampleFraction=0.0)
    with pytest.raises(ParamError, match=r"TableSynthesizer: minQuality must be in \[0, 1\]"):
        TableSynthesizer(minQuality=2.0)
    with pytest.raises(ParamError, match=r"maxLeaves must be >= 1"):
        CardinalityEstimator(maxLeaves=0)


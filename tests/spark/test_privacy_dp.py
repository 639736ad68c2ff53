"""TableSynthesizer(epsilon=...): the table's model and its condition model share the budget,
the fitted model states what was spent and what is not covered, the statement survives saving,
and settings that cannot keep a budget are refused."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("opacus")

from synthohive_spark.errors import ParamError  # noqa: E402
from synthohive_spark.ml.table import TableSynthesizer, TableSynthesizerModel  # noqa: E402


@pytest.fixture(scope="module")
def people(spark):
    rng = np.random.default_rng(0)
    n = 3000
    pdf = pd.DataFrame({"person_id": np.arange(n), "region": rng.choice(["north", "south"], n),
                        "age": rng.integers(18, 90, n).astype("float64"),
                        "plan": rng.choice(["basic", "plus", "pro"], n)})
    return spark.createDataFrame(pdf)


def test_the_fitted_model_states_the_epsilon_spent_and_what_is_not_covered(people, tmp_path):
    m = TableSynthesizer(seed=1, epsilon=2.0, model="tvae", epochs=2,
                         conditionCols=["region"]).fit(people)
    p = m.privacy
    assert 1.9 < p["epsilon"] <= 2.0 and p["epsilon_budget"] == 2.0
    # the table's model and the model that draws its conditions for sample(n) share the budget
    assert p["models"]["model"]["epsilon"] == pytest.approx(1.6, abs=0.01)
    assert p["models"]["condition"]["epsilon"] == pytest.approx(0.4, abs=0.01)
    assert p["delta"] <= 1e-5
    assert any("DP-SGD" in c for c in p["covered"])
    assert any("key formats of ['person_id']" in c for c in p["not_covered"])
    path = str(tmp_path / "m")
    m.write().overwrite().save(path)
    again = TableSynthesizerModel.load(path)
    assert again.privacy == p
    assert again.sample(100, seed=3).count() == 100
    auto = TableSynthesizer(seed=1, epsilon=1.0).fit(people)
    assert auto._state["model"] == "gaussian_copula" and auto.privacy["epsilon"] <= 1.0
    assert TableSynthesizer(seed=1, model="gaussian_copula").fit(people).privacy is None


@pytest.mark.parametrize("kw, message", [
    ({"epsilon": 1.0, "model": "sequence"}, "model .sequence. has no differentially private"),
    ({"epsilon": 1.0, "model": "ctgan", "conditionCols": ["region"]}, "learns no context"),
    ({"epsilon": 1.0, "model": "ctgan", "modelParams": {"pac": 10}}, "needs pac=1"),
    ({"epsilon": 1.0, "numProcesses": 2}, "set numProcesses=1"),
    ({"epsilon": 1.0, "sequenceKey": "region"}, "sequence model has no differentially private"),
    ({"epsilon": -1.0}, "epsilon must be >= 0"),
    ({"delta": 1e-6}, "delta is set but epsilon is 0"),
    ({"epsilon": 1.0, "model": "tvae", "modelParams": {"epsilon": 3}},
     "as stage params, not modelParams"),
])
def test_settings_that_cannot_keep_a_budget_are_refused(kw, message):
    with pytest.raises(ParamError, match=message):
        TableSynthesizer(**kw)


def test_one_budget_for_the_whole_database_split_over_its_tables(spark, tmp_path):
    from synthohive_spark.examples import retail_metadata, retail_spark
    from synthohive_spark.ml.relational import RelationalSynthesizer, RelationalSynthesizerModel

    frames = retail_spark(spark, seed=1, scale=0.3)
    md = retail_metadata()
    md.privacy.epsilon = 5.0  # the metadata's budget, when the stage sets none
    md.privacy.delta = 1e-7
    m = RelationalSynthesizer(metadata=md, seed=2).fit(frames)
    p = m.privacy
    assert p["delta"] == pytest.approx(1e-7)  # split over the tables, adding up to the metadata's
    assert set(p["tables"]) == {"customers", "products", "employees", "orders", "order_items"}
    for t, tp in p["tables"].items():
        assert tp["epsilon"] <= 1.0 + 1e-9, t  # five tables, one fifth each
    assert 4.5 < p["epsilon"] <= 5.0 and p["epsilon_budget"] == 5.0
    # a child table's tenth goes to its child counts (no context, a noisy histogram), a
    # twentieth to each second parent's degree model, the rest to its model
    items = p["tables"]["order_items"]
    shares = {k: v["epsilon"] / items["epsilon"] for k, v in items["models"].items()}
    assert shares == pytest.approx({"childCounts": 0.1, "degree:product_id": 0.05,
                                    "model": 0.85}, rel=0.03)
    assert any("child counts per orders: the number of children" in c for c in p["covered"])
    assert any("references of product_id: references per parent" in c for c in p["covered"])
    assert m._card_models["order_items"].core.context_columns == []
    assert not any("child counts" in c or "second parents" in c for c in p["not_covered"])
    assert "k x epsilon" in p["parent_context"]
    path = str(tmp_path / "db")
    m.save(path)
    again = RelationalSynthesizerModel.load(path)
    assert again.privacy == p
    out = again.sample(scale=0.5, seed=3)
    assert out["order_items"].count() > 0
    stage = RelationalSynthesizer(metadata=retail_metadata(), seed=2, epsilon=2.0)
    assert stage.fit(frames).privacy["epsilon"] <= 2.0  # the stage's epsilon wins
    assert RelationalSynthesizer(metadata=retail_metadata(), seed=2,
                                 model="gaussian_copula").fit(frames).privacy is None


def test_the_validation_report_shows_the_models_privacy_statement(people, tmp_path):
    from synthohive_spark.validation import evaluate

    m = TableSynthesizer(seed=1, epsilon=1.0, tableName="people").fit(people)
    synth = m.sample(2000, seed=4)
    report = evaluate(people, synth, model=m)
    dp = report.privacy["differential_privacy"]
    assert dp == m.privacy and dp["epsilon"] <= 1.0
    html = str(tmp_path / "r.html")
    report.save_html(html)
    text = open(html, encoding="utf-8").read()
    assert "Differential privacy of the model" in text and "Not covered" in text
    assert "differential_privacy" not in evaluate(people, synth).privacy

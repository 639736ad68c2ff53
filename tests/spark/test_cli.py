"""The `synthohive` command end to end on the bundled retail database: real Spark, real files.

Every subcommand runs through `main([...])` (its return value is the exit code) on parquet files
written from `examples.retail_spark`, with tiny epochs; one error runs through the installed
console script to see what a shell sees.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from synthohive_spark import examples
from synthohive_spark.cli import main

SUBCOMMANDS = ("demo", "detect", "fit", "sample", "report", "pii-scan")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([*argv])
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    """The one line of a failed command (Spark may print its own warnings before it)."""
    lines = [ln for ln in err.splitlines() if ln.startswith("synthohive") and ": error: " in ln]
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def retail(spark, tmp_path_factory):
    """Customers and their orders from the retail database (a fifth of its size) as parquet
    files: name -> path."""
    root = tmp_path_factory.mktemp("retail")
    paths = {}
    tables = examples.retail_spark(spark, seed=3, scale=0.2)
    for name in ("customers", "orders"):
        paths[name] = str(root / f"{name}.parquet")
        tables[name].write.parquet(paths[name])
    return paths


@pytest.fixture(scope="module")
def fitted(retail, tmp_path_factory):
    """`synthohive fit` of both tables, metadata detected and written."""
    root = tmp_path_factory.mktemp("fit")
    model_dir, meta = str(root / "model"), str(root / "meta.yaml")
    code = main(["fit", *[f"{n}={p}" for n, p in retail.items()], "--model-dir", model_dir,
                 "--metadata-out", meta, "--epochs", "2", "--seed", "5"])
    assert code == 0
    return model_dir, meta


@pytest.fixture(scope="module")
def sampled(fitted, tmp_path_factory):
    """`synthohive sample` of the fitted model at half the size: (exit code, stdout, stderr,
    output folder)."""
    import contextlib
    import io

    out = str(tmp_path_factory.mktemp("sample") / "synth")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["sample", "--model-dir", fitted[0], "--scale", "0.5", "--output", out,
                     "--seed", "1", "--progress"])
    return code, stdout.getvalue(), stderr.getvalue(), out


# ------------------------------------------------------------------ help and usage
def test_every_subcommand_has_help_with_an_example(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for cmd in SUBCOMMANDS:
        assert cmd in out
        code, out_cmd, _ = run(capsys, cmd, "--help")
        assert code == 0
        assert "example" in out_cmd and f"synthohive {cmd} " in out_cmd.split("example", 1)[1]


def test_usage_errors_exit_2_with_one_line(capsys, tmp_path):
    code, _, err = run(capsys, "fit", "customers=x.parquet")          # no --model-dir
    assert code == 2 and "--model-dir" in error_line(err)
    code, _, err = run(capsys, "fit", "customers", "--model-dir", str(tmp_path / "m"))
    assert code == 2 and "expected NAME=LOCATION, got 'customers'" in error_line(err)
    code, _, err = run(capsys, "fit", "a=jdbc:postgresql://db/shop", "b=x.parquet",
                       "--model-dir", "m")
    assert code == 2 and "not mixed with paths" in error_line(err)
    code, _, err = run(capsys, "fit", "a=x.parquet", "--model-dir", "m",
                       "--metadata", str(tmp_path / "nope.yaml"))
    assert code == 2 and "nope.yaml" in error_line(err) and "does not exist" in error_line(err)
    code, _, err = run(capsys, "sample", "--model-dir", "m", "--output", "o",
                       "--min-quality", "0.8")
    assert code == 2 and "--reference" in error_line(err)
    code, _, err = run(capsys, "demo", "--table", "nope")
    assert code == 2 and "--table 'nope' is not a table of the demo database" in error_line(err)
    code, _, err = run(capsys, "nonsense")
    assert code == 2 and "invalid choice" in error_line(err)


def test_exit_codes_scripts_can_trust():
    from synthohive_spark._cli_support import describe, exit_code
    from synthohive_spark.errors import (MetadataError, OutputExistsError, ParamError,
                                         QualityGateError, TableSourceError)

    assert exit_code(QualityGateError("below 0.8")) == 1
    for exc in (ParamError("x"), MetadataError("x"), TableSourceError("x"),
                OutputExistsError("x"), ValueError("x"), FileNotFoundError("x")):
        assert exit_code(exc) == 2, exc
    assert exit_code(RuntimeError("x")) == 3
    assert describe(MetadataError("two\nlines")) == "two; lines"
    assert describe(RuntimeError("boom")) == "RuntimeError: boom"
    assert describe(OutputExistsError("output already exists for table(s) 'a' at 'o/a'; use "
                                      "mode='overwrite' to replace them")).endswith(
        "; pass --overwrite to replace them")


def test_console_script_error_is_one_line_and_exit_2(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "synthohive")
    proc = subprocess.run([exe, "fit", "a=x.parquet", "--model-dir", str(tmp_path / "m"),
                           "--metadata", str(tmp_path / "missing.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"synthohive fit: error: metadata file {str(tmp_path / 'missing.yaml')!r} does not exist"]
    assert proc.stdout == ""


def test_bad_inputs_exit_2_naming_what_was_wrong(spark, capsys, tmp_path, retail):
    missing = str(tmp_path / "customers.parquet")
    code, _, err = run(capsys, "fit", f"customers={missing}", "--model-dir", str(tmp_path / "m"))
    assert code == 2
    line = error_line(err)
    assert "customers" in line and "does not exist" in line
    # --verbose: the same failure with its traceback
    code, _, err = run(capsys, "fit", f"customers={missing}", "--model-dir",
                       str(tmp_path / "m"), "--verbose")
    assert code == 2 and "Traceback" in err
    # metadata that does not describe the tables
    bad = tmp_path / "bad.yaml"
    bad.write_text("tables:\n  customers:\n    columns:\n      nope: {sdtype: numerical}\n")
    code, _, err = run(capsys, "fit", f"customers={retail['customers']}", "--metadata", str(bad),
                       "--model-dir", str(tmp_path / "m"))
    assert code == 2 and "nope" in error_line(err)
    # a catalog table that does not exist (a name without a path separator)
    code, _, err = run(capsys, "pii-scan", "t=no_such_db.no_such_table")
    assert code == 2 and "no_such_db.no_such_table" in error_line(err)
    # a model directory that does not exist
    code, _, err = run(capsys, "sample", "--model-dir", str(tmp_path / "none"),
                       "--output", str(tmp_path / "o"))
    assert code == 2 and "does not exist" in error_line(err)


# ------------------------------------------------------------------ detect, pii-scan
def test_detect_writes_the_metadata(capsys, tmp_path, retail):
    out = tmp_path / "m.yaml"
    code, stdout, _ = run(capsys, "detect", f"customers={retail['customers']}",
                          f"orders={retail['orders']}", "-o", str(out))
    assert code == 0 and stdout.strip() == f"metadata: {out}"
    text = out.read_text()
    assert "customers:" in text and "parent_table: customers" in text


def test_pii_scan_lists_the_personal_columns(capsys, tmp_path, retail):
    code, out, _ = run(capsys, "pii-scan", f"customers={retail['customers']}",
                       f"orders={retail['orders']}")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["table", "column", "kind", "confidence", "hit_rate", "source"]
    rows = {tuple(ln.split()[:3]) for ln in lines[1:] if not ln.startswith("#")}
    assert ("customers", "email", "email") in rows
    assert ("customers", "phone", "phone") in rows
    assert not any(r[0] == "orders" for r in rows)
    assert lines[-1] == "# no PII found in: orders"
    # a CSV file (format from the extension), JSON out
    csv = tmp_path / "people.csv"
    csv.write_text("id,contact,score\n" + "".join(
        f"{i},person{i}@example.org,{i * 7 % 10}\n" for i in range(1, 21)))
    js = tmp_path / "pii.json"
    code, out, _ = run(capsys, "pii-scan", f"people={csv}", "--json", "-o", str(js))
    assert code == 0 and out.strip() == f"pii: {js}"
    found = json.loads(js.read_text())
    assert found["people"]["contact"]["kind"] == "email"
    assert set(found["people"]) == {"contact"}


# ------------------------------------------------------------------ fit, sample, report
def test_fit_saves_the_model_and_the_metadata(fitted, capsys, retail):
    from synthohive_spark import Metadata, RelationalSynthesizerModel

    model_dir, meta = fitted
    model = RelationalSynthesizerModel.load(model_dir)
    assert set(model.tables) == set(retail)
    assert set(Metadata.from_yaml(meta).tables) == set(retail)
    # the model directory exists: refused without --overwrite, before any fitting
    code, _, err = run(capsys, "fit", f"customers={retail['customers']}", "--model-dir",
                       model_dir)
    assert code == 2 and "--overwrite" in error_line(err) and model_dir in error_line(err)


def test_sample_writes_every_table(fitted, sampled, capsys, tmp_path, spark, retail):
    model_dir, _ = fitted
    code, stdout, err, out = sampled
    assert code == 0, err
    lines = dict(ln.split(": ", 1) for ln in stdout.strip().splitlines())
    assert set(lines) == {"customers", "orders"}
    for name, line in lines.items():
        rows = int(line.split()[0])
        assert line.endswith(f"-> {out}/{name} (parquet)")
        assert spark.read.parquet(f"{out}/{name}").count() == rows
    assert int(lines["customers"].split()[0]) == round(
        spark.read.parquet(retail["customers"]).count() * 0.5)
    assert "sample: tables" in err and "rows written" in err
    # the output exists: exit 2 before anything is generated; --overwrite replaces it
    code, _, err = run(capsys, "sample", "--model-dir", model_dir, "--output", out)
    assert code == 2 and "--overwrite" in error_line(err)
    again = str(tmp_path / "again")
    assert main(["sample", "--model-dir", model_dir, "--output", again, "--seed", "1"]) == 0
    code, stdout, _ = run(capsys, "sample", "--model-dir", model_dir, "--rows", "customers=40",
                          "--output", again, "--format", "csv", "--overwrite")
    assert code == 0 and "customers: 40 rows" in stdout
    assert spark.read.option("header", True).csv(f"{again}/customers").count() == 40


def test_rows_name_the_root_table_when_there_are_several():
    from synthohive_spark import Metadata, SchemaGraph
    from synthohive_spark.cli import _num_rows
    from synthohive_spark.errors import ParamError

    def table(col):
        return {"primary_key": "id", "columns": {"id": {"sdtype": "id"},
                                                  col: {"sdtype": "numerical"}}}

    graph = SchemaGraph(Metadata.from_dict({"tables": {"a": table("x"), "b": table("y")}}))
    assert _num_rows(["a=3", "b=0"], graph) == {"a": 3, "b": 0}
    with pytest.raises(ParamError, match=r"2 root tables \(a, b\); name one: --rows TABLE=N"):
        _num_rows(["5"], graph)
    with pytest.raises(ParamError, match="whole number"):
        _num_rows(["a=many"], graph)


def test_sample_quality_gate_fails_with_exit_1_and_writes_nothing(fitted, capsys, tmp_path,
                                                                  retail):
    model_dir, _ = fitted
    out = tmp_path / "gated"
    code, stdout, err = run(capsys, "sample", "--model-dir", model_dir, "--output", str(out),
                            "--scale", "0.5", "--min-quality", "0.999", "--reference",
                            *[f"{n}={p}" for n, p in retail.items()])
    assert code == 1
    assert "quality gate" in error_line(err) and "below 0.999" in error_line(err)
    assert stdout == "" and not out.exists()


def test_report_writes_html_and_json_and_gates(fitted, sampled, capsys, tmp_path, retail):
    model_dir, meta = fitted
    synth = sampled[3]
    html, js = tmp_path / "r" / "report.html", tmp_path / "r" / "report.json"
    code, out, err = run(capsys, "report", "--real", *[f"{n}={p}" for n, p in retail.items()],
                         "--synthetic", synth, "--metadata", meta, "-o", str(html),
                         "--json", str(js), "--min-quality", "0.5")
    assert code == 0, err
    assert html.read_text().lstrip().lower().startswith("<!doctype html")
    data = json.loads(js.read_text())
    score = float(out.splitlines()[0].split(": ")[1])
    assert abs(data["score"] - score) < 1e-4 and 0.5 < score < 1.0
    assert "Cardinality" in out                       # the relationship was evaluated
    assert f"report: {html}" in out and f"report_json: {js}" in out
    assert out.splitlines()[-1] == "quality gate: passed (--min-quality 0.5)"


def test_single_table_fit_with_epoch_progress_and_bare_rows(capsys, tmp_path, retail, spark):
    model_dir = str(tmp_path / "cust")
    code, out, err = run(capsys, "fit", f"customers={retail['customers']}", "--model-dir",
                         model_dir, "--model", "tvae", "--epochs", "2", "--progress")
    assert code == 0, err
    assert out.splitlines()[-2:] == ["tables: customers", f"model: {model_dir}"]
    assert "fit: tables" in err and "epochs" in err
    code, out, _ = run(capsys, "sample", "--model-dir", model_dir, "--rows", "25",
                       "--output", str(tmp_path / "o"), "--format", "json", "--no-progress")
    assert code == 0 and out.startswith("customers: 25 rows")
    assert spark.read.json(str(tmp_path / "o" / "customers")).count() == 25


# ------------------------------------------------------------------ demo
def test_demo_runs_the_whole_job(capsys, tmp_path, spark):
    out = tmp_path / "demo"
    code, stdout, err = run(capsys, "demo", "--out", str(out), "--scale", "0.1", "--epochs", "1",
                            "--show", "3")
    assert code == 0, err
    assert "# detected metadata" in stdout and "tables:" in stdout      # the YAML, as before
    assert "# sanitized customers: " in stdout and "email=email/fake" in stdout
    assert "synthetic rows of 'customers' (first 3)" in stdout
    where = dict(ln.split(": ", 1) for ln in stdout.strip().splitlines()[-6:])
    assert where == {"metadata": f"{out}/metadata.yaml", "sanitized": f"{out}/sanitized",
                     "model": f"{out}/model", "synthetic": f"{out}/synthetic",
                     "report": f"{out}/report.html", "report_json": f"{out}/report.json"}
    for path in where.values():
        assert os.path.exists(path), path
    real = spark.read.parquet(f"{out}/sanitized/customers").count()
    assert spark.read.parquet(f"{out}/synthetic/customers").count() == 2 * real
    # the sanitized copy holds no real e-mail
    assert spark.read.parquet(f"{out}/sanitized/customers").join(
        examples.retail_spark(spark, seed=0, scale=0.1)["customers"].select("email"),
        "email").count() == 0

"""jvm/build_jar.py without a JVM: version discovery, staleness, jar packing."""
from __future__ import annotations

import importlib.util
import os
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def bj():
    spec = importlib.util.spec_from_file_location("build_jar", os.path.join(ROOT, "jvm",
                                                                           "build_jar.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def fake_spark_jars(tmp_path):
    folder = tmp_path / "spark-jars"
    folder.mkdir()
    for name in ("scala-library-2.12.18.jar", "scala-compiler-2.12.18.jar",
                 "scala-reflect-2.12.18.jar", "spark-core_2.12-3.5.5.jar",
                 "scala-xml_2.12-2.1.0.jar"):
        (folder / name).write_bytes(b"")
    return folder


def test_versions_are_read_from_the_jar_names(bj, fake_spark_jars):
    assert bj.find_spark_jars(str(fake_spark_jars)) == str(fake_spark_jars)
    assert bj.scala_version(str(fake_spark_jars)) == "2.12.18"
    assert bj.spark_version(str(fake_spark_jars)) == "3.5.5"


def test_missing_or_ambiguous_jars_are_reported(bj, tmp_path, fake_spark_jars):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(bj.BuildError, match="scala-library"):
        bj.find_spark_jars(str(empty))
    (fake_spark_jars / "scala-library-2.13.16.jar").write_bytes(b"")
    with pytest.raises(bj.BuildError, match="several scala-library jars"):
        bj.scala_version(str(fake_spark_jars))
    with pytest.raises(bj.BuildError, match="no .scala sources"):
        bj.scala_sources(str(empty))


def test_write_jar_is_deterministic_with_the_manifest_first(bj, tmp_path):
    classes = tmp_path / "classes" / "com" / "x"
    classes.mkdir(parents=True)
    (classes / "A.class").write_bytes(b"\xca\xfe\xba\xbe-a")
    (classes / "B$.class").write_bytes(b"\xca\xfe\xba\xbe-b")
    attrs = {"Scala-Version": "2.13.16", "Spark-Version": "4.0.5"}
    first, second = tmp_path / "one.jar", tmp_path / "two.jar"
    assert bj.write_jar(str(tmp_path / "classes"), str(first), attrs) == 2
    os.utime(classes / "A.class", (1e9, 1e9))  # file times do not leak into the jar
    assert bj.write_jar(str(tmp_path / "classes"), str(second), attrs) == 2
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as zf:
        names = zf.namelist()
        assert names[0] == "META-INF/MANIFEST.MF"
        assert sorted(names[1:]) == ["com/x/A.class", "com/x/B$.class"]
        assert zf.read("com/x/A.class") == b"\xca\xfe\xba\xbe-a"
    assert bj.read_manifest(str(first)) == {"Manifest-Version": "1.0", **attrs}
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".tmp")]


def test_up_to_date_needs_a_newer_jar_built_for_the_same_spark(bj, tmp_path, fake_spark_jars,
                                                              capsys):
    src = tmp_path / "src"
    src.mkdir()
    source = src / "A.scala"
    source.write_text("object A\n")
    os.utime(source, (1_000_000, 1_000_000))
    classes = tmp_path / "classes"
    classes.mkdir()
    (classes / "A.class").write_bytes(b"x")
    out = tmp_path / "out"
    out.mkdir()
    jar = out / "synthohive-spark_2.12.jar"
    bj.write_jar(str(classes), str(jar), {"Spark-Version": "3.5.5"})
    assert bj.up_to_date(str(jar), [str(source)], "3.5.5")
    assert not bj.up_to_date(str(jar), [str(source)], "3.5.6")
    assert not bj.up_to_date(str(out / "absent.jar"), [str(source)], "3.5.5")

    # build() keeps an up-to-date jar without starting the compiler (the fake jars are empty)
    path = bj.build(spark_jars=str(fake_spark_jars), output_dir=str(out), source_dir=str(src))
    assert path == str(jar)
    assert "up to date" in capsys.readouterr().out

    os.utime(source, None)  # the source is now newer than the jar
    os.utime(jar, (2_000_000, 2_000_000))
    assert not bj.up_to_date(str(jar), [str(source)], "3.5.5")

#!/usr/bin/env python3
"""Build the synthohive-spark JVM jar without sbt or Maven.

Compiles every ``.scala`` file under ``jvm/src/main/scala`` with the Scala compiler that ships in
the installed pyspark's ``jars/`` folder, against all the jars in that folder, and packs the
classes into ``python/synthohive_spark/jars/synthohive-spark_<scala binary>.jar``.

Usage: ``python jvm/build_jar.py [--force] [--spark-jars DIR] [--output-dir DIR] [--source-dir DIR]``

The jar is written atomically (a temporary file renamed into place). When compilation fails the
compiler's messages are printed, no jar is left for that Scala version and the exit status is 1.
The build is skipped when the jar is newer than every source and was built for the installed
Spark version; ``--force`` rebuilds anyway. Needs only a Java runtime (``JAVA_HOME`` or ``java`` on
``PATH``) and pyspark.
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE_DIR = os.path.join(ROOT, "jvm", "src", "main", "scala")
DEFAULT_OUTPUT_DIR = os.path.join(ROOT, "python", "synthohive_spark", "jars")
ARTIFACT = "synthohive-spark"
# A fixed timestamp for every zip entry, so the same classes give the same jar bytes.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class BuildError(RuntimeError):
    """A build step failed; the message says which one and why."""


def find_spark_jars(explicit: str | None) -> str:
    """The folder holding Spark's jars: --spark-jars, else pyspark's jars/, else $SPARK_HOME/jars."""
    candidates: list[str] = []
    if explicit:
        candidates.append(explicit)
    else:
        try:
            import pyspark
        except ImportError:
            pyspark = None  # type: ignore[assignment]
        if pyspark is not None:
            candidates.append(os.path.join(os.path.dirname(pyspark.__file__), "jars"))
        if os.environ.get("SPARK_HOME"):
            candidates.append(os.path.join(os.environ["SPARK_HOME"], "jars"))
    for folder in candidates:
        if glob.glob(os.path.join(folder, "scala-library-*.jar")):
            return folder
    raise BuildError(
        "no Spark jars folder with scala-library-*.jar found (looked in: "
        + (", ".join(candidates) or "nothing: pyspark is not importable and SPARK_HOME is unset")
        + "); install pyspark in this Python environment or pass --spark-jars DIR")


def _single(folder: str, prefix: str) -> str:
    """The one jar in ``folder`` whose name is ``<prefix>-<version>.jar``."""
    pattern = re.compile(re.escape(prefix) + r"-(\d[\w.\-]*)\.jar$")
    found = sorted(p for p in os.listdir(folder) if pattern.match(p))
    if not found:
        raise BuildError(f"{folder} has no {prefix}-<version>.jar; the Scala compiler needs it")
    if len(found) > 1:
        raise BuildError(f"{folder} has several {prefix} jars ({', '.join(found)}); expected one")
    return os.path.join(folder, found[0])


def scala_version(jars_dir: str) -> str:
    """Full Scala version (e.g. 2.13.16) read from the name of scala-library-<version>.jar."""
    name = os.path.basename(_single(jars_dir, "scala-library"))
    return name[len("scala-library-"):-len(".jar")]


def spark_version(jars_dir: str) -> str:
    """Spark version read from spark-core_<scala>-<version>.jar (or 'unknown')."""
    for path in glob.glob(os.path.join(jars_dir, "spark-core_*.jar")):
        match = re.match(r"spark-core_[\d.]+-(.+)\.jar$", os.path.basename(path))
        if match:
            return match.group(1)
    return "unknown"


def project_version() -> str:
    """The package version from pyproject.toml (or 'unknown')."""
    try:
        with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as fh:
            match = re.search(r'^version\s*=\s*"([^"]+)"', fh.read(), re.MULTILINE)
    except OSError:
        return "unknown"
    return match.group(1) if match else "unknown"


def java_executable() -> str:
    """The java launcher: $JAVA_HOME/bin/java, else java on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        exe = os.path.join(home, "bin", "java.exe" if os.name == "nt" else "java")
        if os.path.isfile(exe):
            return exe
    exe = shutil.which("java")
    if exe is None:
        raise BuildError("no Java runtime found: set JAVA_HOME or put java on PATH (Java 17)")
    return exe


def scala_sources(source_dir: str = SOURCE_DIR) -> list[str]:
    """Every .scala file under ``source_dir``, sorted."""
    sources = sorted(glob.glob(os.path.join(source_dir, "**", "*.scala"), recursive=True))
    if not sources:
        raise BuildError(f"no .scala sources under {source_dir}")
    return sources


def read_manifest(jar: str) -> dict[str, str]:
    """Main attributes of a jar's manifest; empty when unreadable."""
    try:
        with zipfile.ZipFile(jar) as zf:
            text = zf.read("META-INF/MANIFEST.MF").decode("utf-8")
    except (OSError, KeyError, zipfile.BadZipFile):
        return {}
    attributes: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            attributes[key] = value
    return attributes


def up_to_date(jar: str, sources: list[str], spark: str) -> bool:
    """True when ``jar`` exists, is newer than every source and was built for ``spark``."""
    if not os.path.isfile(jar):
        return False
    jar_mtime = os.path.getmtime(jar)
    if any(os.path.getmtime(s) >= jar_mtime for s in sources):
        return False
    return read_manifest(jar).get("Spark-Version") == spark


def compile_sources(sources: list[str], jars_dir: str, classes_dir: str, work_dir: str) -> str:
    """Runs scalac from pyspark's jars; returns the compiler's output. Raises BuildError on failure."""
    compiler_cp = [_single(jars_dir, "scala-compiler"), _single(jars_dir, "scala-library"),
                   _single(jars_dir, "scala-reflect")]
    # The compiler needs nothing else; jline and friends are only for the REPL.
    classpath = os.pathsep.join(sorted(glob.glob(os.path.join(jars_dir, "*.jar"))))
    args = ["-encoding", "UTF-8", "-deprecation", "-feature", "-unchecked",
            "-classpath", classpath, "-d", classes_dir, *sources]
    # An argument file keeps the command line short (the classpath has ~250 jars).
    argfile = os.path.join(work_dir, "scalac.args")
    with open(argfile, "w", encoding="utf-8") as fh:
        for arg in args:
            fh.write('"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"\n')
    command = [java_executable(), "-Xss8m", "-Xmx1g", "-cp", os.pathsep.join(compiler_cp),
               "scala.tools.nsc.Main", "@" + argfile]
    proc = subprocess.run(command, capture_output=True, text=True)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise BuildError(f"the Scala compiler failed (exit status {proc.returncode}):\n{output}")
    if not glob.glob(os.path.join(classes_dir, "**", "*.class"), recursive=True):
        raise BuildError(f"the Scala compiler wrote no classes:\n{output}")
    return output


def write_jar(classes_dir: str, jar: str, attributes: dict[str, str]) -> int:
    """Packs ``classes_dir`` into ``jar`` atomically; returns the number of class files."""
    manifest = "Manifest-Version: 1.0\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in attributes.items()) + "\r\n"
    files: list[str] = []
    for folder, _, names in os.walk(classes_dir):
        files.extend(os.path.join(folder, n) for n in names)
    files.sort()
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".jar", dir=os.path.dirname(jar))
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(zipfile.ZipInfo("META-INF/MANIFEST.MF", ZIP_DATE), manifest,
                        compress_type=zipfile.ZIP_DEFLATED)
            for path in files:
                name = os.path.relpath(path, classes_dir).replace(os.sep, "/")
                info = zipfile.ZipInfo(name, ZIP_DATE)
                info.external_attr = 0o644 << 16
                with open(path, "rb") as fh:
                    zf.writestr(info, fh.read(), compress_type=zipfile.ZIP_DEFLATED)
        os.chmod(tmp, 0o644)
        os.replace(tmp, jar)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return sum(1 for f in files if f.endswith(".class"))


def build(force: bool = False, spark_jars: str | None = None,
          output_dir: str = DEFAULT_OUTPUT_DIR, source_dir: str = SOURCE_DIR) -> str:
    """Builds (or keeps) the jar for the installed Spark; returns its path."""
    started = time.monotonic()
    jars_dir = find_spark_jars(spark_jars)
    scala = scala_version(jars_dir)
    binary = ".".join(scala.split(".")[:2])
    spark = spark_version(jars_dir)
    sources = scala_sources(source_dir)
    os.makedirs(output_dir, exist_ok=True)
    jar = os.path.join(output_dir, f"{ARTIFACT}_{binary}.jar")
    rel = os.path.relpath(jar, os.getcwd())
    if not force and up_to_date(jar, sources, spark):
        print(f"{rel} is up to date ({len(sources)} sources, Scala {scala}, Spark {spark}); "
              "skipped (use --force to rebuild)")
        return jar
    print(f"Compiling {len(sources)} Scala sources with Scala {scala} from {jars_dir} "
          f"(Spark {spark}) ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="synthohive-jvm-") as work:
        classes = os.path.join(work, "classes")
        os.makedirs(classes)
        try:
            output = compile_sources(sources, jars_dir, classes, work)
        except BuildError:
            if os.path.exists(jar):
                os.remove(jar)  # never leave a jar that no longer matches the sources
                print(f"removed the stale {rel}", file=sys.stderr)
            raise
        if output:
            print(output)
        count = write_jar(classes, jar, {
            "Created-By": f"jvm/build_jar.py (scalac {scala})",
            "Implementation-Title": ARTIFACT,
            "Implementation-Version": project_version(),
            "Scala-Version": scala,
            "Spark-Version": spark,
        })
    elapsed = time.monotonic() - started
    print(f"Wrote {rel}: {count} classes, {os.path.getsize(jar)} bytes, in {elapsed:.1f} s")
    return jar


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    parser.add_argument("--spark-jars", metavar="DIR",
                        help="Spark jars folder (default: the installed pyspark's jars/)")
    parser.add_argument("--output-dir", metavar="DIR", default=DEFAULT_OUTPUT_DIR,
                        help="where the jar goes (default: python/synthohive_spark/jars)")
    parser.add_argument("--source-dir", metavar="DIR", default=SOURCE_DIR,
                        help="Scala sources (default: jvm/src/main/scala)")
    args = parser.parse_args(argv)
    try:
        build(force=args.force, spark_jars=args.spark_jars, output_dir=args.output_dir,
              source_dir=args.source_dir)
    except BuildError as exc:
        print(f"build_jar: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

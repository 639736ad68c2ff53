#!/usr/bin/env bash
# Sets up a fresh machine for synthohive-spark: a venv, torch and pyspark pinned by a constraints
# file, the package (editable) with its test extras, and the JVM jar built without sbt.
#
#   bash scripts/setup.sh            # .venv: the main line, what `pip install synthohive-spark`
#                                    #   resolves today (pyspark 4, pandas 3, numpy 2), ci-constraints.txt
#   bash scripts/setup.sh spark35    # .venv-spark35: pyspark 3.5 with Spark Connect, pandas 2,
#                                    #   numpy 1.26, Delta Lake (delta-spark 3.3, its jars fetched
#                                    #   into ~/.ivy2 once) (ci-constraints-spark35.txt)
#   bash scripts/setup.sh compare    # .venv-spark35 as above plus sdmetrics (which holds pandas
#                                    #   below 3; nothing in the library imports it), for the
#                                    #   comparison tests (-m compare): one torch install less
#
# Idempotent: re-running only installs what is missing or what the constraints changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LINE=${1:-main}
case "$LINE" in
  main)    VENV=.venv;         CONSTRAINTS=ci-constraints.txt;         EXTRAS="test" ;;
  spark35) VENV=.venv-spark35; CONSTRAINTS=ci-constraints-spark35.txt; EXTRAS="test,connect,delta" ;;
  compare) VENV=.venv-spark35; CONSTRAINTS=ci-constraints-spark35.txt; EXTRAS="test,connect,compare,delta" ;;
  *) echo "scripts/setup.sh: unknown line '$LINE' (expected main, spark35 or compare)" >&2; exit 2 ;;
esac
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
. "$VENV/bin/activate"
python -m pip install -q --upgrade pip wheel setuptools
# torch first and pinned, so the resolver never weighs other torch builds.
python -m pip install -q -c "$CONSTRAINTS" torch
python -m pip install -q -c "$CONSTRAINTS" -e ".[$EXTRAS]"
# Fail here, not in the middle of the tests, if the pins did not take.
python - "$CONSTRAINTS" <<'EOF'
import sys
from importlib.metadata import version
pins = [l.split("#")[0].strip() for l in open(sys.argv[1])]
wrong = [f"{n}: {version(n)} installed, {v} pinned" for n, v in
         (p.split("==") for p in pins if "==" in p) if version(n) != v]
if wrong:
    sys.exit("scripts/setup.sh: the environment does not match " + sys.argv[1] + ": " + "; ".join(wrong))
EOF
python jvm/build_jar.py
# Delta Lake's jars (the line's delta-spark, where one supports its Spark) into the ivy cache now,
# so that tests do not fetch them; a second run finds them there and starts no JVM.
python - <<'EOF'
import glob, os, sys
from synthohive_spark.errors import DeltaUnavailableError
from synthohive_spark.session import delta_package, get_or_create_session
try:
    package = delta_package()
except DeltaUnavailableError as exc:
    print(f"scripts/setup.sh: no Delta Lake on this line: {exc}")
    sys.exit(0)
_, artifact, version = package.split(":")
if glob.glob(os.path.expanduser(f"~/.ivy2*/jars/io.delta_{artifact}-{version}.jar")):
    sys.exit(0)
get_or_create_session(app_name="setup-delta", master="local[1]", delta=True).stop()
print(f"scripts/setup.sh: fetched {package} into the ivy cache")
EOF
# The PostgreSQL JDBC driver (tests marked jdbc) into this line's ivy cache (Spark 4 keeps its own,
# ~/.ivy2.5.2), likewise once.
python - <<'EOF'
import os, sys
import pyspark
from synthohive_spark.io.jdbc import JDBC_DRIVER_VERSION, jdbc_package
ivy = "~/.ivy2.5.2" if int(pyspark.__version__.split(".")[0]) >= 4 else "~/.ivy2"
if os.path.exists(os.path.expanduser(f"{ivy}/jars/org.postgresql_postgresql-{JDBC_DRIVER_VERSION}.jar")):
    sys.exit(0)
from synthohive_spark.session import get_or_create_session
get_or_create_session(app_name="setup-jdbc", master="local[1]", jdbc=True).stop()
print(f"scripts/setup.sh: fetched {jdbc_package()} into the ivy cache")
EOF

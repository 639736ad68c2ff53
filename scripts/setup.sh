#!/usr/bin/env bash
# Sets up a fresh machine for synthohive-spark: a venv in .venv with the pinned CPU torch and
# pyspark, the package (editable) with its test extras, and the JVM jar built without sbt.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip wheel setuptools
# torch first and pinned: a bare `torch` requirement would pull a multi-GB CUDA build.
python -m pip install -q -c ci-constraints.txt torch
python -m pip install -q -c ci-constraints.txt -e ".[test]"
python jvm/build_jar.py

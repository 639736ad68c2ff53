"""The package root re-exports the public API lazily, without starting a JVM."""
from __future__ import annotations

import subprocess
import sys

import synthohive_spark


def test_every_public_name_resolves():
    for name in synthohive_spark.__all__:
        assert getattr(synthohive_spark, name) is not None, name


def test_importing_the_core_does_not_import_spark():
    code = ("import sys, synthohive_spark.models, synthohive_spark.transform, "
            "synthohive_spark.relational, synthohive_spark.privacy, synthohive_spark.metadata; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pyspark'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout

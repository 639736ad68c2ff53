"""The package root re-exports the public API lazily, without starting a JVM."""
from __future__ import annotations

import subprocess
import sys

import pytest

import synthohive_spark


def test_every_public_name_is_the_object_of_its_home_module():
    import importlib
    import inspect

    assert set(synthohive_spark.__all__) == set(synthohive_spark._EXPORTS) | {"__version__"}
    for name, home in synthohive_spark._EXPORTS.items():
        value = getattr(synthohive_spark, name)
        mod = importlib.import_module(home)
        expected = mod if home.endswith("." + name) else getattr(mod, name)
        assert value is expected, name
        assert inspect.ismodule(value) or callable(value), name
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        synthohive_spark.NoSuchThing  # noqa: B018


def test_every_error_the_library_defines_derives_from_one_base():
    import importlib
    import inspect
    import pkgutil

    from synthohive_spark.errors import SynthohiveError

    defined = []
    for info in pkgutil.walk_packages(synthohive_spark.__path__, "synthohive_spark."):
        mod = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(mod, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__.startswith("synthohive_spark"):
                defined.append(obj)
    assert len({c.__name__ for c in defined}) >= 10
    loose = [c.__qualname__ for c in defined if not issubclass(c, SynthohiveError)]
    assert not loose, loose
    # defined in one module only
    assert {c.__module__ for c in defined} == {"synthohive_spark.errors"}


def test_importing_the_core_does_not_import_spark():
    code = ("import sys, synthohive_spark.models, synthohive_spark.transform, "
            "synthohive_spark.relational, synthohive_spark.privacy, synthohive_spark.metadata; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pyspark'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout

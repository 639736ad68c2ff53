"""Writes tests/data/models/relational_fleet_732a091: the fleet database (tests/conftest.py's
fleet_database) fitted with the copula by commit 732a091, whose parent constants were set by
drawing the siblings again (no "conditioned" or "overall" in the saved state). Run from the root
of a checkout of 732a091 (its tests/conftest.py has fleet_database) as
PYTHONPATH=python python <this checkout>/tests/data/models/make_fleet_732a091.py <out folder>"""
import os
import sys

sys.path.insert(0, os.path.join(os.getcwd(), "tests"))

from conftest import fleet_database  # noqa: E402
from synthohive_spark.metadata import Metadata  # noqa: E402
from synthohive_spark.ml.relational import RelationalSynthesizer  # noqa: E402
from synthohive_spark.session import get_or_create_session  # noqa: E402

spark = get_or_create_session()
real = fleet_database()
frames = {t: spark.createDataFrame(df) for t, df in real.items()}
model = RelationalSynthesizer(metadata=Metadata.detect(real), seed=5,
                              model="gaussian_copula").fit(frames)
model.write().overwrite().save(os.path.join(sys.argv[1], "relational_fleet_732a091"))

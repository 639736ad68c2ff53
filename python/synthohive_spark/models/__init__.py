"""synthohive_spark.models: generative models of one table (torch + pandas; no Spark).

>>> from synthohive_spark.models import create_model
>>> m = create_model("ctgan", epochs=5).fit(df)          # doctest: +SKIP
>>> m.sample(100, seed=1)                                 # doctest: +SKIP
"""
from synthohive_spark.models.base import (
    FORMAT_VERSION,
    GenerativeModel,
    ModelStateError,
    model_from_blobs,
    model_to_blobs,
)
from synthohive_spark.models.copula import GaussianCopula
from synthohive_spark.models.ctgan import CTGAN
from synthohive_spark.models.sequence import SequenceModel
from synthohive_spark.models.registry import available_models, create_model, get_model_class, register_model
from synthohive_spark.models.tvae import TVAE

__all__ = [
    "CTGAN", "FORMAT_VERSION", "GaussianCopula", "GenerativeModel", "ModelStateError", "SequenceModel", "TVAE",
    "available_models", "create_model", "get_model_class", "model_from_blobs", "model_to_blobs",
    "register_model",
]

"""Params the synthesizer stages share, declared once (as ``pyspark.ml.param.shared`` does), and the
one way every stage declares a dict-valued param, validates its params and defaults its seed."""
from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Mapping, Optional

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasSeed

from synthohive_spark.errors import ParamError

#: The seed of every stage when none is given (a saved model keeps the seed it was saved with).
DEFAULT_SEED = 42


class HasDefaultSeed(HasSeed):
    """pyspark's ``seed`` Param with :data:`DEFAULT_SEED` as its default, the same for every stage."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(seed=DEFAULT_SEED)


class _JsonObject:
    """Type converter of a dict-valued param: a dict (or the JSON of one) -> its JSON string with
    sorted keys. ``normalize`` (optional) turns the value as given into the dict first."""

    def __init__(self, stage: str, name: str,
                 normalize: Optional[Callable[[Any], Mapping[str, Any]]] = None) -> None:
        self.stage, self.name, self.normalize = stage, name, normalize

    def __call__(self, value: Any) -> str:
        try:
            if self.normalize is not None:
                value = self.normalize(value)
            elif isinstance(value, str):
                value = json.loads(value) if value.strip() else {}
        except (TypeError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
            raise ParamError(f"{self.stage}: {self.name} must be a dict or the JSON of one; "
                             f"{exc}") from None
        if not isinstance(value, Mapping):
            raise ParamError(f"{self.stage}: {self.name} must be a dict or the JSON of one, got "
                             f"{type(value).__name__}.")
        return json.dumps(dict(value), sort_keys=True)


def dict_param(stage: str, name: str, doc: str,
               normalize: Optional[Callable[[Any], Mapping[str, Any]]] = None) -> Param:
    """A dict-valued Param of ``stage``: kept as a JSON string (so it saves and loads as a plain
    string, and a model saved with a dict value still loads), set from a dict or a JSON string,
    read back with :func:`dict_value` as a dict."""
    return Param(Params._dummy(), name, doc, typeConverter=_JsonObject(stage, name, normalize))


def dict_value(stage: Params, param: Param) -> dict[str, Any]:
    """The dict of a :func:`dict_param` (a new dict: changing it changes nothing)."""
    value = stage.getOrDefault(param)
    return json.loads(value) if isinstance(value, str) else dict(value)


def check_at_least_one(where: str, stage: Params, names: Iterable[str]) -> None:
    """ParamError naming ``where`` and the param when one of the int params ``names`` is < 1."""
    for name in names:
        value = stage.getOrDefault(name)
        if value < 1:
            raise ParamError(f"{where}: {name} must be >= 1, got {value}.")


def check_unit_interval(where: str, stage: Params, names: Iterable[str],
                        open_low: bool = False) -> None:
    """ParamError when one of the params ``names`` is outside [0, 1] (``(0, 1]`` with
    ``open_low``)."""
    for name in names:
        value = stage.getOrDefault(name)
        if not ((0.0 < value) if open_low else (0.0 <= value)) or value > 1.0:
            raise ParamError(f"{where}: {name} must be in {'(' if open_low else '['}0, 1], got "
                             f"{value}.")


def check_model_params(where: str, model: str, model_params: Mapping[str, Any]) -> None:
    """Hyperparameters belong to a named model: ParamError when ``model`` is 'auto'."""
    if model == "auto" and model_params:
        raise ParamError(f"{where}: modelParams {sorted(model_params)} are hyperparameters of one "
                         "model, but model='auto' picks the model per table; name the model "
                         "(model='tvae', 'ctgan' or 'gaussian_copula'; per table in tableParams) "
                         "to pass them.")


class HasSynthesisParams(HasDefaultSeed):
    """Model choice, training size and generation chunking of a synthesizer stage."""

    model = Param(Params._dummy(), "model",
                  "generative model: 'auto' (the default: chosen per table by a quick held-out "
                  "score, logged at fit; see synthohive_spark.models.auto), 'ctgan', 'tvae', "
                  "'gaussian_copula', or a name given to synthohive_spark.register_model",
                  typeConverter=TypeConverters.toString)
    epochs = Param(Params._dummy(), "epochs", "training epochs per table model (> 0; with "
                   "model='auto' an upper bound for a neural model it picks)",
                   typeConverter=TypeConverters.toInt)
    batchSize = Param(Params._dummy(), "batchSize", "training batch size (> 0)",
                      typeConverter=TypeConverters.toInt)
    maxTrainingRows = Param(Params._dummy(), "maxTrainingRows",
                            "at most this many rows per table, sampled reproducibly with the "
                            "seed, are brought to the driver for training",
                            typeConverter=TypeConverters.toInt)
    rowsPerPartition = Param(Params._dummy(), "rowsPerPartition",
                             "rows generated per Spark partition (sample(numPartitions=...) "
                             "overrides)", typeConverter=TypeConverters.toInt)
    chunkSize = Param(Params._dummy(), "chunkSize",
                      "rows generated per model call inside a task (bounds executor memory); "
                      "a sequential table's call takes 4x as many (a few hundred bytes a row) "
                      "and never splits a sequence",
                      typeConverter=TypeConverters.toInt)

    def getModel(self) -> str:
        return self.getOrDefault(self.model)

    def getEpochs(self) -> int:
        return self.getOrDefault(self.epochs)

    def getBatchSize(self) -> int:
        return self.getOrDefault(self.batchSize)

    def getMaxTrainingRows(self) -> int:
        return self.getOrDefault(self.maxTrainingRows)

    def getRowsPerPartition(self) -> int:
        return self.getOrDefault(self.rowsPerPartition)

    def getChunkSize(self) -> int:
        return self.getOrDefault(self.chunkSize)


class HasCopyRejection(Params):
    """Rejection at generation of synthetic rows that copy a real row or come too close to one
    (see :mod:`synthohive_spark.ml._copies`): the real rows come from ``sample(...,
    reference=...)``."""

    rejectCopies = Param(Params._dummy(), "rejectCopies",
                         "reject generated rows that are exact copies of a real row (equal on "
                         "every learned column) and generate them again, on the executors; the "
                         "real rows come from sample(..., reference=real rows) (at most 50,000 "
                         "distinct ones, chosen by a hash of their values). A relational stage "
                         "keeps the metadata's privacy.exact_copy_tolerance share of copies and "
                         "turns this on by itself when that tolerance is set (0: no copy)",
                         typeConverter=TypeConverters.toBoolean)
    minDCR = Param(Params._dummy(), "minDCR",
                   "reject generated rows closer than this to a real row (distance to closest "
                   "record in [0, 1]: per learned column |a-b| / real range capped at 1 or a "
                   "category mismatch, averaged; copies are at 0) and generate them again, on the "
                   "executors, against sample(..., reference=real rows); 0: off (a relational "
                   "stage: the metadata's privacy.min_dcr)",
                   typeConverter=TypeConverters.toFloat)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(rejectCopies=False, minDCR=0.0)

    def getRejectCopies(self) -> bool:
        return self.getOrDefault(self.rejectCopies)

    def getMinDCR(self) -> float:
        return self.getOrDefault(self.minDCR)

    def setRejectCopies(self, value: bool) -> Any:
        return self._set(rejectCopies=value)

    def setMinDCR(self, value: float) -> Any:
        return self._set(minDCR=value)


class HasPrivacyBudget(Params):
    """``epsilon`` and ``delta`` of differential privacy (see :mod:`synthohive_spark.privacy.dp`)."""

    epsilon = Param(Params._dummy(), "epsilon",
                    "differential privacy: the epsilon the fitted model may spend on the real rows "
                    "(0: none; a relational stage falls back to the metadata's privacy.epsilon "
                    "and splits it evenly over its tables, a tenth of a child table's share for its "
                    "child counts). tvae and ctgan train with DP-SGD, "
                    "gaussian_copula from noisy statistics; 'auto' then means gaussian_copula (a "
                    "choice by held-out score would read the data); other models are refused. "
                    "The fitted model's privacy says what was spent and what is not covered",
                    typeConverter=TypeConverters.toFloat)
    delta = Param(Params._dummy(), "delta",
                  "differential privacy: delta (0: the metadata's privacy.delta for a relational "
                  "stage, else 1 / (n ln n) of the training rows, at most 1e-5)",
                  typeConverter=TypeConverters.toFloat)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(epsilon=0.0, delta=0.0)

    def getEpsilon(self) -> float:
        return self.getOrDefault(self.epsilon)

    def getDelta(self) -> float:
        return self.getOrDefault(self.delta)

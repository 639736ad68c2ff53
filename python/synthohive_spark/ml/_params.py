"""Params the synthesizer stages share, declared once (as ``pyspark.ml.param.shared`` does)."""
from __future__ import annotations

from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasSeed


class HasSynthesisParams(HasSeed):
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
                      "rows generated per model call inside a task (bounds executor memory)",
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

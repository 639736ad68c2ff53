package com.synthohive.spark

import org.apache.spark.ml.param.{Params, StringArrayParam}
import org.apache.spark.sql.types._

/** The columns a stage reads. Shared by every synthohive-spark column transformer. */
trait HasInputCols extends Params {

  /** Names of the input columns (exact, case-sensitive names of top-level columns). */
  final val inputCols: StringArrayParam =
    new StringArrayParam(this, "inputCols", "names of the input columns")

  final def getInputCols: Array[String] = $(inputCols)
}

/**
 * Where a stage writes. When `outputCols` is not set, the input columns are replaced in place
 * (same name, same position).
 */
trait HasOptionalOutputCols extends Params {

  /** Names of the output columns, one per input column; unset means "replace in place". */
  final val outputCols: StringArrayParam = new StringArrayParam(this, "outputCols",
    "names of the output columns, one per input column; unset replaces the input columns in place")

  final def getOutputCols: Array[String] = $(outputCols)

  /** The output column names actually used: `outputCols` when set, else the input names. */
  protected def resolvedOutputCols(inputs: Array[String]): Array[String] =
    if (isDefined(outputCols)) $(outputCols) else inputs
}

/** Schema checks with errors that name the stage, the column and what was expected. */
private[spark] object SchemaChecks {

  /** Backtick-quotes a top-level column name so that dots and spaces in it are taken literally. */
  def quoted(name: String): String = "`" + name.replace("`", "``") + "`"

  /** The field named `column`; an error lists the available columns when it is missing. */
  def requireColumn(schema: StructType, column: String, stage: String): StructField =
    schema.fields.find(_.name == column).getOrElse {
      val available = schema.fieldNames.map(n => s"'$n'").mkString(", ")
      throw new IllegalArgumentException(
        s"$stage: input column '$column' does not exist. Available columns: $available.")
    }

  /** Fails when `names` is empty or repeats a name. */
  def requireDistinctNonEmpty(names: Array[String], what: String, stage: String): Unit = {
    require(names.nonEmpty, s"$stage: $what must name at least one column.")
    val repeated = names.groupBy(identity).collect { case (n, xs) if xs.length > 1 => s"'$n'" }
    if (repeated.nonEmpty) {
      throw new IllegalArgumentException(
        s"$stage: $what repeats column ${repeated.toSeq.sorted.mkString(", ")}.")
    }
  }

  /**
   * True for the types whose value is hashed through Spark's cast to string: strings, numbers,
   * booleans, dates and timestamps.
   */
  def isStringCastable(dataType: DataType): Boolean = dataType match {
    case _: StringType | _: NumericType | BooleanType | DateType | TimestampType => true
    case other => other.typeName == "timestamp_ntz"
  }
}

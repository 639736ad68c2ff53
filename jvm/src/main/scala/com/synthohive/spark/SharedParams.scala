package com.synthohive.spark

import org.apache.spark.ml.param.{Param, Params, StringArrayParam}
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

/**
 * The secret key of a keyed stage (`HmacPseudonymizer`, `PIIReplacer`): never a Param and never
 * saved. `setKey` keeps it in memory and records its public fingerprint, which is saved; a loaded
 * stage accepts only the key it was saved with. The rules of the Python stages (`ml/_secret.py`).
 */
trait HasSecretKey extends Params {

  /** A free label for the key (e.g. the secret scope and name it is read from); saved. */
  final val keyId: Param[String] = new Param[String](this, "keyId",
    "a label naming the key, e.g. where it is kept; saved with the model (never the key itself)")

  final def getKeyId: String = $(keyId)

  /** Public fingerprint of the key: set by `setKey`, saved, checked when a key is set again. */
  final val keyFingerprint: Param[String] = new Param[String](this, "keyFingerprint",
    "first 16 hex characters of HMAC-SHA256(key, a fixed label): identifies the key without " +
      "revealing it; set by setKey",
    (v: String) => v != null && v.matches("[0-9a-f]{16}"))

  final def getKeyFingerprint: String = $(keyFingerprint)

  /** The secret: in memory only, never a Param, never serialized with the stage. */
  @transient private var secretKey: String = _

  /** The stage and its uid, as errors name it. */
  protected def stageName: String

  /** The key set in this JVM, or null. */
  protected final def currentKey: String = secretKey

  def setKeyId(value: String): this.type = set(keyId, value)

  /**
   * Sets the secret key (any non-empty string; its UTF-8 bytes are the HMAC key). On a stage that
   * already has a key fingerprint (e.g. one loaded from disk), the key must match it.
   */
  def setKey(value: String): this.type = {
    if (value == null || value.isEmpty) {
      throw new IllegalArgumentException(s"$stageName: the key must be a non-empty string.")
    }
    val fp = HmacSha256.fingerprint(value)
    if (isDefined(keyFingerprint) && $(keyFingerprint) != fp) {
      throw new IllegalArgumentException(
        s"$stageName: the key does not match the key this model was saved with " +
          s"(expected key fingerprint ${$(keyFingerprint)}$keyIdHint). Set the original key, or " +
          "build a new stage to use a different key: fakes and hashes made with another key do " +
          "not join with the old ones.")
    }
    secretKey = value
    set(keyFingerprint, fp)
  }

  /** True when a key has been set in this JVM (keys are never loaded from disk). */
  def hasKey: Boolean = secretKey != null

  /** Forgets the key held in memory; the fingerprint stays. */
  def clearKey(): this.type = {
    secretKey = null
    this
  }

  /** `that` gets this stage's in-memory key (for `copy`). */
  protected final def copyKeyTo(that: HasSecretKey): Unit = that.secretKey = secretKey

  protected final def keyIdHint: String =
    if (isDefined(keyId)) s", key id '${$(keyId)}'" else ""
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

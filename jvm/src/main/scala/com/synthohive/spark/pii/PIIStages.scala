package com.synthohive.spark.pii

import org.apache.spark.ml.Transformer
import org.apache.spark.ml.param.{IntParam, Param, ParamMap, StringArrayParam}
import org.apache.spark.ml.util.{DefaultParamsReadable, DefaultParamsWritable, Identifiable}
import org.apache.spark.sql.{Column, DataFrame, Dataset}
import org.apache.spark.sql.functions.{col, lit, udf}
import org.apache.spark.sql.types.{BinaryType, IntegerType, StringType, StructField, StructType}

import com.synthohive.spark.{HasInputCols, HasSecretKey, HmacHexFunction, HmacSha256, SchemaChecks}

/**
 * Scans columns for PII: appends, per input column, an int column holding the bit mask of the
 * value rules its value passes (see [[PIIRules]]: 1 email, 2 phone-shaped, 4 SSN, 8 nine-digit
 * SSN, 16 card (Luhn), 32 IPv4/IPv6, 64 IBAN (mod-97), 128 date of birth). Values are read as
 * `CAST(x AS STRING)`; null gives 0. The Python stage `PIISanitizer` aggregates these masks over a
 * distributed sample.
 */
class PIIScanner(override val uid: String)
    extends Transformer with HasInputCols with DefaultParamsWritable {

  def this() = this(Identifiable.randomUID("piiScanner"))

  final val outputCols: StringArrayParam = new StringArrayParam(this, "outputCols",
    "names of the int columns holding each input column's rule bit mask")

  final val refYear: IntParam = new IntParam(this, "refYear",
    "the year dates of birth are measured from (a birth year lies in [refYear-120, refYear])")

  setDefault(refYear -> 2025)

  def setInputCols(value: Array[String]): this.type = set(inputCols, value)
  def setOutputCols(value: Array[String]): this.type = set(outputCols, value)
  def setRefYear(value: Int): this.type = set(refYear, value)
  def getOutputCols: Array[String] = $(outputCols)
  def getRefYear: Int = $(refYear)

  private def stageName: String = s"PIIScanner $uid"

  override def transformSchema(schema: StructType): StructType = {
    require(isDefined(inputCols) && isDefined(outputCols),
      s"$stageName: set both inputCols and outputCols.")
    val inputs = $(inputCols)
    val outputs = $(outputCols)
    SchemaChecks.requireDistinctNonEmpty(inputs, "inputCols", stageName)
    if (outputs.length != inputs.length) {
      throw new IllegalArgumentException(s"$stageName: outputCols has ${outputs.length} names " +
        s"but inputCols has ${inputs.length}; give one output column per input column.")
    }
    inputs.foreach { c =>
      val f = SchemaChecks.requireColumn(schema, c, stageName)
      if (!SchemaChecks.isStringCastable(f.dataType)) {
        throw new IllegalArgumentException(s"$stageName: input column '$c' has type " +
          s"${f.dataType.simpleString}; expected a string, number, boolean, date or timestamp.")
      }
    }
    outputs.foreach { o =>
      if (schema.fieldNames.exists(_.equalsIgnoreCase(o))) {
        throw new IllegalArgumentException(s"$stageName: output column '$o' already exists.")
      }
    }
    StructType(schema.fields ++ outputs.map(o => StructField(o, IntegerType, nullable = false)))
  }

  override def transform(dataset: Dataset[_]): DataFrame = {
    transformSchema(dataset.schema, logging = true)
    val fn = udf[Int, String](new ClassifyFunction($(refYear))).withName("pii_rule_bits")
    val added = $(inputCols).zip($(outputCols)).map { case (i, o) =>
      fn(col(SchemaChecks.quoted(i)).cast(StringType)).as(o)
    }
    dataset.toDF().select((col("*") +: added.toSeq): _*)
  }

  override def copy(extra: ParamMap): PIIScanner = defaultCopy(extra)
}

object PIIScanner extends DefaultParamsReadable[PIIScanner] {
  override def load(path: String): PIIScanner = super.load(path)
}

/**
 * Replaces PII in place, one strategy per column: `hash` (64-character hex HMAC-SHA256, the same
 * as `HmacPseudonymizer`), `hash:truncate`, `hash:format` (format-preserving keyed), `mask`
 * (format-preserving partial masking by kind), `redact` (the `redactToken`) and `redact:null`.
 * Values are read as `CAST(x AS STRING)`; null stays null; replaced columns become strings,
 * except `redact:null`, which keeps the column's type. The key is never saved (only its
 * fingerprint), exactly as in `HmacPseudonymizer`.
 */
class PIIReplacer(override val uid: String)
    extends Transformer with HasInputCols with HasSecretKey with DefaultParamsWritable {

  def this() = this(Identifiable.randomUID("piiReplacer"))

  final val kinds: StringArrayParam = new StringArrayParam(this, "kinds",
    "the PII kind of each input column (e.g. email, credit_card, ssn); picks the mask layout")

  final val strategies: StringArrayParam = new StringArrayParam(this, "strategies",
    "the strategy of each input column: hash, hash:truncate, hash:format, mask, redact, " +
      "redact:null", (v: Array[String]) => v.forall(PIIReplacer.Strategies.contains))

  final val redactToken: Param[String] = new Param[String](this, "redactToken",
    "the fixed text that replaces values under the redact strategy")

  setDefault(redactToken -> "[REDACTED]")

  def setInputCols(value: Array[String]): this.type = set(inputCols, value)
  def setKinds(value: Array[String]): this.type = set(kinds, value)
  def setStrategies(value: Array[String]): this.type = set(strategies, value)
  def setRedactToken(value: String): this.type = set(redactToken, value)
  def getKinds: Array[String] = $(kinds)
  def getStrategies: Array[String] = $(strategies)
  def getRedactToken: String = $(redactToken)

  override protected def stageName: String = s"PIIReplacer $uid"

  override def transformSchema(schema: StructType): StructType = {
    require(isDefined(inputCols) && isDefined(kinds) && isDefined(strategies),
      s"$stageName: set inputCols, kinds and strategies.")
    val inputs = $(inputCols)
    SchemaChecks.requireDistinctNonEmpty(inputs, "inputCols", stageName)
    if ($(kinds).length != inputs.length || $(strategies).length != inputs.length) {
      throw new IllegalArgumentException(s"$stageName: inputCols, kinds and strategies must " +
        s"have the same length (got ${inputs.length}, ${$(kinds).length}, " +
        s"${$(strategies).length}).")
    }
    val byName = inputs.zip($(strategies)).toMap
    inputs.foreach { c =>
      val f = SchemaChecks.requireColumn(schema, c, stageName)
      if (!SchemaChecks.isStringCastable(f.dataType)) {
        throw new IllegalArgumentException(s"$stageName: input column '$c' has type " +
          s"${f.dataType.simpleString}; expected a string, number, boolean, date or timestamp.")
      }
    }
    StructType(schema.fields.map { f =>
      byName.get(f.name) match {
        case Some("redact:null") => f.copy(nullable = true)
        case Some(_) => StructField(f.name, StringType, nullable = true)
        case None => f
      }
    })
  }

  override def transform(dataset: Dataset[_]): DataFrame = {
    transformSchema(dataset.schema, logging = true)
    val inputs = $(inputCols)
    val plan = inputs.zip($(kinds).zip($(strategies))).toMap
    val needsKey = $(strategies).exists(_.startsWith("hash"))
    if (needsKey && currentKey == null) {
      throw new IllegalArgumentException(s"$stageName: the hash strategy needs the secret " +
        "key; call setKey(<secret>) before transform (a saved stage never contains its key).")
    }
    lazy val keyBytes = HmacSha256.keyBytes(currentKey)
    val schema = dataset.schema
    def replaced(name: String, kind: String, strategy: String): Column = {
      val asString = col(SchemaChecks.quoted(name)).cast(StringType)
      strategy match {
        case "hash" =>
          udf[String, Array[Byte]](new HmacHexFunction(keyBytes, false)).withName("pii_hash")(
            asString.cast(BinaryType))
        case "hash:truncate" =>
          udf[String, Array[Byte]](new HmacHexFunction(keyBytes, true))
            .withName("pii_hash_truncate")(asString.cast(BinaryType))
        case "hash:format" =>
          udf[String, String](new FormatHashFunction(keyBytes)).withName("pii_hash_format")(
            asString)
        case "mask" =>
          udf[String, String](new MaskFunction(kind)).withName("pii_mask")(asString)
        case "redact" =>
          val token = lit($(redactToken))
          org.apache.spark.sql.functions.when(asString.isNull, lit(null).cast(StringType))
            .otherwise(token)
        case "redact:null" => lit(null).cast(schema(name).dataType)
        case other => throw new IllegalArgumentException(
          s"$stageName: unknown strategy '$other' for column '$name'; expected one of " +
            s"${PIIReplacer.Strategies.mkString(", ")}.")
      }
    }
    val columns = schema.fieldNames.map { n =>
      plan.get(n) match {
        case Some((kind, strategy)) => replaced(n, kind, strategy).as(n)
        case None => col(SchemaChecks.quoted(n))
      }
    }
    dataset.toDF().select(columns.toSeq: _*)
  }

  override def copy(extra: ParamMap): PIIReplacer = {
    val that = defaultCopy[PIIReplacer](extra)
    copyKeyTo(that)
    that
  }
}

object PIIReplacer extends DefaultParamsReadable[PIIReplacer] {

  /** The strategies this stage runs (fake runs in Python). */
  val Strategies: Array[String] =
    Array("hash", "hash:truncate", "hash:format", "mask", "redact", "redact:null")

  override def load(path: String): PIIReplacer = super.load(path)
}

package com.synthohive.spark

import org.apache.spark.ml.Transformer
import org.apache.spark.ml.param.{Param, ParamMap, ParamValidators}
import org.apache.spark.ml.util.{DefaultParamsReadable, DefaultParamsWritable, Identifiable}
import org.apache.spark.sql.{Column, DataFrame, Dataset}
import org.apache.spark.sql.functions.{col, udf}
import org.apache.spark.sql.types.{BinaryType, StringType, StructField, StructType}

/** Params of [[HmacPseudonymizer]]. The secret key is deliberately not among them. */
trait HmacPseudonymizerParams extends HasInputCols with HasOptionalOutputCols with HasSecretKey {

  /**
   * "hex": the full 64-character lowercase hex HMAC; "truncate": the hex HMAC cut to the length
   * (in characters) of the value's string form, at least 1 and at most 64. Default "hex".
   */
  final val outputFormat: Param[String] = new Param[String](this, "outputFormat",
    "hex: full 64-character hex HMAC-SHA256; truncate: hex cut to the length of the value's " +
      "string form (1 to 64 characters)",
    ParamValidators.inArray(HmacPseudonymizer.OutputFormats))

  final def getOutputFormat: String = $(outputFormat)

  setDefault(outputFormat -> "hex")
}

/**
 * Keyed pseudonymization: replaces each value of the chosen columns with HMAC-SHA256(key, value)
 * in lowercase hex. The same value and key give the same pseudonym in every table, run and
 * cluster, so joins between pseudonymized tables still match, while nobody without the key can
 * recompute or reverse it.
 *
 *  - Strings are hashed as their UTF-8 bytes. Numbers, booleans, dates and timestamps are first
 *    cast to string by Spark (`CAST(x AS STRING)`, so 42 hashes like "42" and timestamps are
 *    rendered in the session time zone); other types are rejected.
 *  - Null stays null. Output columns are strings.
 *  - `outputCols` unset: the input columns are replaced in place; set: new columns are appended.
 *  - The secret key is never saved. `setKey` keeps it in memory and records a public
 *    fingerprint; a saved and reloaded stage needs `setKey` again, and a different key is refused.
 *    The key travels to executors inside the tasks, so enable RPC encryption
 *    (`spark.network.crypto.enabled`) on untrusted networks. Use a long random key.
 *
 * {{{
 *   val pseudo = new HmacPseudonymizer().setInputCols(Array("email", "customer_id"))
 *     .setKey(sys.env("PSEUDO_KEY")).setKeyId("vault:pii/pseudo-key")
 *   pseudo.transform(customers)
 * }}}
 */
class HmacPseudonymizer(override val uid: String)
    extends Transformer with HmacPseudonymizerParams with DefaultParamsWritable {

  def this() = this(Identifiable.randomUID("hmacPseudonymizer"))


  def setInputCols(value: Array[String]): this.type = set(inputCols, value)

  def setOutputCols(value: Array[String]): this.type = set(outputCols, value)

  def setOutputFormat(value: String): this.type = set(outputFormat, value)

  override def transformSchema(schema: StructType): StructType = {
    if (!isDefined(inputCols)) {
      throw new IllegalArgumentException(s"$stageName: inputCols is not set; name the columns to " +
        s"pseudonymize with setInputCols. Available columns: ${available(schema)}.")
    }
    val inputs = $(inputCols)
    SchemaChecks.requireDistinctNonEmpty(inputs, "inputCols", stageName)
    val fields = inputs.map(c => SchemaChecks.requireColumn(schema, c, stageName))
    fields.foreach { f =>
      if (!SchemaChecks.isStringCastable(f.dataType)) {
        throw new IllegalArgumentException(s"$stageName: input column '${f.name}' has type " +
          s"${f.dataType.simpleString}; expected a string, number, boolean, date or timestamp.")
      }
    }
    if (isDefined(outputCols)) {
      val outputs = $(outputCols)
      if (outputs.length != inputs.length) {
        throw new IllegalArgumentException(s"$stageName: outputCols has ${outputs.length} " +
          s"names but inputCols has ${inputs.length}; give one output column per input column.")
      }
      SchemaChecks.requireDistinctNonEmpty(outputs.map(_.toLowerCase), "outputCols", stageName)
      outputs.foreach { o =>
        schema.fieldNames.find(_.equalsIgnoreCase(o)).foreach { existing =>
          throw new IllegalArgumentException(s"$stageName: output column '$o' clashes with " +
            s"the existing column '$existing'; choose another name, or leave outputCols unset " +
            "to replace the input columns in place.")
        }
      }
      StructType(schema.fields ++ outputs.map(o => StructField(o, StringType, nullable = true)))
    } else {
      val replaced = inputs.toSet
      StructType(schema.fields.map { f =>
        if (replaced(f.name)) StructField(f.name, StringType, nullable = true) else f
      })
    }
  }

  override def transform(dataset: Dataset[_]): DataFrame = {
    transformSchema(dataset.schema, logging = true)
    val key = currentKey
    if (key == null) {
      val saved = if (isDefined(keyFingerprint)) {
        s" This stage was configured with the key whose fingerprint is ${$(keyFingerprint)}" +
          s"$keyIdHint; a saved stage never contains its key, so set it again after loading."
      } else ""
      throw new IllegalArgumentException(
        s"$stageName: no key is set; call setKey(<secret>) before transform.$saved")
    }
    val function = new HmacHexFunction(HmacSha256.keyBytes(key), $(outputFormat) == "truncate")
    val pseudonym = udf[String, Array[Byte]](function).withName("hmac_pseudonym")
    val schema = dataset.schema
    def hashed(name: String): Column = {
      val source = col(SchemaChecks.quoted(name))
      val asString =
        if (schema(name).dataType.isInstanceOf[StringType]) source else source.cast(StringType)
      pseudonym(asString.cast(BinaryType))
    }
    val inputs = $(inputCols)
    val df = dataset.toDF()
    if (isDefined(outputCols)) {
      val added = $(outputCols).zip(inputs).map { case (o, i) => hashed(i).as(o) }
      df.select((col("*") +: added).toSeq: _*)
    } else {
      val replaced = inputs.toSet
      val columns = schema.fieldNames.map { n =>
        if (replaced(n)) hashed(n).as(n) else col(SchemaChecks.quoted(n))
      }
      df.select(columns.toSeq: _*)
    }
  }

  /** A copy with the same params and the same in-memory key. */
  override def copy(extra: ParamMap): HmacPseudonymizer = {
    val that = defaultCopy[HmacPseudonymizer](extra)
    copyKeyTo(that)
    that
  }

  override def toString: String = s"HmacPseudonymizer: uid=$uid" +
    get(inputCols).map(c => s", inputCols=${c.mkString("[", ", ", "]")}").getOrElse("") +
    s", outputFormat=${$(outputFormat)}, hasKey=$hasKey"

  override protected def stageName: String = s"HmacPseudonymizer $uid"


  private def available(schema: StructType): String =
    schema.fieldNames.map(n => s"'$n'").mkString(", ")
}

object HmacPseudonymizer extends DefaultParamsReadable[HmacPseudonymizer] {

  /** The values `outputFormat` accepts. */
  val OutputFormats: Array[String] = Array("hex", "truncate")

  override def load(path: String): HmacPseudonymizer = super.load(path)
}

package com.synthohive.spark

import java.nio.file.{Files, Path}

import org.apache.spark.ml.{Pipeline, PipelineModel, PipelineStage}
import org.apache.spark.sql.SparkSession
import org.scalatest.BeforeAndAfterAll
import org.scalatest.funsuite.AnyFunSuite

/** Run with `sbt test`. The Python suite (tests/spark/test_pseudonymizer.py) covers the same
 *  ground from Python and runs without sbt. */
class HmacPseudonymizerSuite extends AnyFunSuite with BeforeAndAfterAll {

  private val key = "scala-suite-key-0123456789abcdef"
  private var spark: SparkSession = _

  override def beforeAll(): Unit = {
    spark = SparkSession.builder().master("local[2]").appName("HmacPseudonymizerSuite")
      .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
      .getOrCreate()
  }

  override def afterAll(): Unit = if (spark != null) spark.stop()

  /** The known-answer vector of RFC 4231, test case 2: key "Jefe". */
  test("HMAC-SHA256 matches RFC 4231") {
    assert(HmacSha256.hmacHex("Jefe", "what do ya want for nothing?") ==
      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
  }

  test("values are replaced by their keyed HMAC, null stays null, numbers hash as strings") {
    val s = spark
    import s.implicits._
    val df = Seq((Option("ann@example.com"), Option(42)), (None, None)).toDF("email", "age")
    val out = new HmacPseudonymizer().setInputCols(Array("email", "age")).setKey(key)
      .transform(df).collect()
    assert(out(0).getString(0) == HmacSha256.hmacHex(key, "ann@example.com"))
    assert(out(0).getString(1) == HmacSha256.hmacHex(key, "42"))
    assert(out(1).isNullAt(0) && out(1).isNullAt(1))
  }

  test("truncate keeps the character length, at least one character") {
    val s = spark
    import s.implicits._
    val df = Seq("héllo", "", "x" * 80).toDF("v")
    val out = new HmacPseudonymizer().setInputCols(Array("v")).setOutputCols(Array("p"))
      .setOutputFormat("truncate").setKey(key).transform(df).collect()
      .map(r => r.getString(0) -> r.getString(1)).toMap
    assert(out("héllo").length == 5 && out("").length == 1 && out("x" * 80).length == 64)
  }

  test("a saved pipeline keeps the fingerprint, not the key, and refuses a wrong key") {
    val s = spark
    import s.implicits._
    val df = Seq("a", "b").toDF("v")
    val stage = new HmacPseudonymizer().setInputCols(Array("v")).setKey(key)
    val model = new Pipeline().setStages(Array[PipelineStage](stage)).fit(df)
    val dir: Path = Files.createTempDirectory("hmac-suite")
    val path = dir.resolve("model").toString
    model.write.overwrite().save(path)
    val saved = Files.walk(dir).toArray.map(_.asInstanceOf[Path]).filter(Files.isRegularFile(_))
      .map(p => new String(Files.readAllBytes(p), "ISO-8859-1")).mkString
    assert(!saved.contains(key))
    assert(saved.contains(HmacSha256.fingerprint(key)))

    val loaded = PipelineModel.load(path)
    val pseudo = loaded.stages(0).asInstanceOf[HmacPseudonymizer]
    val noKey = intercept[IllegalArgumentException](loaded.transform(df))
    assert(noKey.getMessage.contains("no key is set"))
    val wrong = intercept[IllegalArgumentException](pseudo.setKey("not-the-key"))
    assert(wrong.getMessage.contains("key does not match the key this model was saved with"))
    pseudo.setKey(key)
    assert(loaded.transform(df).collect().toSeq == model.transform(df).collect().toSeq)
  }

  test("a missing column is named, with the available columns") {
    val s = spark
    import s.implicits._
    val df = Seq(("a", 1)).toDF("name", "n")
    val e = intercept[IllegalArgumentException] {
      new HmacPseudonymizer().setInputCols(Array("phone")).setKey(key).transform(df)
    }
    assert(e.getMessage.contains("input column 'phone' does not exist"))
    assert(e.getMessage.contains("'name', 'n'"))
  }
}

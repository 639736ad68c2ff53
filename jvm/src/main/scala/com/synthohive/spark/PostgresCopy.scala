package com.synthohive.spark

import java.nio.charset.StandardCharsets
import java.sql.{Connection, Driver, Timestamp}
import java.time.{Instant, LocalDate, LocalDateTime}
import java.util.TimeZone

import org.apache.spark.sql.{DataFrame, Row}
import org.apache.spark.sql.catalyst.util.DateTimeUtils
import org.apache.spark.sql.types._

/**
 * Loads a DataFrame into an existing PostgreSQL table with `COPY ... FROM STDIN (FORMAT csv)`,
 * one connection and one COPY statement per partition, on the executors: PostgreSQL's bulk
 * path, several times the rows per second of batched INSERTs.
 *
 * Values are written as the PostgreSQL driver sends the parameters Spark's own JDBC writer sets,
 * so both load the same table: dates as `java.sql.Date` prints them, timestamps as the wall time
 * of the JVM's default time zone with that zone's offset (a `timestamp` column keeps the wall
 * time, a `timestamptz` column the instant), numbers in Java's round-trip form, binary as bytea
 * hex, every string quoted (an unquoted empty field is NULL, a quoted one an empty string).
 *
 * The PostgreSQL driver is reached by reflection through the task's class loader (it comes with
 * `spark.jars.packages`, not with this jar). A partition's COPY is one statement: a failure
 * cancels it and nothing of that partition is kept; partitions already loaded stay (the caller
 * loads into a staging schema it drops on failure).
 */
object PostgresCopy {

  /** Characters gathered before they are sent to the server as one chunk. */
  private val ChunkChars = 1 << 16

  /**
   * Loads `df` with the statement `copySql` (`COPY table (columns) FROM STDIN WITH (FORMAT
   * csv)`, the columns in `df`'s order) and returns the rows loaded. `properties` are the
   * connection's (user, password, ...); `driverClass` the JDBC driver's class name.
   */
  def load(df: DataFrame, url: String, properties: java.util.Map[String, String],
           driverClass: String, copySql: String): Long = {
    val schema = df.schema
    schema.fields.foreach(f => encoder(f)) // an unsupported type fails here, before any task
    val props = new java.util.HashMap[String, String](properties)
    df.rdd.mapPartitions { rows =>
      Iterator.single(loadPartition(rows, schema, url, props, driverClass, copySql))
    }.collect().sum
  }

  private def connect(url: String, properties: java.util.Map[String, String],
                      driverClass: String): Connection = {
    val loader = Option(Thread.currentThread().getContextClassLoader)
      .getOrElse(getClass.getClassLoader)
    val driver = Class.forName(driverClass, true, loader).getDeclaredConstructor().newInstance()
      .asInstanceOf[Driver]
    val props = new java.util.Properties()
    val entries = properties.entrySet().iterator()
    while (entries.hasNext) {
      val e = entries.next()
      props.setProperty(e.getKey, e.getValue)
    }
    val conn = driver.connect(url, props)
    if (conn == null) {
      throw new IllegalArgumentException(s"the JDBC driver $driverClass does not accept the URL " +
        "it was given")
    }
    conn
  }

  private def loadPartition(rows: Iterator[Row], schema: StructType, url: String,
                            properties: java.util.Map[String, String], driverClass: String,
                            copySql: String): Long = {
    if (!rows.hasNext) return 0L
    val encoders = schema.fields.map(encoder)
    val conn = connect(url, properties, driverClass)
    try {
      conn.setAutoCommit(false)
      val loader = conn.getClass.getClassLoader
      val pgClass = Class.forName("org.postgresql.PGConnection", false, loader)
      val managerClass = Class.forName("org.postgresql.copy.CopyManager", false, loader)
      val copyInClass = Class.forName("org.postgresql.copy.CopyIn", false, loader)
      val manager = pgClass.getMethod("getCopyAPI").invoke(conn.unwrap(pgClass))
      val copy = managerClass.getMethod("copyIn", classOf[String]).invoke(manager, copySql)
      val write = copyInClass.getMethod("writeToCopy", classOf[Array[Byte]], Integer.TYPE,
        Integer.TYPE)
      var done = false
      try {
        val text = new java.lang.StringBuilder(ChunkChars + 4096)
        def send(): Unit = {
          val bytes = text.toString.getBytes(StandardCharsets.UTF_8)
          write.invoke(copy, bytes, Int.box(0), Int.box(bytes.length))
          text.setLength(0)
        }
        while (rows.hasNext) {
          val row = rows.next()
          var i = 0
          while (i < encoders.length) {
            if (i > 0) text.append(',')
            if (!row.isNullAt(i)) encoders(i)(row, i, text)
            i += 1
          }
          text.append('\n')
          if (text.length >= ChunkChars) send()
        }
        if (text.length > 0) send()
        val loaded = copyInClass.getMethod("endCopy").invoke(copy).asInstanceOf[Long]
        done = true
        conn.commit()
        loaded
      } finally {
        if (!done) {
          try copyInClass.getMethod("cancelCopy").invoke(copy)
          catch { case _: Throwable => () }
          try conn.rollback() catch { case _: Throwable => () }
        }
      }
    } catch {
      case e: java.lang.reflect.InvocationTargetException if e.getCause != null => throw e.getCause
    } finally {
      conn.close()
    }
  }

  private type Encoder = (Row, Int, java.lang.StringBuilder) => Unit

  private def quoted(s: String, out: java.lang.StringBuilder): Unit = {
    out.append('"')
    var i = 0
    while (i < s.length) {
      val c = s.charAt(i)
      if (c == '"') out.append('"')
      out.append(c)
      i += 1
    }
    out.append('"')
  }

  /**
   * A timestamp as the PostgreSQL driver's `setTimestamp` sends it: the wall time and the offset
   * of the JVM's default zone by `java.util`'s calendar (which, unlike `java.time`, has no local
   * mean time before a zone's standard time: Spark's timestamps before 1900 are rebased to it).
   */
  private def legacyWallTime(t: Timestamp, zone: TimeZone, out: java.lang.StringBuilder): Unit = {
    out.append(t.toString)
    var secs = zone.getOffset(t.getTime) / 1000
    out.append(if (secs < 0) '-' else '+')
    secs = math.abs(secs)
    def two(n: Int): Unit = { if (n < 10) out.append('0'); out.append(n) }
    two(secs / 3600); out.append(':'); two(secs / 60 % 60)
    if (secs % 60 != 0) { out.append(':'); two(secs % 60) }
  }

  private val Hex = "0123456789abcdef".toCharArray

  private def encoder(field: StructField): Encoder = field.dataType match {
    case StringType => (r, i, out) => quoted(r.getString(i), out)
    case BooleanType => (r, i, out) => out.append(if (r.getBoolean(i)) 't' else 'f')
    case ByteType | ShortType | IntegerType | LongType => (r, i, out) => out.append(r.get(i))
    case FloatType => (r, i, out) => out.append(java.lang.Float.toString(r.getFloat(i)))
    case DoubleType => (r, i, out) => out.append(java.lang.Double.toString(r.getDouble(i)))
    case _: DecimalType => (r, i, out) => out.append(r.getDecimal(i).toPlainString)
    case DateType => (r, i, out) => r.get(i) match {
      case d: java.sql.Date => out.append(d.toString)
      case d: LocalDate => out.append(d.toString)
    }
    case TimestampType =>
      val zone = TimeZone.getDefault
      (r, i, out) => r.get(i) match {
        case t: Timestamp => legacyWallTime(t, zone, out)
        case t: Instant => // as Spark's JDBC writer turns one into a java.sql.Timestamp
          legacyWallTime(DateTimeUtils.toJavaTimestamp(DateTimeUtils.instantToMicros(t)), zone, out)
      }
    case TimestampNTZType => (r, i, out) => {
      val t = r.getAs[LocalDateTime](i)
      out.append(t.toLocalDate.toString).append(' ').append(t.toLocalTime.toString)
    }
    case BinaryType => (r, i, out) => {
      val bytes = r.getAs[Array[Byte]](i)
      out.append("\\x")
      bytes.foreach(b => out.append(Hex((b >> 4) & 15)).append(Hex(b & 15)))
    }
    case other => throw new IllegalArgumentException(s"column '${field.name}' has type " +
      s"${other.simpleString}, which COPY is not written for here; expected numbers, strings, " +
      "booleans, dates, timestamps or binary")
  }
}

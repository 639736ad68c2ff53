package com.synthohive.spark.pii

import java.nio.charset.StandardCharsets
import java.util.regex.Pattern
import javax.crypto.Mac

import com.synthohive.spark.HmacSha256

/**
 * The value rules of PII detection and the deterministic replacement functions, bit for bit the
 * same as the Python module `synthohive_spark.privacy` (validators.classify,
 * strategies.mask_value, strategies.hash_format). Tests compare both on the same data.
 */
object PIIRules {

  final val Email = 1
  final val Phone = 2
  final val Ssn = 4
  final val SsnDigits = 8
  final val CreditCard = 16
  final val Ip = 32
  final val Iban = 64
  final val DateOfBirth = 128

  final val MaxLength = 254

  private val AText = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
  private val EmailRe = Pattern.compile(
    AText + "+(?:\\." + AText + "+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)+" +
      "[A-Za-z]{2,63}")
  private val PhoneRe = Pattern.compile("""\+?\(?[0-9][0-9 ().\-/]*[0-9]""")
  private val SsnRe = Pattern.compile("""([0-9]{3})([- ])([0-9]{2})\2([0-9]{4})""")
  private val SsnDigitsRe = Pattern.compile("""([0-9]{3})([0-9]{2})([0-9]{4})""")
  private val CardRe = Pattern.compile("""[0-9][0-9 \-]{11,22}[0-9]""")
  private val Octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
  private val Ipv4Re = Pattern.compile(Octet + "(?:\\." + Octet + "){3}")
  private val HexGroupRe = Pattern.compile("[0-9A-Fa-f]{1,4}")
  private val Ipv6CharsRe = Pattern.compile("[0-9A-Fa-f:.]+")
  private val IbanRe = Pattern.compile("[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
  private val DateYmdRe = Pattern.compile("""([0-9]{4})([-/])([0-9]{2})\2([0-9]{2})""")
  private val DateMdyRe = Pattern.compile("""([0-9]{2})/([0-9]{2})/([0-9]{4})""")
  private val DateDmyRe = Pattern.compile("""([0-9]{2})\.([0-9]{2})\.([0-9]{4})""")

  /** The value with leading and trailing spaces and tabs removed. */
  def trim(value: String): String = {
    var start = 0
    var end = value.length
    while (start < end && (value.charAt(start) == ' ' || value.charAt(start) == '\t')) start += 1
    while (end > start && (value.charAt(end - 1) == ' ' || value.charAt(end - 1) == '\t')) end -= 1
    value.substring(start, end)
  }

  private def full(p: Pattern, s: String): Boolean = p.matcher(s).matches()

  def isEmail(s: String): Boolean =
    s.length <= MaxLength && full(EmailRe, s) && s.lastIndexOf('@') <= 64

  private def digitCount(s: String): Int = {
    var n = 0
    var i = 0
    while (i < s.length) {
      val c = s.charAt(i)
      if (c >= '0' && c <= '9') n += 1
      i += 1
    }
    n
  }

  def isPhoneCandidate(s: String): Boolean = {
    if (s.length > 25 || !full(PhoneRe, s)) return false
    val d = digitCount(s)
    d >= 7 && d <= 15
  }

  private def ssnPartsOk(area: String, group: String, serial: String): Boolean = {
    val a = area.toInt
    a != 0 && a != 666 && a < 900 && group != "00" && serial != "0000"
  }

  def isSsn(s: String): Boolean = {
    val m = SsnRe.matcher(s)
    m.matches() && ssnPartsOk(m.group(1), m.group(3), m.group(4))
  }

  def isSsnDigits(s: String): Boolean = {
    val m = SsnDigitsRe.matcher(s)
    m.matches() && ssnPartsOk(m.group(1), m.group(2), m.group(3))
  }

  def luhnOk(digits: String): Boolean = {
    var total = 0
    var i = 0
    val n = digits.length
    while (i < n) {
      var d = digits.charAt(n - 1 - i) - '0'
      if (i % 2 == 1) {
        d *= 2
        if (d > 9) d -= 9
      }
      total += d
      i += 1
    }
    total % 10 == 0
  }

  def isCreditCard(s: String): Boolean = {
    if (!full(CardRe, s)) return false
    val digits = s.replace(" ", "").replace("-", "")
    if (digits.length < 13 || digits.length > 19) return false
    val first = digits.charAt(0)
    first >= '2' && first <= '6' && luhnOk(digits)
  }

  def isIpv4(s: String): Boolean = full(Ipv4Re, s)

  private def splitColon(s: String): Array[String] =
    if (s.isEmpty) Array.empty[String] else s.split(":", -1)

  def isIpv6(s: String): Boolean = {
    if (s.length < 2 || s.length > 45 || !s.contains(":") || !full(Ipv6CharsRe, s)) return false
    var tailGroups = 0
    var body = s
    if (s.contains(".")) {
      val cut = s.lastIndexOf(':')
      if (!isIpv4(s.substring(cut + 1))) return false
      tailGroups = 2
      body = s.substring(0, cut + 1)
      if (!body.endsWith("::")) body = body.substring(0, body.length - 1)
    }
    val compressed = countOf(body, "::")
    if (compressed > 1 || body.contains(":::")) return false
    val groups: Array[String] = if (compressed == 1) {
      val at = body.indexOf("::")
      val gs = splitColon(body.substring(0, at)) ++ splitColon(body.substring(at + 2))
      if (gs.length + tailGroups > 7) return false
      gs
    } else {
      val gs = splitColon(body)
      if (gs.length + tailGroups != 8) return false
      gs
    }
    groups.forall(g => full(HexGroupRe, g))
  }

  private def countOf(s: String, part: String): Int = {
    var n = 0
    var from = s.indexOf(part)
    while (from >= 0) {
      n += 1
      from = s.indexOf(part, from + part.length)
    }
    n
  }

  def isIp(s: String): Boolean = isIpv4(s) || isIpv6(s)

  def ibanOk(compact: String): Boolean = {
    val rearranged = compact.substring(4) + compact.substring(0, 4)
    var remainder = 0
    var i = 0
    while (i < rearranged.length) {
      val c = rearranged.charAt(i)
      remainder =
        if (c >= '0' && c <= '9') (remainder * 10 + (c - '0')) % 97
        else (remainder * 100 + (c - 55)) % 97
      i += 1
    }
    remainder == 1
  }

  def isIban(s: String): Boolean = {
    val compact = s.replace(" ", "")
    full(IbanRe, compact) && ibanOk(compact)
  }

  private def daysInMonth(year: Int, month: Int): Int =
    if (month == 2) {
      val leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
      if (leap) 29 else 28
    } else if (month == 4 || month == 6 || month == 9 || month == 11) 30
    else 31

  private def validDate(year: Int, month: Int, day: Int, refYear: Int): Boolean =
    month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) &&
      year >= refYear - 120 && year <= refYear

  def isDateOfBirth(s: String, refYear: Int): Boolean = {
    val ymd = DateYmdRe.matcher(s)
    if (ymd.matches()) {
      return validDate(ymd.group(1).toInt, ymd.group(3).toInt, ymd.group(4).toInt, refYear)
    }
    val mdy = DateMdyRe.matcher(s)
    if (mdy.matches()) {
      val a = mdy.group(1).toInt
      val b = mdy.group(2).toInt
      val y = mdy.group(3).toInt
      return validDate(y, a, b, refYear) || validDate(y, b, a, refYear)
    }
    val dmy = DateDmyRe.matcher(s)
    if (dmy.matches()) {
      return validDate(dmy.group(3).toInt, dmy.group(2).toInt, dmy.group(1).toInt, refYear)
    }
    false
  }

  /** Bit mask of the rules `value` passes (0 for null, empty or too long). */
  def classify(value: String, refYear: Int): Int = {
    if (value == null) return 0
    val s = trim(value)
    if (s.isEmpty || s.length > MaxLength) return 0
    var bits = 0
    if (s.indexOf('@') >= 0) {
      if (isEmail(s)) bits |= Email
      return bits
    }
    if (isPhoneCandidate(s)) bits |= Phone
    if (isSsn(s)) bits |= Ssn
    if (isSsnDigits(s)) bits |= SsnDigits
    if (isCreditCard(s)) bits |= CreditCard
    if (isIp(s)) bits |= Ip
    if (isIban(s)) bits |= Iban
    if (isDateOfBirth(s, refYear)) bits |= DateOfBirth
    bits
  }

  // -- masking ----------------------------------------------------------------------------------

  private final val Star = '*'.toInt

  @inline private def isDigit(cp: Int): Boolean = cp >= '0' && cp <= '9'

  @inline def maskable(cp: Int): Boolean =
    cp >= 128 || isDigit(cp) || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z')

  private def render(cps: Array[Int]): String = new String(cps, 0, cps.length)

  /** The code points of `value` (a plain copy of its chars when it has no surrogates). */
  def codePoints(value: String): Array[Int] = {
    val n = value.length
    val out = new Array[Int](n)
    var i = 0
    while (i < n) {
      val c = value.charAt(i)
      if (Character.isSurrogate(c)) return value.codePoints().toArray
      out(i) = c
      i += 1
    }
    out
  }

  private def countMaskable(cps: Array[Int]): Int = {
    var n = 0
    var i = 0
    while (i < cps.length) {
      if (maskable(cps(i))) n += 1
      i += 1
    }
    n
  }

  private def keepLast(cps: Array[Int], keepWanted: Int): Array[Int] = {
    val total = countMaskable(cps)
    val keep = math.min(keepWanted, total / 2)
    var seen = 0
    var i = 0
    while (i < cps.length) {
      if (maskable(cps(i))) {
        seen += 1
        if (seen <= total - keep) cps(i) = Star
      }
      i += 1
    }
    cps
  }

  private def keepFirst(cps: Array[Int], keepWanted: Int): Array[Int] = {
    val total = countMaskable(cps)
    val keep = math.min(keepWanted, total / 2)
    var seen = 0
    var i = 0
    while (i < cps.length) {
      if (maskable(cps(i))) {
        seen += 1
        if (seen > keep) cps(i) = Star
      }
      i += 1
    }
    cps
  }

  private def wordInitials(cps: Array[Int]): Array[Int] = {
    var boundary = true
    var i = 0
    while (i < cps.length) {
      if (maskable(cps(i))) {
        if (!boundary) cps(i) = Star
        boundary = false
      } else boundary = true
      i += 1
    }
    cps
  }

  /** Format-preserving partial masking; see `synthohive_spark.privacy.strategies.mask_value`. */
  def mask(value: String, kind: String): String = {
    if (value == null) return null
    val cps = codePoints(value)
    kind match {
      case "email" if cps.contains('@'.toInt) =>
        val at = cps.lastIndexOf('@'.toInt)
        val out = cps.clone()
        var i = 1
        while (i < at) {
          if (maskable(out(i))) out(i) = Star
          i += 1
        }
        render(out)
      case "credit_card" | "ssn" | "phone" | "iban" => render(keepLast(cps, 4))
      case "ip" =>
        var seps = 0
        render(cps.map { c =>
          if (!maskable(c)) {
            if (c == '.' || c == ':') seps += 1
            c
          } else if (seps < 2) c
          else Star
        })
      case "date_of_birth" =>
        val out = cps.clone()
        var kept = false
        var i = 0
        while (i < cps.length) {
          if (isDigit(cps(i))) {
            var j = i
            while (j < cps.length && isDigit(cps(j))) j += 1
            val keepRun = !kept && j - i == 4
            kept = kept || keepRun
            if (!keepRun) {
              var k = i
              while (k < j) { out(k) = Star; k += 1 }
            }
            i = j
          } else {
            if (maskable(cps(i))) out(i) = Star
            i += 1
          }
        }
        render(out)
      case "zip" => render(keepFirst(cps, 2))
      case _ => render(wordInitials(cps))
    }
  }

  // -- format-preserving keyed hash -------------------------------------------------------------

  val FormatHashLabel: String = "synthohive-spark/pii/format-hash/v1/"

  private def blockLabel(i: Int): Array[Byte] =
    (FormatHashLabel + i + "/").getBytes(StandardCharsets.US_ASCII)

  private val BlockLabels: Array[Array[Byte]] = Array.tabulate(8)(blockLabel)

  /** See `synthohive_spark.privacy.strategies.hash_format`. `mac` is keyed; it is reset here. */
  def formatHash(mac: Mac, value: String): String = {
    if (value == null) return null
    val cps = codePoints(value)
    val data = value.getBytes(StandardCharsets.UTF_8)
    val blocks = (cps.length + 31) / 32
    val stream = new Array[Byte](blocks * 32)
    var i = 0
    while (i < blocks) {
      mac.update(if (i < BlockLabels.length) BlockLabels(i) else blockLabel(i))
      mac.update(data)
      System.arraycopy(mac.doFinal(), 0, stream, i * 32, 32)
      i += 1
    }
    val out = new Array[Int](cps.length)
    var j = 0
    while (j < cps.length) {
      val c = cps(j)
      val b = stream(j) & 0xff
      out(j) =
        if (isDigit(c)) '0' + b % 10
        else if (c >= 'A' && c <= 'Z') 'A' + b % 26
        else if ((c >= 'a' && c <= 'z') || c >= 128) 'a' + b % 26
        else c
      j += 1
    }
    render(out)
  }
}

/** Per-row format-preserving hash with one keyed `Mac` per executor thread. */
private[spark] final class FormatHashFunction(key: Array[Byte])
    extends (String => String) with Serializable {

  @transient private lazy val macs: ThreadLocal[Mac] = new ThreadLocal[Mac] {
    override def initialValue(): Mac = HmacSha256.newMac(key)
  }

  override def apply(value: String): String =
    if (value == null) null else PIIRules.formatHash(macs.get(), value)

  override def toString: String = "FormatHashFunction"
}

/** Per-row masking for one PII kind. */
private[spark] final class MaskFunction(kind: String) extends (String => String) with Serializable {
  override def apply(value: String): String = PIIRules.mask(value, kind)
}

/** Per-row rule bit mask. */
private[spark] final class ClassifyFunction(refYear: Int) extends (String => Int) with Serializable {
  override def apply(value: String): Int = PIIRules.classify(value, refYear)
}

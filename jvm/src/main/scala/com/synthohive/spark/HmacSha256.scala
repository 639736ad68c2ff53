package com.synthohive.spark

import java.nio.charset.StandardCharsets
import javax.crypto.Mac
import javax.crypto.spec.SecretKeySpec

/**
 * Keyed HMAC-SHA256 helpers shared by the JVM stages. A key is the UTF-8 bytes of the secret
 * string; a message is the UTF-8 bytes of the value's string form. Output is lowercase hex, the
 * same bytes Python's `hmac.new(key, msg, hashlib.sha256).hexdigest()` gives.
 */
object HmacSha256 {

  val Algorithm: String = "HmacSHA256"

  /** Length of a full HMAC-SHA256 digest in hex characters. */
  val HexLength: Int = 64

  /** Label whose HMAC identifies a key without revealing it (see [[fingerprint]]). */
  val FingerprintLabel: String = "synthohive-spark/hmac-pseudonymizer/key-fingerprint/v1"

  private val HexDigits: Array[Char] = "0123456789abcdef".toCharArray

  def keyBytes(key: String): Array[Byte] = key.getBytes(StandardCharsets.UTF_8)

  def newMac(key: Array[Byte]): Mac = {
    val mac = Mac.getInstance(Algorithm)
    mac.init(new SecretKeySpec(key, Algorithm))
    mac
  }

  /** Lowercase hex of `bytes`, limited to its first `chars` characters. */
  def hex(bytes: Array[Byte], chars: Int): String = {
    val n = math.min(chars, bytes.length * 2)
    val out = new Array[Char](n)
    var i = 0
    while (i < n) {
      val b = bytes(i >> 1) & 0xff
      out(i) = if ((i & 1) == 0) HexDigits(b >>> 4) else HexDigits(b & 0x0f)
      i += 1
    }
    new String(out)
  }

  /** Full 64-character hex HMAC of the UTF-8 bytes of `value`. */
  def hmacHex(key: String, value: String): String =
    hex(newMac(keyBytes(key)).doFinal(value.getBytes(StandardCharsets.UTF_8)), HexLength)

  /**
   * A public identifier of `key`: the first 16 hex characters of HMAC(key, [[FingerprintLabel]]).
   * Saved with a model in place of the key, so that a reloaded model can tell a wrong key from
   * the right one. It does not reveal the key, but like any hash it lets an attacker test guesses
   * of a weak key offline: use a long random key.
   */
  def fingerprint(key: String): String =
    hex(newMac(keyBytes(key)).doFinal(FingerprintLabel.getBytes(StandardCharsets.UTF_8)), 16)

  /** Number of Unicode code points in well-formed UTF-8 `bytes` (Spark's `char_length`). */
  def utf8CodePoints(bytes: Array[Byte]): Int = {
    var count = 0
    var i = 0
    while (i < bytes.length) {
      if ((bytes(i) & 0xc0) != 0x80) count += 1
      i += 1
    }
    count
  }
}

/**
 * The per-row function: UTF-8 bytes of a value's string form -> its pseudonym. One `Mac` per
 * thread, created on first use in each executor thread and re-used for every row after that.
 *
 * @param key      the UTF-8 bytes of the secret key; shipped to executors inside the task only,
 *                 never written to a saved model
 * @param truncate false: 64 hex characters; true: as many hex characters as the value has code
 *                 points (at least 1, at most 64)
 */
private[spark] final class HmacHexFunction(key: Array[Byte], truncate: Boolean)
    extends (Array[Byte] => String) with Serializable {

  @transient private lazy val macs: ThreadLocal[Mac] = new ThreadLocal[Mac] {
    override def initialValue(): Mac = HmacSha256.newMac(key)
  }

  override def apply(value: Array[Byte]): String = {
    if (value == null) return null
    val mac = macs.get()
    val digest = mac.doFinal(value) // doFinal also resets the Mac for the next row
    val chars =
      if (truncate) math.max(1, math.min(HmacSha256.HexLength, HmacSha256.utf8CodePoints(value)))
      else HmacSha256.HexLength
    HmacSha256.hex(digest, chars)
  }

  override def toString: String = s"HmacHexFunction(truncate=$truncate)"
}

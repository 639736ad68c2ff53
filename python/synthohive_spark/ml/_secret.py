"""The secret key of the keyed stages (HmacPseudonymizer, PIISanitizer): one place for its rules.

The key is never a Param and never saved. A stage keeps it in memory; what is saved is a public
fingerprint (the first 16 hex characters of HMAC-SHA256(key, a fixed label), the same value as the
Scala ``HmacSha256.fingerprint``) and an optional ``keyId`` label, so a loaded stage accepts only
the key it was saved with.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any, Optional

from pyspark.ml.param import Param, Params, TypeConverters

__all__ = ["HasSecretKey", "HasKeyEnv", "key_fingerprint", "require_key", "DEFAULT_KEY_ENV"]

#: the environment variable a keyed stage reads its key from when none was set (the same default
#: as ``PrivacyConfig.hmac_key_env``)
DEFAULT_KEY_ENV = "SYNTHOHIVE_HMAC_KEY"

_FINGERPRINT_LABEL = b"synthohive-spark/hmac-pseudonymizer/key-fingerprint/v1"


def require_key(key: Any, stage: str = "HmacPseudonymizer") -> None:
    """Refuse anything but a non-empty string as a key, naming ``stage``."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"{stage}: the key must be a non-empty string, "
                         f"got {type(key).__name__ if not isinstance(key, str) else 'an empty one'}.")


def key_fingerprint(key: str) -> str:
    """Public identifier of ``key``: the first 16 hex characters of HMAC-SHA256(key, fixed label).

    It does not reveal the key, but lets an attacker test guesses of a weak key offline: use a
    long random key.
    """
    require_key(key)
    return hmac.new(key.encode("utf-8"), _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


class HasSecretKey(Params):
    """``keyId`` and ``keyFingerprint`` Params and ``setKey``/``hasKey``/``clearKey``.

    A stage calls :meth:`_init_key` in its constructor and may override :meth:`_key_changed`
    (the pseudonymizer passes the key on to its JVM object there).
    """

    keyId: "Param[str]" = Param(
        Params._dummy(), "keyId",
        "a label naming the key, e.g. where it is kept; saved with the model (never the key "
        "itself)", typeConverter=TypeConverters.toString)
    keyFingerprint: "Param[str]" = Param(
        Params._dummy(), "keyFingerprint",
        "first 16 hex characters of HMAC-SHA256(key, a fixed label): identifies the key without "
        "revealing it; set by setKey", typeConverter=TypeConverters.toString)

    def _init_key(self) -> None:
        self._secret_key: Optional[str] = None

    def _key_env(self) -> str:
        """The environment variable read for the key when none is set: the stage's ``keyEnv``
        param where it has one (:class:`HasKeyEnv`), else ``DEFAULT_KEY_ENV``."""
        return self.getOrDefault("keyEnv") if self.hasParam("keyEnv") else DEFAULT_KEY_ENV

    def _key_from_env(self) -> bool:
        """True when a key is set; when none is, the value of ``keyEnv``'s variable (if there is
        one) becomes the key, through :meth:`setKey` (so a saved stage's fingerprint is checked)."""
        if self.hasKey():
            return True
        name = self._key_env()
        value = os.environ.get(name) if name else None
        if value:
            self.setKey(value)
        return self.hasKey()

    def _key_hint(self) -> str:
        """How to give the key, for error messages."""
        name = self._key_env()
        env = f", or set the environment variable {name}" if name else ""
        return f"pass key=<secret> or call setKey(<secret>){env}"

    def getKeyId(self) -> str:
        return self.getOrDefault(self.keyId)

    def getKeyFingerprint(self) -> str:
        return self.getOrDefault(self.keyFingerprint)

    def setKeyId(self, value: str) -> Any:
        return self._set(keyId=value)

    def setKey(self, value: str) -> Any:
        """Sets the secret key (its UTF-8 bytes are the HMAC key), in memory only. A stage that
        already has a key fingerprint (one loaded from disk) accepts only the key it was saved
        with."""
        stage = type(self).__name__
        require_key(value, stage)
        fingerprint = key_fingerprint(value)
        if self.isDefined(self.keyFingerprint) and self.getKeyFingerprint() != fingerprint:
            key_id = f", key id '{self.getKeyId()}'" if self.isDefined(self.keyId) else ""
            raise ValueError(
                f"{stage} {self.uid}: the key does not match the key this model was saved with "
                f"(expected key fingerprint {self.getKeyFingerprint()}{key_id}). Set the original "
                f"key, or build a new {stage} to use a different key: fakes and hashes made with "
                "another key do not join with the old ones.")
        self._secret_key = value
        self._set(keyFingerprint=fingerprint)
        self._key_changed()
        return self

    def hasKey(self) -> bool:
        """True when a key is set on this object (keys are never loaded from disk)."""
        return getattr(self, "_secret_key", None) is not None

    def clearKey(self) -> Any:
        """Forgets the key held in memory; the fingerprint stays."""
        self._secret_key = None
        self._key_changed()
        return self

    def _key_changed(self) -> None:
        """Called after the key is set or cleared."""


class HasKeyEnv(Params):
    """``keyEnv``: which environment variable a Python keyed stage reads its key from (the JVM
    pseudonymizer reads ``DEFAULT_KEY_ENV``: its params are the Scala stage's)."""

    keyEnv: "Param[str]" = Param(
        Params._dummy(), "keyEnv",
        "name of the driver's environment variable whose value is the key when none was set "
        f"(read when the key is first needed; empty: never; default {DEFAULT_KEY_ENV}). The "
        "variable's name is saved, never its value", typeConverter=TypeConverters.toString)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(keyEnv=DEFAULT_KEY_ENV)

    def getKeyEnv(self) -> str:
        return self.getOrDefault(self.keyEnv)

    def setKeyEnv(self, value: str) -> Any:
        return self._set(keyEnv=value)

"""Bitget's request signature and the emulator's API-key registry.

``ACCESS-SIGN = base64(hmac_sha256(secret, timestamp + METHOD + requestPath + body))``
where ``requestPath`` is the path plus ``?query`` (decoded, in the order sent) for GET.

Open mode (the default): keys registered with ``add_key`` (or through the testing
client factory) are checked against their secret and passphrase; an unregistered key
is accepted on first use and its account created and funded. Its secret cannot be
learned from an HMAC, so such a key is checked only from the moment it is registered.
Restricted mode (``restrict=True``): only registered keys are accepted (else 40006).
Secrets never leave this module: records and errors carry ``fingerprint(key)``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from aifap.exchange.emulator.errors import BitgetError


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A registered key's secret and passphrase (never logged; repr hides them)."""

    key: str
    secret: str
    passphrase: str

    def __repr__(self) -> str:
        return f"ApiKey({fingerprint(self.key)})"


def fingerprint(key: str) -> str:
    """Return a short, non-reversible id of an API key for logs and records."""
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:10]


def sign(secret: str, prehash: str) -> str:
    """Return Bitget's base64 HMAC-SHA256 signature of ``prehash``."""
    digest = hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class KeyRing:
    """The registered API keys and the signature check."""

    def __init__(self, restrict: bool = False) -> None:
        self.restrict = restrict
        self._keys: dict[str, ApiKey] = {}
        self._lock = threading.Lock()

    def add_key(self, key: str, secret: str, passphrase: str) -> None:
        """Register (or replace) a key; its requests are checked from now on."""
        with self._lock:
            self._keys[key] = ApiKey(key, secret, passphrase)

    def known(self, key: str) -> bool:
        """Tell whether ``key`` is registered."""
        with self._lock:
            return key in self._keys

    def verify(self, headers: Mapping[str, str], method: str, request_path: str, body: str) -> str:
        """Check the signature headers of one request; return the API key.

        Raises:
            BitgetError: 40001/40003/40011 when a header is missing, 40006 for an
                unknown key in restricted mode, 40012 for a wrong passphrase and
                40009 for a signature that does not match the key's secret.
        """
        lower = {k.lower(): v for k, v in headers.items()}
        key = lower.get("access-key", "")
        signature = lower.get("access-sign", "")
        timestamp = lower.get("access-timestamp", "")
        passphrase = lower.get("access-passphrase", "")
        if not key:
            raise BitgetError("40001", "ACCESS_KEY cannot be empty", status=401)
        if not signature:
            raise BitgetError("40003", "Signature cannot be empty", status=401)
        if not timestamp.isdigit():
            raise BitgetError("40005", "Invalid ACCESS_TIMESTAMP", status=401)
        if not passphrase:
            raise BitgetError("40011", "ACCESS_PASSPHRASE cannot be empty", status=401)
        with self._lock:
            registered = self._keys.get(key)
        if registered is None:
            if self.restrict:
                raise BitgetError("40006", "Invalid ACCESS_KEY", status=401)
            return key
        if not hmac.compare_digest(passphrase, registered.passphrase):
            raise BitgetError("40012", "apikey/password is incorrect", status=401)
        expected = sign(registered.secret, timestamp + method.upper() + request_path + body)
        if not hmac.compare_digest(expected, signature):
            raise BitgetError("40009", "sign signature error", status=401)
        return key

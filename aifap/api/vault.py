"""Exchange keys at rest: encrypted with a key derived from the platform's secret key.

The secret key is the one that signs tokens (``AIFAP_SECRET_KEY`` or the file
``AIFAP_SECRET_KEY_FILE``, read by :func:`aifap.auth.tokens.secret_key`); HKDF-SHA256
derives a separate Fernet key from it (AES-128-CBC + HMAC-SHA256), so the database
holds only ciphertext and a token-signing key is never used as an encryption key.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from aifap.auth.tokens import secret_key
from aifap.core.errors import ConfigError

_INFO = b"aifap exchange account keys v1"


def _fernet(key: str | None = None) -> Fernet:
    material = (key if key is not None else secret_key()).encode()
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(material)
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(value: str, *, key: str | None = None) -> str:
    """Return ``value`` encrypted (URL-safe base64 text) under the platform's key."""
    return _fernet(key).encrypt(value.encode()).decode("ascii")


def decrypt(token: str, *, key: str | None = None) -> str:
    """Return the clear text of :func:`encrypt`'s output.

    Raises:
        ConfigError: the ciphertext was made under another key or was altered.
    """
    try:
        return _fernet(key).decrypt(token.encode("ascii")).decode()
    except InvalidToken as exc:
        raise ConfigError(
            "account keys must decrypt under AIFAP_SECRET_KEY, they do not (key changed?)"
        ) from exc

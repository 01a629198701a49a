"""Exchange API keys as configs give them: values, environment variable names or secret files.

One model for a session's ``credentials:`` and a gateway service account's ``keys:``
(``aifap serve gateway``), so both read keys the same way: the value if given, else the
named variable, else the mounted file. Values stay ``SecretStr`` until a client needs them.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr

from aifap.core.errors import ConfigError

KEY_NAMES = ("api_key", "secret", "password")


class Credentials(BaseModel):
    """API key, secret and passphrase: each a value, a variable name or a file path."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr | None = None
    secret: SecretStr | None = None
    password: SecretStr | None = None
    api_key_env: str | None = None
    secret_env: str | None = None
    password_env: str | None = None
    api_key_file: Path | None = None
    secret_file: Path | None = None
    password_file: Path | None = None

    def given(self, name: str) -> bool:
        """Tell whether key ``name`` (``api_key``, ``secret``, ``password``) is given at all."""
        return any(getattr(self, f"{name}{suffix}") is not None for suffix in ("", "_env", "_file"))

    def resolve(
        self, *, strict: bool = True, field: str = "credentials"
    ) -> dict[str, SecretStr | None]:
        """Return the key, secret and password (value, else variable, else file).

        Args:
            strict: raise when a named variable is unset or a named file unreadable;
                False reads those as missing (for redaction and messages).
            field: the config block's name in error messages.

        Raises:
            ConfigError: (``strict``) a named variable is unset or a named file unreadable.
        """
        out: dict[str, SecretStr | None] = {}
        for name in KEY_NAMES:
            out[name] = self._one(name, strict, field)
        return out

    def _one(self, name: str, strict: bool, field: str) -> SecretStr | None:
        direct: SecretStr | None = getattr(self, name)
        env: str | None = getattr(self, f"{name}_env")
        file: Path | None = getattr(self, f"{name}_file")
        if direct is not None:
            return direct
        if env is not None:
            if env in os.environ:
                return SecretStr(os.environ[env])
            if strict:
                raise ConfigError(f"{field}.{name}_env must name a set variable, {env} was unset")
            return None
        if file is not None:
            try:
                return SecretStr(file.read_text(encoding="utf-8").strip())
            except OSError as exc:
                if strict:
                    raise ConfigError(
                        f"{field}.{name}_file must be a readable file, was {file}"
                    ) from exc
        return None

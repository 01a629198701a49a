"""Process-wide settings read from ``AIFAP_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# the variables carrying the key that signs every service token and encrypts the API's
# stored exchange keys: the processes that hold it (API, gateway service, admin CLI)
# never hand it to a session they start
SIGNING_KEY_VARIABLES = ("AIFAP_SECRET_KEY", "AIFAP_SECRET_KEY_FILE")


class Settings(BaseSettings):
    """Where data lives and how to reach shared services.

    ``database_url`` serves every logical database (platform, market, results) unless
    a more specific URL is set; with none, a SQLite file in ``data_dir`` is used.
    ``secret_key`` (or the file ``secret_key_file``, a mounted secret) signs and checks
    the service tokens of :mod:`aifap.auth.tokens`.
    """

    model_config = SettingsConfigDict(env_prefix="AIFAP_", extra="ignore", frozen=True)

    data_dir: Path = Field(default_factory=lambda: Path(user_data_dir("aifap", appauthor=False)))
    database_url: SecretStr | None = None
    market_database_url: SecretStr | None = None
    results_database_url: SecretStr | None = None
    discord_webhook_url: SecretStr | None = None
    display_timezone: str = "UTC"
    secret_key: SecretStr | None = None
    """Signs service tokens (HS256); ``secret_key_file`` names a file holding it instead."""
    secret_key_file: Path | None = None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings, read once; tests call ``get_settings.cache_clear()``."""
    return Settings()

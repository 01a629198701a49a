"""Alert configuration of one trader or manager: labels, channels, delivery tuning.

A channel names a sender (``discord``, ``console``, ``json``), its URL (a secret),
the alert kinds it receives and whether it is the admin channel (which also gets
the full error detail). With no channel configured, alerts go to the log, and to
Discord when ``AIFAP_DISCORD_WEBHOOK_URL`` is set.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from aifap.alerts.formatting import zone
from aifap.alerts.messages import AlertKind
from aifap.settings import Settings, get_settings

PUBLIC_KINDS: frozenset[AlertKind] = frozenset(AlertKind) - {AlertKind.ERROR_DETAIL}


class ChannelConfig(BaseModel):
    """Where one stream of alerts goes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sender: str = Field(description="Registered sender name: discord, console or json.")
    url: SecretStr | None = Field(default=None, description="Webhook URL (a secret).")
    kinds: frozenset[AlertKind] = Field(default=PUBLIC_KINDS, description="Kinds it receives.")
    admin: bool = Field(default=False, description="Also receive full error detail.")
    style: str = Field(default="embed", description="Discord: 'embed' or 'content'.")
    timeout: float = Field(default=10.0, gt=0, description="HTTP timeout in seconds.")

    @model_validator(mode="after")
    def _check(self) -> ChannelConfig:
        if self.sender in {"discord", "json"} and self.url is None:
            raise ValueError(f"channel url is required for the {self.sender} sender, was None")
        if self.style not in {"embed", "content"}:
            raise ValueError(f"channel style must be 'embed' or 'content', was {self.style!r}")
        return self

    def accepts(self, kind: AlertKind) -> bool:
        """Tell whether this channel receives alerts of ``kind``."""
        if kind is AlertKind.ERROR_DETAIL:
            return self.admin
        return kind in self.kinds


class AlertConfig(BaseModel):
    """The alert settings of one trader (or manager) in one session."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    session_id: str = Field(default="default", min_length=1, description="Outbox partition.")
    trader_label: str = Field(default="Trader A", description="Shown as [Trader A].")
    system_label: str = Field(default="Futures", description="Shown as [Futures].")
    user: str = Field(default="", description="The user shown in the start alert.")
    display_timezone: str = Field(default="UTC", description="IANA zone of alert times.")
    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    coalesce_window: float = Field(default=300.0, ge=0, description="Seconds; 0 disables.")
    message_limit: int = Field(default=2000, ge=200, le=2000, description="Characters a part.")
    redeliver_backoff: float = Field(default=5.0, gt=0, description="First channel back-off.")
    max_redeliver_backoff: float = Field(default=300.0, gt=0, description="Back-off ceiling.")
    poll_interval: float = Field(default=1.0, gt=0, description="Worker poll in seconds.")
    extra_secrets: tuple[SecretStr, ...] = Field(
        default=(), description="More values to redact (exchange API keys, passwords)."
    )

    @field_validator("display_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    def secrets(self) -> list[SecretStr]:
        """Return every secret this configuration holds."""
        found = [c.url for c in self.channels.values() if c.url is not None]
        return [*found, *self.extra_secrets]

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **values: object) -> AlertConfig:
        """Return a config whose defaults come from ``AIFAP_*`` settings.

        Without explicit ``channels``: a ``console`` channel, plus a ``discord``
        channel when ``AIFAP_DISCORD_WEBHOOK_URL`` is set. The display time zone is
        ``AIFAP_DISPLAY_TIMEZONE`` unless given.
        """
        settings = settings or get_settings()
        values.setdefault("display_timezone", settings.display_timezone)
        if "channels" not in values:
            channels = {"console": ChannelConfig(sender="console", admin=True)}
            if settings.discord_webhook_url is not None:
                channels["discord"] = ChannelConfig(
                    sender="discord", url=settings.discord_webhook_url
                )
            values["channels"] = channels
        secrets = [
            s
            for s in (
                settings.discord_webhook_url,
                settings.database_url,
                settings.market_database_url,
                settings.results_database_url,
            )
            if s is not None
        ]
        values["extra_secrets"] = (*secrets, *values.get("extra_secrets", ()))  # type: ignore[misc]
        return cls.model_validate(values)

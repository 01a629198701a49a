"""Alerts: Discord (and console, JSON webhook) notifications in the seed's formats.

The live runner's API (every event call returns at once and never raises)::

    from aifap.alerts import AlertConfig, AlertService, ChannelConfig

    config = AlertConfig(
        session_id="s-42", trader_label="Trader A", system_label="Futures",
        user="trader_01", display_timezone="Asia/Seoul",
        channels={
            "discord": ChannelConfig(sender="discord", url=webhook_url),
            "admin": ChannelConfig(sender="discord", url=admin_url, admin=True),
        },
        extra_secrets=(api_key, api_secret),     # redacted from alerts and logs
    )
    # or AlertConfig.from_settings(session_id=...) for AIFAP_DISCORD_WEBHOOK_URL
    alerts = AlertService(config, results_url, markets=market_specs).start()
    alerts.system_started(strategy="momentum_v2", environment="live",
                          duration=timedelta(hours=720))
    alerts.positions_changed(prev_snapshot, snapshot)   # each finwatcher interval
    alerts.error("StackFuturesIndicatorResult", exc)    # coalesced, count in the title
    try:
        retry_request(place_order, max_retries=3)
    except Exception as exc:
        sys.exit(alerts.critical("auto_trade", exc))    # alert, flush (bounded), 1
    alerts.flush(timeout=10)   # deliver what is pending, at most 10 s
    alerts.stop()              # flush, then stop the sender thread

``send_discord_alert(user_id, level, message, module)`` keeps the seed's shape once
``set_default_service(alerts)`` was called. Alerts are committed to the
``alert_outbox`` table before any send; one thread per service drains it in id
order, honouring Discord's rate limits; what is not delivered is sent after a
restart of the same session id. Number formatting: ``aifap.alerts.formatting``.
"""

from aifap.alerts.config import AlertConfig, ChannelConfig
from aifap.alerts.events import PositionChanges, diff_snapshots
from aifap.alerts.messages import SHORT_ERROR_MESSAGE, Alert, AlertKind
from aifap.alerts.render import Part, split_alert
from aifap.alerts.senders import AlertDeliveryError, Sender, SenderContext, senders
from aifap.alerts.service import (
    AlertService,
    send_discord_alert,
    set_default_service,
)
from aifap.redaction import Redactor, install_log_redaction, register_secrets

__all__ = [
    "SHORT_ERROR_MESSAGE",
    "Alert",
    "AlertConfig",
    "AlertDeliveryError",
    "AlertKind",
    "AlertService",
    "ChannelConfig",
    "Part",
    "PositionChanges",
    "Redactor",
    "Sender",
    "SenderContext",
    "diff_snapshots",
    "install_log_redaction",
    "register_secrets",
    "send_discord_alert",
    "senders",
    "set_default_service",
    "split_alert",
]

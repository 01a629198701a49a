"""Send one alert of every kind to a channel, so a user can check it before going live."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr

from aifap.alerts.config import AlertConfig, ChannelConfig
from aifap.alerts.outbox import FAILED, SENT
from aifap.alerts.sample import START, every_pair
from aifap.alerts.service import AlertService
from aifap.retry import DEFAULT_POLICY, RetryPolicy

SAMPLE_MODULE = "StackFuturesIndicatorResult"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """How the test messages fared."""

    queued: int
    sent: int
    failed: int

    @property
    def ok(self) -> bool:
        """Tell whether every message was delivered."""
        return self.sent == self.queued and self.failed == 0


def send_samples(service: AlertService) -> int:
    """Enqueue one alert of every kind on ``service``; return the number of rows."""
    rows = service.system_started(
        strategy="momentum_v2", environment="test", duration=timedelta(hours=720), time=START
    )
    for pair in every_pair():
        rows += service.positions_changed(pair.prev, pair.curr, markets=pair.markets)
    sample = RuntimeError("sample failure sent by `aifap alerts test`")
    rows += service.error(SAMPLE_MODULE, sample, time=START + timedelta(days=6, hours=18))
    return len(rows)


def check_webhook(
    webhook_url: str | SecretStr,
    *,
    sender: str = "discord",
    display_timezone: str = "UTC",
    timeout: float = 60.0,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> CheckResult:
    """Send every kind of alert to ``webhook_url`` through a throwaway outbox."""
    url = webhook_url if isinstance(webhook_url, SecretStr) else SecretStr(webhook_url)
    config = AlertConfig(
        session_id="alerts-test",
        user="trader_01",
        display_timezone=display_timezone,
        channels={"test": ChannelConfig(sender=sender, url=url, admin=True)},
        coalesce_window=0,
    )
    with tempfile.TemporaryDirectory(prefix="aifap-alerts-") as tmp:
        db_url = f"sqlite:///{Path(tmp) / 'outbox.db'}"
        service = AlertService(config, db_url, policy=policy).start()
        try:
            queued = send_samples(service)
            service.flush(timeout)
        finally:
            service.stop(timeout=1.0)
        rows = service.outbox.rows()
        service.engine.dispose()
    return CheckResult(
        queued=queued,
        sent=sum(row.status == SENT for row in rows),
        failed=sum(row.status == FAILED for row in rows),
    )

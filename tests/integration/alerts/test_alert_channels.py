"""Secrets, long messages, the CLI check and the JSON sender against the fake server."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import quote

from pydantic import SecretStr
from typer.testing import CliRunner

from aifap.alerts import AlertConfig, AlertService, ChannelConfig
from aifap.alerts.sample import position, snapshot
from aifap.cli import app
from aifap.retry import RetryPolicy

FAST_POLICY = RetryPolicy(
    max_attempts=3, initial_wait=0.01, max_wait=0.05, jitter=0.01, max_elapsed=None
)
TOKEN = "Zx9-secretWebhookToken-0123456789abcdef"
API_KEY = "bg_live_apikey_7f3a9c2e11d04b"


def service_for(url: str, tmp_path: Path, *, admin: bool = False, sender: str = "discord"):
    config = AlertConfig(
        session_id="chan",
        channels={"a": ChannelConfig(sender=sender, url=SecretStr(url), admin=admin)},
        extra_secrets=(SecretStr(API_KEY),),
        poll_interval=0.05,
    )
    return AlertService(config, f"sqlite:///{tmp_path / 'r.db'}", policy=FAST_POLICY).start()


def test_secrets_never_reach_alert_text_or_logs(fake_discord, tmp_path, caplog):
    url = fake_discord.url("sec", token=TOKEN)
    service = service_for(url, tmp_path, admin=True)
    caplog.set_level(logging.DEBUG)
    try:
        problem = (
            f"POST {url} failed; key={API_KEY}; encoded={quote(url, safe='')}; "
            f"config={ {'webhook': url, 'token': TOKEN} }"
        )
        try:
            raise RuntimeError(problem)
        except RuntimeError as exc:
            service.error("auto_trade", exc)
        logging.getLogger("aifap.test").error("config dump: %s", {"url": url, "key": API_KEY})
        logging.getLogger("aifap.test").info("model dump: %s", service.config.model_dump())
        assert service.flush(10)
    finally:
        service.stop(1)
    sent = json.dumps(fake_discord.delivered("sec"), ensure_ascii=False)
    stored = " ".join(row.payload + (row.last_error or "") for row in service.outbox.rows())
    for text in (sent, stored, caplog.text):
        for secret in (url, TOKEN, API_KEY, quote(url, safe=""), quote(TOKEN, safe="")):
            assert secret not in text
    assert "***" in sent  # the admin detail kept the message, masked
    assert "key=***" in caplog.text


def test_long_tables_reach_discord_split_and_complete(fake_discord, tmp_path):
    service = service_for(fake_discord.url("long"), tmp_path)
    positions = [position(f"COIN{i:03d}USDT", "1.5", "12.345", sl="11", tp="14") for i in range(90)]
    try:
        service.positions_changed(None, snapshot(*positions))
        assert service.flush(10)
    finally:
        service.stop(1)
    bodies = fake_discord.delivered("long")
    assert len(bodies) > 1
    symbols = []
    for body in bodies:
        embed = body["embeds"][0]
        assert len(embed["title"]) + len(embed["description"]) + 1 <= 2000
        lines = embed["description"].splitlines()
        assert lines[0] == lines[-1] == "```"
        assert lines[1].split() == ["Sym", "Side", "Size", "Entry", "SL", "TP", "FundingFee"]
        symbols += [line.split()[0] for line in lines[2:-1]]
    assert symbols == [p.symbol for p in positions]


def test_json_webhook_sender_posts_kind_title_text_and_colour(fake_discord, tmp_path):
    service = service_for(fake_discord.url("json"), tmp_path, sender="json")
    try:
        service.positions_changed(
            snapshot(position("LTCUSDT", "-0.4", "78.17")), snapshot(position("BTCUSDT", "1", "9"))
        )
        assert service.flush(10)
    finally:
        service.stop(1)
    first, second = fake_discord.delivered("json")
    assert first["kind"] == "positions_closed"
    assert first["title"] == "🔴 [Trader A] Position Closed: LTCUSDT"
    assert first["color"] == "#ED4245"
    assert second["kind"] == "positions_added"
    assert second["text"].startswith("🟢 [Trader A] Position Added\n```\n")


def test_cli_alerts_test_sends_every_kind(fake_discord):
    url = fake_discord.url("cli", token=TOKEN)
    result = CliRunner().invoke(app, ["alerts", "test", "--webhook-url", url, "--timeout", "20"])
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output
    titles = [body["embeds"][0]["title"] for body in fake_discord.delivered("cli")]
    assert titles == [
        "🚀 [Futures] System Started",
        "🟢 [Trader A] New Positions Opened",
        "🟢 [Trader A] Position Added",
        "📝 [Trader A] Position Updated",
        "🔴 [Trader A] Position Closed: LTCUSDT",
        "🔴 [Trader A] Position Closed: DOGEUSDT, BNBUSDT",
        "🚨 [Futures] StackFuturesIndicatorResult Partial Failure (1)",
        "🚨 [Futures] StackFuturesIndicatorResult Partial Failure (1) [admin]",
    ]


def test_cli_alerts_test_fails_on_a_dead_webhook(dead_url):
    result = CliRunner().invoke(
        app, ["alerts", "test", "--webhook-url", dead_url, "--timeout", "0.5"]
    )
    assert result.exit_code == 1
    assert "not delivered" in result.output

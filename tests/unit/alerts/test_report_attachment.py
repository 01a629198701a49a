from __future__ import annotations

import json
from datetime import UTC, datetime

from aifap.alerts.config import ChannelConfig
from aifap.alerts.messages import Alert, AlertKind, report_alert
from aifap.alerts.render import split_alert
from aifap.alerts.senders import DiscordWebhookSender, SenderContext


def sender() -> DiscordWebhookSender:
    channel = ChannelConfig(sender="discord", url="https://discord.invalid/api/webhooks/1/x")
    return DiscordWebhookSender(channel, SenderContext("s", "discord"))


def alert(path: str) -> Alert:
    return report_alert(
        system_label="Futures",
        session="s-1",
        time=datetime(2024, 6, 1, tzinfo=UTC),
        lines=["ROE: +1.00%"],
        path=path,
    )


def test_report_alert_survives_the_outbox_json_with_its_file():
    made = alert("/tmp/r.html")
    assert made.kind is AlertKind.REPORT
    assert Alert.from_json(json.loads(json.dumps(made.to_json()))) == made


def test_discord_uploads_the_file_as_files_0_with_payload_json(tmp_path):
    report = tmp_path / "s-1_tearsheet.html"
    report.write_text("<html>report</html>")
    made = alert(str(report))
    (part,) = split_alert(made)
    out = sender()
    try:
        request = out.request(made, part, 0, 1)
    finally:
        out.close()
    ((name, (filename, content, media)),) = request["files"]
    assert (name, filename, content, media) == (
        "files[0]",
        report.name,
        b"<html>report</html>",
        "text/html",
    )
    body = json.loads(request["data"]["payload_json"])
    assert body["attachments"] == [{"id": 0, "filename": report.name}]
    assert body["embeds"][0]["title"] == "📊 [Futures] Performance Report: s-1"


def test_a_missing_file_is_named_in_the_message_instead(tmp_path):
    made = alert(str(tmp_path / "gone.html"))
    (part,) = split_alert(made)
    out = sender()
    try:
        request = out.request(made, part, 0, 1)
    finally:
        out.close()
    assert "files" not in request
    assert "Not attached: gone.html (missing)" in request["json"]["embeds"][0]["description"]


def test_alerts_without_files_stay_json():
    plain = Alert(kind=AlertKind.SYSTEM_STARTED, title="🚀 [Futures] System Started")
    out = sender()
    try:
        assert set(out.request(plain, split_alert(plain)[0], 0, 1)) == {"json"}
    finally:
        out.close()

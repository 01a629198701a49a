"""``aifap alerts``: check an alert channel before going live."""

from __future__ import annotations

import typer

from aifap.cli import app, console

alerts_app = typer.Typer(help="Alert channels: Discord, JSON webhooks.", no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")


@alerts_app.command("test")
def send_test(
    webhook_url: str = typer.Option(
        ...,
        "--webhook-url",
        envvar="AIFAP_DISCORD_WEBHOOK_URL",
        help="Webhook to post to (default: AIFAP_DISCORD_WEBHOOK_URL). Never printed.",
        show_default=False,
    ),
    sender: str = typer.Option("discord", help="Sender: discord or json."),
    timezone: str = typer.Option("UTC", "--timezone", help="IANA zone of the alert times."),
    timeout: float = typer.Option(60.0, help="Seconds to wait for delivery."),
) -> None:
    """Send one alert of every kind (from sample snapshots) to a webhook."""
    from aifap.alerts.check import check_webhook

    result = check_webhook(webhook_url, sender=sender, display_timezone=timezone, timeout=timeout)
    console.print(f"alerts test: {result.sent} of {result.queued} messages delivered")
    if not result.ok:
        console.print(f"[red]error:[/red] {result.queued - result.sent} not delivered")
        raise typer.Exit(1)

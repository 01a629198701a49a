"""Alert senders, registered by name: ``discord``, ``console``, ``json``.

A sender delivers one part of one alert or raises:

* ``TransientGatewayError``: network error, timeout, HTTP 429 or 5xx: retried with
  the project's retry policy (``aifap.retry``), then later again;
* ``AlertDeliveryError``: the endpoint refused the message (other 4xx): the alert is
  marked failed and kept;
* ``DeliveryInterrupted``: the service is stopping while the sender waited.

HTTP senders honour rate limits before every request: after ``X-RateLimit-Remaining:
0`` no request is made until ``X-RateLimit-Reset-After`` has passed, and a 429 blocks
the channel for its ``retry_after`` (JSON body) or ``Retry-After`` header. Error
messages never contain the URL (it is a secret).
"""

from __future__ import annotations

import json
import logging
import mimetypes
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from aifap.alerts.config import ChannelConfig
from aifap.alerts.messages import Alert
from aifap.alerts.render import Part, discord_payload, json_payload
from aifap.core.errors import AifapError, TransientGatewayError
from aifap.registry import Registry

log = logging.getLogger(__name__)

DISCORD_FILE_LIMIT = 10 * 1024 * 1024  # bytes a webhook upload may carry without boosts


class AlertDeliveryError(AifapError):
    """An alert endpoint refused a message for good (retrying cannot help)."""


class DeliveryInterrupted(AifapError):
    """The alert service stopped while a sender was waiting."""


@dataclass
class SenderContext:
    """What a sender gets besides its channel: the session and the stop signal."""

    session_id: str
    channel: str
    stop: threading.Event = field(default_factory=threading.Event)
    clock: Callable[[], float] = time.monotonic


class Sender(Protocol):
    """Deliver parts of alerts to one channel."""

    def send(self, alert: Alert, part: Part, index: int, total: int) -> None:
        """Deliver part ``index`` (0-based) of ``total`` of ``alert``, or raise."""

    def close(self) -> None:
        """Release connections."""


SenderFactory = Callable[[ChannelConfig, SenderContext], Sender]
senders: Registry[SenderFactory] = Registry("aifap.alert_senders")


class RateLimitBucket:
    """When the next request to one endpoint may be made, from its response headers."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.blocked_until = 0.0

    def block_for(self, seconds: float) -> None:
        """Allow no request for ``seconds`` from now."""
        self.blocked_until = max(self.blocked_until, self.clock() + max(0.0, seconds))

    def update(self, response: httpx.Response) -> float | None:
        """Read the bucket headers (and a 429 body); return the 429 retry delay if any."""
        headers = response.headers
        if headers.get("x-ratelimit-remaining") == "0":
            self.block_for(_seconds(headers.get("x-ratelimit-reset-after")) or 0.0)
        if response.status_code != 429:
            return None
        retry_after = None
        try:
            body = response.json()
            if isinstance(body, Mapping):
                retry_after = _seconds(body.get("retry_after"))
        except ValueError:
            pass
        if retry_after is None:
            retry_after = _seconds(headers.get("retry-after"))
        delay = retry_after if retry_after is not None else 1.0
        self.block_for(delay)
        return delay

    def wait(self, stop: threading.Event) -> None:
        """Sleep until the bucket allows a request; raise DeliveryInterrupted on stop."""
        while (delay := self.blocked_until - self.clock()) > 0:
            if stop.wait(delay):
                raise DeliveryInterrupted("alert delivery stopped while rate limited")


def _seconds(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class HttpSender:
    """POST JSON to a webhook URL with rate limits and an error map."""

    what = "webhook"

    def __init__(self, channel: ChannelConfig, context: SenderContext) -> None:
        assert channel.url is not None  # the config validator guarantees it
        self.channel = channel
        self.context = context
        self._url = channel.url.get_secret_value()
        self.bucket = RateLimitBucket(context.clock)
        self._client = httpx.Client(timeout=channel.timeout, follow_redirects=False)

    def payload(self, alert: Alert, part: Part, index: int, total: int) -> dict[str, Any]:
        """Return the JSON body of one part."""
        raise NotImplementedError

    def request(self, alert: Alert, part: Part, index: int, total: int) -> dict[str, Any]:
        """Return the keyword arguments of the POST of one part (a JSON body)."""
        return {"json": self.payload(alert, part, index, total)}

    def send(self, alert: Alert, part: Part, index: int, total: int) -> None:
        """POST one part, honouring the rate limit; map failures to the error tree."""
        self.bucket.wait(self.context.stop)
        name = f"{self.what} channel {self.context.channel!r}"
        try:
            response = self._client.post(self._url, **self.request(alert, part, index, total))
        except httpx.TimeoutException as exc:
            raise TransientGatewayError(f"{name}: request timed out") from exc
        except httpx.HTTPError as exc:
            raise TransientGatewayError(f"{name}: {type(exc).__name__}") from exc
        delay = self.bucket.update(response)
        status = response.status_code
        if delay is not None:
            raise TransientGatewayError(f"{name}: rate limited (HTTP 429), retry after {delay}s")
        if status >= 500:
            raise TransientGatewayError(f"{name}: HTTP {status} from the server")
        if status >= 400:
            raise AlertDeliveryError(f"{name}: message refused with HTTP {status}")

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()


class DiscordWebhookSender(HttpSender):
    """Post embeds (or plain content) to a Discord webhook; files go with the last part.

    An alert's attachments are uploaded as ``multipart/form-data``: the message as
    ``payload_json`` (listing ``attachments`` by id) and each file as ``files[i]``.
    A file that is missing or larger than Discord accepts is named in the message
    instead, so the summary still arrives.
    """

    what = "discord"

    def payload(self, alert: Alert, part: Part, index: int, total: int) -> dict[str, Any]:
        """Return the Discord webhook body of one part."""
        return discord_payload(alert, part, style=self.channel.style)

    def request(self, alert: Alert, part: Part, index: int, total: int) -> dict[str, Any]:
        """Return a JSON body, or a multipart upload on the last part of an alert with files."""
        if not alert.attachments or index != total - 1:
            return super().request(alert, part, index, total)
        files: list[tuple[str, tuple[str, bytes, str]]] = []
        described: list[dict[str, Any]] = []
        left_out: list[str] = []
        for path in alert.attachments:
            file = Path(path)
            try:
                size = file.stat().st_size
                if size > DISCORD_FILE_LIMIT:
                    left_out.append(f"{file.name} ({size:,} bytes: too large to attach)")
                    continue
                content = file.read_bytes()
            except OSError:
                left_out.append(f"{file.name} (missing)")
                continue
            number = len(files)
            media = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            files.append((f"files[{number}]", (file.name, content, media)))
            described.append({"id": number, "filename": file.name})
        if left_out:
            note = "Not attached: " + "; ".join(left_out)
            part = Part(part.title, f"{part.body}\n{note}" if part.body else note)
        body = self.payload(alert, part, index, total)
        if not files:
            return {"json": body}
        body["attachments"] = described
        return {"data": {"payload_json": json.dumps(body)}, "files": files}


class JsonWebhookSender(HttpSender):
    """Post a generic JSON document (kind, title, text, colour, count) to a URL."""

    what = "json webhook"

    def payload(self, alert: Alert, part: Part, index: int, total: int) -> dict[str, Any]:
        """Return the generic JSON body of one part."""
        return json_payload(
            alert, part, index=index, total=total, session_id=self.context.session_id
        )


class ConsoleSender:
    """Write alerts to the ``aifap.alerts.console`` log (stderr under the CLI)."""

    def __init__(self, channel: ChannelConfig, context: SenderContext) -> None:
        self.channel = channel
        self.context = context
        self.log = logging.getLogger("aifap.alerts.console")

    def send(self, alert: Alert, part: Part, index: int, total: int) -> None:
        """Log the part's text (and, on the last part, the files it carries)."""
        self.log.info("%s", part.text)
        if alert.attachments and index == total - 1:
            self.log.info("attached: %s", ", ".join(alert.attachments))

    def close(self) -> None:
        """Nothing to release."""


senders.register("discord", DiscordWebhookSender)
senders.register("json", JsonWebhookSender)
senders.register("console", ConsoleSender)

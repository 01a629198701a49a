"""Keep secrets out of alert text, error messages and log lines: the one redactor.

Redaction is built from the secret *values* (webhook URLs, API keys, database
URLs), not from a pattern: each value is replaced in its plain form and its URL
encodings (``quote`` and ``quote_plus``), and for URLs also their password (plain
and decoded), their final path segment (a webhook token) and their query, so an
exception message or a config dump that embeds a secret is cleaned wherever it
goes. ``install_log_redaction()`` wraps the log-record factory, so every record,
whatever handler receives it, is redacted when it is created; ``RedactingFilter``
does the same for the records of one logger (the ccxt gateway's wire log).
``redact_url`` hides the password of a database URL and keeps the rest readable.

Every package may import this module (it imports nothing of ours).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

from pydantic import SecretStr

MASK = "***"
# shorter values would mask ordinary words
MIN_SECRET_LENGTH = 6


def _variants(secret: str) -> set[str]:
    forms = {secret, quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret)}
    try:
        parts = urlsplit(secret)
    except ValueError:
        return forms
    if parts.scheme and parts.netloc:
        if parts.password:
            forms |= {parts.password, unquote(parts.password)}
        tail = parts.path.rstrip("/").rsplit("/", 1)[-1]
        if len(tail) >= 16:
            forms.add(tail)
        if parts.query:
            forms.add(parts.query)
    return forms


class Redactor:
    """Replace every known secret value with ``***``; thread-safe, secrets only added.

    Args:
        secrets: the secret values (None and values shorter than ``min_length`` are
            ignored, and so are their shorter forms).
        min_length: the shortest value masked; exchange credentials use 1, since a
            configured key is a secret whatever its length.
    """

    def __init__(
        self,
        secrets: Iterable[str | SecretStr | None] = (),
        *,
        min_length: int = MIN_SECRET_LENGTH,
    ) -> None:
        self._lock = threading.Lock()
        self._forms: tuple[str, ...] = ()
        self.min_length = max(1, min_length)
        self.add(*secrets)

    def add(self, *secrets: str | SecretStr | None) -> None:
        """Register more secret values (None and short values are ignored)."""
        forms = set(self._forms)
        for secret in secrets:
            value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
            if value and len(value) >= self.min_length:
                forms |= {form for form in _variants(value) if len(form) >= self.min_length}
        with self._lock:
            # longest first: a URL is masked whole before its token is
            self._forms = tuple(sorted(forms, key=len, reverse=True))

    def __bool__(self) -> bool:
        return bool(self._forms)

    def __call__(self, text: str) -> str:
        """Return ``text`` with every secret form masked."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text


def redact_url(url: str) -> str:
    """Return the database (or any) URL ``url`` with its password shown as ``***``.

    The rest stays readable for logs and messages; a string that is not a URL with a
    scheme is replaced whole, since it cannot be told apart from a secret.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable database URL>"
    if not parts.scheme or "://" not in url:
        return "<unparseable database URL>"
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return parts._replace(netloc=f"{user}:{MASK}@{hostport}").geturl()


REDACTOR = Redactor()
"""The process-wide redactor the log-record factory uses."""

_installed = False
_install_lock = threading.Lock()


def register_secrets(*secrets: str | SecretStr | None) -> None:
    """Add secret values to the process-wide redactor (logs and alerts)."""
    REDACTOR.add(*secrets)


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in a record's message and traceback."""

    def __init__(self, redactor: Redactor = REDACTOR) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place and keep it."""
        redact_record(record, self.redactor)
        return True


def redact_record(record: logging.LogRecord, redactor: Redactor = REDACTOR) -> None:
    """Render ``record``'s message and traceback now, with secrets masked."""
    # each redactor once per record (the factory's, then a logger's filter)
    done: frozenset[int] = getattr(record, "_aifap_redacted", frozenset())
    if not redactor or id(redactor) in done:
        return
    try:
        message = record.getMessage()
    except Exception:  # a bad format string must not lose the record
        message = str(record.msg)
    record.msg = redactor(message)
    record.args = None
    if record.exc_text:  # rendered (and redacted) by an earlier redactor
        record.exc_text = redactor(record.exc_text)
    elif record.exc_info and record.exc_info[0] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = redactor(text)
    if record.stack_info:
        record.stack_info = redactor(record.stack_info)
    record._aifap_redacted = done | {id(redactor)}


def install_log_redaction() -> None:
    """Make every log record of this process pass through ``REDACTOR`` (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True

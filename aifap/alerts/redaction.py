"""Keep configured secrets out of alert text and log lines.

Redaction is built from the secret *values* (webhook URLs, API keys, database
URLs), not from a pattern: each value is replaced in its plain form and its URL
encodings, and for URLs also their password and their final path segment (a
webhook token), so an exception message or a config dump that embeds a secret is
cleaned wherever it goes. ``install_log_redaction()`` wraps the log-record factory,
so every record, whatever handler receives it, is redacted when it is created.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

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
            forms.add(parts.password)
        tail = parts.path.rstrip("/").rsplit("/", 1)[-1]
        if len(tail) >= 16:
            forms.add(tail)
        if parts.query:
            forms.add(parts.query)
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


class Redactor:
    """Replace every known secret value with ``***``; thread-safe, secrets only added."""

    def __init__(self, secrets: Iterable[str | SecretStr | None] = ()) -> None:
        self._lock = threading.Lock()
        self._forms: tuple[str, ...] = ()
        self.add(*secrets)

    def add(self, *secrets: str | SecretStr | None) -> None:
        """Register more secret values (None and short values are ignored)."""
        forms = set(self._forms)
        for secret in secrets:
            value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
            if value and len(value) >= MIN_SECRET_LENGTH:
                forms |= _variants(value)
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
    if not redactor or getattr(record, "_aifap_redacted", False):
        return
    try:
        message = record.getMessage()
    except Exception:  # a bad format string must not lose the record
        message = str(record.msg)
    record.msg = redactor(message)
    record.args = None
    if record.exc_info and record.exc_info[0] is not None:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = redactor(text)
    elif record.exc_text:
        record.exc_text = redactor(record.exc_text)
    if record.stack_info:
        record.stack_info = redactor(record.stack_info)
    record._aifap_redacted = True


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

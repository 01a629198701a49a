"""Redaction from configured secret values: plain, URL-encoded, webhook tokens; logs too."""

from __future__ import annotations

import logging
from urllib.parse import quote, quote_plus

from pydantic import SecretStr

from aifap.alerts.config import AlertConfig, ChannelConfig
from aifap.alerts.redaction import (
    MASK,
    RedactingFilter,
    Redactor,
    install_log_redaction,
    register_secrets,
)

URL = "https://discord.com/api/webhooks/1234567890/AbC-dEf_ghIJKLmnoPQRstu+vwx/yz"
TOKEN = "AbC-dEf_ghIJKLmnoPQRstu+vwx"


def test_plain_and_url_encoded_forms_are_masked():
    redact = Redactor([SecretStr(URL), "api-key-123456"])
    text = f"a {URL} b {quote(URL, safe='')} c {quote_plus(URL)} d api-key-123456"
    out = redact(text)
    assert URL not in out
    assert quote(URL, safe="") not in out
    assert quote_plus(URL) not in out
    assert "api-key-123456" not in out
    assert out.count(MASK) == 4


def test_a_webhook_token_alone_is_masked():
    redact = Redactor([URL.rsplit("/", 1)[0]])
    assert TOKEN not in redact(f"token {TOKEN} leaked")


def test_short_or_missing_values_are_ignored():
    redact = Redactor([None, "", "abc"])
    assert not redact
    assert redact("abc def") == "abc def"


def test_config_dump_shows_no_secret():
    config = AlertConfig(channels={"d": ChannelConfig(sender="discord", url=SecretStr(URL))})
    assert URL not in repr(config)
    assert URL not in config.model_dump_json()
    assert config.secrets()[0].get_secret_value() == URL


def test_log_records_are_redacted_with_their_tracebacks(caplog):
    register_secrets("s3cr3t-value-xyz")
    install_log_redaction()
    install_log_redaction()  # idempotent
    log = logging.getLogger("aifap.tests.redaction")
    with caplog.at_level(logging.INFO):
        log.info("connecting with %s", "s3cr3t-value-xyz")
        try:
            raise RuntimeError("bad key s3cr3t-value-xyz")
        except RuntimeError:
            log.exception("failed")
    assert "s3cr3t-value-xyz" not in caplog.text
    assert "connecting with ***" in caplog.text
    assert "RuntimeError: bad key ***" in caplog.text


def test_filter_redacts_records_from_other_factories():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "key=%s", ("zz-top-secret",), None)
    RedactingFilter(Redactor(["zz-top-secret"])).filter(record)
    assert record.getMessage() == "key=***"

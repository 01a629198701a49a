"""Redaction from configured secret values: plain, URL-encoded, webhook tokens, DB URLs; logs."""

from __future__ import annotations

import logging
from urllib.parse import quote, quote_plus

from pydantic import SecretStr

from aifap.alerts.config import AlertConfig, ChannelConfig
from aifap.redaction import (
    MASK,
    RedactingFilter,
    Redactor,
    install_log_redaction,
    redact_url,
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


DB_URL = "postgresql+psycopg2://trader:p%40ss-w0rd%2Fx@db.example:5432/results"


def test_a_database_url_password_is_masked_in_every_form():
    redact = Redactor([DB_URL])
    for leaked in ("p%40ss-w0rd%2Fx", "p@ss-w0rd/x", quote("p@ss-w0rd/x", safe="")):
        assert "w0rd" not in redact(f"could not connect: password {leaked} rejected")
    assert redact(f"engine {DB_URL}") == f"engine {MASK}"
    assert redact(quote_plus(DB_URL)) == MASK


def test_redact_url_hides_only_the_password():
    assert redact_url(DB_URL) == f"postgresql+psycopg2://trader:{MASK}@db.example:5432/results"
    assert redact_url("postgresql://u:a@b@host/db") == f"postgresql://u:{MASK}@host/db"
    assert redact_url("sqlite:////tmp/aifap.db") == "sqlite:////tmp/aifap.db"
    assert redact_url("postgresql://host/db") == "postgresql://host/db"
    assert redact_url("not a url hunter2") == "<unparseable database URL>"


def test_exchange_credentials_are_masked_whatever_their_length():
    redact = Redactor(["abc", "k3y"], min_length=1)
    assert redact("key abc, secret k3y") == f"key {MASK}, secret {MASK}"


def test_each_redactor_of_a_record_applies_once():
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "key=%s secret=%s", ("first-secret", "second-secret"), None
    )
    first, second = Redactor(["first-secret"]), Redactor(["second-secret"])
    for redactor in (first, second, first):
        RedactingFilter(redactor).filter(record)
    assert record.getMessage() == f"key={MASK} secret={MASK}"

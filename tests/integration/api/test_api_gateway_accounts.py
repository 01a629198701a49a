"""``POST /accounts`` with a gateway instead of keys, over HTTP on SQLite and PostgreSQL.

A gateway account names its gateway service (URL and account name) and holds no keys;
the answer shows the URL; a body with both, neither, or a bad URL is refused with a 422
naming the field and the rule; the database enforces keys-or-gateway too.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from aifap.api.models import AuditEntry, ExchangeAccount
from aifap.db import make_engine, session_factory

GATEWAY = "http://gateway-bitget-main.fin-finwrapper.svc.cluster.local:8920"


def test_a_gateway_account_is_stored_and_shown_without_keys(org):
    made = org.call(
        "supervisor", "POST", "/accounts",
        json={"venue": "bitget", "market": "futures", "demo": False, "gateway_url": GATEWAY,
              "gateway_account": "bitget-main", "manager_id": org.managers["a"]},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["gateway_url"] == GATEWAY
    assert body["gateway_account"] == "bitget-main"
    assert (body["venue"], body["market"], body["demo"]) == ("bitget", "futures", False)
    shown = org.call("manager", "GET", f"/accounts/{body['id']}").json()
    assert shown == body
    keyed = org.call("manager", "GET", f"/accounts/{org.accounts['a']}").json()
    assert keyed["gateway_url"] is None
    assert keyed["gateway_account"] is None
    listed = {a["id"]: a for a in org.call("manager", "GET", "/accounts").json()}
    assert listed[body["id"]]["gateway_url"] == GATEWAY
    with session_factory(make_engine(org.db_url))() as db:
        row = db.get(ExchangeAccount, body["id"])
        assert (row.api_key_enc, row.secret_enc, row.passphrase_enc) == (None, None, None)
        assert row.via_gateway
        audit = db.scalars(
            select(AuditEntry).where(AuditEntry.target == f"account:{body['id']}")
        ).one()
    assert GATEWAY in audit.detail
    assert "bitget-main" in audit.detail
    # a trader on it makes a valid session config (exchange: remote), checked at creation
    trader = org.call(
        "supervisor", "POST", "/traders",
        json={"name": "via_gateway", "strategy": "strategies/momentum.py", "allocation": "10",
              "symbols": ["BTCUSDT"], "manager_id": org.managers["a"], "account_id": body["id"]},
    )  # fmt: skip
    assert trader.status_code == 201, trader.text
    assert org.call("supervisor", "DELETE", f"/traders/{trader.json()['id']}").status_code == 204


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"api_key": "SOME-KEY-111", "secret": "SOME-SECRET-222", "gateway_url": GATEWAY,
          "gateway_account": "bitget-main"}, ["was both", "api_key", "gateway_url"]),
        ({}, ["api_key and secret, or gateway_url and gateway_account", "was neither"]),
        ({"gateway_url": GATEWAY}, ["gateway_account must be given with gateway_url"]),
        ({"gateway_account": "bitget-main"}, ["gateway_url must be given"]),
        ({"api_key": "SOME-KEY-111"}, ["secret must be given"]),
        ({"gateway_url": "ftp://gateway:8920", "gateway_account": "bitget-main"},
         ["gateway_url: ", "http(s) URL"]),
        ({"gateway_url": "http://u:SOME-SECRET-222@gateway:8920", "gateway_account": "x"},
         ["gateway_url: ", "user or password"]),
        ({"gateway_url": GATEWAY, "gateway_account": "no spaces"}, ["gateway_account: "]),
    ],
)  # fmt: skip
def test_keys_or_gateway_is_refused_with_the_field_and_rule(org, extra, words):
    before = len(org.call("supervisor", "GET", "/accounts").json())
    answer = org.call(
        "supervisor", "POST", "/accounts",
        json={"venue": "bitget", "manager_id": org.managers["b"], **extra},
    )  # fmt: skip
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    for word in words:
        assert word in detail
    assert "SOME-KEY-111" not in answer.text
    assert "SOME-SECRET-222" not in answer.text
    assert len(org.call("supervisor", "GET", "/accounts").json()) == before


def test_the_database_holds_keys_or_a_gateway_never_both_nor_neither(org):
    rows = [
        {"api_key_enc": "c1", "secret_enc": "c2", "gateway_url": GATEWAY, "gateway_account": "a"},
        {},
        {"gateway_url": GATEWAY},
        {"passphrase_enc": "c3", "gateway_url": GATEWAY, "gateway_account": "a"},
    ]
    factory = session_factory(make_engine(org.db_url))
    for fields in rows:
        with factory() as db:
            db.add(ExchangeAccount(manager_id=org.managers["a"], venue="bitget",
                                   market="futures", demo=True, created_ms=0,
                                   **fields))  # fmt: skip
            with pytest.raises(IntegrityError):
                db.commit()

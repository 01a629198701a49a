"""The authorization matrix: every endpoint × every role × own and another's resources.

Roles: the supervisor, manager A, a viewer of everything, a viewer tied to A, the
service token of A's trader session, and no token. "own" resources are manager A's,
"other" ones manager B's. Expected: no token → 401; a resource the caller may not see
→ 404 (its existence is not leaked); a visible resource the role may not change → 403;
otherwise the request passes the rights (its answer is anything but 401/403/404).
Lists answer exactly what the caller may see, and no answer names what it may not.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest

ROLES = ("supervisor", "manager", "viewer_all", "viewer_a", "service", "none")
READ, WRITE, SUPERVISOR, SERVICE_READ = "read", "write", "supervisor", "service_read"
SERVICE_WRITE = "service_write"  # the session's own token only: users read, never write
SNAPSHOT = {"timestamp": "2020-01-01T00:00:00Z", "balance": "1000", "pv": "1000"}

# (method, path with {manager}/{trader}/{account}/{session}, JSON body, rule)
ENDPOINTS = [
    ("GET", "/managers/{manager}", None, READ),
    ("PATCH", "/managers/{manager}", {"budget": "50000"}, SUPERVISOR),
    ("DELETE", "/managers/{manager}", None, SUPERVISOR),  # has traders: 409 when allowed
    ("GET", "/traders/{trader}", None, SERVICE_READ),
    ("PATCH", "/traders/{trader}", {"rebalance_every": "5m"}, WRITE),
    ("POST", "/traders/{trader}/stop", None, WRITE),
    ("GET", "/traders/{trader}/status", None, READ),
    ("GET", "/traders/{trader}/logs", None, READ),
    ("GET", "/accounts/{account}", None, READ),
    ("GET", "/results/sessions/{session}", None, SERVICE_READ),
    ("GET", "/results/sessions/{session}/snapshots", None, SERVICE_READ),
    ("GET", "/results/sessions/{session}/positions", None, SERVICE_READ),
    ("GET", "/results/sessions/{session}/orders", None, SERVICE_READ),
    ("GET", "/results/sessions/{session}/fills", None, SERVICE_READ),
    ("GET", "/results/sessions/{session}/alerts", None, SERVICE_READ),
    ("GET", "/tearsheets/sessions/{session}/perf", None, SERVICE_READ),
    ("POST", "/results/sessions/{session}/snapshots", SNAPSHOT, SERVICE_WRITE),
]


def expected(role: str, own: bool, rule: str) -> int | None:
    """Return the status the rights must answer (None: the rights let it through)."""
    if role == "none":
        return 401
    if role == "service":
        if rule not in (SERVICE_READ, SERVICE_WRITE):
            return 403
        return None if own else 404
    sees = role in ("supervisor", "viewer_all") or own
    if not sees:
        return 404
    if rule == SERVICE_WRITE:
        return 403
    if rule == WRITE and role not in ("supervisor", "manager"):
        return 403
    if rule == SUPERVISOR and role != "supervisor":
        return 403
    return None


def path_of(org, template: str, side: str) -> str:
    return template.format(
        manager=org.managers[side],
        trader=org.traders[side],
        account=org.accounts[side],
        session=org.sessions[side],
    )


def assert_no_leak(org, answer, role: str, path: str = "") -> None:
    """A caller that is not the supervisor or a viewer of all never reads B's names.

    (A 404 may repeat what the caller itself sent in the path.)
    """
    if role in ("supervisor", "viewer_all"):
        return
    text = answer.text
    for leak in (org.sessions["b"], "trader_b", "manager_b"):
        if leak not in path:
            assert leak not in text, f"{role} read {leak!r}: {text[:300]}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "template", "body", "rule"), ENDPOINTS)
@pytest.mark.parametrize("side", ["a", "b"], ids=["own", "other"])
def test_every_endpoint_answers_each_role_by_the_rights(
    org, role, method, template, body, rule, side
):
    path = path_of(org, template, side)
    answer = org.call(role, method, path, json=body)
    want = expected(role, side == "a", rule)
    if want is None:
        assert answer.status_code not in (401, 403, 404), answer.text
        assert answer.status_code < 500, answer.text
    else:
        assert answer.status_code == want, answer.text
    assert_no_leak(org, answer, role, path)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("side", ["a", "b"], ids=["own", "other"])
def test_starting_a_trader_passes_the_rights_only_for_its_writers(org, role, side):
    # both managers marked breached: an allowed start passes the rights, then is refused
    # (409) by the breach, so nothing is launched
    with breached(org):
        answer = org.call(role, "POST", f"/traders/{org.traders[side]}/start")
    want = expected(role, side == "a", WRITE)
    if want is None:
        assert answer.status_code == 409, answer.text
        assert "breached" in answer.json()["detail"]
    else:
        assert answer.status_code == want, answer.text


@contextmanager
def breached(org):
    """Mark every manager breached for the block (what the risk monitor does)."""
    from sqlalchemy import update

    from aifap.api.models import Manager
    from aifap.db import make_engine

    engine = make_engine(org.db_url)
    with engine.begin() as conn:
        conn.execute(update(Manager).values(breached="test: marked breached"))
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(update(Manager).values(breached=None))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("side", ["a", "b"], ids=["own", "other"])
def test_deleting_a_trader_is_for_its_writers(org, role, side):
    made = org.call(
        "supervisor", "POST", "/traders",
        json={"name": f"doomed_{role}_{side}", "strategy": "strategies/momentum.py",
              "allocation": "1", "symbols": ["BTCUSDT"], "manager_id": org.managers[side]},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    trader = made.json()["id"]
    answer = org.call(role, "DELETE", f"/traders/{trader}")
    want = expected(role, side == "a", WRITE)
    assert answer.status_code == (204 if want is None else want), answer.text
    left = org.call("supervisor", "GET", f"/traders/{trader}").status_code
    assert left == (404 if want is None else 200)
    if want is not None:
        assert org.call("supervisor", "DELETE", f"/traders/{trader}").status_code == 204


def visible_sides(role: str) -> set[str]:
    return {
        "supervisor": {"a", "b"},
        "viewer_all": {"a", "b"},
        "manager": {"a"},
        "viewer_a": {"a"},
        "service": {"a"},
    }[role]


@pytest.mark.parametrize("role", [r for r in ROLES if r != "none"])
def test_lists_hold_exactly_what_the_caller_may_see(org, role):
    sides = visible_sides(role)
    traders = org.call(role, "GET", "/traders")
    assert traders.status_code == 200, traders.text
    seen = {t["manager_id"] for t in traders.json()}
    assert seen <= {org.managers[s] for s in sides}
    assert {org.traders[s] for s in sides} <= {t["id"] for t in traders.json()}
    sessions = org.call(role, "GET", "/results/sessions")
    assert sessions.status_code == 200, sessions.text
    listed = {s["session_id"] for s in sessions.json()["items"]}
    assert listed == {org.sessions[s] for s in sides}
    for path, key, what in (("/managers", "id", org.managers), ("/accounts", "id", org.accounts)):
        answer = org.call(role, "GET", path)
        if role == "service":
            assert answer.status_code == 403
            continue
        assert {row[key] for row in answer.json()} >= {what[s] for s in sides}
        assert not {row[key] for row in answer.json()} & {what[s] for s in {"a", "b"} - sides}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("side", ["a", "b"], ids=["own", "other"])
def test_creating_traders_and_accounts_is_for_the_supervisor_and_the_manager_itself(
    org, role, side
):
    body = {"name": f"new_{role}_{side}", "strategy": "strategies/momentum.py",
            "allocation": "1", "symbols": ["BTCUSDT"],
            "manager_id": org.managers[side]}  # fmt: skip
    answer = org.call(role, "POST", "/traders", json=body)
    allowed = role == "supervisor" or (role == "manager" and side == "a")
    want = 401 if role == "none" else (201 if allowed else 403)
    assert answer.status_code == want, answer.text
    if answer.status_code == 201:
        assert answer.json()["manager_id"] == org.managers[side]
        org.call("supervisor", "DELETE", f"/traders/{answer.json()['id']}")
    account = org.call(
        role, "POST", "/accounts",
        json={"venue": "bitget", "api_key": "k" * 12, "secret": "s" * 12,
              "manager_id": org.managers[side]},
    )  # fmt: skip
    assert account.status_code == want, account.text


def test_a_manager_cannot_trade_with_another_managers_account(org):
    answer = org.call(
        "manager", "POST", "/traders",
        json={"name": "borrower", "strategy": "strategies/momentum.py", "allocation": "1",
              "symbols": ["BTCUSDT"], "account_id": org.accounts["b"]},
    )  # fmt: skip
    assert answer.status_code == 404, answer.text
    patched = org.call(
        "manager", "PATCH", f"/traders/{org.traders['a']}", json={"account_id": org.accounts["b"]}
    )
    assert patched.status_code == 404, patched.text


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/managers"), ("POST", "/halt"), ("POST", "/risk/check"), ("GET", "/ohlcv/symbols")],
)
def test_platform_wide_calls(org, role, method, path):
    body = None
    if path == "/managers":
        body = {"username": f"hire_{role}", "password": "long-enough-1", "budget": "10"}
    answer = org.call(role, method, path, json=body)
    if role == "none":
        assert answer.status_code == 401
    elif role == "service" or (path != "/ohlcv/symbols" and role != "supervisor"):
        assert answer.status_code == 403, answer.text
    else:
        assert answer.status_code in (200, 201), answer.text
    if answer.status_code == 201:
        org.call("supervisor", "DELETE", f"/managers/{answer.json()['id']}")


def test_audit_log_records_every_change_with_its_actor(org):
    from sqlalchemy import select

    from aifap.api.models import AuditEntry
    from aifap.db import make_engine, session_factory

    with session_factory(make_engine(org.db_url))() as db:
        entries = list(db.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    actions = {(e.actor, e.action) for e in entries}
    assert ("root", "manager.create") in actions
    assert ("root", "account.create") in actions
    assert ("root", "trader.create") in actions
    assert ("cli", "user.create") in actions
    for entry in entries:
        detail = json.loads(entry.detail)
        assert isinstance(detail, dict)

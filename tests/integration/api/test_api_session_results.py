"""A session's service token writes its own results and nothing else (issue 14: "a
session's token reads its own config and writes its own results")."""

from __future__ import annotations

import httpx

from aifap.auth.tokens import issue_token

SNAPSHOT = {
    "timestamp": "2021-03-04T05:00:00Z",
    "balance": "1000.5",
    "pv": "1012.25",
    "roe": 0.01225,
    "unrealized_pnl": "11.75",
    "max_drawdown": -0.002,
    "positions": [
        {"symbol": "BTCUSDT", "size": "0.01", "entry_price": "50000", "mark_price": "51175",
         "leverage": "2"},
    ],
}  # fmt: skip


def snapshots(org, sid):
    answer = org.call("supervisor", "GET", f"/results/sessions/{sid}/snapshots?limit=5000")
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_the_sessions_token_writes_its_snapshot_once_and_reads_it_back(org):
    sid = org.sessions["a"]
    before = len(snapshots(org, sid))
    made = org.call("service", "POST", f"/results/sessions/{sid}/snapshots", json=SNAPSHOT)
    assert made.status_code == 201, made.text
    assert made.json() == {"session_id": sid, "timestamp": "2021-03-04T05:00:00Z",
                           "stored": True}  # fmt: skip
    again = org.call("service", "POST", f"/results/sessions/{sid}/snapshots", json=SNAPSHOT)
    assert again.status_code == 200, again.text
    assert again.json()["stored"] is False
    rows = snapshots(org, sid)
    assert len(rows) == before + 1
    [row] = [r for r in rows if r["time"].startswith("2021-03-04T05:00:00")]
    assert (row["pv"], row["balance"], row["upnl"]) == (1012.25, 1000.5, 11.75)
    positions = org.call(
        "service", "GET", f"/results/sessions/{sid}/positions?start=2021-03-04T05:00:00Z"
        "&end=2021-03-04T05:00:01Z",
    )  # fmt: skip
    assert positions.status_code == 200, positions.text
    [position] = positions.json()["items"]
    assert (position["symbol"], position["size"], position["side"]) == ("BTCUSDT", "0.01", "long")


def test_only_its_own_token_writes_a_sessions_results(org):
    a, b = org.sessions["a"], org.sessions["b"]
    body = {**SNAPSHOT, "timestamp": "2021-03-04T06:00:00Z"}
    # another session's results: not found, whoever asks with a session token
    other = org.call("service", "POST", f"/results/sessions/{b}/snapshots", json=body)
    assert other.status_code == 404, other.text
    # a token of A's session without the results scope: A's results are not its own to write
    config_only = issue_token(f"session:{a}", [f"config:{a}"], ttl="1h", session_id=a)
    refused = httpx.post(
        f"{org.url}/results/sessions/{a}/snapshots", json=body,
        headers={"Authorization": f"Bearer {config_only}"},
    )  # fmt: skip
    assert refused.status_code == 404, refused.text
    # users read results, never write them; the supervisor neither
    for role in ("supervisor", "manager", "viewer_a"):
        answer = org.call(role, "POST", f"/results/sessions/{a}/snapshots", json=body)
        assert answer.status_code == 403, answer.text
        assert "session's own token" in answer.json()["detail"]
    assert not [r for r in snapshots(org, a) if r["time"].startswith("2021-03-04T06")]


def test_a_bad_snapshot_is_refused_naming_the_field(org):
    sid = org.sessions["a"]
    for bad, field in ((dict(SNAPSHOT, pv="NaN"), "pv"),
                       (dict(SNAPSHOT, positions=[{"symbol": "btc/usdt", "size": "1",
                                                  "entry_price": "1", "mark_price": "1"}]),
                        "symbol"),
                       (dict(SNAPSHOT, extra=1), "extra")):  # fmt: skip
        answer = org.call("service", "POST", f"/results/sessions/{sid}/snapshots", json=bad)
        assert answer.status_code == 422, answer.text
        assert field in answer.text

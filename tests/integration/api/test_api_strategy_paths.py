"""Over HTTP: a trader's strategy outside the strategies directory answers 422 naming the
field and the rule, on create and on change; nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

STRATEGIES = Path(__file__).resolve().parents[3] / "strategies"
REFUSED = [
    ("strategies/../aifap/cli/__init__.py:main", "must not contain '..'"),
    ("/etc/hostname.py", "must be a file inside the strategies directories"),
    ("/tmp/evil/strategy.py", "must be a file inside the strategies directories"),
    ("os:system", "must be a .py file or a module of the strategies directories"),
]


def body(name, strategy, org):
    return {"name": name, "strategy": strategy, "allocation": "1", "symbols": ["BTCUSDT"],
            "manager_id": org.managers["a"]}  # fmt: skip


@pytest.mark.parametrize(("strategy", "rule"), REFUSED)
def test_a_strategy_outside_the_strategies_directory_is_refused(org, strategy, rule):
    before = org.call("supervisor", "GET", "/traders").json()
    made = org.call("supervisor", "POST", "/traders", json=body("outsider", strategy, org))
    assert made.status_code == 422, made.text
    assert made.json()["detail"].startswith("strategy must")
    assert rule in made.json()["detail"]
    assert org.call("supervisor", "GET", "/traders").json() == before
    changed = org.call(
        "manager", "PATCH", f"/traders/{org.traders['a']}", json={"strategy": strategy}
    )
    assert changed.status_code == 422, changed.text
    assert rule in changed.json()["detail"]
    kept = org.call("manager", "GET", f"/traders/{org.traders['a']}").json()
    assert kept["strategy"] == "strategies/momentum.py"


def test_a_strategy_of_the_strategies_directory_is_taken_by_path_or_module(org):
    for name, spec in [("by_path", str(STRATEGIES / "long_short.py")),
                       ("by_module", "strategies.momentum:strategy")]:  # fmt: skip
        made = org.call("supervisor", "POST", "/traders", json=body(name, spec, org))
        assert made.status_code == 201, made.text
        assert made.json()["strategy"] == spec
        gone = org.call("supervisor", "DELETE", f"/traders/{made.json()['id']}")
        assert gone.status_code == 204

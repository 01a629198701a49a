"""The README is executable: its strategy contract's examples and errors, and its layout table."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

import aifap
from aifap.context import Context

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


CONTRACT = _section("The strategy contract")
BLOCKS = re.findall(r"```python\n(.*?)```", CONTRACT, flags=re.S)
ERROR_ROWS = [
    line for line in CONTRACT.splitlines()
    if line.startswith("| `") and "|---" not in line and "context." not in line
]  # fmt: skip
CONTEXT_ROWS = [line for line in CONTRACT.splitlines() if line.startswith("| `context.")]


def test_the_contract_comes_right_after_the_two_commands():
    first_section = README.index("\n## ", README.index("```bash"))
    assert README.index("\n## The strategy contract") == first_section
    assert BLOCKS[0].strip() == "def strategy(context, config_dict) -> dict | None"


@pytest.fixture(scope="module")
def executed() -> tuple[dict, str]:
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in BLOCKS[1:]:
            exec(compile(block, "README.md", "exec"), namespace)
    return namespace, out.getvalue()


def test_every_return_form_runs_and_does_what_the_readme_says(executed):
    _, printed = executed
    trades = dict(re.findall(r"^(\w+) (\d+) trades$", printed, flags=re.M))
    assert set(trades) == {"weights", "with_stops", "flat", "no_opinion"}
    assert int(trades["weights"]) > 0
    assert int(trades["with_stops"]) > 0
    assert trades["flat"] == "0"
    assert trades["no_opinion"] == "0"


def test_the_context_example_runs_and_keeps_state(executed):
    namespace, printed = executed
    assert "cautious_momentum" in namespace
    assert re.search(r"^-?\d+\.\d+(e-?\d+)? \d+$", printed, flags=re.M), printed


def test_every_documented_context_member_exists():
    members = [re.match(r"\| `context\.(\w+)", row).group(1) for row in CONTEXT_ROWS]
    members += re.findall(r"`context\.(\w+)`", "".join(CONTEXT_ROWS))
    assert {"now", "get_history", "current", "portfolio", "state", "universe"} <= set(members)
    context = Context({}, universe=["BTCUSDT"])
    for name in set(members):
        assert hasattr(context, name) or hasattr(Context, name), name


def _error_cases() -> list[tuple[str, str, str, str | None]]:
    cases = []
    for row in ERROR_ROWS:
        left, right = row.strip("|").split(" | ", 1)
        expression = re.findall(r"`([^`]*)`", left)[0]
        market = "spot" if 'market="spot"' in left else "futures"
        codes = re.findall(r"`([^`]*)`", right)
        kind = next((c.removeprefix("aifap.") for c in codes if c.startswith("aifap.")), None)
        cases.append((expression, market, codes[-1], kind))
    return cases


ERROR_CASES = _error_cases()


def test_the_error_table_documents_every_rule():
    assert len(ERROR_CASES) >= 15


@pytest.fixture(scope="module")
def market():
    return aifap.SyntheticMarket(["BTCUSDT", "ETHUSDT"], days=2)


@pytest.mark.parametrize(("expression", "kind", "message", "error"), [
    (e, k, m, x) for e, k, m, x in ERROR_CASES
], ids=[c[0][:40] for c in ERROR_CASES])  # fmt: skip
def test_each_documented_error_is_the_error_a_user_sees(market, expression, kind, message, error):
    def strategy(context, config_dict):
        return eval(expression)

    expected = getattr(aifap, error or "InvalidTargetError")
    with pytest.raises(expected) as raised:
        aifap.backtest(strategy, market, market=kind, rebalance_every="1h", progress=False)
    text = str(raised.value)
    position = 0
    for fragment in message.split("…"):
        found = text.find(fragment, position)
        assert found >= 0, f"{fragment!r} not in {text!r}"
        position = found + len(fragment)


LAYOUT = _section("Layout")


def test_the_layout_table_matches_the_tree():
    paths = re.findall(r"^\| `([^`]+)`", LAYOUT, flags=re.M)
    paths += [p for row in re.findall(r"^\| (`[^|]+)\|", LAYOUT, flags=re.M)
              for p in re.findall(r"`([^`]+)`", row)]  # fmt: skip
    for path in set(paths):
        assert (ROOT / path.rstrip("/")).exists(), f"README layout names {path}, it does not exist"
    packages = {p.name for p in (ROOT / "aifap").iterdir() if (p / "__init__.py").exists()}
    modules = {p.name for p in (ROOT / "aifap").glob("*.py") if p.name != "__init__.py"}
    named = {Path(p.rstrip("/")).name for p in paths if p.startswith("aifap/")}
    missing = sorted((packages | modules) - named)
    assert not missing, f"README layout misses {missing}"

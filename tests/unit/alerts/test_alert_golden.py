"""Golden tests: every message kind rendered from snapshot pairs against the seed's text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from aifap.alerts.events import diff_snapshots
from aifap.alerts.messages import (
    AlertKind,
    error_alert,
    position_alerts,
    system_started,
)
from aifap.alerts.render import discord_payload, split_alert
from aifap.alerts.sample import added_pair, closed_pairs, opened_pair, updated_pair

# copied verbatim from ../shared/seed/aifap-system-overview.md, "Alert System"
SEED_STARTED = """\
🚀 [Futures] System Started
Time: 2025-12-30 09:07 +0900
User: trader_01
Strategy: momentum_v2
Environment: live
Trading Duration: 720h 0m"""

SEED_OPENED = """\
🟢 [Trader A] New Positions Opened
    Sym  Side Size  Entry SL    TP FundingFee
DOTUSDT short   43  1.823    1.733"""

SEED_ADDED = """\
🟢 [Trader A] Position Added
     Sym  Side   Size       Entry      SL      TP FundingFee
DOGEUSDT  long    133     0.12278 0.09824 0.12894
 LTCUSDT short    0.4    78.17000   93.91   74.35
 BTCUSDT  long 0.0004 87200.00000 69781.2 91587.8"""

SEED_UPDATED = """\
📝 [Trader A] Position Updated
     Sym  Side   Size   Entry      SL      TP              FundingFee
 XRPUSDT  long      3 1.85000  1.4801  1.9426  0.0001 -> 0.0001394625
AVAXUSDT short    3.1 12.3670  14.836  11.745  0.0019 -> 0.0026564241
 DOTUSDT short     43  1.8230   2.189   1.733  0.0052 -> 0.00779289"""

# the same cells at the widths the table rule gives (see test_updated_cells_match_the_seed)
OUR_UPDATED = """\
📝 [Trader A] Position Updated
     Sym  Side Size   Entry     SL     TP             FundingFee
 XRPUSDT  long    3 1.85000 1.4801 1.9426 0.0001 -> 0.0001394625
AVAXUSDT short  3.1 12.3670 14.836 11.745 0.0019 -> 0.0026564241
 DOTUSDT short   43  1.8230  2.189  1.733   0.0052 -> 0.00779289"""

SEED_ERROR = """\
🚨 [Futures] StackFuturesIndicatorResult Partial Failure (1)
Time: 2026-01-05 03:33 +0900
Module: StackFuturesIndicatorResult
An issue occurred. Admin has been notified."""

SEOUL = "Asia/Seoul"


def unfenced(text: str) -> str:
    """Drop the code-block fences (the seed's mockups show the table bare)."""
    return "\n".join(line for line in text.splitlines() if line != "```")


def render(pair) -> list:
    return position_alerts(
        diff_snapshots(pair.prev, pair.curr), trader_label="Trader A", markets=pair.markets
    )


def test_system_started_matches_the_seed():
    alert = system_started(
        system_label="Futures",
        time=datetime(2025, 12, 30, 0, 7, 31, tzinfo=UTC),
        user="trader_01",
        strategy="momentum_v2",
        environment="live",
        duration=timedelta(hours=720),
        timezone=SEOUL,
    )
    assert alert.text() == SEED_STARTED
    assert alert.color == 0x5865F2


def test_first_positions_are_new_positions_opened():
    (alert,) = render(opened_pair())
    assert alert.kind is AlertKind.POSITIONS_OPENED
    assert unfenced(alert.text()) == SEED_OPENED
    assert alert.color == 0x57F287


def test_positions_joining_a_held_portfolio_are_added():
    (alert,) = render(added_pair())
    assert alert.kind is AlertKind.POSITIONS_ADDED
    assert unfenced(alert.text()) == SEED_ADDED
    assert alert.color == 0x57F287


def cells(line: str) -> list[str]:
    return re.findall(r"\S+(?: -> \S+)?", line)


def test_updated_cells_match_the_seed():
    # The seed's Updated table is wider than any of its cells (Size is 6 wide for
    # "3.1"): it was cut from a larger table. Cells, order and arrows must match.
    (alert,) = render(updated_pair())
    ours = unfenced(alert.text()).splitlines()
    seed = SEED_UPDATED.splitlines()
    assert ours[0] == seed[0]
    assert [cells(line) for line in ours[1:]] == [cells(line) for line in seed[1:]]
    assert unfenced(alert.text()) == OUR_UPDATED
    assert alert.color == 0xFEE75C


def test_table_is_right_aligned_in_a_code_block():
    (alert,) = render(updated_pair())
    (part,) = split_alert(alert)
    lines = part.body.splitlines()
    assert lines[0] == lines[-1] == "```"
    table = lines[1:-1]
    header = table[0]
    for row in table[1:]:  # no blank last cell here, so every line ends at the same column
        assert len(row) == len(header)
    assert all(not line.endswith(" ") for line in table)


@pytest.mark.parametrize(
    ("index", "title"),
    [
        (0, "🔴 [Trader A] Position Closed: LTCUSDT"),
        (1, "🔴 [Trader A] Position Closed: DOGEUSDT, BNBUSDT"),
    ],
)
def test_closed_titles_match_the_seed(index, title):
    (alert,) = render(closed_pairs()[index])
    assert alert.kind is AlertKind.POSITIONS_CLOSED
    assert alert.text() == title
    payload = discord_payload(alert, split_alert(alert)[0])
    assert payload["embeds"] == [{"title": title, "color": 0xED4245}]


def test_error_alert_matches_the_seed():
    alert = error_alert(
        system_label="Futures",
        module="StackFuturesIndicatorResult",
        time=datetime(2026, 1, 4, 18, 33, tzinfo=UTC),
        timezone=SEOUL,
    )
    assert alert.text() == SEED_ERROR
    assert alert.with_count(4).rendered_title.endswith("Partial Failure (4)")
    assert alert.color == 0xA12D2F


def test_discord_embed_carries_title_fenced_table_and_colour():
    (alert,) = render(added_pair())
    (embed,) = discord_payload(alert, split_alert(alert)[0])["embeds"]
    assert embed["title"] == "🟢 [Trader A] Position Added"
    assert embed["color"] == 0x57F287
    assert embed["description"] == "```\n" + "\n".join(SEED_ADDED.splitlines()[1:]) + "\n```"


def test_plain_content_style_is_the_whole_text():
    (alert,) = render(opened_pair())
    payload = discord_payload(alert, split_alert(alert)[0], style="content")
    assert unfenced(payload["content"]) == SEED_OPENED

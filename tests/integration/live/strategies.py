"""Strategies the live tests run (imported by file path from the session config)."""

from __future__ import annotations

import os
import time

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def rotate(context, config_dict):
    """Cycle through weight maps so every cycle trades (opens, reductions, closes)."""
    n = context.state.get("n", 0)
    context.state["n"] = n + 1
    prices = context.get_history(SYMBOLS, window=5, frequency="1m", fields="close")
    assert len(prices) > 0
    books = [
        {"BTCUSDT": 0.3, "ETHUSDT": 0.3, "SOLUSDT": 0.2},
        {"BTCUSDT": 0.5, "ETHUSDT": 0.1},
        {"ETHUSDT": 0.4, "SOLUSDT": 0.4},
        {"BTCUSDT": -0.3, "SOLUSDT": 0.2},
    ]
    return books[n % len(books)]


ROTATE_FLIP = [
    {"BTCUSDT": 0.3, "ETHUSDT": 0.3, "SOLUSDT": 0.2},  # opens
    {"BTCUSDT": 0.5, "ETHUSDT": -0.1},  # BTC grows, ETH long -> short, SOL closes
    {"BTCUSDT": -0.4, "ETHUSDT": -0.05, "SOLUSDT": 0.4},  # BTC long -> short, ETH shrinks
    {"ETHUSDT": 0.3, "SOLUSDT": -0.2},  # BTC closes, ETH short -> long, SOL long -> short
]


def rotate_flip(context, config_dict):
    """Like ``rotate``, with a long-short flip (both ways) in every cycle after the first."""
    n = context.state.get("n", 0)
    context.state["n"] = n + 1
    prices = context.get_history(SYMBOLS, window=5, frequency="1m", fields="close")
    assert len(prices) > 0
    return ROTATE_FLIP[n % len(ROTATE_FLIP)]


def flaky(context, config_dict):
    """Raise, hang, return invalid output, then behave, as the config's plan says."""
    n = context.state.get("n", 0)
    context.state["n"] = n + 1
    step = config_dict["plan"][n % len(config_dict["plan"])]
    if step == "raise":
        raise RuntimeError("boom in the strategy")
    if step == "hang":
        time.sleep(float(config_dict.get("hang", 5)))
    if step == "invalid":
        return {"BTCUSDT": float("nan")}
    if step == "unknown":
        return {"DOGEUSDT": 0.1}
    return {"BTCUSDT": 0.2, "ETHUSDT": 0.2}


def steady(context, config_dict):
    """Hold a fixed book."""
    context.state["pid"] = os.getpid()
    return dict(config_dict.get("book", {"BTCUSDT": 0.3, "ETHUSDT": 0.3}))


WIDE = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT"]


def wide(context, config_dict):
    """Alternate between two books over seven symbols: every cycle sends two batches."""
    n = context.state.get("n", 0)
    context.state["n"] = n + 1
    if n % 2 == 0:
        return dict.fromkeys(WIDE, 0.12)
    return dict.fromkeys(WIDE[:6], 0.05)


def guarded(context, config_dict):
    """Hold BTC and ETH long with a stop loss ``stop`` (fraction) below the last close."""
    prices = context.get_history(["BTCUSDT", "ETHUSDT"], window=1, frequency="1m", fields="close")
    last = prices.iloc[-1]
    stop = float(config_dict.get("stop", 0.02))
    return {s: {"weight": 0.3, "stop_loss": float(last[s]) * (1 - stop)}
            for s in ("BTCUSDT", "ETHUSDT")}


SPOT_TOUR = [
    {"BTCUSDT": 1.0},  # buy and hold with all the cash
    {"BTCUSDT": 1.0},  # hold: the equity counts the coins, so nothing trades
    {"ETHUSDT": 1.0},  # rotation: sell all the BTC, buy ETH with what it brings
    {"ETHUSDT": 0.6},  # partial sell
    {"ETHUSDT": 0.6, "BTCUSDT": 0.4},  # buy with the cash the partial sell freed
    {},  # full exit: the holdings rounded down to the step, dust left
    {"BTCUSDT": 0.5, "ETHUSDT": 0.5},
]


def spot_tour(context, config_dict):
    """Walk spot through a buy-and-hold, a rotation, partial sells and a full exit."""
    n = context.state.get("n", 0)
    context.state["n"] = n + 1
    books = config_dict.get("books", SPOT_TOUR)
    return dict(books[min(n, len(books) - 1)])


def clocked(context, config_dict):
    """Hold a fixed book, then from call ``from`` size BTC by the wall clock or random state.

    Deterministic for the first calls; afterwards the backtest and the session read a
    different clock (or random state), so their targets differ from that call on.
    """
    import random

    n = context.state.get("n", 0) + 1
    context.state["n"] = n
    if n < int(config_dict.get("from", 3)):
        return {"BTCUSDT": 0.3, "ETHUSDT": 0.2}
    if config_dict.get("source") == "random":
        noise = random.random()
    else:
        noise = (time.time_ns() % 10**9) / 10**9
    return {"BTCUSDT": round(0.2 + noise / 10, 9), "ETHUSDT": 0.2}

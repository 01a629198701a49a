"""Strategies the notebook integration tests run."""

from __future__ import annotations


def steady(context, config_dict):
    """Hold a fixed book."""
    return dict(config_dict.get("book", {"BTCUSDT": 0.3, "ETHUSDT": 0.3}))

"""Tear sheets and reports over backtest and live results."""

from aifap.analysis.tearsheet import create_tear_sheet, daily_returns, headline_stats, plot_equity

__all__ = ["create_tear_sheet", "daily_returns", "headline_stats", "plot_equity"]

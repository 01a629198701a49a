"""Simple momentum: equal weight on the assets whose recent return is positive.

The example strategy of the AIFAP system overview, with its stop-loss and
take-profit set through Bitget's ``presetStopSurplusPrice`` / ``presetStopLossPrice``.

Config keys (``config_dict``), all optional:

- ``symbols``: the assets to trade (default: the backtest's or session's symbols,
  ``context.universe``).
- ``window``: how many bars of history to load (default 100).
- ``lookback``: the return horizon in bars (default 20).
- ``frequency``: the bar size of the history (default ``'1m'``).
- ``take_profit``: take-profit distance above the last close (default 0.05 = +5 %).
- ``stop_loss``: stop-loss distance below the last close (default 0.03 = -3 %).

With no asset in positive momentum it returns ``{}``: go flat.
"""


def strategy(context, config_dict):
    """Simple momentum strategy"""
    assets = list(config_dict.get("symbols") or context.universe)
    window = int(config_dict.get("window", 100))
    lookback = int(config_dict.get("lookback", 20))
    frequency = config_dict.get("frequency", "1m")
    take_profit = float(config_dict.get("take_profit", 0.05))
    stop_loss = float(config_dict.get("stop_loss", 0.03))

    # Get 20-bar returns
    prices = context.get_history(assets, window=window, frequency=frequency, fields="close")
    returns = prices.pct_change(lookback, fill_method=None)

    # Equal weight to positive momentum assets
    weights = {}
    positive = [a for a in assets if returns[a].iloc[-1] > 0] if len(returns) else []

    if positive:
        for asset in positive:
            weights[asset] = {
                "weight": 1.0 / len(positive),
                "presetStopSurplusPrice": prices[asset].iloc[-1] * (1 + take_profit),
                "presetStopLossPrice": prices[asset].iloc[-1] * (1 - stop_loss),
            }

    return weights

"""Futures long/short momentum: long the top-k assets, short the bottom-k.

Assets are ranked by their return over the last ``lookback`` bars. The ``k``
strongest get ``+gross / (2k)`` each and the ``k`` weakest ``-gross / (2k)``, so
the book is market-neutral in weight. Shorts need a futures market
(``market='futures'``, the default); on spot the backtest rejects them.

Config keys (``config_dict``), all optional:

- ``symbols``: the universe (default: the backtest's or session's symbols,
  ``context.universe``).
- ``frequency``: the bar size of the history (default ``'1h'``).
- ``lookback``: the momentum horizon in bars (default 24).
- ``k``: how many assets on each side (default 2; at most half the universe).
- ``gross``: the total absolute weight (default 1.0).
"""


def strategy(context, config_dict):
    """Long the ``k`` best and short the ``k`` worst assets by ``lookback``-bar return."""
    assets = list(config_dict.get("symbols") or context.universe)
    frequency = config_dict.get("frequency", "1h")
    lookback = int(config_dict.get("lookback", 24))
    k = min(int(config_dict.get("k", 2)), len(assets) // 2)
    gross = float(config_dict.get("gross", 1.0))

    prices = context.get_history(assets, window=lookback + 1, frequency=frequency, fields="close")
    if len(prices) < lookback + 1 or k < 1:
        return None  # not enough history yet: no opinion
    momentum = (prices.iloc[-1] / prices.iloc[0] - 1).dropna().sort_values()
    if len(momentum) < 2 * k:
        return None
    size = gross / (2 * k)
    weights = dict.fromkeys(momentum.index[-k:], size)
    weights.update(dict.fromkeys(momentum.index[:k], -size))
    return weights

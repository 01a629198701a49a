"""Equal weight over the assets whose recent realized volatility is below a cap.

Every rebalance, the annualized volatility of each asset's log returns over the last
``window`` bars is measured; the calm assets share ``gross`` equally and the others
are closed. Until enough history exists it returns ``None`` (keep positions).

Config keys (``config_dict``), all optional:

- ``symbols``: the assets (default: the backtest's or session's symbols,
  ``context.universe``).
- ``frequency``: the bar size of the history (default ``'15m'``).
- ``window``: how many bars the volatility is measured over (default 96: one day of
  15m bars).
- ``max_volatility``: the annualized volatility cap, as a fraction (default 0.9).
- ``gross``: the total weight shared by the calm assets (default 1.0).
"""

import math

import numpy as np

BARS_PER_YEAR = {"1m": 525_600, "5m": 105_120, "15m": 35_040, "1h": 8_760, "4h": 2_190, "1d": 365}


def strategy(context, config_dict):
    """Equal weight over the assets with annualized volatility below ``max_volatility``."""
    assets = list(config_dict.get("symbols") or context.universe)
    frequency = config_dict.get("frequency", "15m")
    window = int(config_dict.get("window", 96))
    cap = float(config_dict.get("max_volatility", 0.9))
    gross = float(config_dict.get("gross", 1.0))

    prices = context.get_history(assets, window=window + 1, frequency=frequency, fields="close")
    if len(prices) < window + 1:
        return None  # not enough history yet: no opinion
    log_returns = np.log(prices).diff().iloc[1:]
    volatility = log_returns.std() * math.sqrt(BARS_PER_YEAR[frequency])
    calm = [a for a in assets if volatility[a] < cap]
    return {a: gross / len(calm) for a in calm}

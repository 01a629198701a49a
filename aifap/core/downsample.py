"""Thin a long time series for drawing without losing its shape (M4 downsampling).

A month of per-minute PV is 43,200 points; a chart is at most a few thousand pixels
wide. The dashboard's PV chart and the report's equity figure draw the observations
:func:`downsample` keeps: per time bucket the first, lowest, highest and last, so peaks
and drawdowns look exactly as in the full series.
"""

from __future__ import annotations

import numpy as np

MAX_POINTS = 2000


def downsample(ts_ms: np.ndarray, values: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """Return the indices of at most ``max_points`` observations that keep the curve's shape.

    Equal-time buckets keep their first, lowest, highest and last observation (M4), so
    peaks and drawdowns survive; the very first and last observations are always kept.
    """
    n = len(ts_ms)
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, max_points // 4)
    span = int(ts_ms[-1] - ts_ms[0]) or 1
    which = np.minimum(((ts_ms - ts_ms[0]) * buckets) // span, buckets - 1)
    starts = np.flatnonzero(np.r_[True, which[1:] != which[:-1]])
    ends = np.r_[starts[1:], n] - 1
    lows = np.minimum.reduceat(values, starts)
    highs = np.maximum.reduceat(values, starts)
    keep = [starts, ends]
    for target in (lows, highs):
        # first index in each bucket whose value equals the bucket's extreme
        hit = values == np.repeat(target, ends - starts + 1)
        idx = np.flatnonzero(hit)
        first = np.unique(np.searchsorted(idx, starts))
        keep.append(idx[first[first < len(idx)]])
    return np.unique(np.concatenate(keep))

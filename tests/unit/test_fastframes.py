"""History windows built through pandas' internals equal the public constructors' output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aifap import fastframes


def test_the_internal_route_is_in_use_on_the_pinned_pandas():
    # the import-time check passed: a pandas upgrade that breaks it falls back silently,
    # this test says so
    assert fastframes.INTERNAL, f"pandas {pd.__version__}: the public route is in use"


@pytest.mark.parametrize(("start", "stop", "width"), [(0, 7, 3), (3, 9, 1), (5, 5, 4), (9, 10, 2)])
def test_windows_equal_the_public_constructors(start, stop, width):
    times = (np.arange(10, dtype=np.int64) + 28_000_000) * 60_000_000_000
    index = pd.DatetimeIndex(times.view("datetime64[ns]")).tz_localize("UTC")
    index.name = "timestamp"
    columns = pd.Index([f"S{i}USDT" for i in range(width)])
    values = np.random.default_rng(width).normal(size=(10, width))
    block = values[start:stop].T
    window = fastframes.index_window(index, start, stop)
    pd.testing.assert_index_equal(window, index[start:stop], exact=True)
    assert window.freq is None
    assert window.name == "timestamp"
    frame = fastframes.float_frame(block.copy(), window, columns)
    expected = pd.DataFrame(block.T, index=index[start:stop], columns=columns)
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    if stop > start:  # the strategy's to change, as any frame
        frame.iloc[0, 0] += 1.0
        assert frame.iloc[0, 0] == block[0, 0] + 1.0
        frame["x"] = 1.0  # a second block
        assert frame.shape == (stop - start, width + 1)
        assert frame.sum().size == width + 1

"""History windows as pandas objects, built without the public constructors' checks.

A backtest hands the strategy one frame per ``get_history`` call: tens of thousands of
small frames a run. The public routes (``DatetimeIndex.__getitem__``,
``pandas.api.internals.create_dataframe_from_blocks``) spend most of their time on
inference and validation the caller has already done: a slice of a tz-aware index
without a ``freq``, one owned C-contiguous float64 block. Here both are assembled from
pandas' internal constructors (``DatetimeArray._simple_new``, ``new_block``,
``BlockManager``, ``DataFrame._from_mgr``) in about a third of the time.

Those are not public API. At import, the internal route is checked against the public
one on a small example (values, index, columns, dtypes, names, ``freq``, flags); if an
import fails or anything differs (another pandas version), the public route is used.
:data:`INTERNAL` tells which one is in use.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from pandas.api.internals import create_dataframe_from_blocks

IndexWindow = Callable[[pd.DatetimeIndex, int, int], pd.DatetimeIndex]
FloatFrame = Callable[[np.ndarray, pd.DatetimeIndex, pd.Index], pd.DataFrame]


def public_index_window(index: pd.DatetimeIndex, start: int, stop: int) -> pd.DatetimeIndex:
    """Return ``index[start:stop]``."""
    return index[start:stop]


def public_float_frame(
    block: np.ndarray, index: pd.DatetimeIndex, columns: pd.Index
) -> pd.DataFrame:
    """Return ``pd.DataFrame(block.T, index=index, columns=columns)`` over ``block`` (owned).

    ``block``: float64, one C-contiguous row per column, as the constructor lays out a
    copied 2-D array.
    """
    placement = np.arange(block.shape[0], dtype=np.intp)
    return create_dataframe_from_blocks([(block, placement)], index=index, columns=columns)


def _internal() -> tuple[IndexWindow, FloatFrame] | None:
    """Return the internal builders, or None where this pandas lacks them."""
    try:
        from pandas._libs.internals import BlockPlacement
        from pandas.core.arrays import DatetimeArray
        from pandas.core.internals.blocks import new_block
        from pandas.core.internals.managers import BlockManager
    except ImportError:  # pragma: no cover - another pandas layout
        return None
    simple_index = pd.DatetimeIndex._simple_new
    simple_array = DatetimeArray._simple_new
    from_mgr = pd.DataFrame._from_mgr
    placements: dict[int, BlockPlacement] = {}

    def index_window(index: pd.DatetimeIndex, start: int, stop: int) -> pd.DatetimeIndex:
        data = index._data
        values = simple_array(data._ndarray[start:stop], dtype=data.dtype)
        window = simple_index(values, name=index.name, refs=index._references)
        if "_engine" in index._cache:  # as a slice does: known sorted and unique
            window._engine._update_from_sliced(index._engine, reverse=False)
        return window

    def float_frame(block: np.ndarray, index: pd.DatetimeIndex, columns: pd.Index) -> pd.DataFrame:
        width = block.shape[0]
        placement = placements.get(width)
        if placement is None:
            placement = placements[width] = BlockPlacement(slice(0, width))
        blocks = (new_block(block, placement, ndim=2),)
        mgr = BlockManager(blocks, [columns, index], verify_integrity=False)
        return from_mgr(mgr, mgr.axes)

    return index_window, float_frame


def _same(built: tuple[IndexWindow, FloatFrame]) -> bool:
    """Tell whether the internal builders give what the public ones give on an example."""
    index_window, float_frame = built
    times = np.arange(10, dtype=np.int64) * 60_000_000_000
    index = pd.DatetimeIndex(times.view("datetime64[ns]")).tz_localize("UTC")
    index.name = "timestamp"
    columns = pd.Index(["AUSDT", "BUSDT", "CUSDT"])
    values = np.arange(30, dtype=np.float64).reshape(3, 10)[:, 2:7]
    try:
        assert index.is_monotonic_increasing  # the parent's engine exists: windows inherit it
        window = index_window(index, 2, 7)
        frame = float_frame(values.copy(), window, columns)
        expected = public_float_frame(values.copy(), public_index_window(index, 2, 7), columns)
        pd.testing.assert_frame_equal(frame, expected, check_exact=True, check_freq=True)
        known = [(w.is_monotonic_increasing, w.is_unique) for w in (window, expected.index)]
        frame.iloc[0, 0] = -1.0  # the frame is the caller's to change
    except Exception:  # any difference or error means: use the public route
        return False
    return bool(
        known[0] == known[1] == (True, True)
        and window.equals(expected.index)
        and window.name == expected.index.name
        and window.freq == expected.index.freq
        and frame._mgr.nblocks == expected._mgr.nblocks == 1
        and frame.to_numpy().flags.writeable == expected.to_numpy().flags.writeable
        and frame.iloc[0, 0] == -1.0
    )


_built = _internal()
INTERNAL = _built is not None and _same(_built)
index_window: IndexWindow
float_frame: FloatFrame
if INTERNAL and _built is not None:
    index_window, float_frame = _built
else:  # pragma: no cover - depends on the pandas version
    index_window, float_frame = public_index_window, public_float_frame

__all__ = ["INTERNAL", "float_frame", "index_window", "public_float_frame", "public_index_window"]

"""Load bars for the emulator from ``{SYMBOL}_1m.csv[.gz]`` files (the shared data format)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from aifap.core.bars import BAR_COLUMNS


def load_csv_bars(directory: Path, symbols: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """Return ``{symbol: 1m frame}`` from ``directory/{SYMBOL}_1m.csv[.gz]``.

    The files have a header ``timestamp,open,high,low,close,volume`` with epoch-ms
    timestamps of each bar's open.
    """
    frames: dict[str, pd.DataFrame] = {}
    for path in sorted(directory.glob("*_1m.csv*")):
        symbol = path.name.split("_1m.csv")[0]
        if symbols and symbol not in symbols:
            continue
        raw = pd.read_csv(path)
        index = pd.DatetimeIndex(
            pd.to_datetime(raw["timestamp"], unit="ms", utc=True), name="timestamp"
        )
        frame = raw.loc[:, list(BAR_COLUMNS)].astype("float64")
        frame.index = index
        frames[symbol] = frame[~frame.index.duplicated(keep="last")].sort_index()
    if not frames:
        raise FileNotFoundError(f"no {{SYMBOL}}_1m.csv[.gz] files in {directory}")
    return frames

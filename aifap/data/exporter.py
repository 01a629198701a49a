"""Export stored bars and funding rates back to the file format the importer reads.

Files go to ``OUT/{market}/{SYMBOL}_{TIMEFRAME}.csv.gz`` and
``OUT/{market}/{SYMBOL}_funding.csv.gz`` (the layout of ``../shared/data/ohlcv``), so
an export imports back as it was. Floats are written with Python's shortest
round-tripping repr: import → export → import gives the same bits.

Example::

    export_series(url, "out/", exchange="binance")    # [Path('out/futures/BTCUSDT_1m.csv.gz'), ...]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, text

from aifap.core.bars import BAR_COLUMNS
from aifap.core.errors import DataError
from aifap.data import reads
from aifap.data.series import ensure_schema, list_series

log = logging.getLogger(__name__)


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # float_format=None keeps repr (shortest exact) formatting; mtime=0 makes gzip reproducible
    compression = {"method": "gzip", "mtime": 0} if path.suffix == ".gz" else None
    frame.to_csv(path, index=False, compression=compression, lineterminator="\n")


def export_series(
    url: str,
    out_dir: str | Path,
    *,
    exchange: str | None = None,
    market: str | None = None,
    symbols: Sequence[str] | None = None,
    timeframes: Sequence[str] | None = None,
    funding: bool = True,
    compress: bool = True,
) -> list[Path]:
    """Write every matching series (and its funding rates) as files; return their paths.

    Raises:
        DataError: bars of one symbol are stored under several exchanges and
            ``exchange`` was not given (the file names could not tell them apart).
    """
    engine = ensure_schema(url)
    out = Path(out_dir).expanduser()
    suffix = ".csv.gz" if compress else ".csv"
    written: list[Path] = []
    with engine.connect() as conn:
        found = [
            (sid, key)
            for sid, key in list_series(conn, exchange=exchange, market=market)
            if (symbols is None or key.symbol in symbols)
            and (timeframes is None or key.timeframe in timeframes)
        ]
        exchanges = sorted({key.exchange for _, key in found})
        if len(exchanges) > 1:
            raise DataError(f"exchange must be given, bars are stored under {', '.join(exchanges)}")
        for sid, key in found:
            frame = reads.read_frame(conn, sid, None, None, None)
            table = pd.DataFrame(
                {
                    "timestamp": frame.index.as_unit("ms").asi8,
                    **{c: frame[c].to_numpy() for c in BAR_COLUMNS},
                }
            )
            path = out / key.market / f"{key.symbol}_{key.timeframe}{suffix}"
            _write_csv(path, table)
            log.info("%s: %d bars", path, len(table))
            written.append(path)
        if funding:
            written += _export_funding(conn, out, suffix, exchange, market, symbols)
    return written


def _export_funding(
    conn: Connection,
    out: Path,
    suffix: str,
    exchange: str | None,
    market: str | None,
    symbols: Sequence[str] | None,
) -> list[Path]:
    query = "SELECT exchange, market, symbol, ts, rate FROM funding_rates WHERE 1 = 1"
    params: dict[str, str] = {}
    for name, value in (("exchange", exchange), ("market", market)):
        if value is not None:
            query += f" AND {name} = :{name}"
            params[name] = value
    rows = conn.execute(text(query + " ORDER BY exchange, market, symbol, ts"), params).all()
    frame = pd.DataFrame(rows, columns=["exchange", "market", "symbol", "timestamp", "rate"])
    written: list[Path] = []
    for (_, kind, symbol), part in frame.groupby(["exchange", "market", "symbol"], sort=True):
        if symbols is not None and symbol not in symbols:
            continue
        path = out / str(kind) / f"{symbol}_funding{suffix}"
        table = pd.DataFrame(
            {
                "timestamp": part["timestamp"].astype("int64").to_numpy(),
                "rate": part["rate"].astype("float64").to_numpy(),
            }
        )
        _write_csv(path, table)
        written.append(path)
    return written

"""Import bar and funding files (``{SYMBOL}_{TIMEFRAME}.csv[.gz]``, ``{SYMBOL}_funding.csv.gz``).

Files are read by :mod:`aifap.data.files` (validated, with file-and-line errors)
and each one is written in its own transaction: a file with a bad line is reported
with the file, the line and the rule and nothing of it is written, while the other
files load. Re-importing a file changes nothing (the writers upsert).

The market type of a file is ``market`` when given, else the name of a parent
directory (``…/futures/BTCUSDT_1m.csv.gz``, ``…/spot/ADABTC_5m.csv.gz``), else
``futures``.

Example::

    report = import_paths(url, ["../shared/data/ohlcv"], exchange="binance")
    for outcome in report.failed:
        print(outcome.error)   # ADABTC_5m.csv.gz: line 12: high must be >= ...
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aifap.core.errors import DataError
from aifap.data.files import (
    BarFileInfo,
    FundingFile,
    parse_bar_filename,
    read_bar_file,
    read_funding_file,
    scan_bar_dir,
)
from aifap.data.series import SeriesKey, ensure_schema
from aifap.data.writers import write_bars, write_funding

log = logging.getLogger(__name__)

DEFAULT_MARKET = "futures"
MAX_LINES_SHOWN = 5


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """What happened to one file: rows read and written, or the error that stopped it."""

    path: Path
    symbol: str
    timeframe: str
    market: str
    rows: int = 0
    written: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Tell whether the file was loaded."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class ImportReport:
    """Every file's outcome, in the order they were imported."""

    outcomes: tuple[FileOutcome, ...] = field(default=())

    @property
    def loaded(self) -> list[FileOutcome]:
        """The files that were written."""
        return [o for o in self.outcomes if o.ok]

    @property
    def failed(self) -> list[FileOutcome]:
        """The files that were rejected (nothing of them was written)."""
        return [o for o in self.outcomes if not o.ok]

    @property
    def rows(self) -> int:
        """Rows read from the loaded files."""
        return sum(o.rows for o in self.loaded)


def find_files(paths: Iterable[str | Path]) -> list[BarFileInfo]:
    """Expand files and directories into bar and funding files (directories recursively).

    Raises:
        DataError: a path does not exist, or a file's name is not in the format.
    """
    found: list[BarFileInfo] = []
    for given in paths:
        path = Path(given).expanduser()
        if path.is_dir():
            found.extend(scan_bar_dir(path))
        elif path.is_file():
            symbol, timeframe = parse_bar_filename(path)
            parents = [p.name.lower() for p in path.resolve().parents]
            market = next((p for p in parents if p in ("spot", "futures")), None)
            found.append(BarFileInfo(path, symbol, timeframe, market))
        else:
            raise DataError(f"path must be an existing file or directory, was {str(path)!r}")
    return found


def import_file(
    url: str,
    info: BarFileInfo,
    *,
    exchange: str,
    market: str | None = None,
    skip_bad_lines: bool = False,
) -> FileOutcome:
    """Import one file in one transaction; return its outcome (errors are caught and named)."""
    kind = market or info.market or DEFAULT_MARKET
    outcome = FileOutcome(info.path, info.symbol, info.timeframe, kind)
    try:
        loaded = (
            read_funding_file(info.path, strict=False)
            if info.is_funding
            else read_bar_file(info.path, strict=False)
        )
    except DataError as exc:
        return _failed(outcome, str(exc))
    if loaded.problems and not skip_bad_lines:
        shown = "; ".join(str(p) for p in loaded.problems[:MAX_LINES_SHOWN])
        more = len(loaded.problems) - MAX_LINES_SHOWN
        suffix = f" (and {more} more bad lines)" if more > 0 else ""
        return _failed(outcome, f"{info.path.name}: {shown}{suffix}")
    for problem in loaded.problems:
        log.warning("%s: skipped %s", info.path.name, problem)
    engine = ensure_schema(url)
    with engine.begin() as conn:
        if isinstance(loaded, FundingFile):
            rows = write_funding(conn, exchange, kind, info.symbol, loaded.rates)
            written = rows
        else:
            key = SeriesKey(exchange, kind, info.symbol, info.timeframe)
            result = write_bars(conn, key, loaded.frame)
            rows, written = result.rows, result.written
    log.info("%s: %d rows (%d new or changed)", info.path.name, rows, written)
    return FileOutcome(info.path, info.symbol, info.timeframe, kind, rows, written)


def _failed(outcome: FileOutcome, error: str) -> FileOutcome:
    log.error("%s", error)
    return FileOutcome(outcome.path, outcome.symbol, outcome.timeframe, outcome.market, error=error)


def import_paths(
    url: str,
    paths: Sequence[str | Path],
    *,
    exchange: str,
    market: str | None = None,
    skip_bad_lines: bool = False,
) -> ImportReport:
    """Import every bar and funding file under ``paths``; bad files are reported, not fatal.

    Args:
        url: the market database URL.
        paths: files or directories (searched recursively).
        exchange: the exchange the data came from (``binance``, ``bitget``…).
        market: ``spot`` or ``futures`` for every file (None: from the directory names).
        skip_bad_lines: load a file's good lines and log the bad ones, instead of
            rejecting the whole file.
    """
    SeriesKey(exchange, market or DEFAULT_MARKET, "CHECK", "1m")  # validate options up front
    outcomes = [
        import_file(url, info, exchange=exchange, market=market, skip_bad_lines=skip_bad_lines)
        for info in find_files(paths)
    ]
    return ImportReport(tuple(outcomes))

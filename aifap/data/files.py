"""Read bar and funding files in AIFAP's file format, validated, with file-and-line errors.

The format (``../shared/data/README.md``)::

    {SYMBOL}_{TIMEFRAME}.csv[.gz]   timestamp,open,high,low,close,volume
    {SYMBOL}_funding.csv[.gz]       timestamp,rate

``timestamp`` is the bar's open time (the funding settle time) in UTC milliseconds;
rows strictly increase. The rules every row must meet are listed in
:mod:`aifap.data.checks`; line numbers count the header as line 1.

Two modes:

- ``strict=True`` (the default): the first bad line raises :class:`DataError`
  ``BTCUSDT_1m.csv.gz: line 12: high must be >= max(open, close), was high=...``.
- ``strict=False``: bad lines are dropped and listed in ``.problems`` as
  :class:`LineProblem` (line, rule, value), so an importer can report them all.

Files are parsed by pandas' C parser; only a file that parser rejects is re-read
line by line to find the malformed lines.

Example::

    bar_file = read_bar_file("data/BTCUSDT_1m.csv.gz")
    bar_file.symbol, bar_file.timeframe, bar_file.frame    # 'BTCUSDT', '1m', DataFrame
    for entry in scan_bar_dir("data"): ...                 # every bar and funding file
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aifap.core.bars import BAR_COLUMNS
from aifap.core.errors import DataError
from aifap.core.timeframes import TIMEFRAME_SECONDS, timeframe_ms
from aifap.data.checks import Problem, bar_problems, funding_problems

BAR_HEADER = ("timestamp", *BAR_COLUMNS)
FUNDING_HEADER = ("timestamp", "rate")
FUNDING = "funding"
_NAME = re.compile(r"^(?P<symbol>[A-Za-z0-9.\-]+)_(?P<kind>[0-9]+[mhd]|funding)\.csv(\.gz)?$")
_MARKET_DIRS = ("spot", "futures")


@dataclass(frozen=True, slots=True)
class LineProblem:
    """A dropped line of a file read with ``strict=False``."""

    line: int
    rule: str
    value: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.rule}, was {self.value}"


@dataclass(frozen=True, slots=True)
class BarFileInfo:
    """A file found by :func:`scan_bar_dir`; ``timeframe`` is ``'funding'`` for funding.

    ``market`` is ``'spot'`` or ``'futures'`` when the file lies under a directory of
    that name (as in ``ohlcv/futures/``), else None.
    """

    path: Path
    symbol: str
    timeframe: str
    market: str | None = None

    @property
    def is_funding(self) -> bool:
        """Tell whether this is a funding-rate file."""
        return self.timeframe == FUNDING


@dataclass(frozen=True, slots=True)
class BarFile:
    """A bar file read into a bar frame (see :mod:`aifap.core.bars`)."""

    path: Path
    symbol: str
    timeframe: str
    frame: pd.DataFrame
    problems: tuple[LineProblem, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class FundingFile:
    """A funding file read into a float Series ``rate`` indexed by UTC settle time."""

    path: Path
    symbol: str
    rates: pd.Series
    problems: tuple[LineProblem, ...] = field(default=())


def parse_bar_filename(path: str | Path) -> tuple[str, str]:
    """Return ``(symbol, timeframe)`` of a file name; timeframe may be ``'funding'``.

    Raises:
        DataError: the name is not ``{SYMBOL}_{TIMEFRAME}.csv[.gz]`` with a known timeframe.
    """
    name = Path(path).name
    match = _NAME.match(name)
    if not match or (match["kind"] != FUNDING and match["kind"] not in TIMEFRAME_SECONDS):
        known = ", ".join([*TIMEFRAME_SECONDS, FUNDING])
        raise DataError(
            f"{name}: file name must be SYMBOL_TIMEFRAME.csv or .csv.gz with a timeframe "
            f"among {known}, was {name!r}"
        )
    return match["symbol"].upper(), match["kind"]


def scan_bar_dir(path: str | Path, *, recursive: bool = True) -> list[BarFileInfo]:
    """Return the bar and funding files under ``path``, sorted by path.

    Files whose names do not follow the format are ignored (a README, say).

    Raises:
        DataError: ``path`` is not a directory.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"data: must be a directory of bar files, was {str(root)!r}")
    found: list[BarFileInfo] = []
    for file in sorted(root.rglob("*") if recursive else root.iterdir()):
        if not file.is_file() or not _NAME.match(file.name):
            continue
        try:
            symbol, timeframe = parse_bar_filename(file)
        except DataError:
            continue
        parents = [p.name.lower() for p in file.relative_to(root).parents]
        market = next((p for p in parents if p in _MARKET_DIRS), None)
        found.append(BarFileInfo(file, symbol, timeframe, market))
    return found


def read_bar_file(path: str | Path, *, strict: bool = True) -> BarFile:
    """Read a ``{SYMBOL}_{TIMEFRAME}.csv[.gz]`` file into a validated bar frame.

    Args:
        path: the file; its name gives the symbol and timeframe.
        strict: raise on the first bad line (True) or drop bad lines and list them.

    Raises:
        DataError: naming the file and line, for a bad header or (strict) a bad row.
    """
    file = Path(path)
    symbol, timeframe = parse_bar_filename(file)
    if timeframe == FUNDING:
        raise DataError(f"{file.name}: a funding file, read it with read_funding_file")
    columns, bad, lines = _parse(file, BAR_HEADER)
    ts, o, h, lo, c, v = columns
    problems = bar_problems(ts, o, h, lo, c, v, step_ms=timeframe_ms(timeframe), bad_rows=bad)
    keep, reported = _settle(file, problems, lines, strict)
    index = pd.DatetimeIndex(pd.to_datetime(ts[keep], unit="ms", utc=True), name="timestamp")
    frame = pd.DataFrame(
        {name: col[keep] for name, col in zip(BAR_COLUMNS, (o, h, lo, c, v), strict=True)},
        index=index.as_unit("ns"),
    )
    return BarFile(file, symbol, timeframe, frame, reported)


def read_funding_file(path: str | Path, *, strict: bool = True) -> FundingFile:
    """Read a ``{SYMBOL}_funding.csv[.gz]`` file into a Series of rates per 8 h.

    Raises:
        DataError: naming the file and line, for a bad header or (strict) a bad row.
    """
    file = Path(path)
    symbol, kind = parse_bar_filename(file)
    if kind != FUNDING:
        raise DataError(f"{file.name}: a bar file, read it with read_bar_file")
    (ts, rate), bad, lines = _parse(file, FUNDING_HEADER)
    problems = funding_problems(ts, rate, bad_rows=bad)
    keep, reported = _settle(file, problems, lines, strict)
    index = pd.DatetimeIndex(pd.to_datetime(ts[keep], unit="ms", utc=True), name="timestamp")
    rates = pd.Series(rate[keep], index=index.as_unit("ns"), name="rate")
    return FundingFile(file, symbol, rates, reported)


def write_bar_file(path: str | Path, frame: pd.DataFrame) -> Path:
    """Write a bar frame in the file format (gzip when the name ends in ``.gz``)."""
    file = Path(path)
    parse_bar_filename(file)
    out = frame.loc[:, list(BAR_COLUMNS)].copy()
    out.index = pd.Index(frame.index.as_unit("ms").asi8, name="timestamp")
    out.to_csv(file, float_format="%.12g", compression="infer")
    return file


def _lines(problems: list[Problem], lines: np.ndarray) -> tuple[LineProblem, ...]:
    return tuple(LineProblem(int(lines[p.row]), p.rule, p.value) for p in problems)


def _settle(
    file: Path, problems: list[Problem], lines: np.ndarray, strict: bool
) -> tuple[np.ndarray, tuple[LineProblem, ...]]:
    reported = _lines(problems, lines)
    if reported and strict:
        raise DataError(f"{file.name}: {reported[0]}")
    keep = np.ones(len(lines), dtype=bool)
    keep[[p.row for p in problems]] = False
    return keep, reported


def _open_text(file: Path) -> io.TextIOBase:
    if file.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(file, "rb"), encoding="utf-8", newline="")
    return open(file, encoding="utf-8", newline="")


Parsed = tuple[list[np.ndarray], dict[int, Problem], np.ndarray]


def _parse(file: Path, header: tuple[str, ...]) -> Parsed:
    """Return the columns (int64 timestamp, float64 rest), rejected rows and line numbers."""
    try:
        with _open_text(file) as text:
            first = text.readline().strip()
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{file.name}: cannot be read as text CSV: {exc}") from exc
    if tuple(part.strip() for part in first.split(",")) != header:
        raise DataError(f"{file.name}: line 1: header must be {','.join(header)}, was {first!r}")
    dtypes = {name: ("int64" if name == "timestamp" else "float64") for name in header}
    try:
        frame = pd.read_csv(
            file, engine="c", dtype=dtypes, skip_blank_lines=False, compression="infer"
        )
    except (ValueError, pd.errors.ParserError, OverflowError):
        return _parse_slowly(file, header)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"{file.name}: cannot be read as text CSV: {exc}") from exc
    if frame.isna().to_numpy().any():
        # a short row also reads as NaN: the slow pass tells the two apart
        return _parse_slowly(file, header)
    lines = np.arange(2, len(frame) + 2)
    return [frame[name].to_numpy() for name in header], {}, lines


def _parse_slowly(file: Path, header: tuple[str, ...]) -> Parsed:
    """Parse line by line, marking malformed lines (wrong field count, not numbers)."""
    width = len(header)
    ts: list[int] = []
    values: list[list[float]] = [[] for _ in header[1:]]
    lines: list[int] = []
    bad: dict[int, Problem] = {}
    with _open_text(file) as text:
        reader = csv.reader(text)
        next(reader)
        for fields in reader:
            if not fields:
                continue  # blank lines carry no bar
            parsed = _parse_fields(fields, header)
            if isinstance(parsed, Problem):
                bad[len(ts)] = Problem(len(ts), parsed.rule, parsed.value)
                parsed = (0, *([np.nan] * (width - 1)))
            lines.append(reader.line_num)
            ts.append(parsed[0])
            for column, value in zip(values, parsed[1:], strict=True):
                column.append(value)
    columns = [np.asarray(ts, dtype=np.int64)]
    columns += [np.asarray(column, dtype=np.float64) for column in values]
    return columns, bad, np.asarray(lines, dtype=np.int64)


def _parse_fields(fields: list[str], header: tuple[str, ...]) -> tuple[Any, ...] | Problem:
    shown = ",".join(fields)
    if len(fields) != len(header):
        rule = f"row must have {len(header)} fields ({','.join(header)})"
        return Problem(0, rule, f"{len(fields)} fields: {shown!r}")
    try:
        stamp = int(fields[0])
    except ValueError:
        return Problem(0, "timestamp must be an integer (UTC milliseconds)", repr(fields[0]))
    numbers: list[float] = []
    for name, text in zip(header[1:], fields[1:], strict=True):
        try:
            numbers.append(float(text))
        except ValueError:
            return Problem(0, f"{name} must be a number", repr(text))
    return (stamp, *numbers)

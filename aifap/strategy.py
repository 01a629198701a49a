"""The strategy contract; load a strategy, call it safely, and validate what it returns.

Signature: ``strategy(context, config_dict) -> dict | None``, called at every
rebalancing boundary with the bars completed at ``context.now``. ``config_dict`` is the
backtest's ``config=`` or the session's ``config_dict:`` (also ``context.config``).

Return forms (symbols as the exchange shows them, ``BTCUSDT``):

- ``{"BTCUSDT": 0.5}``: target weights;
- ``{"BTCUSDT": {"weight": 0.5, "presetStopSurplusPrice": tp, "presetStopLossPrice": sl}}``:
  a weight with take-profit and stop-loss prices (aliases ``take_profit`` / ``stop_loss``);
- ``{}``: go flat (a symbol left out of any dict is closed the same way);
- ``None``: no opinion, keep every position, send no order.

A weight is margin as a fraction of the compounding equity (PV = wallet + uPnL at the
cycle); notional = weight × equity × leverage; negative = short, futures only. On spot,
1.0 is all the cash (the venue takes a buy's fee from the coins received).

SL/TP: in a backtest they fire inside a bar at the stop price (at the open on a gap),
the stop-loss first when a bar touches both; in paper and live sessions they ride on the
opening order (Bitget's preset fields) or go as separate trigger orders, and move when
the strategy returns new prices for a position it keeps.

Validation (:func:`validate_output`, rules in :func:`aifap.core.weights.parse_targets`):
``InvalidTargetError`` names the symbol and the rule, e.g.
``BTCUSDT: weight must be a finite number, was nan``. The rules: the output is a dict or
None; symbols are strings and among the session's markets; a weight is a finite number
(not a bool or string); a spec has a ``weight`` and only the known keys, with one of each
alias pair; SL/TP prices are > 0 and on the right side of the price (long: SL below, TP
above; short: the reverse); no negative weight on spot; Σ|weight| ≤ ``max_gross_weight``
(default 1.0). A strategy that raises gives ``StrategyError`` naming the bar; one that
overruns ``strategy_time_limit`` (sessions) gives ``StrategyTimeoutError``. A backtest
stops on them (or skips with ``on_error='skip'``); a session skips the cycle with an
alert and stops after ``max_strategy_failures`` in a row. No order is ever sent on an
invalid output.

``context``: ``now`` (the cycle's UTC time), ``get_history(assets, window, frequency,
fields)`` (completed bars only), ``current(assets, fields)`` (the latest completed bar),
``portfolio`` (equity, balance, positions, weights), ``state`` (a dict kept across calls
and restarts), ``universe`` (the run's symbols), ``config``, ``log`` and ``mode``.
The README's "The strategy contract" shows each with a runnable example.

A strategy can be given as a callable, a file path (``strategies/momentum.py``,
optionally ``path.py:function``) or an importable ``package.module:function``; the
function name defaults to ``strategy``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import threading
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from aifap.core.errors import InvalidTargetError, StrategyError, StrategyTimeoutError
from aifap.core.markets import MarketSpec
from aifap.core.weights import TargetWeight, parse_targets

StrategyFn = Callable[[Any, Mapping[str, Any]], Any]
DEFAULT_FUNCTION = "strategy"


def load_strategy(spec: str | Path | StrategyFn) -> StrategyFn:
    """Return the strategy function ``spec`` names.

    Args:
        spec: a callable; a ``.py`` file path, optionally ``path.py:function``;
            or ``package.module:function`` (``package.module`` alone means its
            ``strategy`` function).

    Raises:
        StrategyError: the file or module cannot be loaded or has no such callable.
    """
    if callable(spec):
        return spec
    text = str(spec)
    if ":" in text and not _is_drive(text):
        target, _, name = text.rpartition(":")
    else:
        target, name = text, ""
    name = name or DEFAULT_FUNCTION
    if target.endswith(".py") or Path(target).is_file():
        module = _load_file(Path(target))
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise StrategyError(f"strategy module {target!r} could not be imported: {exc}") from exc
    fn = getattr(module, name, None)
    if not callable(fn):
        raise StrategyError(f"strategy {text!r}: {name!r} must be a callable in {target!r}")
    return fn  # type: ignore[no-any-return]


def _is_drive(text: str) -> bool:
    return len(text) > 1 and text[1] == ":" and text.count(":") == 1


def _load_file(path: Path) -> Any:
    if not path.is_file():
        raise StrategyError(f"strategy file must exist, was {str(path)!r}")
    digest = hashlib.blake2b(str(path.resolve()).encode(), digest_size=6).hexdigest()
    spec = importlib.util.spec_from_file_location(f"aifap_strategy_{digest}", path)
    if spec is None or spec.loader is None:
        raise StrategyError(f"strategy file {str(path)!r} could not be loaded")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise StrategyError(f"strategy file {str(path)!r} raised on import: {exc!r}") from exc
    return module


def call_strategy(
    fn: StrategyFn,
    context: Any,
    config: Mapping[str, Any],
    *,
    bar: Any = None,
    timeout: float | None = None,
) -> Any:
    """Call ``fn(context, config)`` and return its raw output.

    Args:
        fn: the strategy function.
        context: the :class:`aifap.context.Context` for this call.
        config: the configuration dict passed as ``config_dict``.
        bar: the bar (time) this call is for, named in errors.
        timeout: seconds the call may take (live sessions); None = no limit. The call
            then runs in a daemon thread that cannot be killed if it overruns: the
            caller should stop the session.

    Raises:
        StrategyError: the strategy raised (chained), naming the bar.
        StrategyTimeoutError: it ran longer than ``timeout``.
    """
    if timeout is None:
        try:
            return fn(context, config)
        except StrategyError:
            raise
        except Exception as exc:
            where = "" if bar is None else f" at bar {bar}"
            raise StrategyError(f"strategy raised{where}: {exc!r}") from exc
    where = "" if bar is None else f" at bar {bar}"  # formatted only off the hot path
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["out"] = fn(context, config)
        except BaseException as exc:  # handed to the caller's thread below
            box["exc"] = exc

    worker = threading.Thread(target=run, name="aifap-strategy", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise StrategyTimeoutError(f"strategy must return within {timeout} s{where}, it did not")
    if "exc" in box:
        error = box["exc"]
        if isinstance(error, StrategyError):
            raise error
        raise StrategyError(f"strategy raised{where}: {error!r}") from error
    return box.get("out")


def validate_output(
    output: Any,
    markets: Mapping[str, MarketSpec],
    *,
    prices: Mapping[str, Decimal | float] | None = None,
    max_gross_weight: Decimal | float = Decimal(1),
    bar: Any = None,
) -> dict[str, TargetWeight] | None:
    """Parse ``output`` with :func:`aifap.core.weights.parse_targets`, naming the bar on error.

    Raises:
        InvalidTargetError: ``"bar <bar>: <symbol>: <rule>, was <value>"``; its
            ``symbol``, ``rule``, ``value`` and ``bar`` attributes are set.
    """
    try:
        return parse_targets(output, markets, prices=prices, max_gross_weight=max_gross_weight)
    except InvalidTargetError as exc:
        if bar is None:
            raise
        named = InvalidTargetError(exc.symbol, exc.rule, exc.value)
        named.bar = bar  # type: ignore[attr-defined]
        named.args = (f"bar {bar}: {exc}",)
        raise named from exc

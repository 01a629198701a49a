"""Split the PV gap between a session and its replay into six components that add up.

Both sides start from the same allocation, so at the common final marks ``P``
(the close of the period's last bar) each side's PV is, exactly,

    PV = allocation + Σ_fills q × (P − p) − Σ fees − funding paid

(linear futures; spot the same, a fee in the base coin valued at ``P``). With ``M(t)``
the open of the bar holding ``t`` (what the backtester fills an order sent then at),
``q × (P − p) = q × (M(t) − p) + q × (P − M(t))``: the first part is the fill's
**execution price** against the bar, the second the position it adds, held from ``t``
to the end. The gap is therefore

    execution + fees + funding + Σ over time of (position gap × price move)

and the position gap (the session's size minus the replay's, per symbol) is followed
event by event, each part labelled with why it opened:

- **targets**: at a cycle where the targets differ (the strategy saw other data, is
  not deterministic, or failed on one side only), the planned amounts' difference;
- **unfilled**: what the session planned but never filled (rejected, canceled,
  missed, partially filled for good), and the orders of cycles it never ran (down,
  stale bars);
- **timing**: what filled later than the cycle's bar (the rest of a partial fill, a
  cycle run late), and stop-loss / take-profit executions on one side only or at
  another bar (a stop that fired while the session was down);
- a cycle's planned difference re-targets the whole gap (the planner trades the
  carried gap away): the part it keeps shrinks every label in proportion, a part it
  adds is the cycle's cause's (targets, or a cycle missed), and at identical targets
  (a size computed from a different equity) the component's that had moved the
  equity most so far; a stop on one side only does the same with its own label. An
  order's unfilled part and its late rest are added to their own labels, so the rest
  undoes exactly the timing part its partial fill opened.

Each label's gap is valued over the bars it is held, so the six components add up to
the gap by construction; :class:`Decomposition` keeps both, and the report shows any
difference from the PVs the session and the backtest reported themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from aifap.replay.records import ZERO, SideView, Trade, same_target
from aifap.replay.rerun import Marks

CATEGORIES = ("targets", "execution", "fees", "funding", "unfilled", "timing")
LABELS = {
    "targets": "different targets",
    "execution": "execution price",
    "fees": "fees",
    "funding": "funding",
    "unfilled": "orders not placed or filled",
    "timing": "timing",
}
_CYCLE, _LATE, _STOP = 0, 1, 2
HALF_CENT = Decimal("0.005")


@dataclass
class Decomposition:
    """The gap, its components, each side's accounted PV and the components over time."""

    components: dict[str, Decimal]
    pv: dict[str, Decimal]
    path: list[tuple[int, dict[str, float]]] = field(default_factory=list)

    @property
    def gap(self) -> Decimal:
        """Return the accounted PV gap (session − replay)."""
        return self.pv["session"] - self.pv["backtest"]

    @property
    def largest(self) -> str | None:
        """Return the component with the largest absolute value (None: all under a cent)."""
        name = max(CATEGORIES, key=lambda k: (abs(self.components[k]), -CATEGORIES.index(k)))
        return name if abs(self.components[name]) >= HALF_CENT else None


@dataclass
class _Gaps:
    """One symbol's position gap by label (their sum is the whole gap)."""

    parts: dict[str, Decimal] = field(default_factory=dict)
    mark: Decimal | None = None

    @property
    def total(self) -> Decimal:
        return sum(self.parts.values(), ZERO)

    def apply(self, delta: Decimal, label: str) -> None:
        """Add ``delta``: a shrinking gap keeps its labels' mix, growth is ``label``'s."""
        if delta == 0:
            return
        before = self.total
        after = before + delta
        same_side = before != 0 and (after == 0 or (after > 0) == (before > 0))
        if same_side and abs(after) <= abs(before):
            self._scale(after, before)
        elif same_side:
            self.parts[label] = self.parts.get(label, ZERO) + delta
        else:
            self.parts = {label: after}

    def add(self, delta: Decimal, label: str) -> None:
        """Add ``delta`` to ``label``'s part alone (an order's own late rest, its unfilled part)."""
        if delta != 0:
            self.parts[label] = self.parts.get(label, ZERO) + delta

    def _scale(self, after: Decimal, before: Decimal) -> None:
        labels = [k for k, v in self.parts.items() if v != 0]
        if after == 0 or not labels:
            self.parts = {}
            return
        ratio = after / before
        scaled = {k: self.parts[k] * ratio for k in labels[:-1]}
        scaled[labels[-1]] = after - sum(scaled.values(), ZERO)  # the sum stays exact
        self.parts = scaled


def _fee_cost(trade: Trade, quote: str, end: Decimal) -> Decimal:
    return trade.fee if trade.fee_currency == quote else trade.fee * end


@dataclass
class _Event:
    bar_ms: int
    kind: int
    symbol: str
    delta: Decimal = ZERO  # stop and late events: the gap's change
    parts: list[tuple[Decimal, str]] = field(default_factory=list)  # cycle events: planned


def _owner(side: SideView) -> dict[str, tuple[int, str]]:
    return {
        cid: (view.time_ms, symbol)
        for view in side.cycles.values()
        for symbol, ids in view.orders.items()
        for cid in ids
    }


def _cycle_cause(session: SideView, replay: SideView, time_ms: int, symbol: str) -> str:
    live, bt = session.cycles.get(time_ms), replay.cycles.get(time_ms)
    if live is None or not live.ran:
        return "unfilled"
    if bt is None:
        return "timing"
    if (live.error is None) != (bt.error is None) or (live.targets is None) != (bt.targets is None):
        return "targets"
    if (
        live.targets is not None
        and bt.targets is not None
        and not same_target(live.targets.get(symbol), bt.targets.get(symbol))
    ):
        return "targets"
    return "sizing"


def _events(session: SideView, replay: SideView, marks: Marks) -> list[_Event]:
    owners = {"session": _owner(session), "backtest": _owner(replay)}
    sign = {"session": Decimal(1), "backtest": Decimal(-1)}
    immediate: dict[tuple[int, str, str], Decimal] = {}
    eventual: dict[tuple[int, str, str], Decimal] = {}
    loose: dict[tuple[int, int, str], _Event] = {}
    for side in (session, replay):
        for trade in side.trades:
            bar = marks.bar_ms(trade.ts_ms)
            owner = owners[side.name].get(trade.client_id or "")
            if owner is None:  # a stop's execution (or another fill of the session's)
                event = loose.setdefault(
                    (bar, _STOP, trade.symbol), _Event(bar, _STOP, trade.symbol)
                )
                event.delta += sign[side.name] * trade.qty
                continue
            time_ms, symbol = owner
            key = (time_ms, symbol, side.name)
            eventual[key] = eventual.get(key, ZERO) + trade.qty
            if bar <= marks.bar_ms(time_ms):
                immediate[key] = immediate.get(key, ZERO) + trade.qty
            else:  # the rest of the order, filled later
                late = loose.setdefault((bar, _LATE, symbol), _Event(bar, _LATE, symbol))
                late.delta += sign[side.name] * trade.qty
    events = list(loose.values())
    times = sorted(set(session.cycles) | set(replay.cycles))
    for time_ms in times:
        live, bt = session.cycles.get(time_ms), replay.cycles.get(time_ms)
        symbols = set(live.planned if live else ()) | set(bt.planned if bt else ())
        for symbol in sorted(symbols):
            a_l = live.planned.get(symbol, ZERO) if live else ZERO
            a_b = bt.planned.get(symbol, ZERO) if bt else ZERO
            got_l = eventual.get((time_ms, symbol, "session"), ZERO)
            got_b = eventual.get((time_ms, symbol, "backtest"), ZERO)
            now_l = immediate.get((time_ms, symbol, "session"), ZERO)
            now_b = immediate.get((time_ms, symbol, "backtest"), ZERO)
            parts = [  # the planned difference re-targets the whole gap; the rest is new
                (a_l - a_b, _cycle_cause(session, replay, time_ms, symbol)),
                ((got_l - a_l) - (got_b - a_b), "+unfilled"),
                ((now_l - got_l) - (now_b - got_b), "+timing"),
            ]
            events.append(_Event(marks.bar_ms(time_ms), _CYCLE, symbol, parts=parts))
    events.sort(key=lambda e: (e.bar_ms, e.kind, e.symbol))
    return events


def decompose(
    session: SideView,
    replay: SideView,
    marks: Marks,
    allocation: Decimal,
    quotes: Mapping[str, str],
) -> Decomposition:
    """Return the PV gap of ``session`` against ``replay`` in six components."""
    symbols = sorted(marks.frames)
    end = {s: marks.end(s) for s in symbols}
    # the per-fill parts (execution, fees), in time order for the running totals
    flows: list[tuple[int, str, Decimal]] = []
    pv: dict[str, Decimal] = {}
    for side, sign in ((session, Decimal(1)), (replay, Decimal(-1))):
        total = allocation - side.funding_paid
        for t in side.trades:
            cost = _fee_cost(t, quotes.get(t.symbol, "USDT"), end[t.symbol])
            total += t.qty * (end[t.symbol] - t.price) - cost
            flows.append(
                (t.ts_ms, "execution", sign * t.qty * (marks.at(t.symbol, t.ts_ms) - t.price))
            )
            flows.append((t.ts_ms, "fees", -sign * cost))
        pv[side.name] = total
    flows.sort(key=lambda f: f[0])
    done = dict.fromkeys(CATEGORIES, ZERO)
    gaps = {s: _Gaps() for s in symbols}
    path: list[tuple[int, dict[str, float]]] = []
    cursor = 0

    def hold_to(prices: Mapping[str, Decimal]) -> None:
        for symbol, gap in gaps.items():
            price = prices[symbol]
            if gap.mark is not None:
                for label, size in gap.parts.items():
                    done[label] += size * (price - gap.mark)
            gap.mark = price

    def advance(bar: int) -> None:  # book the fills up to the bar, value the gaps at its open
        nonlocal cursor
        while cursor < len(flows) and flows[cursor][0] < bar + marks.step_ms:
            done[flows[cursor][1]] += flows[cursor][2]
            cursor += 1
        hold_to({s: marks.at(s, bar) for s in symbols})
        path.append((bar, {k: float(v) for k, v in done.items()}))

    # the components are also sampled where finwatcher took the session's PV
    samples = sorted({marks.bar_ms(t) for t, _ in session.pv_path})
    last_bar: int | None = None
    for event in _events(session, replay, marks):
        if event.bar_ms != last_bar:
            while samples and samples[0] < event.bar_ms:
                advance(samples.pop(0))
            advance(event.bar_ms)
            last_bar = event.bar_ms
            samples = [t for t in samples if t > event.bar_ms]
        gap = gaps[event.symbol]
        if event.kind == _LATE:  # the rest of an order: it undoes its own timing part
            gap.add(event.delta, "timing")
            continue
        if event.kind == _STOP:
            gap.apply(event.delta, "timing")
            continue
        for delta, label in event.parts:
            if label.startswith("+"):
                gap.add(delta, label[1:])
                continue
            if label == "sizing":
                label = max(CATEGORIES, key=lambda k: (abs(done[k]), -CATEGORIES.index(k)))
                label = label if done[label] != 0 else "targets"
            gap.apply(delta, label)
    last_close = max(
        marks.bar_ms(int(f.index[-1].value // 1_000_000)) for f in marks.frames.values()
    )
    for bar in samples:
        if bar <= last_close:
            advance(bar)
    for _, label, value in flows[cursor:]:
        done[label] += value
    hold_to(end)
    done["funding"] = -(session.funding_paid - replay.funding_paid)
    final_ms = max(
        [*(t for t, _ in session.pv_path[-1:]), *(t for t, _ in replay.pv_path[-1:])], default=0
    )
    path.append((final_ms, {k: float(v) for k, v in done.items()}))
    return Decomposition(components=done, pv=pv, path=path)

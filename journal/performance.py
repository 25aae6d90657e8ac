"""How the journaled trades did, and how the model's predictions fared against them.

Figures over closed trades: count, win rate, total and average PnL, profit factor; overall,
by grade of the linked signal, by action, and followed vs overrode. The prediction hit rate per
grade asks, for each trade linked to a signal, whether the price moved the signal's way between
the trade's entry and exit (for skipped and missed trades too: that is what was left on the
table). The equity curve is the cumulative PnL of executed trades in exit order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from journal.models import Trade


@dataclass(frozen=True)
class Stats:
    trades: int
    wins: int
    win_rate: float | None
    total_pnl: float
    average_pnl: float | None
    profit_factor: float | None  # gross wins / gross losses; None without a loss


def stats(pnls: Iterable[float]) -> Stats:
    values = list(pnls)
    wins = [v for v in values if v > 0]
    losses = [-v for v in values if v < 0]
    n = len(values)
    return Stats(
        trades=n,
        wins=len(wins),
        win_rate=len(wins) / n if n else None,
        total_pnl=float(sum(values)),
        average_pnl=float(sum(values) / n) if n else None,
        profit_factor=float(sum(wins) / sum(losses)) if losses else None,
    )


def _grouped(trades: list[Trade], key) -> dict[str, dict]:
    groups: dict[str, list[float]] = {}
    for t in trades:
        groups.setdefault(key(t), []).append(t.pnl)
    return {name: asdict(stats(pnls)) for name, pnls in sorted(groups.items())}


def performance(trades: Iterable[Trade]) -> dict:
    trades = list(trades)
    closed = [t for t in trades if t.pnl is not None]
    executed = sorted(
        (t for t in closed if t.action == Trade.Action.EXECUTED), key=lambda t: (t.exit_time, t.pk)
    )
    hits: dict[str, list[bool]] = {}
    for t in closed:
        if t.signal_id and t.signal.direction in ("long", "short"):
            way = 1 if t.signal.direction == "long" else -1
            hits.setdefault(t.grade or "-", []).append(way * (t.exit_price - t.entry_price) > 0)
    equity, total = [], 0.0
    for t in executed:
        total += t.pnl
        equity.append([t.exit_time.isoformat(), round(total, 8)])
    return {
        "overall": asdict(stats(t.pnl for t in executed)),
        "by_grade": _grouped([t for t in executed if t.grade], lambda t: t.grade),
        "by_action": _grouped(closed, lambda t: t.action),
        "followed_vs_overrode": _grouped(
            [t for t in executed if t.followed_signal is not None],
            lambda t: "followed" if t.followed_signal else "overrode",
        ),
        "prediction_hit_rate": {
            grade: {"trades": len(h), "hit_rate": sum(h) / len(h)}
            for grade, h in sorted(hits.items())
        },
        "equity_curve": equity,
        "odds": odds_record([t for t in trades if t.odds and t.touched]),
    }


def odds_record(trades: list[Trade]) -> dict:
    """The first-touch odds shown when the trades were taken against what the candles say
    came first: the mean odds and the frequencies, and the Brier score of the odds."""
    if not trades:
        return {"trades": 0}
    names = ("target", "stop", "neither")
    shown = {k: sum(t.odds[k] for t in trades) / len(trades) for k in names}
    happened = {k: sum(t.touched == k for t in trades) / len(trades) for k in names}
    brier = sum(sum((t.odds[k] - (t.touched == k)) ** 2 for k in names) for t in trades) / len(
        trades
    )
    return {"trades": len(trades), "shown": shown, "happened": happened, "brier": brier}

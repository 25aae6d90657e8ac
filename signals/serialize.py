"""The JSON form of a signal: the API's schema and the realtime stream share it."""

from __future__ import annotations

from signals.models import Signal


def signal_json(s: Signal) -> dict:
    m = s.model_version
    return {
        "id": s.pk,
        "symbol": s.symbol,
        "interval": s.interval,
        "open_time": s.open_time.isoformat(),
        "direction": s.direction,
        "grade": s.grade,
        "confidence": s.confidence,
        "actionable": s.actionable,
        "probabilities": {"sell": s.p_sell, "neutral": s.p_neutral, "buy": s.p_buy},
        "confirmations": s.confirmations,
        "regime": s.regime,
        "entry_price": s.entry_price,
        "stop_price": s.stop_price,
        "target_price": s.target_price,
        "horizon_hours": s.horizon_hours,  # how far ahead the call is for
        "model": {
            "version": m.version,
            "status": m.status,
            "forced": m.forced,
            "quick": m.quick,
            "universe": s.universe,
            "trained_on_symbol": not s.unseen,
        },
        "explanation": s.explanation,
        "acknowledged": s.acknowledged,
        "created_at": s.created_at.isoformat(),
    }

"""The one shape every stored ``Evaluation`` has, whatever the model family or the kind
(walk-forward or holdout): calls judged out of sample, with the hit they were judged on named.

Every reader (the model page, the signal's explanation, the board's grade evidence, the
``evaluate`` summary, the API) reads these keys and nothing family-specific outside
``classes`` (a classifier's probabilities against its class prior) and ``detail`` (a family's
own extras, such as the universe walk-forward's per-symbol table). Pure; no Django.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Each family's hit, said in the report so that two models' hit rates are never compared
# across different events.
HIT_BARRIER = (
    "direction x the return to the triple-barrier exit (target, stop, or the close at the "
    "horizon) > round trip"
)
HIT_FORWARD = "direction x the close-to-close return over the horizon > round trip"


@dataclass(frozen=True)
class CallFigures:
    kind: str  # the model family: "symbol" or "universe"
    hit_definition: str
    horizon: int  # bars a call is for
    round_trip_cost: float
    rows: int  # bars with a known outcome
    signals: int  # directional calls
    ic: float | None  # Spearman's rho of the score with the forward return
    ic_p_value: float | None  # on n / horizon draws
    hit_ece: float | None  # of the calls' hit probabilities against their hits
    hit_base_rate: float | None  # share of the calls that were hits
    entry: str  # "taker", or "maker": a call counts only where its limit at the close filled
    unfilled: int  # calls a maker entry would have missed: no outcome, counted here
    per_grade: list[dict]  # ``hits.GradeFigures`` per grade, against its promise
    grade_sets: list[dict]  # the same per cumulative grade set
    symbol: str = ""  # the symbol scored; "" for a walk-forward over a whole universe
    trained_on_symbol: bool = True
    classes: dict | None = None  # a classifier's calibration, accuracy and prior figures
    detail: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

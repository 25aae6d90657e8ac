"""Risk beside direction: how far price is likely to travel over a horizon, the range it is
likely to stay in, and the odds that a target is touched before a stop. Pure; no Django.

- ``outcomes``: what happened after each bar (the realized move, variance, high and low, and
  which of a stop and a target was touched first), from OHLC bars only;
- ``volatility``: forecasts of the horizon's return spread: EWMA and HAR-RV (the baselines)
  and the product's model, fitted on training rows only;
- ``ranges``: conformal ranges on volatility-normalised scores, with adaptive conformal
  inference so coverage recovers after a volatility break;
- ``touch``: first-touch odds, from the driftless closed form at the forecast volatility,
  recalibrated on earlier outcomes.
"""

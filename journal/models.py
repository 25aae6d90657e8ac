"""The trade journal: what the trader did with (or without) the signals, and what it made."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from analysis.intervals import interval_ms
from analysis.models import Candle
from analysis.symbols import normalise
from journal.outcome import outcome
from mlcore.pipeline.risk.outcomes import STOP, TARGET, first_touch
from signals.models import Signal

# What a trade's numbers and times can be: finite, of a size a trade can have (so no product of
# them overflows into an infinite PnL), and in this century (so no date arithmetic overflows).
MAX_NUMBER = 1e12
NOTES_MAX = 5_000  # characters: a trade's reasons, not a document (a 2 MB note was stored)
MIN_NUMBER = 1e-9  # a positive price or size below this is a typo (5e-324 was accepted)
MAX_LEVERAGE = 125.0  # Binance USD-M's highest
# A fill lies within its bar's low-high; this much either side allows for rounding and another
# venue's print (an entry of $1 in a $62,000 bar did not happen).
PRICE_SLACK = 0.01
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


class Trade(models.Model):
    class Action(models.TextChoices):
        EXECUTED = "executed"
        SKIPPED = "skipped", "skipped (a signal not taken)"
        MISSED = "missed", "missed (meant to, could not)"

    class Side(models.TextChoices):
        LONG = "long"
        SHORT = "short"

    created_at = models.DateTimeField(auto_now_add=True)
    ticker = models.CharField(max_length=20)
    signal = models.ForeignKey(
        Signal, null=True, blank=True, on_delete=models.SET_NULL, related_name="trades"
    )
    grade = models.CharField(max_length=2, blank=True, help_text="the linked signal's grade")
    action = models.CharField(max_length=8, choices=Action.choices)
    # A skipped or missed entry records the signal and the reason (in the notes): its side
    # defaults to the signal's, and prices and quantity are optional (given, they price what
    # was left on the table). An executed trade needs all three.
    side = models.CharField(max_length=5, choices=Side.choices, blank=True)
    followed_signal = models.BooleanField(
        null=True, blank=True, help_text="same direction as the linked signal (blank: no signal)"
    )
    entry_time = models.DateTimeField(default=timezone.now)
    entry_price = models.FloatField(null=True, blank=True)
    exit_time = models.DateTimeField(null=True, blank=True)
    exit_price = models.FloatField(null=True, blank=True)
    quantity = models.FloatField(null=True, blank=True, help_text="base-asset units")
    leverage = models.FloatField(default=1.0)
    fees = models.FloatField(default=0.0, help_text="paid, in USDT")
    funding = models.FloatField(default=0.0, help_text="paid (negative: received), in USDT")
    notes = models.TextField(blank=True)
    # The idea as checked when the trade was taken ("Check my idea", POST /api/risk/check):
    # its levels, horizon and the first-touch odds shown then; what happened is computed.
    stop_price = models.FloatField(null=True, blank=True)
    target_price = models.FloatField(null=True, blank=True)
    horizon_hours = models.PositiveIntegerField(null=True, blank=True)
    odds = models.JSONField(
        default=dict, blank=True, help_text="target, stop, neither: the odds shown when taken"
    )
    touched = models.CharField(
        max_length=7,
        blank=True,
        editable=False,
        help_text="target, stop or neither: what the stored candles say came first; blank: "
        "not known yet",
    )
    # Computed on save from the fields above and the stored candles; never typed in.
    pnl = models.FloatField(null=True, blank=True, editable=False)
    return_on_margin = models.FloatField(null=True, blank=True, editable=False)
    mae = models.FloatField(null=True, blank=True, editable=False)
    mfe = models.FloatField(null=True, blank=True, editable=False)
    mae_pct = models.FloatField(null=True, blank=True, editable=False)
    mfe_pct = models.FloatField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-entry_time", "-id"]

    def __str__(self) -> str:
        if self.entry_price is None or self.quantity is None:
            return f"{self.action} {self.side or ''} {self.ticker}".replace("  ", " ")
        return f"{self.action} {self.side} {self.quantity:g} {self.ticker} @ {self.entry_price:g}"

    def save(self, *args, **kwargs) -> None:
        self.compute()
        super().save(*args, **kwargs)

    @property
    def direction(self) -> int:
        return 1 if self.side == self.Side.LONG else -1

    def clean(self) -> None:
        errors = {}
        executed = self.action == self.Action.EXECUTED
        if not self.side and self.signal_id and self.signal.direction in self.Side.values:
            self.side = self.signal.direction  # a skipped signal was skipped in its direction
        if executed and not self.side:
            errors["side"] = "an executed trade needs its side"
        for name in ("entry_price", "quantity", "leverage", "exit_price"):
            value = getattr(self, name)
            if value is None:
                if (executed and name in ("entry_price", "quantity")) or name == "leverage":
                    errors[name] = "must be a positive number"
            elif not (math.isfinite(value) and value > 0):
                errors[name] = "must be a positive number"
            elif value > MAX_NUMBER:
                errors[name] = f"must be at most {MAX_NUMBER:g}"
            elif value < MIN_NUMBER:
                errors[name] = f"must be at least {MIN_NUMBER:g}"
        if "leverage" not in errors and not 1 <= self.leverage <= MAX_LEVERAGE:
            errors["leverage"] = f"must be between 1 and {MAX_LEVERAGE:g}"
        for name in ("fees", "funding"):
            value = getattr(self, name)
            if value is None or not (math.isfinite(value) and abs(value) <= MAX_NUMBER):
                errors[name] = f"must be a number between -{MAX_NUMBER:g} and {MAX_NUMBER:g}"
        if len(self.notes or "") > NOTES_MAX:
            errors["notes"] = f"at most {NOTES_MAX:,} characters"
        latest = timezone.now() + timedelta(minutes=5)  # a clock a little ahead is no future
        for name in ("entry_time", "exit_time"):
            value = getattr(self, name)
            if value is not None and not EARLIEST <= value < LATEST:
                errors[name] = "must lie between 2000 and 2100"
            elif value is not None and value > latest:
                errors[name] = "cannot lie in the future"
        if errors:
            raise ValidationError(errors)  # the checks below need sound numbers and times
        if (self.exit_price is None) != (self.exit_time is None):
            errors["exit_time"] = "an exit needs both its price and its time"
        elif self.exit_time and self.entry_time and self.exit_time <= self.entry_time:
            errors["exit_time"] = "the exit must come after the entry"
        self.ticker = ticker = normalise(self.ticker or "")  # BTC-USD is stored as BTCUSDT
        if ticker and not Candle.objects.filter(symbol=ticker).exists():
            errors["ticker"] = f"no market data stored for {ticker}: unknown ticker"
        if self.signal_id and self.signal.symbol != ticker:
            errors["signal"] = f"signal #{self.signal_id} is for {self.signal.symbol}, not {ticker}"
        elif self.signal_id:
            errors |= self._signal_errors()
        if not errors.get("ticker"):
            errors |= self._price_errors()
        errors |= self._plan_errors()
        if errors:
            raise ValidationError(errors)

    def _signal_errors(self) -> dict[str, str]:
        """A link to a signal says the trade answered it: so the signal existed at the entry (it
        is made at its bar's close), it was a call (not neutral), and a skipped or missed call
        keeps the call's side."""
        signal = self.signal
        made = signal.open_time + timedelta(milliseconds=interval_ms(signal.interval))
        if signal.direction not in self.Side.values:
            return {"signal": f"signal #{signal.pk} is neutral: no call to follow or override"}
        if self.action == self.Action.EXECUTED and self.entry_time < made:
            return {
                "entry_time": f"signal #{signal.pk} was made at {made:%Y-%m-%d %H:%M} UTC, "
                "after this entry"
            }
        if self.action != self.Action.EXECUTED and self.side and self.side != signal.direction:
            return {"side": f"a {self.action} signal keeps its side ({signal.direction})"}
        return {}

    def _price_errors(self) -> dict[str, str]:
        """Each fill within the stored bar it happened in, where that bar is stored."""
        errors: dict[str, str] = {}
        if not self.ticker:
            return errors
        interval = self._interval()
        step = timedelta(milliseconds=interval_ms(interval))
        for price_name, time_name in (("entry_price", "entry_time"), ("exit_price", "exit_time")):
            price, when = getattr(self, price_name), getattr(self, time_name)
            if price is None or when is None:
                continue
            bar = (
                Candle.objects.filter(
                    symbol=self.ticker,
                    interval=interval,
                    open_time__gt=when - step,
                    open_time__lte=when,
                )
                .values_list("low", "high")
                .first()
            )
            if bar and not bar[0] * (1 - PRICE_SLACK) <= price <= bar[1] * (1 + PRICE_SLACK):
                errors[price_name] = (
                    f"{price:g} is outside the {interval} bar of {when:%Y-%m-%d %H:%M} UTC "
                    f"({bar[0]:g}-{bar[1]:g}): no fill happened there"
                )
        return errors

    def _plan_errors(self) -> dict[str, str]:
        """The idea's levels on their side's proper sides of the entry, a horizon of at most a
        month, odds that are three probabilities summing to one."""
        errors: dict[str, str] = {}
        levels = (self.stop_price, self.target_price)
        if all(v is None for v in (*levels, self.horizon_hours)) and not self.odds:
            return errors
        if None in levels or self.horizon_hours is None:
            errors["stop_price"] = "an idea needs its stop, its target and its horizon"
            return errors
        if not (1 <= self.horizon_hours <= 720):
            errors["horizon_hours"] = "must be between 1 and 720 hours"
        if not self.side or self.entry_price is None:
            errors["entry_price"] = "an idea's levels need the trade's side and entry price"
            return errors
        way = self.direction
        if not all(math.isfinite(v) and 0 < v <= MAX_NUMBER for v in levels):
            errors["stop_price"] = "must be a positive number"
        elif (self.stop_price - self.entry_price) * way >= 0:
            errors["stop_price"] = f"a {self.side}'s stop must be on the losing side of the entry"
        elif (self.target_price - self.entry_price) * way <= 0:
            errors["target_price"] = f"a {self.side}'s target must be on the winning side"
        if self.odds:
            values = [self.odds.get(k) for k in ("target", "stop", "neither")]
            numbers = all(isinstance(v, int | float) and 0 <= v <= 1 for v in values)
            if (
                set(self.odds) - {"target", "stop", "neither"}
                or not numbers
                or (abs(sum(values) - 1) > 1e-6)
            ):
                errors["odds"] = "target, stop and neither: probabilities that sum to 1"
        return errors

    def compute(self) -> None:
        """Fill the linked signal's grade, followed/overrode, PnL and MAE/MFE."""
        self.ticker = normalise(self.ticker)
        if self.signal_id:
            self.grade = self.signal.grade
            self.followed_signal = self.signal.direction == self.side if self.side else None
        else:
            self.grade, self.followed_signal = "", None
        if not self.side or self.entry_price is None or self.quantity is None:
            # Nothing to price: a skipped signal recorded with its reason only.
            self.pnl = self.return_on_margin = self.mae = self.mfe = None
            self.mae_pct = self.mfe_pct = None
            return
        interval = self._interval()
        candles = Candle.objects.filter(symbol=self.ticker, interval=interval)
        step = timedelta(milliseconds=interval_ms(interval))
        held = candles.filter(open_time__gt=self.entry_time - step)
        if self.exit_time:
            held = held.filter(open_time__lt=self.exit_time)
        highs_lows = list(held.values_list("high", "low"))
        highs = [h for h, _ in highs_lows]
        lows = [lo for _, lo in highs_lows]
        result = outcome(
            self.direction,
            self.entry_price,
            self.exit_price,
            self.quantity,
            self.leverage,
            self.fees,
            self.funding,
            np.asarray(highs),
            np.asarray(lows),
        )
        self.pnl, self.return_on_margin = result.pnl, result.return_on_margin
        self.mae, self.mfe = result.mae, result.mfe
        self.mae_pct, self.mfe_pct = result.mae_pct, result.mfe_pct
        self.touched = self._touched(candles, step)

    def _touched(self, candles, step: timedelta) -> str:
        """Which of the idea's levels the bars from the entry on touched first within its
        horizon (a bar touching both: the stop); blank with no idea or before it resolves."""
        if self.stop_price is None or self.target_price is None or not self.horizon_hours:
            return ""
        horizon = timedelta(hours=self.horizon_hours)
        bars = list(
            candles.filter(
                open_time__gte=self.entry_time - step + timedelta(microseconds=1),
                open_time__lt=self.entry_time + horizon,
            )
            .order_by("open_time")
            .values_list("high", "low", "open_time")
        )
        upper, lower = sorted((self.stop_price, self.target_price), reverse=True)
        # The same reading as the risk model's outcomes (a bar touching both: the stop): the
        # bars come after a placeholder row standing for the entry.
        highs = np.array([np.nan, *(high for high, _, _ in bars)])
        lows = np.array([np.nan, *(low for _, low, _ in bars)])
        (first,) = first_touch(highs, lows, [0], [upper], [lower], [self.direction], len(bars))
        if first in (TARGET, STOP):
            return "target" if first == TARGET else "stop"
        covered = bars and bars[-1][2] + step >= self.entry_time + horizon
        return "neither" if covered else ""

    def _interval(self) -> str:
        # The finest stored interval of the ticker gives the closest excursions.
        intervals = set(
            Candle.objects.filter(symbol=self.ticker)  # normalised by compute()
            .values_list("interval", flat=True)
            .distinct()
        )
        return min(intervals, key=interval_ms) if intervals else "1h"

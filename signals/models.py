"""Graded, explained signals, and the bars that got none (with the reason)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from analysis.intervals import interval_ms
from analysis.market import price_decimals
from analysis.quality import ms_to_datetime
from mlcore.models import ModelVersion
from mlcore.serving import Call, is_universe, trained_on


class SignalQuerySet(models.QuerySet):
    def graded(self) -> SignalQuerySet:
        """Directional predictions: what the trader is shown. Neutral ones are kept for the
        record (every bar's prediction is auditable) but are not signals."""
        return self.exclude(direction=Signal.Direction.NEUTRAL)


class LiveSignals(models.Manager.from_queryset(SignalQuerySet)):
    """The product's live signals: a simulation's are never mixed in (dashboard, API, journal,
    stream all read through here)."""

    def get_queryset(self) -> SignalQuerySet:
        return super().get_queryset().filter(simulation__isnull=True)


class Simulation(models.Model):
    """One run of ``manage.py simulate``: stored history replayed through the models the
    product would have had, retrained on its schedule (``signals.simulation``)."""

    class Status(models.TextChoices):
        RUNNING = "running"
        DONE = "done"
        ERROR = "error"

    name = models.SlugField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    interval = models.CharField(max_length=4)
    symbols = models.JSONField(default=list)
    start = models.DateTimeField()
    end = models.DateTimeField()
    retrain_every_hours = models.PositiveIntegerField()
    pooled = models.BooleanField(default=True)
    quick = models.BooleanField(default=False)
    force = models.BooleanField(default=False, help_text="serve models past failed gates")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    stage = models.CharField(max_length=60, blank=True)
    percent = models.FloatField(default=0.0)
    message = models.TextField(blank=True)
    timings = models.JSONField(default=dict, help_text="seconds per part of the simulation")
    report = models.JSONField(default=dict, help_text="the track record's evaluation")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"simulation {self.name} ({self.status})"

    def settings_dict(self) -> dict:
        """What the simulation was asked: resuming it under other settings is refused."""
        return {
            "interval": self.interval,
            "symbols": list(self.symbols),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "retrain_every_hours": self.retrain_every_hours,
            "pooled": self.pooled,
            "quick": self.quick,
            "force": self.force,
        }


class SimulationWindow(models.Model):
    """One period of a simulation between two retrainings: the model trained at its start
    (on data before it), the model that served it, and whether its calls are stored. A
    universe simulation has one per period (``symbol`` blank: every symbol); a per-symbol
    simulation one per period and symbol, each symbol's own model."""

    simulation = models.ForeignKey(Simulation, on_delete=models.CASCADE, related_name="windows")
    symbol = models.CharField(max_length=20, blank=True, help_text="blank: every symbol")
    start = models.DateTimeField()
    end = models.DateTimeField()
    trained = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    served_by = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    passed = models.BooleanField(default=False, help_text="the trained model passed its gates")
    labels_end = models.DateTimeField(
        null=True, blank=True, help_text="where the last label the model trained on ended"
    )
    candles_end = models.DateTimeField(
        null=True, blank=True, help_text="close of the last candle the training read"
    )
    rule = models.CharField(max_length=40, blank=True, help_text="simple rule chosen before it")
    message = models.TextField(blank=True)
    done = models.BooleanField(default=False, help_text="its calls are stored")
    figures = models.JSONField(default=dict)
    seconds = models.JSONField(default=dict)
    risk = models.JSONField(
        null=True,
        blank=True,
        help_text="the risk model fitted at its start (RiskModel.to_dict()); null: none could be",
    )

    class Meta:
        ordering = ["simulation", "start", "symbol"]
        constraints = [
            models.UniqueConstraint(
                fields=["simulation", "start", "symbol"], name="one_window_per_start_and_symbol"
            )
        ]

    def __str__(self) -> str:
        return f"{self.simulation.name} {self.start:%Y-%m-%d}" + (
            f" {self.symbol}" if self.symbol else ""
        )


class Signal(models.Model):
    class Direction(models.TextChoices):
        LONG = "long"
        SHORT = "short"
        NEUTRAL = "neutral"

    created_at = models.DateTimeField(auto_now_add=True)
    symbol = models.CharField(max_length=20)
    interval = models.CharField(max_length=4)
    open_time = models.DateTimeField(help_text="open time of the closed bar the signal is for")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="signals"
    )
    direction = models.CharField(max_length=7, choices=Direction.choices)
    grade = models.CharField(max_length=2, blank=True, help_text="A+, A, B, C; blank: neutral")
    confidence = models.FloatField(
        help_text="a call's probability of being a hit, net of the round trip (a neutral "
        "prediction's: its class probability)"
    )
    # The per-symbol models' class probabilities; a universe model predicts a score, not
    # classes, and leaves them empty.
    p_sell = models.FloatField(null=True, blank=True)
    p_neutral = models.FloatField(null=True, blank=True)
    p_buy = models.FloatField(null=True, blank=True)
    confirmations = models.JSONField(default=dict, help_text="name -> bool")
    regime = models.CharField(max_length=10, blank=True)
    entry_price = models.FloatField(help_text="the bar's close: the reference entry")
    stop_price = models.FloatField(null=True, blank=True)
    target_price = models.FloatField(null=True, blank=True)
    explanation = models.JSONField(default=dict, help_text="TreeSHAP of the XGBoost member")
    actionable = models.BooleanField(
        default=False,
        help_text="a directional call in a grade its model's out-of-sample evidence backs, "
        "from a model that passed its gates",
    )
    risk = models.JSONField(
        default=dict,
        blank=True,
        help_text="volatility, ranges and first-touch odds at the bar (mlcore.serving.risk)",
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    timings = models.JSONField(
        default=dict, help_text="seconds per stage of the inference that made it (and its start)"
    )
    simulation = models.ForeignKey(
        Simulation,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="signals",
        help_text="the simulation that made it (none: a live signal)",
    )

    objects = LiveSignals()
    everything = SignalQuerySet.as_manager()  # live and simulated

    class Meta:
        ordering = ["-open_time", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["symbol", "interval", "open_time", "model_version"],
                name="one_signal_per_bar_and_model",
            )
        ]
        indexes = [
            models.Index(fields=["symbol", "interval", "-open_time"]),
            # The signal list (newest graded live first) reads this instead of sorting the
            # table; neutral predictions (most rows) and simulated ones stay out of it. (With
            # the simulation filter outside the index, PostgreSQL sorted all rows: 30 ms a page.)
            models.Index(
                fields=["-open_time", "-id"],
                condition=~models.Q(direction="neutral") & models.Q(simulation__isnull=True),
                name="graded_live_newest_first",
            ),
        ]

    def __str__(self) -> str:
        when = f"{self.open_time:%Y-%m-%d %H:%M}"
        return f"{self.symbol} {self.interval} {when} {self.direction} {self.grade}".rstrip()

    @classmethod
    def from_call(
        cls, call: Call, model: ModelVersion, simulation: Simulation | None = None
    ) -> Signal:
        """The (unsaved) signal of a served call: the one way a call becomes a row, live and
        simulated."""
        p_sell, p_neutral, p_buy = call.probabilities or (None, None, None)
        return cls(
            symbol=call.symbol,
            interval=call.interval,
            open_time=ms_to_datetime(call.open_time),
            model_version=model,
            simulation=simulation,
            direction=DIRECTIONS[call.direction],
            grade=call.grade,
            confidence=call.confidence,
            p_sell=p_sell,
            p_neutral=p_neutral,
            p_buy=p_buy,
            confirmations=call.confirmations,
            regime=call.regime,
            entry_price=call.entry,
            stop_price=call.stop,
            target_price=call.target,
            explanation=call.explanation,
            actionable=call.actionable,
            timings=call.timings,
            risk=call.risk or {},
        )

    @property
    def universe(self) -> bool:
        """Made by the universe (pooled) model rather than the symbol's own."""
        return is_universe(self.model_version)

    @property
    def unseen(self) -> bool:
        """Made by a model that never trained on this symbol (a new listing)."""
        return not trained_on(self.model_version, self.symbol)

    @property
    def served_by(self) -> str:
        if not self.universe:
            return "own model"
        return "universe model" + (", never trained on this symbol" if self.unseen else "")

    @property
    def horizon_hours(self) -> float | None:
        """How far ahead the call is for: its model's label horizon (bars) in hours."""
        bars = (self.model_version.label_params or {}).get("horizon")
        return bars * interval_ms(self.interval) / 3_600_000 if bars else None

    @property
    def risk_day(self) -> dict | None:
        """The risk figures at the horizon nearest a day (the board's column), if any."""
        horizons = (self.risk or {}).get("horizons") or []
        day = 86_400_000 / interval_ms(self.interval)
        return min(horizons, key=lambda f: abs(f["h"] - day), default=None)

    @property
    def decimals(self) -> int:
        """Decimals its prices read at (a 0.0106 price needs 7, not 2)."""
        return price_decimals([self.entry_price])

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    def acknowledge(self) -> None:
        if self.acknowledged_at is None:
            self.acknowledged_at = timezone.now()
            self.save(update_fields=["acknowledged_at"])


DIRECTIONS = {-1: Signal.Direction.SHORT, 0: Signal.Direction.NEUTRAL, 1: Signal.Direction.LONG}


class NoSignal(models.Model):
    """A bar the live path refused to predict, and why (stale funding, a gap, no champion...).
    One row per series: the latest refusal, cleared when a signal lands."""

    updated_at = models.DateTimeField(auto_now=True)
    symbol = models.CharField(max_length=20)
    interval = models.CharField(max_length=4)
    open_time = models.DateTimeField(null=True, blank=True)
    reason = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["symbol", "interval"], name="one_refusal_per_series")
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.interval}: {self.reason}"

"""Records of the ML engine: backtests, trained model versions, training runs with their
progress and gates, evaluations, and the admin-editable grading thresholds."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from analysis.intervals import interval_ms
from mlcore.backtest.engine import Costs
from mlcore.pipeline.common.grading import (
    DEFAULT_CONFIRMATIONS,
    DEFAULT_PROMISES,
    GradeRule,
    GradingRules,
)


class BacktestRun(models.Model):
    """One backtest of one symbol: what was run, on what window and costs, and what came out
    (strategy metrics, the baselines beside it, the equity curve and the trades)."""

    created_at = models.DateTimeField(auto_now_add=True)
    symbol = models.CharField(max_length=20)
    interval = models.CharField(max_length=4)
    strategy = models.CharField(max_length=100)
    start = models.DateTimeField()
    end = models.DateTimeField()
    params = models.JSONField(default=dict, help_text="costs, margin, sizing, data window")
    metrics = models.JSONField(default=dict)
    baselines = models.JSONField(default=dict, help_text="baseline name -> metrics")
    comparison = models.JSONField(default=dict, help_text="Monte Carlo random-signal percentiles")
    curve = models.JSONField(
        default=list, help_text="[open_time ms, equity, drawdown], downsampled"
    )
    trades = models.JSONField(default=list)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        window = f"{self.start:%Y-%m-%d}..{self.end:%Y-%m-%d}"
        return f"{self.strategy} on {self.symbol} {self.interval} ({window})"


class ModelVersionQuerySet(models.QuerySet):
    def series(self, symbol: str, interval: str) -> ModelVersionQuerySet:
        return self.filter(symbol=symbol, interval=interval)

    def champions(self, symbol: str, interval: str) -> ModelVersionQuerySet:
        """The series' champion as a queryset (at most one row), for callers that annotate it."""
        return self.series(symbol, interval).filter(status=ModelVersion.Status.CHAMPION)

    def champion(self, symbol: str, interval: str) -> ModelVersion | None:
        return self.champions(symbol, interval).first()


class LiveModels(models.Manager.from_queryset(ModelVersionQuerySet)):
    """The product's own models: a simulation's (``signals.simulation``) are never among them,
    so no champion query, drift check or page can pick one up."""

    def get_queryset(self) -> ModelVersionQuerySet:
        return super().get_queryset().filter(simulation="")


class ModelVersion(models.Model):
    """A trained XGBoost + LSTM ensemble for one symbol and interval, with everything needed to
    judge it (gates, out-of-fold metrics) and to reproduce it (spec, window, data hash)."""

    class Status(models.TextChoices):
        CHAMPION = "champion"
        CHALLENGER = "challenger"
        RETIRED = "retired"

    class Kind(models.TextChoices):
        SYMBOL = "symbol", "one symbol's own model (XGBoost + LSTM)"
        UNIVERSE = "universe", "one model over every symbol (XGBoost + ridge)"

    created_at = models.DateTimeField(auto_now_add=True)
    # What the model is, said by a field (not read off its series name): the universe model's
    # series is named UNIVERSE so that champions and runs stay keyed by (symbol, interval).
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.SYMBOL)
    symbol = models.CharField(max_length=20)
    interval = models.CharField(max_length=4)
    version = models.CharField(max_length=60, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CHALLENGER)
    forced = models.BooleanField(default=False, help_text="promoted with --force past a gate")
    quick = models.BooleanField(default=False, help_text="trained with --quick (demo/test)")
    device = models.CharField(max_length=10, default="cpu")
    feature_spec_hash = models.CharField(max_length=16)
    feature_spec = models.JSONField(default=dict)
    train_start = models.DateTimeField(help_text="open time of the first bar trained on")
    train_end = models.DateTimeField(help_text="close time of the last bar trained on")
    embargo_bars = models.PositiveIntegerField()
    data_hash = models.CharField(max_length=64, help_text="sha256 of the candles and funding")
    label_params = models.JSONField(default=dict)
    config = models.JSONField(default=dict, help_text="training configuration")
    metrics = models.JSONField(default=dict, help_text="out-of-fold figures")
    gates = models.JSONField(default=list)
    artifact_path = models.CharField(max_length=500)
    mlflow_run_id = models.CharField(max_length=64, blank=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    simulation = models.CharField(
        max_length=40,
        blank=True,
        db_index=True,
        help_text="the simulation that trained it (blank: a model of the live product)",
    )

    objects = LiveModels()
    everything = ModelVersionQuerySet.as_manager()  # live and simulated

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["symbol", "interval"],
                condition=Q(status="champion"),
                name="one_champion_per_series",
            )
        ]

    def __str__(self) -> str:
        flags = "".join(
            f" [{f}]" for f, on in (("forced", self.forced), ("quick", self.quick)) if on
        )
        return f"{self.version} ({self.status}){flags}"

    @property
    def out_of_fold(self) -> dict:
        """Its walk-forward evaluation's figures (the one stored shape, either family)."""
        for evaluation in self.evaluations.all():  # prefetched by the lists that show it
            if evaluation.kind == Evaluation.Kind.WALK_FORWARD:
                return evaluation.figures
        return {}

    @property
    def evaluable_from(self) -> datetime:
        """The earliest bar an honest evaluation may start at: after training plus embargo."""
        step = interval_ms(self.interval)
        return self.train_end + timedelta(milliseconds=self.embargo_bars * step)

    def grading_rules(self) -> GradingRules:
        """The grade thresholds this model's evidence was judged under, frozen at training
        (an edit of ``GradingConfig`` applies to the next training); a model trained before
        they were recorded reads the current ones."""
        frozen = (self.config or {}).get("grading")
        return GradingRules.from_dict(frozen) if frozen else GradingConfig.current().rules()


class LiveRuns(models.Manager):
    """The product's own trainings: a simulation's (one per symbol and window) are never
    listed on /training or counted as the series' training in flight."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().filter(simulation="")


class AllRuns(models.Manager):
    """Every training, live and simulated (for the simulations and their tests)."""


class TrainingRun(models.Model):
    """One run of the gated training pipeline for one symbol, with its live progress."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        PASSED = "passed", "passed every gate"
        FORCED = "forced", "promoted with --force past a failed gate"
        FAILED = "failed", "stopped at a gate"
        ERROR = "error"

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    symbol = models.CharField(max_length=20)
    interval = models.CharField(max_length=4)
    options = models.JSONField(default=dict, help_text="until, quick, force")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=40, default="queued")
    percent = models.FloatField(default=0.0)
    gates = models.JSONField(default=list)
    message = models.TextField(blank=True)
    log = models.TextField(blank=True)
    timings = models.JSONField(default=dict, help_text="seconds per stage")
    model_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    simulation = models.CharField(
        max_length=40,
        blank=True,
        db_index=True,
        help_text="the simulation it trained a window's model for (blank: the live product's)",
    )

    objects = LiveRuns()
    everything = AllRuns()  # live and simulated

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One training per series at a time: a drift trigger, the weekly retrain and a
            # person at the CLI cannot start a second while one is queued or running. A
            # simulation's windows train side by side and never become champions.
            models.UniqueConstraint(
                fields=["symbol", "interval"],
                condition=Q(status__in=["queued", "running"], simulation=""),
                name="one_active_live_training_per_series",
            )
        ]

    def __str__(self) -> str:
        return f"training #{self.pk} {self.symbol} {self.interval}: {self.status}"

    @property
    def active(self) -> bool:
        return self.status in {self.Status.QUEUED, self.Status.RUNNING}


class Evaluation(models.Model):
    """Out-of-sample figures of a model version: its walk-forward at training time, or an
    ``evaluate`` run on a later window it never saw."""

    class Kind(models.TextChoices):
        WALK_FORWARD = "walk_forward", "walk-forward (out of fold)"
        HOLDOUT = "holdout", "held-out window"

    created_at = models.DateTimeField(auto_now_add=True)
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="evaluations"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    start = models.DateTimeField()
    end = models.DateTimeField()
    figures = models.JSONField(default=dict)
    backtests = models.JSONField(default=list, help_text="one per grade set, with curves")
    report_path = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.model_version.version}"


class GradingConfig(models.Model):
    """The grade thresholds, editable in the admin. One row (pk=1) is the live one. A grade's
    confidence is the out-of-sample hit rate it promises (a call's confidence is the
    probability that it is a hit, net of the round trip)."""

    updated_at = models.DateTimeField(auto_now=True)
    a_plus_confidence = models.FloatField(
        default=DEFAULT_PROMISES["A+"], help_text="promised hit rate, net of the round trip"
    )
    a_plus_confirmations = models.PositiveSmallIntegerField(default=DEFAULT_CONFIRMATIONS["A+"])
    a_plus_required = models.JSONField(default=list, blank=True, help_text="confirmation names")
    a_confidence = models.FloatField(default=DEFAULT_PROMISES["A"])
    a_confirmations = models.PositiveSmallIntegerField(default=DEFAULT_CONFIRMATIONS["A"])
    a_required = models.JSONField(default=list, blank=True)
    b_confidence = models.FloatField(default=DEFAULT_PROMISES["B"])
    b_confirmations = models.PositiveSmallIntegerField(default=DEFAULT_CONFIRMATIONS["B"])
    b_required = models.JSONField(default=list, blank=True)

    # What a hand trader pays: a hit is a call that beats this round trip (labels, grade
    # evidence, backtests, the risk check). Frozen with each model's evidence.
    class Entry(models.TextChoices):
        TAKER = "taker", "taker (market orders)"
        MAKER = "maker", "maker (a limit at the close)"

    entry = models.CharField(max_length=5, choices=Entry.choices, default=Entry.TAKER)
    taker_fee = models.FloatField(
        default=Costs.taker_fee, validators=[MinValueValidator(0), MaxValueValidator(0.01)]
    )
    maker_fee = models.FloatField(
        default=Costs.maker_fee, validators=[MinValueValidator(-0.001), MaxValueValidator(0.01)]
    )
    slippage_bps = models.FloatField(
        default=Costs.slippage_bps, validators=[MinValueValidator(0), MaxValueValidator(100)]
    )

    class Meta:
        verbose_name = "grading configuration"

    def __str__(self) -> str:
        return f"A+ >= {self.a_plus_confidence}, A >= {self.a_confidence}, B >= {self.b_confidence}"

    @classmethod
    def current(cls) -> GradingConfig:
        config, _ = cls.objects.get_or_create(pk=1)
        return config

    def costs(self) -> Costs:
        return Costs(
            taker_fee=self.taker_fee,
            maker_fee=self.maker_fee,
            as_maker=self.entry == self.Entry.MAKER,
            slippage_bps=self.slippage_bps,
        )

    def rules(self) -> GradingRules:
        """The pipeline's rules; a bad name or order raises ValueError (shown by the admin)."""
        return GradingRules(
            (
                GradeRule(
                    "A+",
                    self.a_plus_confidence,
                    self.a_plus_confirmations,
                    tuple(self.a_plus_required),
                ),
                GradeRule("A", self.a_confidence, self.a_confirmations, tuple(self.a_required)),
                GradeRule("B", self.b_confidence, self.b_confirmations, tuple(self.b_required)),
            )
        )

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if not self.a_plus_confidence >= self.a_confidence >= self.b_confidence:
            raise ValidationError("confidences must fall from A+ to A to B")
        try:
            self.rules()
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class DriftReport(models.Model):
    """One drift check of a model version: per-feature KS figures, accuracy now against its
    out-of-fold baseline, age, the triggers that fired and what was done about them."""

    created_at = models.DateTimeField(auto_now_add=True)
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="drift_reports"
    )
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    features = models.JSONField(
        default=list, help_text="name, statistic, p_value, p_adjusted, tau, drifted"
    )
    drifted = models.JSONField(default=list, help_text="drifted features, largest effect first")
    accuracy = models.FloatField(null=True, blank=True)
    outcomes = models.PositiveIntegerField(default=0)
    baseline_accuracy = models.FloatField(null=True, blank=True)
    age_days = models.FloatField()
    triggers = models.JSONField(default=list)
    thresholds = models.JSONField(default=dict)
    action = models.TextField(blank=True)
    training_run = models.ForeignKey(
        TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="caused_by"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        fired = ", ".join(self.triggers) or "no trigger"
        return f"drift of {self.model_version.version}: {fired}"


class RiskModel(models.Model):
    """A fitted risk model for one interval (``mlcore.pipeline.risk.model``): a volatility
    forecast and a first-touch calibrator per horizon, fitted on the stored bars of the symbols
    named up to ``train_end``. Small enough to live in the row. The newest of an interval
    serves every symbol of that interval, seen in training or not (its inputs are scale-free).
    """

    created_at = models.DateTimeField(auto_now_add=True)
    interval = models.CharField(max_length=4)
    version = models.CharField(max_length=80, unique=True)
    train_end = models.DateTimeField(help_text="no outcome after this was fitted on")
    symbols = models.JSONField(default=list)
    params = models.JSONField(help_text="RiskModel.to_dict(): forecasts and calibrators")
    report = models.JSONField(
        default=dict, blank=True, help_text="out-of-time evaluation, when one was held out"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.version

    @classmethod
    def current(cls, interval: str) -> RiskModel | None:
        return cls.objects.filter(interval=interval).first()

from __future__ import annotations

from django.contrib import admin

from mlcore.models import BacktestRun, Evaluation, GradingConfig, ModelVersion, TrainingRun


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by the pipeline: browsable, never edited by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BacktestRun)
class BacktestRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "symbol", "interval", "strategy", "start", "end"]
    list_filter = ["symbol", "strategy"]


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    list_display = ["version", "symbol", "interval", "status", "forced", "quick", "created_at"]
    list_filter = ["symbol", "interval", "status", "forced", "quick"]
    search_fields = ["version"]


@admin.register(TrainingRun)
class TrainingRunAdmin(ReadOnlyAdmin):
    list_display = ["id", "symbol", "interval", "status", "stage", "percent", "created_at"]
    list_filter = ["symbol", "status"]


@admin.register(Evaluation)
class EvaluationAdmin(ReadOnlyAdmin):
    list_display = ["id", "model_version", "kind", "start", "end", "created_at"]
    list_filter = ["kind"]


@admin.register(GradingConfig)
class GradingConfigAdmin(admin.ModelAdmin):
    """The grade thresholds live signals and evaluations use; validated on save."""

    list_display = ["__str__", "updated_at"]
    fieldsets = [
        ("A+", {"fields": ["a_plus_confidence", "a_plus_confirmations", "a_plus_required"]}),
        ("A", {"fields": ["a_confidence", "a_confirmations", "a_required"]}),
        (
            "B (anything directional below B is C)",
            {"fields": ["b_confidence", "b_confirmations", "b_required"]},
        ),
    ]

    def has_add_permission(self, request) -> bool:
        return not GradingConfig.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

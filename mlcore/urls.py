from __future__ import annotations

from django.urls import path

from mlcore import views

app_name = "mlcore"
urlpatterns = [
    path("backtests/", views.backtest_list, name="backtests"),
    path("backtests/<int:backtest_id>/", views.backtest_detail, name="backtest"),
    path("models/", views.models_list, name="models"),
    path("models/<int:model_id>/", views.model_detail, name="model"),
    path("training/", views.training_list, name="training"),
    path("training/<int:run_id>/", views.training_detail, name="training_run"),
]

from __future__ import annotations

from django.urls import path

from mlcore import views

app_name = "mlcore"
urlpatterns = [
    path("", views.backtest_list, name="backtests"),
    path("<int:backtest_id>/", views.backtest_detail, name="backtest"),
]

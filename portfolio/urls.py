from __future__ import annotations

from django.urls import path

from portfolio import views

app_name = "portfolio"
urlpatterns = [path("portfolio/", views.portfolio, name="portfolio")]

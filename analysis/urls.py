from __future__ import annotations

from django.urls import path

from analysis import views

app_name = "analysis"
urlpatterns = [
    path("market/", views.home, name="home"),
    path("analysis/<str:ticker>/", views.detail, name="detail"),
]

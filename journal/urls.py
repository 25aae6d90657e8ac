from __future__ import annotations

from django.urls import path

from journal import views

app_name = "journal"
urlpatterns = [path("journal/", views.journal, name="journal")]

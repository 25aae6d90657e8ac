from __future__ import annotations

from django.urls import path

from signals import idea_page, settings_page, simulation_views, views

app_name = "signals"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("signals/", views.dashboard, name="list"),
    path("signals/replay-step", views.replay_step, name="replay_step"),
    path("settings/", settings_page.settings_page, name="settings"),
    path("risk/", idea_page.idea, name="idea"),
    path("simulations/", simulation_views.simulations, name="simulations"),
    path("simulations/<int:simulation_id>/", simulation_views.simulation, name="simulation"),
    path("signals/<int:signal_id>/", views.dashboard, name="detail"),
    path("signals/<int:signal_id>/acknowledge", views.acknowledge, name="acknowledge"),
    path("signals/<int:signal_id>/interactions", views.interactions, name="interactions"),
]

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from tradingai.api import api, api_not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", api.urls),
    path("api/<path:rest>", api_not_found),
    path("", include("signals.urls")),
    path("", include("portfolio.urls")),
    path("", include("journal.urls")),
    path("", include("mlcore.urls")),
    path("", include("analysis.urls")),
]

handler500 = "tradingai.errors.server_error"

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from tradingai.api import api, api_not_found

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password_change/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("api/", api.urls),
    path("api/<path:rest>", api_not_found),
    path("", include("signals.urls")),
    path("", include("portfolio.urls")),
    path("", include("journal.urls")),
    path("", include("mlcore.urls")),
    path("", include("analysis.urls")),
]

# A password reset is a mail; without a mail server it only logged an SMTP traceback per POST,
# so its views exist only where EMAIL_HOST is set (staff reset passwords in the admin otherwise).
if settings.EMAIL_HOST:
    urlpatterns.insert(
        2, path("accounts/", include("django.contrib.auth.urls"))
    )  # the reset views; the ones above come first

handler500 = "tradingai.errors.server_error"

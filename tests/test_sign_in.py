"""Sign-in is throttled (django-axes: a user at an address is locked out after repeated
failures, with a clear page) and weak passwords are refused (Django's validators)."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("weak", ["1", "password", "12345678", "trader-1"])
def test_weak_passwords_are_refused(weak):
    user = User(username="trader-1")
    with pytest.raises(ValidationError):
        validate_password(weak, user)
    validate_password("a long and unusual pass phrase", user)


@pytest.mark.parametrize("login", ["/accounts/login/", "/admin/login/"])
def test_repeated_failed_sign_ins_lock_the_user_out_at_that_address(settings, login):
    User.objects.create_superuser("boss", "b@x.y", "correct horse battery staple")
    client = Client(REMOTE_ADDR="10.1.2.3")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        failed = client.post(login, {"username": "boss", "password": "guess"})
        assert failed.status_code == 200  # the form again, with its error
    last = client.post(login, {"username": "boss", "password": "guess"})
    assert last.status_code == 429  # the limit-th failure locks
    locked = client.post(login, {"username": "boss", "password": "correct horse battery staple"})
    assert locked.status_code == 429 and b"Signing in is paused" in locked.content
    # The same user from another address, and another user here, are not locked out.
    elsewhere = Client(REMOTE_ADDR="10.9.9.9")
    ok = elsewhere.post(login, {"username": "boss", "password": "correct horse battery staple"})
    assert ok.status_code == 302
    call_command("axes_reset", stdout=io.StringIO())
    again = client.post(login, {"username": "boss", "password": "correct horse battery staple"})
    assert again.status_code == 302

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from tests.embedded import EmbeddedSite, build_site


@pytest.fixture(scope="session")
def embedded_site(tmp_path_factory) -> EmbeddedSite:
    return build_site(tmp_path_factory.mktemp("embedded"))


@pytest.fixture
def fresh_rate_limits(settings) -> None:
    """The test's rate-limit counts start from zero (Redis outlives a test's rows)."""
    from tradingai.ratelimit import limiter

    limiter(settings.REDIS_URL or "").storage.reset()


@pytest.fixture
def key(db) -> str:
    """A new API key, as ``manage.py apikey create`` prints it."""
    out = io.StringIO()
    call_command("apikey", "create", "bot", stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()

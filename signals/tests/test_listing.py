"""GET /api/signals serves cached pages, and a stored or acknowledged signal retires them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from signals.tests.factories import signal_row

pytestmark = pytest.mark.django_db


def page(client: Client, query: str = "") -> dict:
    response = client.get(f"/api/signals?limit=50{query}")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["error"] is None and body["timestamp"]
    return body["data"]


def test_a_page_is_read_once_and_retired_by_a_new_or_acknowledged_signal(
    django_assert_num_queries,
):
    first = signal_row()
    client = Client()
    assert [s["id"] for s in page(client)["items"]] == [first.pk]
    with django_assert_num_queries(0):  # the same page again: from the cache
        assert page(client)["count"] == 1
    second = signal_row(
        open_time=datetime(2024, 5, 13, 1, tzinfo=UTC), grade="A", model_version=first.model_version
    )
    listed = page(client)
    assert listed["count"] == 2 and [s["id"] for s in listed["items"]] == [second.pk, first.pk]
    assert page(client, "&grade=A")["count"] == 1
    first.acknowledge()
    assert [s["acknowledged"] for s in page(client)["items"]] == [False, True]


def test_pages_keep_the_spec_path_and_the_trailing_slash():
    signal_row()
    client = Client()
    assert page(client) == client.get("/api/signals/?limit=50").json()["data"]
    assert client.get("/api/signals?ticker=BTC%20USD!").status_code == 404  # not a symbol
    assert client.get("/api/signals?ticker=BTC-USD").json()["data"]["count"] == 1  # BTCUSDT


@pytest.mark.django_db(transaction=True)
def test_the_generation_advances_on_save_and_again_on_commit():
    from django.db import transaction

    from signals.listing import generation

    before = generation()
    with transaction.atomic():
        signal_row()
        # Pages built now (other connections do not see the row yet) are retired on commit.
        assert generation() == before + 1
    assert generation() == before + 2


def test_a_cached_page_costs_one_cache_round_trip_and_no_query(django_assert_num_queries):
    from unittest import mock

    from signals import listing

    signal_row()
    client = Client()
    page(client)  # built and cached
    calls = []
    real = listing.cache
    spy = mock.Mock(wraps=real)
    for name in ("get", "get_many", "set", "add", "incr", "delete"):
        method = getattr(real, name)

        def counted(*args, _name=name, _method=method, **kwargs):
            calls.append(_name)
            return _method(*args, **kwargs)

        setattr(spy, name, counted)
    with mock.patch.object(listing, "cache", spy), django_assert_num_queries(0):
        assert page(client)["count"] == 1
    assert calls == ["get_many"]


def test_while_one_request_rebuilds_a_page_the_others_get_the_page_it_replaces():
    from signals.listing import cache, generation

    first = signal_row()
    client = Client()
    assert page(client)["count"] == 1
    signal_row(open_time=datetime(2024, 5, 13, 1, tzinfo=UTC), model_version=first.model_version)
    building = f"signals:list:*:*:*:50:0:building:{generation()}"
    cache.add(building, 1, 5)  # another request is building the new page
    assert page(client)["count"] == 1  # meanwhile: the page it replaces, not a second query
    cache.delete(building)
    assert page(client)["count"] == 2  # the next request builds it


def test_an_offset_beyond_any_list_is_a_422_naming_it():
    response = Client().get(f"/api/signals?offset={10**30}")
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["loc"][-1] == "offset"
    assert Client().get("/api/signals?offset=10000000").status_code == 200

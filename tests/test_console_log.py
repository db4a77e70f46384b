"""Issue 21: one log across all webhooks, filtered like a webhook's, with search by the beginning
of an event id and time presets, by keyset pages; and the index that serves each filter."""

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from tests.test_console_health import text
from tests.test_console_views import add_delivery, client_for, make_user
from webhooks_app import health
from webhooks_app.models import Delivery

LOG = reverse("webhooks_app:delivery-log")


@pytest.fixture
def console(db):
    return client_for(make_user("staff"))


@pytest.fixture
def two(make_webhook):
    crm = make_webhook("https://crm.example.com/in", name="CRM")
    erp = make_webhook("https://erp.example.com/in", name="ERP")
    return crm, erp


def rows(html: str) -> list[int]:
    import re

    return [int(pk) for pk in re.findall(r'data-delivery-row="(\d+)"', html)]


def test_the_log_lists_every_webhooks_deliveries_newest_first(console, two):
    crm, erp = two
    old = add_delivery(crm, status=Delivery.Status.SUCCEEDED, created_at=timezone.now() - timedelta(hours=3))
    new = add_delivery(erp, status=Delivery.Status.FAILED)
    response = console.get(LOG)
    assert response.status_code == 200
    html = response.content.decode()
    assert rows(html) == [new.pk, old.pk]
    assert "CRM" in text(html) and "ERP" in text(html)
    # Reached from Webhook Settings' sub-navigation.
    listing = console.get(reverse("webhooks_app:webhook-list")).content.decode()
    assert f'href="{LOG}"' in listing


def test_filters_webhook_status_type_and_event_id_prefix(console, two):
    crm, erp = two
    a = add_delivery(crm, status=Delivery.Status.FAILED, event_type="contact.created")
    b = add_delivery(erp, status=Delivery.Status.SUCCEEDED, event_type="contact.updated")
    c = add_delivery(erp, status=Delivery.Status.FAILED, event_type="contact.updated")
    assert rows(console.get(LOG, {"webhook": erp.pk}).content.decode()) == [c.pk, b.pk]
    assert rows(console.get(LOG, {"status": "failed"}).content.decode()) == [c.pk, a.pk]
    assert rows(console.get(LOG, {"event_type": "contact.created"}).content.decode()) == [a.pk]
    prefix = b.event_id[:10]
    assert rows(console.get(LOG, {"event_id": prefix}).content.decode()) == [b.pk]
    assert rows(console.get(LOG, {"event_id": b.event_id}).content.decode()) == [b.pk]
    assert rows(console.get(LOG, {"event_id": "evt_nothing"}).content.decode()) == []


def test_time_presets(console, two):
    crm, _ = two
    now = timezone.now()
    recent = add_delivery(crm, created_at=now - timedelta(minutes=10))
    today = add_delivery(crm, created_at=now - timedelta(hours=5))
    week = add_delivery(crm, created_at=now - timedelta(days=3))
    add_delivery(crm, created_at=now - timedelta(days=9))
    assert rows(console.get(LOG, {"period": "1h"}).content.decode()) == [recent.pk]
    assert rows(console.get(LOG, {"period": "24h"}).content.decode()) == [recent.pk, today.pk]
    html = console.get(LOG, {"period": "7d"}).content.decode()
    assert rows(html) == [recent.pk, today.pk, week.pk]
    assert 'aria-current="true">Last 7 days' in html


def test_keyset_pages_keep_the_filters(console, two):
    crm, erp = two
    made = [
        add_delivery(erp if i % 2 else crm, created_at=timezone.now() - timedelta(minutes=i))
        for i in range(60)
    ]
    expected = [d.pk for d in made if d.webhook_id == erp.pk]
    first = console.get(LOG, {"webhook": erp.pk}).content.decode()
    assert rows(first) == expected[:25]
    import re

    older = re.search(r'href="\?([^"]*older=[^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert f"webhook={erp.pk}" in older
    second = console.get(LOG + "?" + older).content.decode()
    assert rows(second) == expected[25:30]


def test_a_refused_filter_answers_400_and_is_ignored(console, two):
    crm, _ = two
    delivery = add_delivery(crm)
    response = console.get(LOG, {"status": "nonsense", "event_id": "x" * 50})
    assert response.status_code == 400
    assert rows(response.content.decode()) == [delivery.pk]


def test_the_log_needs_the_delivery_permissions(db, two):
    client = client_for(make_user("viewer", perms=["view_webhook"]))
    assert client.get(LOG).status_code == 403
    assert f'href="{LOG}"' not in client.get(reverse("webhooks_app:webhook-list")).content.decode()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plans of PostgreSQL")
@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({}, "wh_deliv_created_idx"),
        ({"status": "failed"}, "Index Only Scan using wh_deliv_status_created_idx"),
        ({"event_type": "contact.updated"}, "Index Only Scan using wh_deliv_type_created_idx"),
        ({"status": "failed", "event_type": "contact.updated"}, "Index Only Scan using wh_deliv_"),
        ({"webhook_id": 1}, "wh_deliv_webhook_created_idx"),
        ({"event_id_prefix": "evt_ab"}, "event_id"),
    ],
)
def test_each_filter_is_served_by_an_index(db, filters, index):
    """A page of the log is read from an index (the keys, then the rows of the page); the
    timings at 1M deliveries are in the commit that added the indexes (migration 0008)."""
    qs = health.deliveries_log(**filters)[:26]
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_bitmapscan = off")
        try:
            plan = qs.explain()
        finally:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_bitmapscan")
    assert index in plan, plan

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


@pytest.mark.skipif(connection.vendor != "postgresql", reason="INCLUDE columns are PostgreSQL's")
def test_the_logs_indexes_carry_the_other_filter_on_postgresql(db):
    """The indexes that serve the log filtered by status or event type (migration 0008), in the
    log's order, with the other filter and the webhook as non-key columns: a page is read from
    the index alone (the timings at 1M deliveries are in the commit that added them)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [Delivery._meta.db_table]
        )
        found = dict(cursor.fetchall())
    assert (
        "(status, created_at DESC, id DESC) INCLUDE (event_type, webhook_id)"
        in found["wh_deliv_status_created_idx"]
    )
    assert (
        "(event_type, created_at DESC, id DESC) INCLUDE (status, webhook_id)"
        in found["wh_deliv_type_created_idx"]
    )
    # An event id prefix (LIKE 'evt_3f%') is served by the pattern index Django adds to the
    # event foreign key (a key of text) on PostgreSQL.
    assert any("varchar_pattern_ops" in d and "(event_id" in d for d in found.values()), found


def test_the_log_reads_a_page_by_key_then_its_rows(db, two, django_assert_num_queries):
    crm, erp = two
    for _ in range(3):
        add_delivery(crm)
        add_delivery(erp)
    from webhooks_app import selectors

    with django_assert_num_queries(3):  # the keys, the rows, the webhooks' names
        page = selectors.delivery_page(queryset=health.deliveries_log(status="failed"), size=25)
        rows = health.deliveries_log_fill(page.rows)
    assert len(rows) == 6 and {r.webhook_name for r in rows} == {"CRM", "ERP"}
    assert all(r.state.code == "failed" for r in rows)

"""Insight: deliveries per bucket by outcome, success rate and p50/p95, from the rollup; the keyset log."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.test import TestCase
from django.urls import reverse

from tests.test_api_support import PUBLIC_URL, make_delivery
from webhooks_app import emit, selectors
from webhooks_app.models import Delivery, DeliveryStatsHour

pytest_plugins = ["tests.test_api_support"]
pytestmark = pytest.mark.django_db

S, F, P = Delivery.Status.SUCCEEDED, Delivery.Status.FAILED, Delivery.Status.PENDING


def finished_hours() -> int:
    """Hours of the 24h window already stored: 23, or 22 in the first minutes of an hour
    (the previous one is not settled yet)."""
    now = datetime.now(UTC)
    return 23 if now - now.replace(minute=0, second=0, microsecond=0) >= selectors.INSIGHT_SETTLE else 22


def delivery(webhook, status, *, age=timedelta(0), ms=None):
    d = make_delivery(webhook, status=status, age=age, attempts=0 if status == P else 1)
    Delivery.objects.filter(pk=d.pk).update(last_duration_ms=ms)
    return d


@pytest.fixture
def known(public_webhook):
    """Now: 3 succeeded (10, 20, 100 ms), 1 failed (200 ms), 1 pending; 3 hours ago: 2 succeeded (50 ms)."""
    for ms in (10, 20, 100):
        delivery(public_webhook, S, ms=ms)
    delivery(public_webhook, F, ms=200)
    delivery(public_webhook, P)
    for _ in range(2):
        delivery(public_webhook, S, age=timedelta(hours=3), ms=50)
    return public_webhook


def test_api_stats_of_known_deliveries(admin_api, known):
    body = admin_api.get(f"/api/webhooks/{known.pk}/stats/").json()
    assert body["period"] == "24h" and len(body["buckets"]) == 24
    assert set(body) == {"period", "buckets", "success_rate", "latency_ms"}
    assert set(body["buckets"][0]) == {"start", "succeeded", "failed", "pending"}
    last = body["buckets"][-1]
    assert (last["succeeded"], last["failed"], last["pending"]) == (3, 1, 1)
    now_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    assert last["start"] == now_hour.isoformat().replace("+00:00", "Z")
    three_ago = [b for b in body["buckets"] if b["succeeded"] == 2]
    assert len(three_ago) == 1 and three_ago[0]["failed"] == three_ago[0]["pending"] == 0
    assert sum(b["succeeded"] + b["failed"] + b["pending"] for b in body["buckets"]) == 7
    assert body["success_rate"] == pytest.approx(5 / 6)
    # finished: 10, 20, 50, 50, 100, 200 -> p50 is the 3rd (50), p95 the 6th (200)
    assert body["latency_ms"] == {"p50": 50, "p95": 200}


def test_api_stats_7d_has_6_hour_buckets(admin_api, known):
    delivery(known, F, age=timedelta(days=3), ms=30)
    delivery(known, S, age=timedelta(days=9), ms=30)  # outside the week
    body = admin_api.get(f"/api/webhooks/{known.pk}/stats/", {"period": "7d"}).json()
    assert body["period"] == "7d" and len(body["buckets"]) == 28
    starts = [datetime.fromisoformat(b["start"]) for b in body["buckets"]]
    assert all(b - a == timedelta(hours=6) for a, b in itertools.pairwise(starts))
    assert all(s.hour % 6 == 0 for s in starts)
    assert sum(b["failed"] for b in body["buckets"]) == 2
    assert sum(b["succeeded"] for b in body["buckets"]) == 5


def test_api_stats_validates_and_needs_the_deliveries_permission(
    admin_api, known, token_client_for, make_api_user
):
    assert admin_api.get(f"/api/webhooks/{known.pk}/stats/", {"period": "1y"}).status_code == 400
    assert admin_api.get("/api/webhooks/999999/stats/").status_code == 404
    viewer = token_client_for(make_api_user("webhooks_app.view_webhook"))
    assert viewer.get(f"/api/webhooks/{known.pk}/stats/").status_code == 403


def test_an_empty_webhook_has_zero_buckets_and_no_rates(admin_api, public_webhook):
    body = admin_api.get(f"/api/webhooks/{public_webhook.pk}/stats/").json()
    assert all(b["succeeded"] == b["failed"] == b["pending"] == 0 for b in body["buckets"])
    assert body["success_rate"] is None and body["latency_ms"] == {"p50": None, "p95": None}


def test_finished_hours_are_counted_once_then_read_from_the_rollup(known):
    first = selectors.webhook_insight(webhook=known)
    stored = DeliveryStatsHour.objects.filter(webhook=known)
    # 23 finished hours (the one with 2 deliveries among them); the current hour is still open.
    assert stored.count() == finished_hours()
    three_ago = stored.get(succeeded=2)
    assert three_ago.failed == 0 and three_ago.latency == {str(selectors.LATENCY_BOUNDS_MS.index(50)): 2}
    # The stored hour is not counted again: its rows could even be gone (a purge).
    Delivery.objects.filter(webhook=known, created_at__lt=datetime.now(UTC) - timedelta(hours=2)).delete()
    again = selectors.webhook_insight(webhook=known)
    assert [b.succeeded for b in again.buckets] == [b.succeeded for b in first.buckets]


def test_rollup_rows_no_period_reaches_are_deleted(public_webhook):
    from webhooks_app.models import DeliveryStatsHour as Hour

    Hour.objects.create(webhook=public_webhook, hour=datetime.now(UTC) - timedelta(days=9))
    selectors.webhook_insight(webhook=public_webhook)
    assert not Hour.objects.filter(hour__lt=datetime.now(UTC) - timedelta(days=8)).exists()
    assert Hour.objects.filter(webhook=public_webhook).count() == finished_hours()


def test_an_hour_with_a_pending_delivery_stays_open(public_webhook):
    pending = delivery(public_webhook, P, age=timedelta(hours=5))
    selectors.webhook_insight(webhook=public_webhook)
    hour = pending.created_at.replace(minute=0, second=0, microsecond=0)
    assert not DeliveryStatsHour.objects.filter(webhook=public_webhook, hour=hour).exists()
    Delivery.objects.filter(pk=pending.pk).update(status=S, last_duration_ms=12)
    insight = selectors.webhook_insight(webhook=public_webhook)
    assert insight.succeeded == 1 and insight.pending == 0
    assert DeliveryStatsHour.objects.get(webhook=public_webhook, hour=hour).succeeded == 1


def test_through_the_engine_with_a_real_receiver(make_webhook, receiver, admin_api):
    webhook = make_webhook(receiver.url)
    for i in range(3):
        with TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
            emit("contact.updated", data={"id": i})
    receiver.wait_for(3)
    body = admin_api.get(f"/api/webhooks/{webhook.pk}/stats/").json()
    assert body["buckets"][-1]["succeeded"] == 3 and body["success_rate"] == 1.0
    assert body["latency_ms"]["p50"] is not None
    listed = admin_api.get("/api/webhooks/").json()["results"][0]
    assert listed["success_rate_24h"] == 1.0


# The lists' 24-hour figures and sparklines ----------------------------------------------------


def test_list_figures_come_from_the_same_selector(admin_api, admin_client, known):
    listed = admin_api.get("/api/webhooks/").json()["results"][0]
    assert listed["success_rate_24h"] == pytest.approx(5 / 6)
    page = admin_client.get(reverse("webhooks_app:webhook-list")).content.decode()
    assert "data-sparkline" in page
    assert "In the last 24 hours: 5 succeeded, 1 failed, 1 pending; success rate 83.3%" in page
    assert "5 of 6 delivered" in page


def test_console_chart_shows_the_numbers_and_a_table(admin_client, known):
    page = admin_client.get(reverse("webhooks_app:webhook-update", args=[known.pk])).content.decode()
    assert 'data-insight data-period="24h"' in page
    assert "data-success-rate>83.3%" in page
    assert 'data-latency="p50">50 ms' in page and 'data-latency="p95">200 ms' in page
    assert page.count('data-series="failed"') == 1 and page.count('data-series="pending"') == 1
    assert "Show as a table" in page
    week = admin_client.get(reverse("webhooks_app:webhook-update", args=[known.pk]), {"period": "7d"})
    assert 'data-period="7d"' in week.content.decode()


# The Deliveries log: newer / older by keyset -------------------------------------------------


def test_console_log_pages_by_keyset(admin_client, public_webhook):
    made = [delivery(public_webhook, S if i % 2 else F, age=timedelta(minutes=60 - i)) for i in range(60)]
    newest_first = [d.pk for d in reversed(made)]
    url = reverse("webhooks_app:webhook-deliveries", args=[public_webhook.pk])

    def rows(response):
        return [d.pk for d in response.context["page"].rows]

    first = admin_client.get(url)
    assert rows(first) == newest_first[:25] and first.context["page"].newer is None
    second = admin_client.get(url, {"older": first.context["page"].older})
    assert rows(second) == newest_first[25:50]
    third = admin_client.get(url, {"older": second.context["page"].older})
    assert rows(third) == newest_first[50:] and third.context["page"].older is None
    back = admin_client.get(url, {"newer": third.context["page"].newer})
    assert rows(back) == newest_first[25:50]
    assert rows(admin_client.get(url, {"newer": back.context["page"].newer})) == newest_first[:25]

    failed = admin_client.get(url, {"status": "failed"})
    assert rows(failed) == [pk for pk in newest_first if Delivery.objects.get(pk=pk).status == F][:25]
    html = failed.content.decode()
    assert f"status=failed&amp;older={failed.context['page'].older}" in html
    assert rows(admin_client.get(url, {"older": "garbage"})) == newest_first[:25]


def test_keyset_ties_on_created_at_are_ordered_by_id(public_webhook):
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    made = [delivery(public_webhook, S) for _ in range(5)]
    Delivery.objects.filter(pk__in=[d.pk for d in made]).update(created_at=moment)
    qs = selectors.delivery_list(webhook=public_webhook)
    page1 = selectors.delivery_page(queryset=qs, size=2)
    page2 = selectors.delivery_page(queryset=qs, size=2, older=page1.older)
    page3 = selectors.delivery_page(queryset=qs, size=2, older=page2.older)
    seen = [d.pk for p in (page1, page2, page3) for d in p.rows]
    assert seen == sorted((d.pk for d in made), reverse=True) and page3.older is None


def test_webhook_list_with_an_unrelated_public_url(make_webhook, admin_api):
    make_webhook(PUBLIC_URL, name="Other")
    assert admin_api.get("/api/webhooks/").json()["results"][0]["success_rate_24h"] is None

"""REST API: a webhook's delivery log (filters, cursor pages, query counts), delivery detail, redeliver."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.test_api_support import PUBLIC_URL, make_delivery
from webhooks_app.models import Attempt, Delivery, Event, Webhook

pytest_plugins = ["tests.test_api_support"]
pytestmark = pytest.mark.django_db


def log_url(webhook) -> str:
    return f"/api/webhooks/{webhook.pk}/deliveries/"


def bulk_deliveries(webhook, count: int, *, status=Delivery.Status.SUCCEEDED, event_type="contact.created"):
    """Many deliveries, one second apart, newest last, with a large event body each."""
    event = Event.objects.create(event_type=event_type, data={"blob": "x" * 5000})
    now = timezone.now()
    rows = Delivery.objects.bulk_create(
        Delivery(webhook=webhook, event=event, event_type=event_type, status=status) for _ in range(count)
    )
    for i, row in enumerate(rows):
        row.created_at = now - timedelta(seconds=count - i)
    Delivery.objects.bulk_update(rows, ["created_at"])
    return rows


# The log ------------------------------------------------------------------------------


def test_log_lists_newest_first_without_event_bodies(admin_api, public_webhook):
    older = make_delivery(public_webhook, age=timedelta(minutes=5))
    newer = make_delivery(public_webhook, status=Delivery.Status.FAILED, attempts=3)

    response = admin_api.get(log_url(public_webhook))

    assert response.status_code == 200
    body = response.json()
    assert [d["id"] for d in body["results"]] == [newer.pk, older.pk]
    first = body["results"][0]
    assert first == {
        "id": newer.pk,
        "webhook": public_webhook.pk,
        "event_id": newer.event_id,
        "event_type": "contact.created",
        "url": "",
        "status": "failed",
        "state": {"state": "failed", "attempt": None, "attempts_max": None, "next_attempt_at": None},
        "redelivery_of": None,
        "attempt_count": 3,
        "next_attempt_at": None,
        "last_response_status": 500,
        "last_error": "",
        "last_duration_ms": None,
        "created_at": first["created_at"],
        "updated_at": first["updated_at"],
        "completed_at": None,
    }
    assert body["next"] is None and body["previous"] is None
    assert "count" not in body  # a cursor page never counts the table


def test_log_filters(admin_api, public_webhook, make_webhook):
    other = make_webhook(PUBLIC_URL, name="Other")
    make_delivery(other)
    ok_created = make_delivery(public_webhook, age=timedelta(hours=3))
    failed_updated = make_delivery(
        public_webhook, status=Delivery.Status.FAILED, event_type="contact.updated", age=timedelta(hours=2)
    )
    pending_created = make_delivery(public_webhook, status=Delivery.Status.PENDING, age=timedelta(hours=1))

    def ids(**params):
        response = admin_api.get(log_url(public_webhook), params)
        assert response.status_code == 200, response.json()
        return [d["id"] for d in response.json()["results"]]

    assert ids() == [pending_created.pk, failed_updated.pk, ok_created.pk]
    assert ids(status="failed") == [failed_updated.pk]
    assert ids(event_type="contact.created") == [pending_created.pk, ok_created.pk]
    assert ids(event_type="contact.created", status="succeeded") == [ok_created.pk]
    two_and_a_half_hours_ago = (timezone.now() - timedelta(hours=2, minutes=30)).isoformat()
    ninety_minutes_ago = (timezone.now() - timedelta(minutes=90)).isoformat()
    assert ids(created_after=two_and_a_half_hours_ago) == [pending_created.pk, failed_updated.pk]
    assert ids(created_before=two_and_a_half_hours_ago) == [ok_created.pk]
    assert ids(created_after=two_and_a_half_hours_ago, created_before=ninety_minutes_ago) == [
        failed_updated.pk
    ]
    assert ids(event_type="invoice.paid") == []


@pytest.mark.parametrize(
    "params",
    [
        {"status": "exploded"},
        {"created_after": "last tuesday"},
        {"created_before": "2024-13-45"},
        {"event_type": "x" * 101},
        {"event_type": "nul\x00"},
    ],
)
def test_log_refuses_bad_filters(admin_api, public_webhook, params):
    response = admin_api.get(log_url(public_webhook), params)

    assert response.status_code == 400
    assert set(response.json()) == set(params)


def test_log_of_unknown_webhook_or_bad_cursor_is_404(admin_api, public_webhook):
    assert admin_api.get("/api/webhooks/424242/deliveries/").status_code == 404
    assert admin_api.get(log_url(public_webhook), {"cursor": "garbage"}).status_code == 404


def test_cursor_pages_walk_the_whole_log_once(admin_api, public_webhook):
    rows = bulk_deliveries(public_webhook, 25)
    seen, url = [], log_url(public_webhook) + "?page_size=10"
    while url:
        page = admin_api.get(url).json()
        seen += [d["id"] for d in page["results"]]
        url = page["next"]

    assert seen == [r.pk for r in reversed(rows)]


def test_cursor_pages_are_stable_when_timestamps_tie(admin_api, public_webhook):
    rows = bulk_deliveries(public_webhook, 7)
    Delivery.objects.filter(pk__in=[r.pk for r in rows]).update(created_at=timezone.now())
    seen, url = [], log_url(public_webhook) + "?page_size=3"
    while url:
        page = admin_api.get(url).json()
        seen += [d["id"] for d in page["results"]]
        url = page["next"]

    assert seen == sorted((r.pk for r in rows), reverse=True)


@pytest.fixture
def reader(make_api_user, token_client_for):
    """A user with exactly the read permissions (a superuser would skip the permission queries)."""
    return token_client_for(make_api_user("webhooks_app.view_webhook", "webhooks_app.view_delivery"))


def test_log_query_count_does_not_grow_with_the_log(reader, public_webhook, django_assert_max_num_queries):
    bulk_deliveries(public_webhook, 120, status=Delivery.Status.FAILED)
    bulk_deliveries(public_webhook, 80)

    # token + user permissions + group permissions + the webhook + one page
    with django_assert_max_num_queries(5) as captured:
        response = reader.get(log_url(public_webhook), {"status": "failed", "page_size": 100})
    assert response.status_code == 200 and len(response.json()["results"]) == 100
    log_sql = [q["sql"] for q in captured.captured_queries if "webhooks_app_delivery" in q["sql"]]
    assert len(log_sql) == 1
    assert "COUNT(" not in log_sql[0].upper() and "webhooks_app_event" not in log_sql[0]
    assert "LIMIT 101" in log_sql[0]  # one page (plus one row to know there is a next page)

    with django_assert_max_num_queries(5):
        assert len(reader.get(response.json()["next"]).json()["results"]) == 20


# Webhook list query counts -----------------------------------------------------------------


def test_webhook_list_query_count_is_constant(
    reader, make_webhook, api_superuser, django_assert_max_num_queries
):
    for i in range(40):
        webhook = make_webhook(PUBLIC_URL, name=f"Hook {i:02}")
        Webhook.objects.filter(pk=webhook.pk).update(created_by=api_superuser, updated_by=api_superuser)
        bulk_deliveries(webhook, 3)
        bulk_deliveries(webhook, 1, status=Delivery.Status.FAILED)

    # The first read of the page counts the finished hours once into the hourly rollup
    # (selectors.webhooks_insight); later reads only read it.
    assert reader.get("/api/webhooks/", {"page_size": 100}).status_code == 200
    # token + user permissions + group permissions + count + one page with the last
    # delivery and users + the page's rollup rows + its open hours, counted live + the
    # page's health (webhooks_app.health: one query) + the last delivery of each
    with django_assert_max_num_queries(9) as captured:
        response = reader.get("/api/webhooks/", {"page_size": 100})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [w["name"] for w in results] == [f"Hook {i:02}" for i in range(40)]
    assert all(w["success_rate_24h"] == 0.75 and w["created_by"] == "root" for w in results)
    assert all(w["last_delivery_status"] == "failed" for w in results)
    (count_sql,) = [q["sql"] for q in captured.captured_queries if "COUNT(*)" in q["sql"].upper()]
    assert "webhooks_app_delivery" not in count_sql  # counting webhooks never touches the log


# Delivery detail and redeliver -------------------------------------------------------------


def test_delivery_detail_has_the_event_and_every_attempt(
    admin_api, public_webhook, django_assert_max_num_queries
):
    delivery = make_delivery(public_webhook, status=Delivery.Status.SUCCEEDED, attempts=3, data={"id": 7})

    with django_assert_max_num_queries(5):
        response = admin_api.get(f"/api/deliveries/{delivery.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == delivery.pk and body["status"] == "succeeded"
    assert body["event"]["id"] == delivery.event_id and body["event"]["data"] == {"id": 7}
    assert body["event"]["event_type"] == "contact.created" and "event_time" in body["event"]
    assert [a["number"] for a in body["attempts"]] == [1, 2, 3]
    assert [a["succeeded"] for a in body["attempts"]] == [False, False, True]
    first = body["attempts"][0]
    assert first["response_status"] == 500 and first["error_class"] == Attempt.ErrorClass.HTTP_STATUS
    assert first["request_headers"]["webhook-signature"] == "[redacted]"
    assert first["response_body"] == "boom" and first["duration_ms"] == 12


def test_unknown_delivery_is_404(admin_api):
    assert admin_api.get("/api/deliveries/123456/").status_code == 404
    assert admin_api.post("/api/deliveries/123456/redeliver/").status_code == 404
    assert admin_api.get("/api/deliveries/99999999999999999999999/").status_code == 404


def test_redeliver_makes_a_new_pending_delivery_of_the_same_event(admin_api, public_webhook):
    failed = make_delivery(public_webhook, status=Delivery.Status.FAILED, attempts=6)

    response = admin_api.post(f"/api/deliveries/{failed.pk}/redeliver/")

    assert response.status_code == 201, response.json()
    body = response.json()
    new = Delivery.objects.get(pk=body["id"])
    assert new.pk != failed.pk and new.event_id == failed.event_id and new.webhook_id == public_webhook.pk
    assert body["status"] == "pending" and body["attempt_count"] == 0
    failed.refresh_from_db()
    assert failed.status == Delivery.Status.FAILED


def test_a_pending_delivery_cannot_be_redelivered(admin_api, public_webhook):
    """As in the console: the rule is services.delivery_redeliver's; the API answers 409."""
    pending = make_delivery(public_webhook, status=Delivery.Status.PENDING, attempts=1)

    response = admin_api.post(f"/api/deliveries/{pending.pk}/redeliver/")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "This delivery is still being attempted; redeliver it once it has finished."
    }
    assert Delivery.objects.count() == 1


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"created_before": "0299-03-21T12:17:43.403+19:01"}, 200),  # beyond PostgreSQL's offsets
        ({"created_after": "2026-01-01T00:00:00-23:59"}, 200),
        ({"created_after": "0001-01-01T00:00:00+05:00"}, 400),  # before year 1 in UTC
    ],
)
def test_log_moments_with_any_offset_never_reach_the_database_unconverted(
    admin_api, public_webhook, params, status
):
    response = admin_api.get(log_url(public_webhook), params)

    assert response.status_code == status, response.content
    if status == 400:
        assert response.json() == {"created_after": ["Enter a moment between the years 1 and 9999 (UTC)."]}

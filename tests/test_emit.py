"""emit(): which webhooks get a delivery, what is written, and what is refused."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from webhooks_app import emit
from webhooks_app.events import event_context, registry
from webhooks_app.exceptions import InvalidEventData, UnknownEventType
from webhooks_app.models import Attempt, Delivery, Event, Webhook

pytestmark = pytest.mark.django_db


def emit_queries(event_type="contact.updated", data=None):
    """The SQL statements one emit() runs (inside the test's transaction, nothing is sent)."""
    with CaptureQueriesContext(connection) as queries:
        event = emit(event_type, data={"id": 1} if data is None else data)
    return event, [q["sql"] for q in queries.captured_queries]


def test_emit_creates_the_event_and_one_delivery_per_subscribed_webhook(make_webhook):
    first = make_webhook("http://127.0.0.1:9/a", events=["contact.updated"])
    second = make_webhook("http://127.0.0.1:9/b", events=["contact.updated", "contact.created"])

    event = emit("contact.updated", data={"id": 7, "email": "a@example.com"}, context={"actor": "admin"})

    stored = Event.objects.get()
    assert stored.pk == event.pk and event.pk.startswith("evt_")
    assert stored.event_type == "contact.updated"
    assert stored.data == {"id": 7, "email": "a@example.com"}
    assert stored.context == {"actor": "admin"}
    deliveries = Delivery.objects.filter(event=stored)
    assert {d.webhook_id for d in deliveries} == {first.pk, second.pk}
    for delivery in deliveries:
        assert delivery.status == Delivery.Status.PENDING
        assert delivery.event_type == "contact.updated"
        assert delivery.attempt_count == 0
        assert delivery.next_attempt_at is not None


def test_deliveries_are_one_bulk_insert_whatever_the_number_of_webhooks(make_webhook):
    make_webhook("http://127.0.0.1:9/only")
    _, one = emit_queries()
    for i in range(9):
        make_webhook(f"http://127.0.0.1:9/{i}")
    event, ten = emit_queries()

    assert Delivery.objects.filter(event=event).count() == 10
    assert len(ten) == len(one)
    delivery_table = Delivery._meta.db_table
    inserts = [sql for sql in ten if sql.upper().startswith("INSERT") and delivery_table in sql]
    assert len(inserts) == 1


def test_an_emit_reads_no_webhook_rows_once_the_subscriptions_are_cached(make_webhook, settings):
    # The cost of an emit does not grow with the webhooks: they come from this
    # process' cache (no SELECT of the webhook table), and a webhook saved in this
    # process is seen at once.
    settings.WEBHOOKS = {**settings.WEBHOOKS, "SUBSCRIPTION_CACHE_SECONDS": 60}
    for i in range(100):
        make_webhook(f"http://127.0.0.1:9/{i}", name=f"w{i}")
    emit_queries()
    event, queries = emit_queries()
    assert Delivery.objects.filter(event=event).count() == 100
    webhook_table = Webhook._meta.db_table
    assert not [sql for sql in queries if sql.upper().startswith("SELECT") and webhook_table in sql]
    assert len(queries) <= 3, queries  # deliveries, event, wake-up (or its on_commit)

    make_webhook("http://127.0.0.1:9/new", name="new")
    event, _ = emit_queries()
    assert Delivery.objects.filter(event=event).count() == 101


def test_a_stale_cache_never_inserts_for_a_deleted_or_disabled_webhook(make_webhook, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "SUBSCRIPTION_CACHE_SECONDS": 60}
    keep, gone, off = (make_webhook(f"http://127.0.0.1:9/{n}", name=n) for n in ("keep", "gone", "off"))
    emit_queries()
    # Changed behind the cache's back (another process would do this).
    Webhook.objects.filter(pk=off.pk).update(enabled=False)
    Delivery.objects.filter(webhook=gone)._raw_delete(Delivery.objects.db)
    Webhook.objects.filter(pk=gone.pk)._raw_delete(Webhook.objects.db)

    event, _ = emit_queries()
    assert list(Delivery.objects.filter(event=event).values_list("webhook_id", flat=True)) == [keep.pk]


def test_a_context_filter_matches_the_events_current_context(make_webhook):
    api_only = make_webhook("http://127.0.0.1:9/api", filters={"$context.source": "api"})
    with transaction.atomic():
        from_api = emit("contact.updated", data={"id": 1}, context={"source": "api"})
        from_console = emit("contact.updated", data={"id": 2}, context={"source": "console"})

    assert Delivery.objects.filter(event=from_api, webhook=api_only).exists()
    assert not Delivery.objects.filter(event=from_console).exists()


def test_disabled_unsubscribed_and_filtered_out_webhooks_get_nothing(make_webhook):
    subscribed = make_webhook("http://127.0.0.1:9/yes", events=["contact.updated"])
    make_webhook("http://127.0.0.1:9/off", events=["contact.updated"], enabled=False)
    make_webhook("http://127.0.0.1:9/other", events=["contact.created", "contact.deleted"])
    make_webhook("http://127.0.0.1:9/filtered", events=["contact.updated"], filters={"accepts_email": True})
    matching_filter = make_webhook(
        "http://127.0.0.1:9/country", events=["contact.updated"], filters={"country": ["SE", "NO"]}
    )

    event = emit("contact.updated", data={"id": 1, "accepts_email": False, "country": "SE"})

    assert set(Delivery.objects.filter(event=event).values_list("webhook_id", flat=True)) == {
        subscribed.pk,
        matching_filter.pk,
    }


def test_a_filter_on_a_missing_or_nested_key(make_webhook):
    nested = make_webhook("http://127.0.0.1:9/n", filters={"address.country": "SE"})
    make_webhook("http://127.0.0.1:9/missing", filters={"tier": "gold"})

    event = emit("contact.updated", data={"id": 1, "address": {"country": "SE"}})

    assert list(Delivery.objects.filter(event=event).values_list("webhook_id", flat=True)) == [nested.pk]


def test_all_events_subscription_gets_every_declared_type(make_webhook):
    everything = make_webhook("http://127.0.0.1:9/all", events=["*"])
    types = [t for t in registry.names() if t != "webhook.test"]
    assert "contact.accepts_sms.changed" in types

    for event_type in types:
        emit(event_type, data={"id": 1})

    assert sorted(Delivery.objects.filter(webhook=everything).values_list("event_type", flat=True)) == types


def test_no_matching_webhook_writes_nothing(make_webhook):
    make_webhook("http://127.0.0.1:9/x", events=["contact.created"])

    event = emit("contact.deleted", data={"id": 1})

    assert event.event_type == "contact.deleted"
    assert not Event.objects.exists()
    assert not Delivery.objects.exists()


def test_undeclared_event_type_raises_before_anything_is_written(make_webhook):
    make_webhook("http://127.0.0.1:9/all")

    with CaptureQueriesContext(connection) as queries, pytest.raises(UnknownEventType) as info:
        emit("contact.exploded", data={"id": 1})

    assert "contact.exploded" in str(info.value)
    assert "WEBHOOKS['EVENTS']" in str(info.value)
    assert queries.captured_queries == []
    assert not Event.objects.exists()


def test_the_test_event_cannot_be_emitted_only_the_test_action_sends_it(make_webhook):
    """webhook.test comes from a webhook's test action, to that webhook alone: emit() of it
    would reach every "*" webhook with a payload receivers treat as a harmless check."""
    from webhooks_app import services
    from webhooks_app.exceptions import ReservedEventType, WebhookError

    everything = make_webhook("http://127.0.0.1:9/all", events=["*"])
    make_webhook("http://127.0.0.1:9/other", name="Other", events=["*"])

    with CaptureQueriesContext(connection) as queries, pytest.raises(ReservedEventType) as info:
        emit("webhook.test", data={"message": "hi"})

    assert isinstance(info.value, WebhookError) and isinstance(info.value, ValueError)
    assert info.value.field == "event_type"
    assert str(info.value).startswith('"webhook.test" is sent only by a webhook\'s test action')
    assert queries.captured_queries == []
    assert not Event.objects.exists()
    # The test action still sends it, to the one webhook.
    delivery = services.webhook_send_test(webhook=everything)
    assert delivery.event_type == "webhook.test"
    assert list(Delivery.objects.values_list("webhook_id", flat=True)) == [everything.pk]


def test_non_serializable_data_raises_before_anything_is_written(make_webhook):
    make_webhook("http://127.0.0.1:9/all")

    with CaptureQueriesContext(connection) as queries, pytest.raises(InvalidEventData) as info:
        emit("contact.updated", data={"id": 1, "handle": object()})

    assert "event data" in str(info.value)
    assert queries.captured_queries == []
    assert not Event.objects.exists()


def test_non_serializable_context_is_refused_too(make_webhook):
    make_webhook("http://127.0.0.1:9/all")

    with pytest.raises(InvalidEventData, match="event context"):
        emit("contact.updated", data={"id": 1}, context={"actor": object()})

    assert not Event.objects.exists()


def test_oversized_payload_is_refused(make_webhook, settings):
    make_webhook("http://127.0.0.1:9/all")
    settings.WEBHOOKS = {**settings.WEBHOOKS, "MAX_PAYLOAD_BYTES": 1000}

    with pytest.raises(InvalidEventData, match="MAX_PAYLOAD_BYTES"):
        emit("contact.updated", data={"id": 1, "notes": "x" * 2000})

    assert not Event.objects.exists()


def test_event_context_is_merged_into_current_context(make_webhook):
    make_webhook("http://127.0.0.1:9/all")

    with event_context(actor="alice", request_id="req-1"), event_context(source="admin-console"):
        event = emit("contact.updated", data={"id": 1}, context={"tenant": "acme", "actor": "bob"})

    assert Event.objects.get(pk=event.pk).context == {
        "actor": "bob",
        "request_id": "req-1",
        "source": "admin-console",
        "tenant": "acme",
    }


@pytest.mark.django_db(transaction=True)
def test_rolled_back_emit_sends_nothing(webhook, receiver):
    with pytest.raises(RuntimeError), transaction.atomic():
        emit("contact.updated", data={"id": 1})
        assert Delivery.objects.count() == 1
        raise RuntimeError("the caller's change fails")

    assert not Event.objects.exists()
    assert not Delivery.objects.exists()
    assert receiver.requests == []


@pytest.mark.django_db(transaction=True)
def test_committed_emit_is_delivered_once_after_commit(webhook, receiver):
    with transaction.atomic():
        event = emit("contact.updated", data={"id": 1})
        assert receiver.requests == [], "nothing may be sent before the commit"

    [request] = receiver.wait_for(1)
    assert request.json()["id"] == event.pk
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert Attempt.objects.filter(delivery=delivery).count() == 1


@pytest.mark.django_db(transaction=True)
def test_with_the_orm_broker_an_emit_is_one_statement_in_the_callers_transaction(make_webhook, real_queue):
    # PostgreSQL: deliveries, the event and the wake-up task in one round trip; the
    # task row commits or rolls back with the caller's change.
    from django_q.models import OrmQ

    if connection.vendor != "postgresql":
        pytest.skip("the one-statement emit is PostgreSQL's (SQLite statements cost no round trip)")
    for i in range(10):
        make_webhook(f"http://127.0.0.1:9/{i}", name=f"w{i}")
    with transaction.atomic():
        emit_queries()  # the subscriptions are cached
        event, queries = emit_queries()
    assert len(queries) == 1, queries
    assert not event._state.adding, "the returned event is marked saved"
    assert Delivery.objects.filter(event=event).count() == 10
    assert Event.objects.filter(pk=event.pk).exists()
    assert OrmQ.objects.count() == 2

    with pytest.raises(RuntimeError), transaction.atomic():
        rolled_back, _ = emit_queries()
        raise RuntimeError("the caller's change fails")
    assert not Event.objects.filter(pk=rolled_back.pk).exists()
    assert OrmQ.objects.count() == 2

"""Model signals: saving and deleting a watched Contact emits the configured events."""

import pytest
from django.db import transaction

from config.contacts.models import Contact
from webhooks_app.models import Delivery, Event

pytestmark = pytest.mark.django_db

FLAGS = ("accepts_email", "accepts_sms", "accepts_postal")


@pytest.fixture
def all_events(make_webhook):
    """A webhook subscribed to everything, so every emitted event is stored."""
    return make_webhook("http://127.0.0.1:9/all", events=["*"])


def emitted(since=None):
    """Event types emitted, oldest first (optionally only after the event ``since``)."""
    events = Event.objects.order_by("created_at", "id")
    if since is not None:
        events = events.filter(created_at__gt=since.created_at)
    return list(events.values_list("event_type", flat=True))


def last(event_type):
    return Event.objects.filter(event_type=event_type).order_by("-created_at").first()


def test_create_emits_contact_created_and_no_change_event(all_events):
    contact = Contact.objects.create(
        name="Ada", email="ada@example.com", accepts_email=True, accepts_sms=True
    )

    assert emitted() == ["contact.created"]
    data = last("contact.created").data
    assert data["id"] == contact.pk
    assert data["name"] == "Ada"
    assert data["email"] == "ada@example.com"
    assert data["accepts_email"] is True and data["accepts_sms"] is True and data["accepts_postal"] is False
    assert data["created_at"].endswith("Z")


def test_saving_an_unchanged_contact_emits_only_contact_updated(all_events):
    contact = Contact.objects.create(name="Ada")
    contact.save()
    Contact.objects.get(pk=contact.pk).save()

    assert emitted() == ["contact.created", "contact.updated", "contact.updated"]


def test_save_emits_contact_updated_with_the_new_data(all_events):
    contact = Contact.objects.create(name="Ada")
    contact.name = "Ada Lovelace"
    contact.save()

    assert emitted() == ["contact.created", "contact.updated"]
    assert last("contact.updated").data["name"] == "Ada Lovelace"


@pytest.mark.parametrize("flag", FLAGS)
def test_a_changed_flag_of_an_existing_contact_emits_its_change_event(all_events, flag):
    contact = Contact.objects.create(name="Ada")
    contact = Contact.objects.get(pk=contact.pk)  # a fresh instance, as a view would load it
    setattr(contact, flag, True)
    contact.save()

    assert emitted() == ["contact.created", "contact.updated", f"contact.{flag}.changed"]
    data = last(f"contact.{flag}.changed").data
    assert data["changes"] == {flag: {"old": False, "new": True}}
    assert data["id"] == contact.pk
    assert data[flag] is True


def test_each_changed_flag_gets_its_own_event(all_events):
    contact = Contact.objects.create(name="Ada", accepts_sms=True)
    contact.accepts_email = True
    contact.accepts_sms = False
    contact.save()

    assert sorted(emitted()[2:]) == ["contact.accepts_email.changed", "contact.accepts_sms.changed"]
    assert last("contact.accepts_sms.changed").data["changes"] == {"accepts_sms": {"old": True, "new": False}}


def test_a_flag_set_back_and_forth_before_saving_is_no_change(all_events):
    contact = Contact.objects.create(name="Ada")
    contact.accepts_email = True
    contact.accepts_email = False
    contact.save()

    assert emitted() == ["contact.created", "contact.updated"]


def test_consecutive_saves_compare_with_the_last_saved_values(all_events):
    contact = Contact.objects.create(name="Ada")
    contact.accepts_email = True
    contact.save()
    first = last("contact.accepts_email.changed")
    contact.save()
    contact.accepts_email = False
    contact.save()

    assert emitted(since=first) == ["contact.updated", "contact.updated", "contact.accepts_email.changed"]
    assert last("contact.accepts_email.changed").data["changes"] == {
        "accepts_email": {"old": True, "new": False}
    }


def test_update_fields_limits_change_events_to_the_saved_fields(all_events):
    contact = Contact.objects.create(name="Ada")
    contact.accepts_email = True
    contact.accepts_sms = True
    contact.save(update_fields=["accepts_sms"])

    assert emitted() == ["contact.created", "contact.updated", "contact.accepts_sms.changed"]


def test_a_change_not_saved_yet_is_reported_when_it_is_saved(all_events):
    contact = Contact.objects.create(name="Ada")
    contact.accepts_email = True
    contact.save(update_fields=["name"])  # accepts_email stays False in the database
    assert "contact.accepts_email.changed" not in emitted()

    contact.save(update_fields=["accepts_email"])

    assert emitted()[-1] == "contact.accepts_email.changed"
    assert last("contact.accepts_email.changed").data["changes"] == {
        "accepts_email": {"old": False, "new": True}
    }


def test_a_change_to_a_field_that_was_deferred_is_reported(all_events):
    contact = Contact.objects.create(name="Ada")
    partial = Contact.objects.only("name").get(pk=contact.pk)
    partial.accepts_sms = True
    partial.save()

    assert emitted()[-1] == "contact.accepts_sms.changed"
    assert last("contact.accepts_sms.changed").data["changes"] == {"accepts_sms": {"old": False, "new": True}}


def test_a_deferred_field_set_to_its_old_value_is_no_change(all_events):
    contact = Contact.objects.create(name="Ada", accepts_sms=True)
    partial = Contact.objects.only("name").get(pk=contact.pk)
    partial.accepts_sms = True
    partial.name = "Ada L"
    partial.save()

    assert emitted() == ["contact.created", "contact.updated"]


def test_delete_emits_contact_deleted_with_the_last_data(all_events):
    contact = Contact.objects.create(name="Ada", email="ada@example.com")
    pk = contact.pk
    contact.delete()

    assert emitted() == ["contact.created", "contact.deleted"]
    data = last("contact.deleted").data
    assert data["id"] == pk and data["email"] == "ada@example.com"


def test_queryset_delete_emits_one_event_per_contact(all_events):
    Contact.objects.create(name="A")
    Contact.objects.create(name="B")
    Contact.objects.all().delete()

    assert sorted(emitted()) == ["contact.created"] * 2 + ["contact.deleted"] * 2


def test_unwatched_models_emit_nothing(all_events, django_user_model):
    django_user_model.objects.create(username="someone")

    assert emitted() == []


def test_watched_actions_come_from_settings(all_events, settings):
    settings.WEBHOOKS = {
        **settings.WEBHOOKS,
        "MODELS": {"contacts.Contact": {"resource": "contact", "actions": ["deleted"], "fields": []}},
    }
    contact = Contact.objects.create(name="Ada")
    contact.accepts_email = True
    contact.save()
    contact.delete()

    assert emitted() == ["contact.deleted"]


def test_a_custom_serializer_shapes_the_data(all_events, settings):
    settings.WEBHOOKS = {
        **settings.WEBHOOKS,
        "MODELS": {
            "contacts.Contact": {
                "resource": "contact",
                "fields": ["accepts_email"],
                "serializer": "tests.test_receivers.contact_summary",
            }
        },
    }
    Contact.objects.create(name="Ada", email="ada@example.com")

    assert last("contact.created").data == {"name": "Ada", "contact_email": "ada@example.com"}


def contact_summary(contact):
    return {"name": contact.name, "contact_email": contact.email}


def test_fixture_loading_emits_nothing(all_events):
    from django.core import serializers

    [obj] = serializers.deserialize(
        "json",
        '[{"model": "contacts.contact", "pk": 99, "fields": {"name": "Loaded", "email": "", '
        '"created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}}]',
    )
    obj.save()  # raw=True, as loaddata does

    assert Contact.objects.filter(pk=99).exists()
    assert emitted() == []


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_contact_save_sends_nothing(webhook, receiver):
    with pytest.raises(RuntimeError), transaction.atomic():
        Contact.objects.create(name="Ada")
        raise RuntimeError("the view fails after saving")

    assert not Contact.objects.exists()
    assert not Event.objects.exists()
    assert receiver.requests == []


@pytest.mark.django_db(transaction=True)
def test_a_committed_contact_change_reaches_the_receiver_signed(make_webhook, receiver):
    webhook = make_webhook(receiver.url, events=["contact.accepts_email.changed"])
    contact = Contact.objects.create(name="Ada")
    assert receiver.requests == []

    with transaction.atomic():
        contact.accepts_email = True
        contact.save()

    [request] = receiver.wait_for(1)
    payload = request.verify(webhook.secret)
    assert payload["event_type"] == "contact.accepts_email.changed"
    assert payload["data"]["changes"] == {"accepts_email": {"old": False, "new": True}}
    assert request.headers["X-Webhook-Event"] == "contact.accepts_email.changed"
    assert Delivery.objects.get().status == Delivery.Status.SUCCEEDED

"""The model receivers are connected to the watched models only: the host's other models run no app code.

A receiver connected with no sender runs for every instance of every model of the
host project; these tests read Django's own receiver lists (``_live_receivers``,
what ``Signal.send`` calls) for a model and count the receivers that belong to
webhooks_app. Timing is ``make bench``'s (section 9), not a test's.
"""

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission, User
from django.db.models import signals
from django.test import override_settings

from config.contacts.models import Contact
from webhooks_app.checks import check_settings
from webhooks_app.models import Event

MODEL_SIGNALS = {
    "pre_init": signals.pre_init,
    "post_init": signals.post_init,
    "pre_save": signals.pre_save,
    "post_save": signals.post_save,
    "pre_delete": signals.pre_delete,
    "post_delete": signals.post_delete,
}
# What a watched model gets: the snapshot of watched fields, the read of a deferred
# one before it is written, and the events of a save and of a delete.
WATCHED = {"post_init": 1, "pre_save": 1, "post_save": 1, "post_delete": 1}


def app_receivers(model) -> dict[str, int]:
    """{signal name: webhooks_app receivers Django calls for an instance of model}, zeros left out."""
    counts = {}
    for name, signal in MODEL_SIGNALS.items():
        sync, async_ = signal._live_receivers(model)
        mine = [r for r in (*sync, *async_) if (r.__module__ or "").startswith("webhooks_app.")]
        if mine:
            counts[name] = len(mine)
    return counts


def webhooks(**keys):
    from django.conf import settings

    return override_settings(WEBHOOKS={**settings.WEBHOOKS, **keys})


@pytest.mark.parametrize("model", [Permission, Group, User, Event])
def test_no_app_receiver_runs_for_a_model_the_app_does_not_watch(model):
    assert app_receivers(model) == {}


def test_an_unwatched_permission_has_no_listener_at_all():
    """Nothing else in the test project listens either: Django's send() returns at once."""
    assert [name for name, signal in MODEL_SIGNALS.items() if signal.has_listeners(Permission)] == []


def test_the_watched_model_gets_the_receivers():
    assert app_receivers(Contact) == WATCHED


def test_a_model_added_to_models_gets_them_and_one_removed_loses_them():
    with webhooks(MODELS={"auth.Group": {"resource": "group", "fields": ["name"]}}):
        assert app_receivers(Group) == WATCHED
        assert app_receivers(Contact) == {}
        assert app_receivers(Permission) == {}
    assert app_receivers(Group) == {}
    assert app_receivers(Contact) == WATCHED


@pytest.mark.django_db
def test_a_model_added_by_override_settings_emits_its_events(make_webhook):
    make_webhook("http://127.0.0.1:9/all", events=["*"])
    with webhooks(MODELS={"auth.Group": {"resource": "group", "fields": ["name"]}}):
        group = Group.objects.create(name="Editors")
        group.name = "Writers"
        group.save()
        Contact.objects.create(name="Ada")  # no longer watched
        group.delete()
    Group.objects.create(name="Readers")  # no longer watched

    assert list(Event.objects.order_by("created_at", "id").values_list("event_type", flat=True)) == [
        "group.created",
        "group.updated",
        "group.name.changed",
        "group.deleted",
    ]


@pytest.mark.parametrize(
    "models",
    [
        {"contacts.Nope": {}},
        {"nolabel": {}},
        {"contacts.Contact.extra": {}},
        {"contacts.Contact": ["created"]},
        ["contacts.Contact"],
        "contacts.Contact",
    ],
)
def test_a_model_that_cannot_be_resolved_is_the_checks_to_report_never_a_crash(models):
    with webhooks(MODELS=models):
        assert app_receivers(Contact) == {}
        assert check_settings() != []
    assert app_receivers(Contact) == WATCHED


@pytest.mark.parametrize("value", [None, [], "contacts.Contact"])
def test_a_webhooks_setting_that_is_not_a_dict_connects_nothing(value):
    with override_settings(WEBHOOKS=value):
        assert app_receivers(Contact) == {}
    assert app_receivers(Contact) == WATCHED


def test_ready_again_connects_each_receiver_once():
    apps.get_app_config("webhooks_app").ready()

    assert app_receivers(Contact) == WATCHED
    assert app_receivers(Permission) == {}

"""Model-signal receivers: changes of watched models become events.

The model receivers are connected to each watched model (``sender=``) and to
nothing else, so that the host's other models run no code of this app when they
are created, saved or deleted (a receiver with no sender would run for every
instance of every model; ``make bench`` section 9 measures what an unwatched model
pays). ``connect_watched_models()`` runs in AppConfig.ready() and again whenever
the ``WEBHOOKS`` setting changes.
"""

from django.apps import apps
from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_init, post_save, pre_save
from django.dispatch import receiver

# Imported before this module connects its setting_changed receiver, so conf's own
# receiver (which drops the cached WEBHOOKS) is connected first and runs first.
from .conf import app_settings
from .events import registry
from .models import Webhook, WebhookSettings
from .selectors import sending, subscriptions
from .services import event_emit

_SNAPSHOT = "_webhooks_app_initial"
_MISSING = object()


def _snapshot(watch, instance) -> dict:
    # __dict__ lookups only: a deferred field is not loaded (no extra query).
    return {f: instance.__dict__.get(attname, _MISSING) for f, attname in watch.attnames.items()}


def remember_watched_fields(sender, instance, **kwargs):
    watch = registry.watch_for(sender)
    if watch is not None and watch.attnames:
        instance.__dict__[_SNAPSHOT] = _snapshot(watch, instance)


def load_deferred_watched_fields(sender, instance, raw=False, update_fields=None, using=None, **kwargs):
    # A watched field that was deferred when the instance was loaded has no old value
    # in the snapshot; when it is about to be written, read the old value first (one
    # query, only in that case) so that its change is not missed.
    watch = registry.watch_for(sender)
    before = instance.__dict__.get(_SNAPSHOT)
    if watch is None or raw or before is None or instance._state.adding:
        return
    missing = [
        f
        for f in watch.attnames
        if before.get(f, _MISSING) is _MISSING
        and watch.attnames[f] in instance.__dict__
        and (update_fields is None or f in update_fields)
    ]
    if missing:
        names = [watch.attnames[f] for f in missing]
        row = sender._base_manager.using(using).filter(pk=instance.pk).values(*names).first()
        if row is not None:
            before.update({f: row[watch.attnames[f]] for f in missing})


def emit_on_save(sender, instance, created, raw=False, update_fields=None, **kwargs):
    watch = registry.watch_for(sender)
    if watch is None or raw:
        return
    data = None
    if created:
        if "created" in watch.actions:
            data = watch.serialize(instance)
            event_emit(event_type=f"{watch.resource}.created", data=data)
    else:
        if "updated" in watch.actions:
            data = watch.serialize(instance)
            event_emit(event_type=f"{watch.resource}.updated", data=data)
        before = instance.__dict__.get(_SNAPSHOT, {})
        after = _snapshot(watch, instance)
        for fname in watch.fields:
            if update_fields is not None and fname not in update_fields:
                continue
            old, new = before.get(fname, _MISSING), after[fname]
            if old is _MISSING or new is _MISSING or old == new:
                continue
            payload = dict(data if data is not None else watch.serialize(instance))
            payload["changes"] = {fname: {"old": old, "new": new}}
            part = watch.field_events.get(fname, fname)
            event_emit(event_type=f"{watch.resource}.{part}.changed", data=payload)
    if watch.transitions:
        _emit_transitions(watch, instance, created=created, update_fields=update_fields, data=data)
    if watch.attnames:
        snapshot = _snapshot(watch, instance)
        if update_fields is not None and not created:
            # Fields left out of update_fields were not written: keep comparing them
            # with what the database still holds, so a later save reports the change.
            kept = instance.__dict__.get(_SNAPSHOT, {})
            snapshot = {f: v if f in update_fields else kept.get(f, _MISSING) for f, v in snapshot.items()}
        instance.__dict__[_SNAPSHOT] = snapshot


def _emit_transitions(watch, instance, *, created, update_fields, data):
    """``<resource>.<action>`` for each transition whose field now has its value and did not
    before (a create with that value counts: a journey created published was published)."""
    before = instance.__dict__.get(_SNAPSHOT, {})
    after = _snapshot(watch, instance)
    for action, (fname, value) in watch.transitions.items():
        if update_fields is not None and not created and fname not in update_fields:
            continue
        old, new = before.get(fname, _MISSING), after.get(fname, _MISSING)
        if new is _MISSING or new != value or (not created and (old is _MISSING or old == new)):
            continue
        event_emit(
            event_type=f"{watch.resource}.{action}",
            data=data if data is not None else watch.serialize(instance),
        )


def emit_on_delete(sender, instance, **kwargs):
    watch = registry.watch_for(sender)
    if watch is not None and "deleted" in watch.actions:
        event_emit(event_type=f"{watch.resource}.deleted", data=watch.serialize(instance))


# Each model receiver, with the signal it listens to; connected per watched model.
MODEL_RECEIVERS = (
    (post_init, remember_watched_fields, "webhooks_app.post_init"),
    (pre_save, load_deferred_watched_fields, "webhooks_app.pre_save"),
    (post_save, emit_on_save, "webhooks_app.post_save"),
    (post_delete, emit_on_delete, "webhooks_app.post_delete"),
)
_connected: set[type] = set()


def watched_models() -> set[type]:
    """The models ``WEBHOOKS["MODELS"]`` names that exist, each with a spec to build its watch from.

    Anything else (a label that names no model, a spec that is not a dict, a
    setting of the wrong type) is left out here and reported by the system checks
    (webhooks_app.E003, E004, E009): never a crash at start-up.
    """
    webhooks = app_settings.user_settings
    models = webhooks.get("MODELS") if isinstance(webhooks, dict) else None
    if not isinstance(models, dict):
        return set()
    found = set()
    for label, spec in models.items():
        if not isinstance(spec, dict):
            continue
        try:
            found.add(apps.get_model(label))
        except (LookupError, ValueError, TypeError, AttributeError):
            continue
    return found


def connect_watched_models() -> None:
    """Connect the model receivers to each watched model and disconnect them from the others."""
    watched = watched_models()
    for model in _connected - watched:
        for signal, func, uid in MODEL_RECEIVERS:
            signal.disconnect(func, sender=model, dispatch_uid=uid)
    for model in watched:
        for signal, func, uid in MODEL_RECEIVERS:
            signal.connect(func, sender=model, dispatch_uid=uid)  # once per model: the uid
    _connected.clear()
    _connected.update(watched)


@receiver(setting_changed, dispatch_uid="webhooks_app.receivers")
def reconnect_on_settings_changed(*, setting, **kwargs):
    # override_settings(WEBHOOKS=...) in a test, for example; before the app
    # registry has its models, ready() connects them.
    if setting == "WEBHOOKS" and apps.models_ready:
        connect_watched_models()


@receiver(post_save, sender=Webhook, dispatch_uid="webhooks_app.webhook_saved")
@receiver(post_delete, sender=Webhook, dispatch_uid="webhooks_app.webhook_deleted")
def forget_subscriptions(sender, **kwargs):
    """This process' cached subscriptions are stale once a webhook changes."""
    subscriptions.clear()


@receiver(post_save, sender=WebhookSettings, dispatch_uid="webhooks_app.settings_saved")
def forget_sending_switch(sender, **kwargs):
    sending.clear()

"""Model-signal receivers: changes of watched models become events."""

from django.db.models.signals import post_delete, post_init, post_save, pre_save
from django.dispatch import receiver

from .events import registry
from .models import Webhook, WebhookSettings
from .selectors import sending, subscriptions
from .services import event_emit

_SNAPSHOT = "_webhooks_app_initial"
_MISSING = object()


def _snapshot(watch, instance) -> dict:
    # __dict__ lookups only: a deferred field is not loaded (no extra query).
    return {f: instance.__dict__.get(attname, _MISSING) for f, attname in watch.attnames.items()}


@receiver(post_init, dispatch_uid="webhooks_app.post_init")
def remember_watched_fields(sender, instance, **kwargs):
    watch = registry.watch_for(sender)
    if watch is not None and watch.attnames:
        instance.__dict__[_SNAPSHOT] = _snapshot(watch, instance)


@receiver(pre_save, dispatch_uid="webhooks_app.pre_save")
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


@receiver(post_save, dispatch_uid="webhooks_app.post_save")
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


@receiver(post_delete, dispatch_uid="webhooks_app.post_delete")
def emit_on_delete(sender, instance, **kwargs):
    watch = registry.watch_for(sender)
    if watch is not None and "deleted" in watch.actions:
        event_emit(event_type=f"{watch.resource}.deleted", data=watch.serialize(instance))


@receiver(post_save, sender=Webhook, dispatch_uid="webhooks_app.webhook_saved")
@receiver(post_delete, sender=Webhook, dispatch_uid="webhooks_app.webhook_deleted")
def forget_subscriptions(sender, **kwargs):
    """This process' cached subscriptions are stale once a webhook changes."""
    subscriptions.clear()


@receiver(post_save, sender=WebhookSettings, dispatch_uid="webhooks_app.settings_saved")
def forget_sending_switch(sender, **kwargs):
    sending.clear()

"""Model-signal receivers: changes of watched models become events."""

from django.db.models.signals import post_delete, post_init, post_save
from django.dispatch import receiver

from .events import registry
from .services import event_emit

_SNAPSHOT = "_webhooks_app_initial"
_MISSING = object()


def _snapshot(watch, instance) -> dict:
    # __dict__ lookups only: a deferred field is not loaded (no extra query).
    return {f: instance.__dict__.get(attname, _MISSING) for f, attname in watch.attnames.items()}


@receiver(post_init, dispatch_uid="webhooks_app.post_init")
def remember_watched_fields(sender, instance, **kwargs):
    watch = registry.watch_for(sender)
    if watch is not None and watch.fields:
        instance.__dict__[_SNAPSHOT] = _snapshot(watch, instance)


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
            event_emit(event_type=f"{watch.resource}.{fname}.changed", data=payload)
    if watch.fields:
        instance.__dict__[_SNAPSHOT] = _snapshot(watch, instance)


@receiver(post_delete, dispatch_uid="webhooks_app.post_delete")
def emit_on_delete(sender, instance, **kwargs):
    watch = registry.watch_for(sender)
    if watch is not None and "deleted" in watch.actions:
        event_emit(event_type=f"{watch.resource}.deleted", data=watch.serialize(instance))

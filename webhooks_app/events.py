"""The event-type registry: declared types, model watchers, the event context."""

import contextlib
import contextvars
import re
from dataclasses import dataclass, field

from django.apps import apps
from django.utils.module_loading import import_string

from .exceptions import ImproperlyConfiguredWebhooks, UnknownEventType

EVENT_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
MODEL_ACTIONS = ("created", "updated", "deleted")
TEST_EVENT = "webhook.test"
ALL_EVENTS = "*"

BUILTIN_EVENTS = {TEST_EVENT: "A test event sent from the console or the API."}


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    builtin: bool = False

    @property
    def resource(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass
class ModelWatch:
    """How one watched model turns into events."""

    model: type
    resource: str
    actions: tuple[str, ...]
    fields: tuple[str, ...]
    serializer: object = None
    attnames: dict = field(default_factory=dict)

    def serialize(self, instance) -> dict:
        if self.serializer is not None:
            return self.serializer(instance)
        return model_data(instance)


def model_data(instance) -> dict:
    """Default serializer: every concrete field, foreign keys as their id.

    Values stay Python objects (dates, decimals, UUIDs, files); emit() turns them
    into JSON with the app's encoder.
    """
    data = {"id": instance.pk}
    for f in instance._meta.concrete_fields:
        if f.primary_key:
            continue
        key = f.attname if f.is_relation else f.name
        data[key] = f.value_from_object(instance)
    return data


class Registry:
    """Event types from settings, watched models and register() calls."""

    def __init__(self):
        self._registered: dict[str, str] = {}
        self._types: dict[str, EventType] | None = None
        self._watches: dict[type, ModelWatch] | None = None

    def reset(self):
        self._types = None
        self._watches = None

    def register(self, name: str, description: str = "") -> None:
        """Declare an event type from code (for example in AppConfig.ready())."""
        if not EVENT_NAME_RE.match(name):
            raise ImproperlyConfiguredWebhooks(
                f"Event type {name!r} must be lower-case dotted 'resource.action'."
            )
        self._registered[name] = description
        self._types = None

    def types(self) -> dict[str, EventType]:
        if self._types is None:
            self._types = self._build_types()
        return self._types

    def get(self, name: str) -> EventType:
        try:
            return self.types()[name]
        except KeyError:
            raise UnknownEventType(
                f"Event type {name!r} is not declared. Declare it in "
                "WEBHOOKS['EVENTS'] or WEBHOOKS['MODELS'], or with "
                "webhooks_app.events.registry.register()."
            ) from None

    def is_declared(self, name: str) -> bool:
        return name in self.types()

    def names(self) -> list[str]:
        return sorted(self.types())

    def watch_for(self, model) -> ModelWatch | None:
        if self._watches is None:
            self._watches = self._build_watches()
        return self._watches.get(model)

    def _build_types(self) -> dict[str, EventType]:
        from .conf import app_settings

        types = {n: EventType(n, d, builtin=True) for n, d in BUILTIN_EVENTS.items()}
        for label, spec in (app_settings.MODELS or {}).items():
            resource = spec.get("resource") or label.rsplit(".", 1)[-1].lower()
            verbose = label.rsplit(".", 1)[-1]
            for action in spec.get("actions", MODEL_ACTIONS):
                name = f"{resource}.{action}"
                types[name] = EventType(name, f"A {verbose} was {action}.")
            for fname in spec.get("fields", ()):
                name = f"{resource}.{fname}.changed"
                types[name] = EventType(name, f"The {fname} field of an existing {verbose} changed.")
        events = app_settings.EVENTS or {}
        if isinstance(events, list | tuple):
            events = {n: "" for n in events}
        for name, description in events.items():
            types[name] = EventType(name, description or types.get(name, EventType(name, "")).description)
        for name, description in self._registered.items():
            types[name] = EventType(name, description)
        return dict(sorted(types.items()))

    def _build_watches(self) -> dict[type, ModelWatch]:
        from .conf import app_settings

        watches = {}
        for label, spec in (app_settings.MODELS or {}).items():
            try:
                model = apps.get_model(label)
            except (LookupError, ValueError):
                continue  # reported by the system check webhooks_app.E003
            serializer = spec.get("serializer")
            if isinstance(serializer, str):
                serializer = import_string(serializer)
            fields = tuple(spec.get("fields", ()))
            watches[model] = ModelWatch(
                model=model,
                resource=spec.get("resource") or model._meta.model_name,
                actions=tuple(spec.get("actions", MODEL_ACTIONS)),
                fields=fields,
                serializer=serializer,
                attnames={f: model._meta.get_field(f).attname for f in fields},
            )
        return watches


registry = Registry()


# Who or what causes events in the current request or job; merged into each
# event's current_context by emit().
_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "webhooks_app_event_context", default=None
)


def current_context() -> dict:
    return dict(_context.get() or {})


@contextlib.contextmanager
def event_context(**values):
    """Add values (actor, source, request_id, tenant ...) to events emitted inside."""
    token = _context.set({**current_context(), **values})
    try:
        yield
    finally:
        _context.reset(token)

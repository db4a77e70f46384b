"""The event-type registry: declared types, model watchers, the event context."""

import contextlib
import contextvars
import re
from dataclasses import dataclass, field

from django.apps import apps
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from .exceptions import ImproperlyConfiguredWebhooks, UnknownEventType

# docs/events.md, "Event type names": [A-Za-z0-9_.-], 1-100 characters, starting with a letter, so that the
# names the source systems use are declarable as written: contact.acceptsEmail.changed,
# FEEDBACK_SUBMIT, journey.published. \Z: $ would also match before a trailing newline.
EVENT_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}\Z")
MODEL_ACTIONS = ("created", "updated", "deleted")
TEST_EVENT = "webhook.test"
ALL_EVENTS = "*"
# A subscription to every type of one resource: "contact.*".
RESOURCE_WILDCARD = ".*"


def resource_of(name: str) -> str:
    """The resource of an event type: the part before the first dot."""
    return name.split(".", 1)[0]


def resource_wildcard(resource: str) -> str:
    return resource + RESOURCE_WILDCARD


def wildcard_resource(value: str) -> str | None:
    """The resource of a ``resource.*`` subscription, or None when value is not one."""
    if value.endswith(RESOURCE_WILDCARD):
        resource = value[: -len(RESOURCE_WILDCARD)]
        if resource and "." not in resource and EVENT_NAME_RE.match(resource):
            return resource
    return None


BUILTIN_EVENTS = {TEST_EVENT: "A test event sent from the console or the API."}


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    builtin: bool = False
    # The display name of the console; the name itself when not given.
    label: str = ""
    # False for system events: listed, never offered, refused in subscriptions, never sent.
    deliverable: bool = True

    @property
    def resource(self) -> str:
        return resource_of(self.name)

    @property
    def display(self) -> str:
        return self.label or self.name


def event_spec(value) -> dict:
    """A WEBHOOKS["EVENTS"] value as {"description", "label", "deliverable"}.

    The value is a description string, or a dict with any of those keys
    (``deliverable`` defaults to true). Malformed values are the system
    check's to report (webhooks_app.E012); here they read as blank.
    """
    if isinstance(value, dict):
        return {
            "description": str(value.get("description") or ""),
            "label": str(value.get("label") or ""),
            "deliverable": value.get("deliverable", True) is not False,
        }
    return {"description": str(value or ""), "label": "", "deliverable": True}


@dataclass
class ModelWatch:
    """How one watched model turns into events."""

    model: type
    resource: str
    actions: tuple[str, ...]
    fields: tuple[str, ...]
    serializer: object = None
    attnames: dict = field(default_factory=dict)
    # The name part of each field's change event: {"accepts_email": "acceptsEmail"} makes
    # "contact.acceptsEmail.changed" (Voyado's spelling); the field's own name by default.
    field_events: dict = field(default_factory=dict)
    # State changes beyond created/updated/deleted: {action: (field, value)}, e.g.
    # {"published": ("status", "published")} emits "<resource>.published" when a
    # save makes the field equal the value (a create with that value included).
    transitions: dict = field(default_factory=dict)

    def serialize(self, instance) -> dict:
        if self.serializer is not None:
            return self.serializer(instance)
        return model_data(instance)


def field_event_parts(fields) -> dict[str, str]:
    """{model field: name part of its change event} from MODELS' ``fields``.

    ``fields`` is a list of field names (``contact.accepts_email.changed``) or a dict of
    field name -> the part the event name uses (``{"accepts_email": "acceptsEmail"}``
    gives ``contact.acceptsEmail.changed``, as Voyado writes it).
    """
    if isinstance(fields, dict):
        return {str(f): str(part or f) for f, part in fields.items()}
    return {str(f): str(f) for f in fields or ()}


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
        self._registered: dict[str, dict] = {}
        self._types: dict[str, EventType] | None = None
        self._watches: dict[type, ModelWatch] | None = None

    def reset(self):
        self._types = None
        self._watches = None

    def register(
        self, name: str, description: str = "", *, label: str = "", deliverable: bool = True
    ) -> None:
        """Declare an event type from code (for example in AppConfig.ready())."""
        if not isinstance(name, str) or not EVENT_NAME_RE.match(name):
            raise ImproperlyConfiguredWebhooks(
                f"Event type {name!r}: a name is 1-100 letters, digits, '_', '.' or '-', "
                "starting with a letter ('contact.created', 'FEEDBACK_SUBMIT')."
            )
        self._registered[name] = {"description": description, "label": label, "deliverable": deliverable}
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

    def is_deliverable(self, name: str) -> bool:
        """False for a declared system event (deliverable=False); undeclared names count as deliverable."""
        event_type = self.types().get(name)
        return event_type is None or event_type.deliverable

    def names(self) -> list[str]:
        return sorted(self.types())

    def deliverable_names(self) -> list[str]:
        return [n for n, t in self.types().items() if t.deliverable]

    def resources(self) -> list[str]:
        """The resources that have at least one deliverable type (the picker's groups)."""
        return sorted({t.resource for t in self.types().values() if t.deliverable})

    def watch_for(self, model) -> ModelWatch | None:
        if self._watches is None:
            self._watches = self._build_watches()
        return self._watches.get(model)

    def _build_types(self) -> dict[str, EventType]:
        from .conf import app_settings

        types = {n: EventType(n, d, builtin=True) for n, d in BUILTIN_EVENTS.items()}
        for label, spec in (app_settings.MODELS or {}).items():
            if not isinstance(spec, dict):
                continue  # reported by the system check webhooks_app.E004
            resource = spec.get("resource") or label.rsplit(".", 1)[-1].lower()
            verbose = label.rsplit(".", 1)[-1]
            for action in [*spec.get("actions", MODEL_ACTIONS), *spec.get("transitions", {})]:
                name = f"{resource}.{action}"
                types[name] = EventType(name, f"A {verbose} was {action}.")
            for fname, part in field_event_parts(spec.get("fields", ())).items():
                name = f"{resource}.{part}.changed"
                types[name] = EventType(name, f"The {fname} field of an existing {verbose} changed.")
        events = app_settings.EVENTS or {}
        if isinstance(events, list | tuple):
            events = {n: "" for n in events}
        if not isinstance(events, dict):
            events = {}  # reported by the system check webhooks_app.E010
        for name, value in events.items():
            if not isinstance(name, str):
                continue
            spec = event_spec(value)
            spec["description"] = spec["description"] or types.get(name, EventType(name, "")).description
            types[name] = EventType(name, **spec)
        for name, spec in self._registered.items():
            types[name] = EventType(name, **spec)
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
            transitions = {
                action: (when["field"], when["value"]) for action, when in spec.get("transitions", {}).items()
            }
            snapshot = [*fields, *(f for f, _ in transitions.values() if f not in fields)]
            watches[model] = ModelWatch(
                model=model,
                resource=spec.get("resource") or model._meta.model_name,
                actions=tuple(spec.get("actions", MODEL_ACTIONS)),
                fields=fields,
                field_events=field_event_parts(spec.get("fields", ())),
                serializer=serializer,
                attnames={f: model._meta.get_field(f).attname for f in snapshot},
                transitions=transitions,
            )
        return watches


registry = Registry()


def _settings_changed(*, setting, **kwargs):
    if setting == "WEBHOOKS":
        registry.reset()


setting_changed.connect(_settings_changed, dispatch_uid="webhooks_app.events")


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

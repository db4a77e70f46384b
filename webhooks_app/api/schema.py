"""The OpenAPI schema of the API: error responses on every operation, only this API's paths."""

import inspect

from django import forms
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import OpenApiParameter
from drf_spectacular.utils import extend_schema as spectacular_extend_schema

from .. import __version__

ERROR_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string", "description": "What went wrong."}},
    "required": ["detail"],
}

VALIDATION_ERROR = {
    "type": "object",
    "description": "Per-field messages: each key is a field (or non_field_errors) with a list of "
    "messages; a list or nested field maps item indexes or keys to their messages. A body "
    "that is not valid JSON gets only detail.",
    "properties": {
        "detail": {"type": "string", "description": "The body could not be parsed."},
        "non_field_errors": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": {
        "oneOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "object", "additionalProperties": {}},
        ]
    },
}

ERRORS = {
    "400": ("ValidationError", VALIDATION_ERROR, "Invalid input; nothing was changed."),
    "401": (
        "ErrorDetail",
        ERROR_DETAIL,
        "No valid credentials: send `Authorization: Token <key>` or a session cookie.",
    ),
    "403": ("ErrorDetail", ERROR_DETAIL, "Authenticated, but without the Django permission needed here."),
    "404": ("ErrorDetail", ERROR_DETAIL, "No such object, page or cursor."),
    "409": (
        "ErrorDetail",
        ERROR_DETAIL,
        "The object's state refuses the action (a delivery still pending cannot be redelivered); "
        "detail says why.",
    ),
    "413": (
        "ErrorDetail",
        ERROR_DETAIL,
        "The body is larger than the server accepts (Django's DATA_UPLOAD_MAX_MEMORY_SIZE).",
    ),
    "415": ("ErrorDetail", ERROR_DETAIL, "The body must be application/json."),
    "429": (
        "ErrorDetail",
        ERROR_DETAIL,
        "Too many requests: this token's rate for the scope (emit, writes or reads) is used up, "
        "or this address sent too many bad or missing tokens (WEBHOOKS['API_THROTTLE_RATES']). "
        "Retry-After says when to try again.",
    ),
}

# The headers of an error response, per status code.
ERROR_HEADERS = {
    "429": {
        "Retry-After": {
            "schema": {"type": "integer", "minimum": 1},
            "description": "Seconds to wait before the next request.",
        }
    },
}


class WebhooksAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema plus the error responses every operation can give.

    Every operation needs authentication and a permission (401, 403) and may be
    throttled (429 with Retry-After, api.throttling); operations
    with an id in the path or a paginated list can 404; operations that take a
    body or query filters can 400 (413 for a body over DATA_UPLOAD_MAX_MEMORY_SIZE, 415 for
    one that is not JSON).
    """

    def get_operation(self, *args, **kwargs):
        from .permissions import ActionPermissions

        operation = super().get_operation(*args, **kwargs)
        perms = ActionPermissions().permissions_for(self.view)
        if operation is not None and perms:
            needed = "Permissions: " + ", ".join(f"`{p}`" for p in perms) + "."
            description = operation.get("description", "")
            operation["description"] = f"{description}\n\n{needed}" if description else needed
        return operation

    def _map_basic_serializer(self, serializer, direction):
        """A request body that refuses unknown keys (StrictFieldsMixin) says so:
        ``additionalProperties: false``. (It also takes the read-only fields back, as read.)"""
        from .serializers import StrictFieldsMixin

        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(serializer, StrictFieldsMixin):
            schema["additionalProperties"] = False
        return schema

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        codes = ["401", "403", "429"]
        paginated = self._is_list_view() and self._get_paginator()
        if "{" in self.path or paginated:
            codes.append("404")
        takes_body = self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None
        query_form = getattr(self.view, "query_forms", {}).get(getattr(self.view, "action", None))
        # A paginated list refuses a page size it cannot read (StrictPageSizeMixin).
        if takes_body or query_form is not None or paginated:
            codes.append("400")
        if takes_body:
            codes += ["413", "415"]
        if getattr(self.view, "action", None) in getattr(self.view, "conflict_actions", ()):
            codes.append("409")
        for code in sorted(codes):
            name, schema, description = ERRORS[code]
            component = ResolvedComponent(
                name=name, type=ResolvedComponent.SCHEMA, schema=schema, object=name
            )
            self.registry.register_on_missing(component)
            response = {
                "content": {"application/json": {"schema": component.ref}},
                "description": description,
            }
            if code in ERROR_HEADERS:
                response["headers"] = ERROR_HEADERS[code]
            responses.setdefault(code, response)
        return responses


def extend_schema(**kwargs):
    """drf-spectacular's ``extend_schema``, built on WebhooksAutoSchema whatever the host's settings.

    On a view method (an action, or ``list`` through ``extend_schema_view``) the
    decorator runs before its class exists, so drf-spectacular subclasses
    ``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``: DRF's own AutoSchema in a host that
    documents its API with another generator, or not at all, and the schema breaks.
    Naming our class as the method's schema first makes it the base instead; the
    views carry it too (``WebhooksAPIMixin.schema``), so the host's REST_FRAMEWORK
    needs nothing for the API's schema.
    """
    decorate = spectacular_extend_schema(**kwargs)

    def decorator(func):
        if not inspect.isclass(func) and not hasattr(func, "cls"):
            # A DRF @action keeps its route options in func.kwargs, where drf-spectacular
            # looks for a schema class too; a plain method gets the dict here.
            if not hasattr(func, "kwargs"):
                func.kwargs = {}
            func.kwargs.setdefault("schema", WebhooksAutoSchema)
        return decorate(func)

    return decorator


def form_parameters(form_class) -> list[OpenApiParameter]:
    """The query parameters of a webhooks_app.params form, for the schema (the form validates them)."""
    parameters = []
    for name, field in form_class.base_fields.items():
        schema: dict = {"type": "string"}
        if isinstance(field, forms.ChoiceField):
            # An optional choice left empty ("?status=", as the console's "Any" sends it) is
            # no filter: the empty value is accepted, so the schema lists it.
            schema["enum"] = [value for value, _ in field.choices if value]
            if not field.required:
                schema["enum"].append("")
        elif isinstance(field, forms.DateTimeField):
            schema["format"] = "date-time"
        if getattr(field, "max_length", None):
            schema["maxLength"] = field.max_length
        parameters.append(
            OpenApiParameter(
                name,
                type=schema,
                location=OpenApiParameter.QUERY,
                required=field.required,
                description=str(field.help_text),
            )
        )
    return parameters


def only_this_api(endpoints):
    """Preprocessing hook: the schema of /api/ documents this API, not the host's other views.

    The app's views say so with ``webhooks_api = True`` (views.WebhooksAPIMixin), so
    this module does not import the views (which import it).
    """
    return [
        (path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
        if getattr(getattr(callback, "cls", None), "webhooks_api", False)
        and not getattr(callback.cls, "exclude_from_schema", False)
    ]


SCHEMA_SETTINGS = {
    "TITLE": "webhooks_app API",
    "DESCRIPTION": (
        "Configure outgoing webhooks, emit events and read the delivery log.\n\n"
        "Authenticate with `Authorization: Token <key>` (create a key with "
        "`python manage.py webhooks_token <username>`) or a Django session. Each endpoint "
        "needs the Django model permission named in its description: view, add, change or "
        "delete of webhook, delivery or event. Anonymous requests get 401, users without "
        "the permission 403 (detail names the permissions missing), invalid input 400 with a "
        "list of messages per field, an action the object's state refuses 409.\n\n"
        "Requests are limited per token, in three scopes: emit (POST /api/events/), writes "
        "(every other POST, PUT, PATCH and DELETE) and reads; and requests with a bad or "
        "missing token per client address (past that rate, every request from the address "
        "is refused for a while). Past a rate the answer is 429 with a Retry-After header "
        "(seconds) and a detail; the rates are WEBHOOKS['API_THROTTLE_RATES']."
    ),
    "VERSION": __version__,
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["webhooks_app.api.schema.only_this_api"],
    "ENUM_NAME_OVERRIDES": {
        "DeliveryStatusEnum": "webhooks_app.models.Delivery.Status",
        "NotificationTypeEnum": "webhooks_app.models.Webhook.NotificationType",
        "PayloadFormatEnum": "webhooks_app.models.Webhook.PayloadFormat",
        "AttemptErrorClassEnum": "webhooks_app.models.Attempt.ErrorClass",
    },
    "TAGS": [
        {"name": "webhooks", "description": "Webhooks, their signing secrets, tests and delivery logs."},
        {"name": "deliveries", "description": "One event to one webhook, with its attempts."},
        {"name": "event-types", "description": "The event types the host project declares."},
        {"name": "events", "description": "Emit an event to every subscribed webhook."},
    ],
}

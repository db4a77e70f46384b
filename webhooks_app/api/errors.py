"""Errors of the services as DRF responses: 400 with per-field messages, 409 for a conflict."""

import contextlib

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.settings import api_settings

from ..exceptions import (
    DeliveryInProgress,
    IllegalTransition,
    InvalidEventData,
    ReservedEventType,
    UnknownEventType,
    WebhookDisabled,
    WebhookValidationError,
    error_dict,
)


class Conflict(APIException):
    """The object is in a state that refuses the action (for example a delivery still pending)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object's current state does not allow this."
    default_code = "conflict"


def validation_detail(exc: Exception) -> dict:
    """A service's error as DRF's ``{field: [messages]}``, on the field the error names.

    Messages that all name an item of a list field (an ``index`` param, e.g. the
    event types of ``events``) become ``{field: {"<index>": [messages]}}``, as DRF
    reports a ListField's items.
    """
    detail: dict = {}
    for field, errors in error_dict(exc).items():
        flat, items = [], {}
        for error in errors:
            index = (getattr(error, "params", None) or {}).get("index")
            if index is None:
                flat.extend(error.messages)
            else:
                items.setdefault(str(index), []).extend(error.messages)
        key = field or api_settings.NON_FIELD_ERRORS_KEY
        detail[key] = items if items and not flat else flat + [m for ms in items.values() for m in ms]
    return detail


@contextlib.contextmanager
def service_errors():
    """Turn what services raise on bad input into a 400, and a refused state into a 409; never a 500."""
    try:
        yield
    except (DeliveryInProgress, IllegalTransition, WebhookDisabled) as exc:
        raise Conflict(str(exc)) from exc
    except (
        DjangoValidationError,
        WebhookValidationError,
        UnknownEventType,
        ReservedEventType,
        InvalidEventData,
    ) as exc:
        raise ValidationError(validation_detail(exc)) from exc


class JSONBodyParser(JSONParser):
    """DRF's JSON parser; a body nested too deeply for Python's json module is a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None

"""Errors of the services as DRF responses: 400 with per-field messages, 409 for a conflict."""

import contextlib

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import QueryDict
from django.utils.datastructures import MultiValueDict
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
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


class RequestTooLarge(APIException):
    """The request body is larger than Django's DATA_UPLOAD_MAX_MEMORY_SIZE."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def api_exception(exc: Exception, request=None) -> Exception:
    """An exception as the API answers it: Django's RequestDataTooBig becomes a JSON 413.

    Django raises RequestDataTooBig when DRF reads a body over
    DATA_UPLOAD_MAX_MEMORY_SIZE; left alone it is Django's 400 page (its DEBUG page
    with DEBUG on). The request's data is then emptied, as DRF does after a parse
    error, so that rendering the answer does not read the body again.
    """
    if not isinstance(exc, RequestDataTooBig):
        return exc
    if request is not None:
        request._full_data = request._data = QueryDict()
        request._files = MultiValueDict()
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return RequestTooLarge(f"The request body is larger than the {limit} bytes this server accepts.")


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


class JSONEscapingRenderer(JSONRenderer):
    """DRF's JSON renderer; an answer that cannot be UTF-8 is written with \\u escapes.

    A message may repeat what the request sent (an unknown field's name, a refused
    choice), and JSON can carry a lone surrogate ("\\ud800") that UTF-8 cannot: the
    answer is then all-ASCII JSON, which says the same, instead of a 500.
    """

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            self.ensure_ascii = True
            return super().render(data, accepted_media_type, renderer_context)

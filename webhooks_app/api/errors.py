"""Service exceptions as DRF 400 responses with per-field messages."""

import contextlib

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.settings import api_settings

from ..exceptions import InvalidEventData, UnknownEventType


def validation_detail(exc: DjangoValidationError) -> dict:
    """A Django ValidationError (from full_clean) as DRF's {field: [messages]}."""
    if not hasattr(exc, "error_dict"):
        return {api_settings.NON_FIELD_ERRORS_KEY: exc.messages}
    return {
        (api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field): messages
        for field, messages in exc.message_dict.items()
    }


@contextlib.contextmanager
def service_errors():
    """Turn what services raise on bad input into a 400, never a 500."""
    try:
        yield
    except DjangoValidationError as exc:
        raise ValidationError(validation_detail(exc)) from exc
    except UnknownEventType as exc:
        raise ValidationError({"event_type": [str(exc)]}) from exc
    except InvalidEventData as exc:
        # The services name the part at fault in the message ("The event context ...").
        field = "context" if "event context" in str(exc) else "data"
        raise ValidationError({field: [str(exc)]}) from exc


class JSONBodyParser(JSONParser):
    """DRF's JSON parser; a body nested too deeply for Python's json module is a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None

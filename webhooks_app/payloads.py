"""Payload bodies: the event envelope and its renderers (JSON, XML)."""

import base64
import json
import re
from datetime import UTC
from xml.etree import ElementTree as ET

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models.fields.files import FieldFile
from django.utils import timezone

from .exceptions import InvalidEventData


class WebhookJSONEncoder(DjangoJSONEncoder):
    """DjangoJSONEncoder (dates, decimals, UUIDs, lazy strings) plus files, sets, bytes."""

    def default(self, o):
        if isinstance(o, FieldFile):
            return o.name or None
        if isinstance(o, set | frozenset):
            return sorted(o, key=str)
        if isinstance(o, bytes | bytearray):
            return base64.b64encode(bytes(o)).decode()
        return super().default(o)


# json.dumps writes a NUL character as \u0000; an escaped backslash before "u0000"
# (an even number of backslashes) is ordinary text.
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def to_jsonable(value, *, what: str = "event data"):
    """value as strict JSON types, or InvalidEventData saying what is wrong with it.

    Strict: no NaN or Infinity, no NUL character, no lone surrogate and a bounded
    depth. Databases refuse those in JSON columns and receivers' parsers in bodies,
    so they are caught at emit time with a message instead of a database error.
    """
    try:
        text = json.dumps(value, cls=WebhookJSONEncoder, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except RecursionError:
        raise InvalidEventData(f"The {what} is nested too deeply to be serialized to JSON.") from None
    except UnicodeEncodeError:
        raise InvalidEventData(f"The {what} contains a lone surrogate, which is not valid text.") from None
    except ValueError as exc:
        if "compliant" in str(exc):
            raise InvalidEventData(
                f"The {what} contains NaN or Infinity, which JSON cannot carry; send null or a string."
            ) from None
        raise InvalidEventData(f"The {what} cannot be serialized to JSON: {exc}") from exc
    except TypeError as exc:
        raise InvalidEventData(f"The {what} cannot be serialized to JSON: {exc}") from exc
    if _ESCAPED_NUL.search(text):
        raise InvalidEventData(f"The {what} contains a NUL character, which JSON columns cannot store.")
    return json.loads(text)


def envelope(event) -> dict:
    """The payload fields every format carries."""
    moment = event.created_at
    if timezone.is_naive(moment):  # a host project with USE_TZ = False stores local time
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    moment = moment.astimezone(UTC)  # the "Z" below promises UTC
    return {
        "id": event.id,
        "event_type": event.event_type,
        "event_time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "current_context": event.context or {},
        "data": event.data if event.data is not None else {},
    }


def render_json(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _xml_fill(element, value):
    if isinstance(value, dict):
        for key, item in value.items():
            key = str(key)
            valid = key.replace("_", "a").replace("-", "a").replace(".", "a").isalnum() and not (
                key[:1].isdigit() or key.lower().startswith("xml")
            )
            child = ET.SubElement(element, key if valid else "entry")
            if not valid:
                child.set("key", key)
            _xml_fill(child, item)
    elif isinstance(value, list):
        for item in value:
            _xml_fill(ET.SubElement(element, "item"), item)
    elif value is None:
        element.set("null", "true")
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value)


def render_xml(payload: dict) -> str:
    root = ET.Element("event")
    _xml_fill(root, payload)
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")


RENDERERS = {
    "json": ("application/json", render_json),
    "xml": ("application/xml", render_xml),
}


def render(event, payload_format: str) -> tuple[str, str]:
    """(content type, body) of an event in a webhook's payload format."""
    content_type, renderer = RENDERERS.get(payload_format, RENDERERS["json"])
    return content_type, renderer(envelope(event))

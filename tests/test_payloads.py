"""Payload bodies: the default model serializer, JSON conversion, the envelope, XML."""

import base64
import datetime as dt
import json
import uuid
from decimal import Decimal
from xml.etree import ElementTree as ET

import pytest
from django.db import models
from django.db.models.fields.files import FieldFile
from django.test.utils import isolate_apps
from django.utils import timezone
from django.utils.functional import lazy
from hypothesis import given, settings
from hypothesis import strategies as st

from config.contacts.models import Contact
from webhooks_app.events import model_data
from webhooks_app.exceptions import InvalidEventData
from webhooks_app.models import Event
from webhooks_app.payloads import envelope, render, to_jsonable

MOMENT = dt.datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=dt.UTC)


def field_file(name):
    return FieldFile(None, models.FileField(name="attachment"), name)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (MOMENT, "2026-11-23T10:00:00.123Z"),
        (
            dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2026-11-23T12:00:00+02:00",
        ),
        (dt.date(2026, 2, 28), "2026-02-28"),
        (dt.time(8, 30, 15), "08:30:15"),
        (dt.timedelta(days=1, hours=2), "P1DT02H00M00S"),
        (Decimal("12.50"), "12.50"),
        (Decimal("-0.000001"), "-0.000001"),
        (uuid.UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
        (field_file("contacts/cv.pdf"), "contacts/cv.pdf"),
        (field_file(""), None),
        ({"b", "a", "c"}, ["a", "b", "c"]),
        (b"\x00\xffbinary", "AP9iaW5hcnk="),
        (lazy(lambda: "translated", str)(), "translated"),
        ((1, "two", None, True), [1, "two", None, True]),
        ({"nested": [{"when": dt.date(2026, 1, 1)}]}, {"nested": [{"when": "2026-01-01"}]}),
    ],
)
def test_to_jsonable_turns_python_values_into_json_types(value, expected):
    assert to_jsonable({"value": value}) == {"value": expected}


@pytest.mark.parametrize("value", [object(), 1j, Contact, lambda: None])
def test_to_jsonable_refuses_what_it_cannot_serialize(value):
    with pytest.raises(InvalidEventData, match="cannot be serialized"):
        to_jsonable({"value": value})


@pytest.mark.django_db
def test_the_default_serializer_of_a_contact():
    contact = Contact.objects.create(name="Ada", email="ada@example.com", accepts_postal=True)

    data = to_jsonable(model_data(contact))

    assert data == {
        "id": contact.pk,
        "name": "Ada",
        "email": "ada@example.com",
        "accepts_email": False,
        "accepts_sms": False,
        "accepts_postal": True,
        "webhook_url": "",
        "created_at": data["created_at"],
        "updated_at": data["updated_at"],
    }
    created = dt.datetime.fromisoformat(data["created_at"].replace("Z", "+00:00"))
    assert abs(created - contact.created_at) < dt.timedelta(milliseconds=1)


@isolate_apps("config.contacts")
def test_the_default_serializer_handles_dates_decimals_uuids_files_and_foreign_keys():
    class Invoice(models.Model):
        ref = models.UUIDField(default=uuid.uuid4)
        contact = models.ForeignKey(Contact, on_delete=models.CASCADE)
        amount = models.DecimalField(max_digits=8, decimal_places=2)
        due = models.DateField()
        sent_at = models.DateTimeField(null=True)
        attachment = models.FileField(blank=True)
        scan = models.ImageField(blank=True)
        meta = models.JSONField(default=dict)

        class Meta:
            app_label = "contacts"

    ref = uuid.uuid4()
    invoice = Invoice(
        pk=7,
        ref=ref,
        contact_id=42,
        amount=Decimal("99.90"),
        due=dt.date(2026, 12, 31),
        sent_at=MOMENT,
        attachment="invoices/7.pdf",
        meta={"lines": 3},
    )

    data = model_data(invoice)
    assert isinstance(data["attachment"], FieldFile)
    assert to_jsonable(data) == {
        "id": 7,
        "ref": str(ref),
        "contact_id": 42,
        "amount": "99.90",
        "due": "2026-12-31",
        "sent_at": "2026-11-23T10:00:00.123Z",
        "attachment": "invoices/7.pdf",
        "scan": None,
        "meta": {"lines": 3},
    }


def event(**fields):
    fields.setdefault("id", "evt_0123")
    fields.setdefault("event_type", "contact.updated")
    fields.setdefault("created_at", MOMENT)
    return Event(**fields)


def test_the_envelope_has_the_documented_fields_in_order():
    payload = envelope(event(context={"actor": "admin"}, data={"id": 1}))

    assert payload == {
        "id": "evt_0123",
        "event_type": "contact.updated",
        "event_time": "2026-11-23T10:00:00.123456Z",
        "current_context": {"actor": "admin"},
        "data": {"id": 1},
    }
    assert list(payload) == ["id", "event_type", "event_time", "current_context", "data"]


def test_event_time_is_utc_whatever_the_current_time_zone():
    with timezone.override("Europe/Stockholm"):
        stockholm = timezone.localtime(MOMENT)
        payload = envelope(event(created_at=stockholm))
    assert payload["event_time"] == "2026-11-23T10:00:00.123456Z"


def test_event_time_of_a_naive_time_is_read_in_the_default_time_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    payload = envelope(event(created_at=dt.datetime(2026, 11, 23, 5, 0)))
    assert payload["event_time"] == "2026-11-23T10:00:00.000000Z"


def test_empty_context_and_data_are_objects():
    payload = envelope(event(context=None, data=None))
    assert payload["current_context"] == {} and payload["data"] == {}


def test_json_rendering_is_compact_utf8():
    content_type, body = render(event(data={"name": "Zoë ✓"}), "json")

    assert content_type == "application/json"
    assert "Zoë ✓" in body
    assert ", " not in body and ": " not in body
    assert json.loads(body)["data"] == {"name": "Zoë ✓"}


def test_xml_rendering_carries_the_same_fields():
    data = {
        "id": 1,
        "active": False,
        "score": 1.5,
        "missing": None,
        "tags": ["x", "y"],
        "address": {"city": "Malmö"},
        "1st": "digit first",
        "has space": "odd key",
        "xmlns": "reserved",
    }
    content_type, body = render(event(context={"actor": "admin"}, data=data), "xml")

    assert content_type == "application/xml"
    root = ET.fromstring(body.encode())
    assert root.tag == "event"
    assert root.findtext("id") == "evt_0123"
    assert root.findtext("event_type") == "contact.updated"
    assert root.findtext("event_time") == "2026-11-23T10:00:00.123456Z"
    assert root.findtext("current_context/actor") == "admin"
    assert root.findtext("data/id") == "1"
    assert root.findtext("data/active") == "false"
    assert root.findtext("data/score") == "1.5"
    assert root.find("data/missing").get("null") == "true"
    assert [i.text for i in root.findall("data/tags/item")] == ["x", "y"]
    assert root.findtext("data/address/city") == "Malmö"
    odd = {e.get("key"): e.text for e in root.findall("data/entry")}
    assert odd == {"1st": "digit first", "has space": "odd key", "xmlns": "reserved"}


def test_xml_escapes_markup_in_values():
    _, body = render(event(data={"note": "<b>&amp;</b>]]>"}), "xml")

    assert ET.fromstring(body.encode()).findtext("data/note") == "<b>&amp;</b>]]>"


# Characters XML 1.0 cannot carry, and the JSON/XML property ------------------------------


def xml_text(element) -> str:
    """The text an element carries, decoding the documented base64 form."""
    if element.get("encoding") == "base64":
        return base64.b64decode(element.text or "").decode("utf-8")
    return element.text or ""


def xml_key(element) -> str:
    key = element.get("key")
    if element.tag != "entry" or key is None:  # a key named "entry" is an <entry> without key=
        return element.tag
    return base64.b64decode(key).decode("utf-8") if element.get("key-encoding") == "base64" else key


def assert_xml_carries(element, value):
    """The XML element holds ``value``: same keys in order, same items, same texts.

    XML has no types: numbers and booleans are their JSON text, null is
    null="true", and an empty text, object or list is an empty element.
    """
    children = list(element)
    if isinstance(value, dict):
        assert [xml_key(child) for child in children] == [str(k) for k in value]
        for child, item in zip(children, value.values(), strict=True):
            assert_xml_carries(child, item)
    elif isinstance(value, list):
        assert [child.tag for child in children] == ["item"] * len(value)
        for child, item in zip(children, value, strict=True):
            assert_xml_carries(child, item)
    elif value is None:
        assert element.get("null") == "true" and not children
    else:
        assert not children
        expected = json.dumps(value) if isinstance(value, bool | int | float) else value
        assert xml_text(element) == expected


@pytest.mark.parametrize(
    "text",
    ["a\x01b", "\x08", "bell\x07", "\x0b\x0c", "esc\x1b[0m", "\ufffe", "\uffff"],
)
def test_xml_encodes_characters_xml_cannot_carry_as_base64(text):
    _, body = render(event(data={"note": text}), "xml")

    element = ET.fromstring(body.encode()).find("data/note")  # well-formed: it parses
    assert element.get("encoding") == "base64"
    assert base64.b64decode(element.text).decode("utf-8") == text


@pytest.mark.parametrize("text", ["line\r\nbreak", "\r", "tab\there", "a\nb", "  spaced  ", "Zoë ✓ 𝄞"])
def test_xml_keeps_carriage_returns_and_other_legal_text_as_text(text):
    _, body = render(event(data={"note": text}), "xml")

    element = ET.fromstring(body.encode()).find("data/note")
    assert element.get("encoding") is None
    assert element.text == text


def test_xml_encodes_a_key_xml_cannot_carry():
    _, body = render(event(data={"k\x01": 1, "a:b": 2, "é": 3, "a²": 4}), "xml")

    data = ET.fromstring(body.encode()).find("data")
    assert [(xml_key(e), e.text) for e in data] == [("k\x01", "1"), ("a:b", "2"), ("é", "3"), ("a²", "4")]
    assert [e.tag for e in data] == ["entry"] * 4
    assert data[0].get("key-encoding") == "base64" and data[2].get("key") == "é"


def test_xml_numbers_are_the_json_numbers():
    _, body = render(event(data={"big": 1e100, "small": 1.5e-7, "int": 10**20}), "xml")

    data = ET.fromstring(body.encode()).find("data")
    assert [e.text for e in data] == ["1e+100", "1.5e-07", "100000000000000000000"]


def test_to_jsonable_refuses_nesting_deeper_than_the_limit():
    from webhooks_app.payloads import MAX_DEPTH

    def nested(levels):
        value = "leaf"
        for _ in range(levels):
            value = {"a": value}
        return value

    assert to_jsonable(nested(MAX_DEPTH)) == nested(MAX_DEPTH)
    with pytest.raises(InvalidEventData, match="nested too deeply") as caught:
        to_jsonable(nested(MAX_DEPTH + 1), what="event context")
    assert caught.value.field == "context"
    with pytest.raises(InvalidEventData, match="nested too deeply"):
        to_jsonable([[[]]] * 2 + [json.loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))])


JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    data=st.dictionaries(st.text(), JSON_VALUES, max_size=5), context=st.dictionaries(st.text(), JSON_SCALARS)
)
def test_json_and_xml_accept_the_same_data_and_carry_the_same_values(data, context):
    """Whatever to_jsonable accepts, both formats render, parse back and carry it."""
    try:
        data, context = to_jsonable(data), to_jsonable(context, what="event context")
    except InvalidEventData:
        return  # refused at emit for both formats alike (NUL, lone surrogates)

    sent = event(data=data, context=context)
    payload = envelope(sent)

    _, json_body = render(sent, "json")
    assert json.loads(json_body) == payload

    _, xml_body = render(sent, "xml")
    root = ET.fromstring(xml_body.encode("utf-8"))
    assert root.tag == "event"
    assert_xml_carries(root, payload)

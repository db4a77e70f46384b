"""Payload bodies: the default model serializer, JSON conversion, the envelope, XML."""

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

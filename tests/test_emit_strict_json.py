"""emit() refuses data that a JSON column or a receiver cannot take, before writing."""

import pytest

from webhooks_app import emit
from webhooks_app.exceptions import InvalidEventData
from webhooks_app.models import Delivery, Event


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x\x00y", "NUL character"),
        ("\ud800", "lone surrogate"),
        (float("nan"), "NaN or Infinity"),
        (float("inf"), "NaN or Infinity"),
        (object(), "cannot be serialized"),
    ],
)
def test_emit_refuses_data_json_columns_cannot_store(webhook, value, message):
    with pytest.raises(InvalidEventData, match=message):
        emit("contact.updated", data={"id": 1, "note": value})
    assert Event.objects.count() == 0
    assert Delivery.objects.count() == 0


@pytest.mark.django_db
def test_escaped_backslash_before_u0000_is_ordinary_text(webhook):
    event = emit("contact.updated", data={"path": "C:\\u0000dir"})
    event.refresh_from_db()
    assert event.data == {"path": "C:\\u0000dir"}


@pytest.mark.django_db
def test_context_is_checked_too(webhook):
    with pytest.raises(InvalidEventData, match="event context"):
        emit("contact.updated", data={"id": 1}, context={"actor": "a\x00b"})

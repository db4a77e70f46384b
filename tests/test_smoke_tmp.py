import pytest
from webhooks_app import emit
from webhooks_app.models import Delivery


@pytest.mark.django_db(transaction=True)
def test_emit_delivers(webhook, receiver):
    event = emit("contact.created", data={"id": 1, "email": "a@example.com"})
    got = receiver.wait_for(1)
    payload = got[0].verify(webhook.secret)
    assert payload["id"] == event.id
    d = Delivery.objects.get()
    assert d.status == "succeeded", d.last_error
    print(got[0].headers)

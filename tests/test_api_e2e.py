"""End to end through the API: create a webhook, emit an event, a real receiver verifies it."""

import pytest
from rest_framework.test import APIClient
from standardwebhooks.webhooks import WebhookVerificationError

from webhooks_app.models import Delivery

pytest_plugins = ["tests.test_api_support"]

# transaction=True: deliveries are enqueued after commit, and Q_CLUSTER sync=True then
# runs the delivery task in-process, so the receiver really gets the request.
pytestmark = pytest.mark.django_db(transaction=True)


def token_client(token_client_for, make_api_user) -> APIClient:
    return token_client_for(
        make_api_user(
            "webhooks_app.add_webhook",
            "webhooks_app.view_webhook",
            "webhooks_app.change_webhook",
            "webhooks_app.add_event",
            "webhooks_app.view_delivery",
            "webhooks_app.add_delivery",
            username="automation",
        )
    )


def test_created_webhook_receives_an_emitted_event_signed_with_the_returned_secret(
    receiver, token_client_for, make_api_user
):
    automation = token_client(token_client_for, make_api_user)
    created = automation.post(
        "/api/webhooks/",
        {
            "name": "Receiver",
            "events": ["contact.updated"],
            "url": receiver.url,
            "api_key": "receiver-key-0042",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    secret = created.json()["secret"]

    emitted = automation.post(
        "/api/events/",
        {
            "event_type": "contact.updated",
            "data": {"id": 42, "accepts_email": True},
            "context": {"tenant": "t1"},
        },
        format="json",
    )
    assert emitted.status_code == 201, emitted.json()
    assert emitted.json()["deliveries"] == 1

    (request,) = receiver.wait_for(1)
    payload = request.verify(secret)  # raises unless the Standard Webhooks signature matches
    assert payload["id"] == emitted.json()["id"] == request.headers["webhook-id"]
    assert payload["event_type"] == "contact.updated"
    assert payload["data"] == {"id": 42, "accepts_email": True}
    assert payload["current_context"]["actor"] == "automation"
    assert payload["current_context"]["tenant"] == "t1"
    assert request.headers["X-API-Key"] == "receiver-key-0042"
    assert request.headers["X-Webhook-Event"] == "contact.updated"

    # The log shows the success, and the attempt as sent (signatures redacted).
    webhook_id = created.json()["id"]
    log = automation.get(f"/api/webhooks/{webhook_id}/deliveries/").json()["results"]
    assert [d["status"] for d in log] == ["succeeded"]
    detail = automation.get(f"/api/deliveries/{log[0]['id']}/").json()
    (attempt,) = detail["attempts"]
    assert attempt["response_status"] == 200 and attempt["succeeded"] is True
    assert attempt["request_headers"]["webhook-signature"] == "[redacted]"
    assert "receiver-key-0042" not in str(attempt["request_headers"])
    assert automation.get(f"/api/webhooks/{webhook_id}/").json()["last_delivery_status"] == "succeeded"


def test_rotated_secret_signs_the_redelivery(receiver, token_client_for, make_api_user):
    automation = token_client(token_client_for, make_api_user)
    created = automation.post(
        "/api/webhooks/", {"name": "R", "events": ["*"], "url": receiver.url}, format="json"
    ).json()

    assert automation.post(f"/api/webhooks/{created['id']}/test/").status_code == 201
    (first,) = receiver.wait_for(1)
    assert first.verify(created["secret"])["event_type"] == "webhook.test"

    new_secret = automation.post(f"/api/webhooks/{created['id']}/rotate-secret/").json()["secret"]
    delivery = Delivery.objects.get()
    redelivered = automation.post(f"/api/deliveries/{delivery.pk}/redeliver/")
    assert redelivered.status_code == 201

    second = receiver.wait_for(2)[1]
    assert second.headers["webhook-id"] == first.headers["webhook-id"]  # same event, same id
    assert second.verify(new_secret)
    assert second.verify(created["secret"])  # the previous secret still signs for 24 h
    with pytest.raises(WebhookVerificationError):
        second.verify("whsec_" + "A" * 43 + "=")

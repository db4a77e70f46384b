"""The demo's REST endpoint for a contact's webhook URL (as Engagespot's profile API sets webhookUrl).

``GET/PATCH /api/contacts/{id}/webhook-url/`` with ``{"webhook_url": "https://..."}``
(``""`` removes it). The URL passes the same validation as a webhook's URL: the
model field's ``webhooks_app.validators.validate_webhook_url``.
"""

from rest_framework import generics, serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.permissions import DjangoModelPermissions

from .models import Contact


class ContactWebhookURLSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "name", "webhook_url"]
        read_only_fields = ["id", "name"]
        extra_kwargs = {"webhook_url": {"required": True}}


class ReadAndChangePermissions(DjangoModelPermissions):
    """Reading needs view_contact, changing change_contact."""

    perms_map = {**DjangoModelPermissions.perms_map, "GET": ["%(app_label)s.view_%(model_name)s"]}


class ContactWebhookURLView(generics.RetrieveUpdateAPIView):
    """Read or set the URL a contact's own events are sent to (webhooks with destination recipient)."""

    queryset = Contact.objects.all()
    serializer_class = ContactWebhookURLSerializer
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [ReadAndChangePermissions]
    http_method_names = ["get", "patch", "options"]

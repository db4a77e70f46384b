"""``POST /api/erasures/`` (erase a data subject's events) and ``GET /api/erasures/`` (the erasure log)."""

from drf_spectacular.utils import extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from ..conf import app_settings
from ..models import Erasure
from ..services import erasure as erasure_service
from .errors import service_errors
from .pagination import WebhookPagination
from .schema import extend_schema
from .serializers import StrictCharField, StrictFieldsMixin
from .views import WebhooksAPIMixin

# An erasure asked through the API works for at most this many seconds per request
# (batches, then waiting for deliveries in flight); the rest is done by asking again.
REQUEST_SECONDS = 15.0


class ErasureRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    key = serializers.ChoiceField(
        choices=[],
        help_text="A path of WEBHOOKS['SUBJECT_PATHS'], e.g. email or $context.user_id.",
        error_messages={
            "invalid_choice": "\"{input}\" is not a declared subject path (WEBHOOKS['SUBJECT_PATHS'])."
        },
    )
    # A JSON string only (an id is sent as its text, "42"): what the service compares.
    value = StrictCharField(
        max_length=erasure_service.MAX_VALUE_LENGTH,
        trim_whitespace=False,
        help_text='The subject\'s value at that path, as text (an id 42 is "42"). Never stored.',
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The declared paths, read when the request (or the schema) is made: they follow settings.
        self.fields["key"].choices = list(app_settings.SUBJECT_PATHS)


@extend_schema_field({"type": "string"})
class ErasureStatusField(serializers.CharField):
    """The erasure's status, a plain string in the schema (its values in the description): an
    enum would collide with the deliveries' "status" enum in a host's own schema, which has
    no ENUM_NAME_OVERRIDES for it (drf_spectacular.W001 in check --deploy)."""


class ErasureSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name", read_only=True)
    status = ErasureStatusField(
        read_only=True, help_text="running, settling (waiting for deliveries in flight) or finished."
    )

    class Meta:
        model = Erasure
        fields = [
            "id",
            "subject_key",
            "subject_hash",
            "status",
            "actor",
            "source",
            "created_at",
            "finished_at",
            "total",
            "events",
            "attempts",
            "deliveries_cancelled",
            "settle_until",
        ]
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(summary="The erasure log, newest first"),
)
class ErasureViewSet(WebhooksAPIMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Erasure by data subject, and its audit log."""

    queryset = Erasure.objects.all()
    serializer_class = ErasureSerializer
    pagination_class = WebhookPagination
    permission_actions = {"list": "erasure_list", "metadata": "erasure_list", "create": "subject_erase"}

    @extend_schema(
        summary="Erase a data subject's events",
        description="Every event whose data or context holds `value` at the declared subject path `key` "
        "is erased in place: its data and context, and the request and response bodies of its "
        "deliveries' attempts; its pending deliveries are cancelled. Deliveries, attempts, statuses "
        "and counts stay. The answer is the erasure's log row: 201 when it finished, 202 while it "
        "is still running or waiting for deliveries a worker is sending (POST the same subject "
        "again to continue it: an unfinished erasure of a subject is resumed, not repeated). The "
        "value is never stored or shown: the log keeps an HMAC of it.",
        request=ErasureRequestSerializer,
        responses={201: ErasureSerializer, 202: ErasureSerializer},
    )
    def create(self, request):
        given = ErasureRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        with service_errors():
            erasure = erasure_service.subject_erase(
                key=given.validated_data["key"],
                value=given.validated_data["value"],
                actor=request.user,
                source="api",
                max_seconds=REQUEST_SECONDS,
                wait_seconds=None,  # for deliveries in flight, within REQUEST_SECONDS
            )
        code = status.HTTP_201_CREATED if erasure.is_finished else status.HTTP_202_ACCEPTED
        return Response(ErasureSerializer(erasure).data, status=code)

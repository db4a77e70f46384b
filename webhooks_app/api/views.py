"""Views of the REST API: authenticate, check permissions, validate, call a service or selector."""

from django.contrib.auth.views import redirect_to_login
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from drf_spectacular.utils import extend_schema_view
from drf_spectacular.views import SCHEMA_KWARGS, SpectacularAPIView, SpectacularSwaggerView
from rest_framework import status, viewsets
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.decorators import action
from rest_framework.exceptions import NotAuthenticated, NotFound, ValidationError
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.response import Response

from .. import health, selectors, services
from ..events import event_context, registry
from ..models import Delivery, Event, Webhook
from ..params import DeliveryListParams, WebhookListParams, WebhookStatsParams, params_clean
from . import serializers as s
from .errors import JSONBodyParser, JSONEscapingRenderer, api_exception, service_errors
from .pagination import DeliveryCursorPagination, WebhookPagination
from .permissions import ActionPermissions
from .schema import SCHEMA_SETTINGS, WebhooksAutoSchema, extend_schema, form_parameters
from .throttling import APIScopeThrottle, AuthFailureThrottling


def api_reverse(request, name: str, args=()) -> str:
    """reverse() in the namespace the API was included under (webhooks_api by default)."""
    namespace = request.resolver_match.namespace if request.resolver_match else "webhooks_api"
    return reverse(f"{namespace}:{name}", args=args)


class WebhooksAPIMixin(AuthFailureThrottling):
    """What every view of the API shares, whatever the host's REST_FRAMEWORK defaults.

    Token authentication comes first so that an anonymous request gets a 401 with
    ``WWW-Authenticate: Token`` (DRF falls back to 403 when the first authenticator
    cannot issue a challenge, as SessionAuthentication cannot). Request bodies are
    JSON only. Throttled per token and scope, and per address for bad or missing
    tokens (api.throttling, WEBHOOKS["API_THROTTLE_RATES"]).
    """

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [ActionPermissions]
    throttle_classes = [APIScopeThrottle]
    # The throttle scope of viewset actions that are not plain reads or writes (APIScopeThrottle).
    throttle_scopes: dict = {}
    parser_classes = [JSONBodyParser]
    renderer_classes = [JSONEscapingRenderer, BrowsableAPIRenderer]
    schema = WebhooksAutoSchema()
    # Marks the views the /api/schema/ documents (api.schema.only_this_api).
    webhooks_api = True
    # The action of webhooks_app.permissions each viewset action does (ActionPermissions).
    permission_actions: dict = {}
    permission_action: str | None = None
    # Query parameters per viewset action: a webhooks_app.params form, shared with the console.
    query_forms: dict = {}
    # Viewset actions that answer 409 when the object's state refuses them.
    conflict_actions: tuple = ()

    def query_params_form(self):
        """The query parameters of this action, cleaned as the console cleans them (else 400)."""
        form, errors = params_clean(self.query_forms[self.action](self.request.query_params))
        if errors:
            raise ValidationError(errors)
        return form

    def api_event_context(self):
        """The event context of an API request: the API user as actor, "api" as source.

        EventContextMiddleware cannot name a token user: DRF authenticates tokens
        in the view, after the middleware has run.
        """
        return event_context(source="api", actor=self.request.user.get_username())

    def handle_exception(self, exc):
        # A body over DATA_UPLOAD_MAX_MEMORY_SIZE: a JSON 413, not Django's 400 page.
        return super().handle_exception(api_exception(exc, getattr(self, "request", None)))


@extend_schema_view(
    list=extend_schema(summary="List webhooks", parameters=form_parameters(WebhookListParams)),
    retrieve=extend_schema(summary="Read a webhook"),
    update=extend_schema(summary="Replace a webhook"),
    partial_update=extend_schema(summary="Change some fields of a webhook"),
    destroy=extend_schema(summary="Delete a webhook with its deliveries and attempts"),
)
class WebhookViewSet(WebhooksAPIMixin, viewsets.ModelViewSet):
    """Webhooks: where events go, which events, and how they are signed."""

    queryset = Webhook.objects.all()
    serializer_class = s.WebhookSerializer
    pagination_class = WebhookPagination
    lookup_value_regex = "[0-9]+"
    permission_actions = {
        "list": "webhook_view",
        "retrieve": "webhook_view",
        "metadata": "webhook_view",
        "create": "webhook_add",
        "update": "webhook_change",
        "partial_update": "webhook_change",
        "destroy": "webhook_delete",
        "secret": "webhook_secret",
        "rotate_secret": "webhook_secret",
        "rotate_encryption_key": "webhook_secret",
        "expire_previous_secret": "webhook_secret",
        "send_test": "webhook_send_test",
        "deliveries": "webhook_deliveries",
        "stats": "webhook_deliveries",
        "redeliver_failed": "deliveries_redeliver_failed",
    }
    query_forms = {"list": WebhookListParams, "deliveries": DeliveryListParams, "stats": WebhookStatsParams}
    # Answers that carry the signing secret or the encryption key: Cache-Control: no-store.
    no_store_actions = (
        "create",
        "secret",
        "rotate_secret",
        "expire_previous_secret",
        "rotate_encryption_key",
    )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if self.action in self.no_store_actions:
            add_never_cache_headers(response)
        return response

    def get_queryset(self):
        if self.action in ("list", "retrieve"):
            # Secrets stay encrypted and unloaded: only the API key's hint is shown,
            # decrypted lazily, and a row no key can decrypt still reads.
            return selectors.webhook_list().select_related("created_by", "updated_by")
        return Webhook.objects.all()

    @staticmethod
    def _with_stats(queryset):
        # Subqueries that read only the last 24 hours per webhook, so a huge delivery
        # log costs nothing here (selectors.webhook_stats_annotate).
        return selectors.webhook_stats_annotate(queryset).select_related("created_by", "updated_by")

    def _reread(self, webhook: Webhook) -> Webhook:
        """The webhook as list and detail reads show it, stats included."""
        return self._with_stats(Webhook.objects.filter(pk=webhook.pk)).get()

    def list(self, request, *args, **kwargs):
        search = self.query_params_form().cleaned_data["search"]
        queryset = selectors.webhook_list(search=search)
        page = self.paginate_queryset(queryset.select_related("created_by", "updated_by"))
        # The 24-hour figures of the whole page at once, from the hourly rollup.
        selectors.webhooks_insight_attach(page)
        health.webhooks_health_attach(page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        summary="Create a webhook",
        request=s.WebhookSerializer,
        responses={201: s.WebhookCreatedSerializer},
        description="The response carries the signing secret; no other read of the webhook does.",
    )
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with service_errors():
            webhook = services.webhook_create(actor=request.user, **serializer.validated_data)
        data = s.WebhookCreatedSerializer(self._reread(webhook), context=self.get_serializer_context()).data
        location = api_reverse(request, "webhook-detail", args=[webhook.pk])
        return Response(data, status=status.HTTP_201_CREATED, headers={"Location": location})

    def update(self, request, *args, **kwargs):
        webhook = self.get_object()
        serializer = self.get_serializer(webhook, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        with service_errors():
            webhook = services.webhook_update(
                webhook=webhook, actor=request.user, **serializer.validated_data
            )
        return Response(self.get_serializer(self._reread(webhook)).data)

    def destroy(self, request, *args, **kwargs):
        services.webhook_delete(webhook=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Read the signing secret",
        description="Needs the change permission: whoever reads the secret can forge requests.",
        responses=s.WebhookSecretSerializer,
    )
    @action(detail=True, methods=["get"], serializer_class=s.WebhookSecretSerializer)
    def secret(self, request, pk=None):
        return Response(s.WebhookSecretSerializer(self.get_object()).data)

    @extend_schema(
        summary="Rotate the signing secret",
        description="A new secret signs from now on; the previous one also signs until "
        "previous_secret_expires_at (WEBHOOKS['SECRET_ROTATION_OVERLAP_HOURS'], default 24), in both "
        "webhook-signature and X-Webhook-Signature, so receivers can switch without losing requests; "
        "POST .../expire-previous-secret/ ends the overlap early.",
        request=None,
        responses=s.WebhookSecretSerializer,
    )
    @action(
        detail=True, methods=["post"], url_path="rotate-secret", serializer_class=s.WebhookSecretSerializer
    )
    def rotate_secret(self, request, pk=None):
        webhook = services.webhook_secret_rotate(webhook=self.get_object(), actor=request.user)
        return Response(s.WebhookSecretSerializer(webhook).data)

    @extend_schema(
        summary="Expire the previous signing secret now",
        description="Ends a rotation's overlap early: only the current secret signs from the next "
        "request on (previous_secret_expires_at becomes null).",
        request=None,
        responses=s.WebhookSecretSerializer,
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="expire-previous-secret",
        serializer_class=s.WebhookSecretSerializer,
    )
    def expire_previous_secret(self, request, pk=None):
        webhook = services.webhook_previous_secret_expire(webhook=self.get_object(), actor=request.user)
        return Response(s.WebhookSecretSerializer(webhook).data)

    @extend_schema(
        summary="Rotate the payload encryption key",
        description="A new AES-256-GCM key (base64 of 32 bytes) encrypts every request from now on, "
        "retries of earlier deliveries included; there is no overlap. The response is the one "
        "place the new key is shown besides GET .../secret/.",
        request=None,
        responses=s.WebhookEncryptionKeySerializer,
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="rotate-encryption-key",
        serializer_class=s.WebhookEncryptionKeySerializer,
    )
    def rotate_encryption_key(self, request, pk=None):
        webhook = services.webhook_encryption_key_rotate(webhook=self.get_object(), actor=request.user)
        return Response(s.WebhookEncryptionKeySerializer(webhook).data)

    @extend_schema(
        summary="Send a test event",
        description="Emits webhook.test to this webhook only (even when disabled) and returns "
        "the new delivery; its attempts appear under GET /api/deliveries/{id}/.",
        request=None,
        responses={201: s.DeliverySerializer},
    )
    @action(
        detail=True, methods=["post"], url_path="test", url_name="test", serializer_class=s.DeliverySerializer
    )
    def send_test(self, request, pk=None):
        webhook = self.get_object()
        with self.api_event_context():
            delivery = services.webhook_send_test(webhook=webhook, actor=request.user)
        return Response(s.DeliverySerializer(delivery).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="List a webhook's deliveries",
        description="Newest first, by cursor: follow `next` for older deliveries.",
        parameters=form_parameters(DeliveryListParams),
        responses=s.DeliverySerializer(many=True),
    )
    @action(
        detail=True,
        methods=["get"],
        serializer_class=s.DeliverySerializer,
        pagination_class=DeliveryCursorPagination,
    )
    def deliveries(self, request, pk=None):
        webhook = self.get_object()
        params = self.query_params_form()
        queryset = selectors.delivery_list(webhook=webhook, **params.selector_kwargs())
        # The list shows no event body: do not join the (possibly large) event rows.
        page = self.paginate_queryset(queryset.select_related(None))
        return self.get_paginated_response(s.DeliverySerializer(page, many=True).data)

    @extend_schema(
        summary="Deliveries over time, success rate and response times",
        description="Deliveries per hour (period=24h, the default) or per 6 hours (period=7d) by "
        "outcome, the success rate and the p50/p95 response time: what the console's chart on "
        "the webhook's page draws. Buckets are aligned on UTC; the last one is the current one.",
        parameters=form_parameters(WebhookStatsParams),
        responses=s.WebhookStatsSerializer,
    )
    @action(detail=True, methods=["get"], serializer_class=s.WebhookStatsSerializer)
    def stats(self, request, pk=None):
        webhook = self.get_object()
        period = self.query_params_form().cleaned_data.get("period") or "24h"
        insight = selectors.webhook_insight(webhook=webhook, period=period)
        return Response(s.WebhookStatsSerializer(insight.as_dict()).data)

    @extend_schema(
        summary="Redeliver failed deliveries",
        description="Every failed delivery of this webhook created since `since` gets a new "
        "delivery of the same event (same webhook-id, so receivers can drop duplicates).",
        request=s.RedeliverFailedSerializer,
        responses=s.RedeliverFailedResultSerializer,
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="redeliver-failed",
        serializer_class=s.RedeliverFailedSerializer,
    )
    def redeliver_failed(self, request, pk=None):
        webhook = self.get_object()
        serializer = s.RedeliverFailedSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with service_errors():
            count = services.deliveries_redeliver_failed(
                webhook=webhook, since=serializer.validated_data["since"]
            )
        return Response({"count": count})


class DeliveryViewSet(WebhooksAPIMixin, viewsets.GenericViewSet):
    """Deliveries: one event to one webhook, with the log of its attempts."""

    queryset = Delivery.objects.all()
    serializer_class = s.DeliveryDetailSerializer
    lookup_value_regex = "[0-9]+"
    permission_actions = {
        "retrieve": "delivery_view",
        "metadata": "delivery_view",
        "redeliver": "delivery_redeliver",
    }
    conflict_actions = ("redeliver",)

    def get_object(self):
        try:
            delivery = selectors.delivery_get(pk=self.kwargs["pk"])
        except Delivery.DoesNotExist:
            raise NotFound("No such delivery.") from None
        self.check_object_permissions(self.request, delivery)
        return delivery

    @extend_schema(summary="Read a delivery with its event and attempts")
    def retrieve(self, request, pk=None):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(
        summary="Redeliver",
        description="A new delivery of the same event to the same webhook (same webhook-id). "
        "Only a finished delivery can be redelivered: one still pending (being tried) "
        "gets 409 with a detail saying so, as the console refuses it.",
        request=None,
        responses={201: s.DeliverySerializer},
    )
    @action(detail=True, methods=["post"], serializer_class=s.DeliverySerializer)
    def redeliver(self, request, pk=None):
        delivery = self.get_object()
        with service_errors():
            new = services.delivery_redeliver(delivery=delivery)
        return Response(s.DeliverySerializer(new).data, status=status.HTTP_201_CREATED)


class EventTypeViewSet(WebhooksAPIMixin, viewsets.ViewSet):
    """The declared event types."""

    permission_actions = {"list": "event_type_list", "metadata": "event_type_list"}

    @extend_schema(summary="List the declared event types", responses=s.EventTypeSerializer(many=True))
    def list(self, request):
        return Response(s.EventTypeSerializer(registry.types().values(), many=True).data)


class EventViewSet(WebhooksAPIMixin, viewsets.GenericViewSet):
    """Emitting events."""

    queryset = Event.objects.all()
    serializer_class = s.EventEmitSerializer
    permission_actions = {"create": "event_emit", "metadata": "event_emit"}
    throttle_scopes = {"create": "emit"}

    @extend_schema(
        summary="Emit an event",
        description="Records the event and one delivery per enabled webhook subscribed to its "
        "type whose filters pass; deliveries are sent after the request commits.",
        request=s.EventEmitSerializer,
        responses={201: s.EventEmittedSerializer},
    )
    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with service_errors(), self.api_event_context():
            event = services.event_emit(**serializer.validated_data)
        event.deliveries_count = 0 if event._state.adding else event.deliveries.count()
        data = s.EventEmittedSerializer(event).data
        return Response(data, status=status.HTTP_201_CREATED)


class WebhookSettingsViewSet(WebhooksAPIMixin, viewsets.GenericViewSet):
    """The site-wide switch for all sending (GET /api/webhook-settings/, PATCH to change it)."""

    serializer_class = s.WebhookSettingsSerializer
    permission_actions = {
        "retrieve": "sending_view",
        "metadata": "sending_view",
        "partial_update": "sending_change",
    }

    @extend_schema(summary="Read the site-wide webhook settings")
    def retrieve(self, request):
        return Response(self.get_serializer(selectors.webhook_settings_get()).data)

    @extend_schema(
        summary="Switch all sending on or off",
        description="Off: emits still record events and deliveries, nothing is sent. On again: "
        "every held delivery is sent, oldest first. Needs webhooks_app.change_sending.",
    )
    def partial_update(self, request):
        serializer = self.get_serializer(selectors.webhook_settings_get(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        enabled = serializer.validated_data.get("enabled", serializer.instance.enabled)
        row = services.webhook_settings_update(enabled=enabled, actor=request.user)
        return Response(self.get_serializer(row).data)


class SchemaView(WebhooksAPIMixin, SpectacularAPIView):
    """The OpenAPI 3 schema of this API (YAML, or JSON with ?format=json)."""

    exclude_from_schema = True
    parser_classes = []
    renderer_classes = SpectacularAPIView.renderer_classes
    permission_action = "schema_view"
    custom_settings = SCHEMA_SETTINGS

    # drf-spectacular's own annotation of get(), on this API's schema class: its own builds on
    # the host's DEFAULT_SCHEMA_CLASS, and a host's document (check --deploy) includes this view.
    @extend_schema(**SCHEMA_KWARGS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class DocsView(WebhooksAPIMixin, SpectacularSwaggerView):
    """Interactive documentation (Swagger UI) of the schema."""

    exclude_from_schema = True
    parser_classes = []
    renderer_classes = SpectacularSwaggerView.renderer_classes
    # A page, not a resource: OPTIONS has no template to render its metadata with (a 500).
    http_method_names = ["get", "head"]
    permission_action = "schema_view"
    title = SCHEMA_SETTINGS["TITLE"]

    @extend_schema(exclude=True)  # as drf-spectacular's, on this API's schema class (SchemaView.get)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def _get_schema_url(self, request):
        return api_reverse(request, "schema")

    def handle_exception(self, exc):
        # A browser that is not logged in (the console's "API documentation" link in a
        # fresh session) goes to the login page and back, instead of a bare 401.
        if isinstance(exc, NotAuthenticated) and "text/html" in self.request.headers.get("Accept", ""):
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)

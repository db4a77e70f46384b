"""The console: server-rendered pages under Settings -> Webhook Settings.

Views stay thin: they check permissions, validate forms and call services
(writes) or selectors (reads). Every state change is a POST with CSRF.
"""

import copy
import json
from datetime import timedelta
from functools import wraps
from urllib.parse import urlencode
from xml.dom import minidom
from xml.parsers.expat import ExpatError

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from . import charts, health, permissions, replay, selectors, services, texts
from .conf import app_settings
from .events import ALL_EVENTS, TEST_EVENT
from .exceptions import (
    DeliveryInProgress,
    IllegalTransition,
    WebhookDisabled,
    WebhookError,
    WebhookValidationError,
)
from .forms import (
    LOG_PERIOD_LABELS,
    DeliveryFilterForm,
    DeliveryLogFilterForm,
    RedeliverFailedForm,
    WebhookForm,
    form_errors_add,
)
from .models import Attempt, Delivery, Webhook
from .params import (
    INSIGHT_PERIOD_LABELS,
    DeliveryPageParams,
    WebhookListParams,
    WebhookStatsParams,
    params_clean,
)
from .payloads import envelope, render
from .validators import validate_filters

WEBHOOKS_PER_PAGE = 25
DELIVERIES_PER_PAGE = 25
EVENTS_SHOWN_IN_LIST = 2
# A pending delivery page reloads itself while its next attempt is this close.
AUTO_REFRESH_WINDOW_SECONDS = 120


def console_view(action: str, methods=("GET",)):
    """Staff only, with the permissions of ``action`` in the permissions table; never cached.

    Anonymous users go to the login page; logged-in users without staff status
    or the permissions get a 403 page that says what is missing (the API's 403
    says the same). Every answer is ``Cache-Control: no-store`` (``never_cache``,
    as Django's admin does): a page may carry a secret or key (Reveal, a rotation,
    the message that shows a new encryption key once, on whatever page comes next).
    """

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                # A POST-only URL cannot be the page to come back to after login.
                target = request.get_full_path() if request.method == "GET" else reverse_list()
                return redirect_to_login(target)
            if not (user.is_active and user.is_staff):
                return permission_denied(request, gettext("Webhook settings are for staff members."))
            if not permissions.allowed(user, action):
                return permission_denied(request, permissions.denied_message(action))
            return view(request, *args, **kwargs)

        wrapper.permission_action = action  # for tests and tools: what this page needs
        return require_http_methods(list(methods))(never_cache(wrapper))

    return decorator


def permission_denied(request, message: str) -> TemplateResponse:
    """The console's own 403 page, saying which permissions are missing."""
    context = {"base_template": app_settings.BASE_TEMPLATE, "message": message}
    return TemplateResponse(request, "webhooks_app/permission_denied.html", context, status=403)


def reverse_list() -> str:
    return reverse("webhooks_app:webhook-list")


def render_page(request, template: str, context: dict, status: int = 200) -> TemplateResponse:
    context = {
        "base_template": app_settings.BASE_TEMPLATE,
        "can": permissions.capabilities(request.user),
        # Every console page says when all sending is switched off.
        "sending_enabled": selectors.sending.enabled(),
        "tokens_available": tokens_available(),
        **context,
    }
    return TemplateResponse(request, template, context, status=status)


def tokens_available() -> bool:
    """The API token page is there when the host uses DRF's token authentication."""
    return apps.is_installed("rest_framework.authtoken")


def safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def params_messages(errors: dict[str, list[str]], labels: dict[str, str]) -> list[str]:
    """Messages for refused query parameters, each naming the filter it is about."""
    return [
        gettext("%(filter)s: %(message)s The filter was ignored.")
        % {"filter": labels.get(name, name), "message": message}
        for name, ms in errors.items()
        for message in ms
    ]


# Webhooks ---------------------------------------------------------------------


def events_summary(events: list[str]) -> dict:
    if ALL_EVENTS in (events or []):
        return {"all": True, "shown": [], "more": 0}
    events = list(events or [])
    return {
        "all": False,
        "shown": events[:EVENTS_SHOWN_IN_LIST],
        "more": max(len(events) - EVENTS_SHOWN_IN_LIST, 0),
    }


@console_view("webhook_view")
def webhook_list(request):
    # Refused parameters (a NUL character, a text too long) answer 400 with the
    # page listing every webhook and a message: the same cleaning as the API's.
    params, errors = params_clean(WebhookListParams({"search": request.GET.get("q", "")}))
    search = params.cleaned_data.get("search", "")
    webhooks = selectors.webhook_list(search=search).order_by("name", "id")
    page = Paginator(webhooks, WEBHOOKS_PER_PAGE).get_page(request.GET.get("page"))
    rows = []
    listed = health.webhooks_health_attach(selectors.webhooks_insight_attach(page.object_list))
    # The success rate counts finished deliveries (as the chart and the API do); those
    # being retried after a failed try are said next to it, so that three 500s out of
    # three do not read "—" because the three still have tries left.
    retrying = health.retrying_counts(
        webhook_ids=[w.pk for w in listed], since=timezone.now() - timedelta(hours=24)
    )
    for webhook in listed:
        rate = selectors.success_rate(webhook)
        rows.append(
            {
                "webhook": webhook,
                "health": webhook.health,
                "events": events_summary(webhook.events),
                "success_rate": None if rate is None else round(rate * 100),
                "finished_24h": webhook.deliveries_24h_succeeded + webhook.deliveries_24h_failed,
                "retrying_24h": retrying.get(webhook.pk, 0),
                "secrets_readable": selectors.webhook_secrets_readable(webhook),
                "sparkline": charts.sparkline(webhook.insight_24h),
            }
        )
    card = created_card(request, listed)
    response = render_page(
        request,
        "webhooks_app/webhook_list.html",
        {
            "created": card,
            "page": page,
            "rows": rows,
            "search": search,
            "query": urlencode({"q": search}) if search else "",
            "any_webhook": bool(rows) or Webhook.objects.exists(),
            "params_errors": params_messages(errors, {"search": gettext("Search")}),
        },
        status=400 if errors else 200,
    )
    return no_store(response) if card else response


@console_view("webhook_add", methods=("GET", "POST"))
def webhook_create(request):
    form = WebhookForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            webhook = services.webhook_create(actor=request.user, **form.service_fields())
        except (ValidationError, WebhookError) as exc:
            form_errors_add(form, exc)
        else:
            # The webhook page shows the new secret once (created_card); the session holds
            # only which webhook was just created, never the secret itself.
            request.session[CREATED_SESSION_KEY] = {
                "pk": webhook.pk,
                "secret_chosen": bool(form.cleaned_data.get("secret")),
                "encryption_key_new": bool(getattr(webhook, "_encryption_key_new", False)),
            }
            if permissions.allowed(request.user, "webhook_change"):
                return redirect(webhook.get_absolute_url())
            return redirect(reverse_list())
    return render_page(request, "webhooks_app/webhook_form.html", {"form": form, "webhook": None})


CREATED_SESSION_KEY = "webhooks_app.created"
SECRET_HINT_CHARS = 4


def created_card(request, webhooks) -> dict | None:
    """The one-time card of a webhook just created, taken from the session (so a reload has none).

    It holds the signing secret (or, when the user chose it, its last characters) and a new
    payload encryption key, for the page the creation lands on; that page is never cached.
    """
    created = request.session.get(CREATED_SESSION_KEY)
    if not isinstance(created, dict):
        return None
    webhook = next((w for w in webhooks if w.pk == created.get("pk")), None)
    if webhook is None:
        return None
    del request.session[CREATED_SESSION_KEY]
    if "secret" in webhook.get_deferred_fields():
        webhook = Webhook.objects.get(pk=webhook.pk)
    chosen = bool(created.get("secret_chosen"))
    return {
        "webhook": webhook,
        "secret": "" if chosen else webhook.secret,
        "secret_end": webhook.secret[-SECRET_HINT_CHARS:] if chosen else "",
        "encryption_key": webhook.encryption_key if created.get("encryption_key_new") else "",
    }


def no_store(response):
    """A page that shows a secret: no cache may keep it (Cache-Control: no-store)."""
    add_never_cache_headers(response)
    patch_cache_control(response, no_store=True, private=True)
    return response


def encryption_key_message(request, webhook: Webhook) -> None:
    """Show a payload encryption key generated by this save, once (reveal it again from the edit page)."""
    if getattr(webhook, "_encryption_key_new", False):
        messages.warning(
            request,
            gettext(
                "Payload encryption key of “%(name)s” (shown this once, give it to the receiver): %(key)s"
            )
            % {"name": webhook.name, "key": webhook.encryption_key},
        )


def update_context(webhook: Webhook, form: WebhookForm, **extra) -> dict:
    return {
        "form": form,
        "webhook": webhook,
        "now": timezone.now(),
        "webhook_health": health.webhook_health(webhook),
        **extra,
    }


@console_view("webhook_change", methods=("GET", "POST"))
def webhook_update(request, pk):
    webhook = get_object_or_404(Webhook, pk=pk)
    # The form works on a copy: a rejected submission must not show its values
    # as the webhook's name in the page header.
    form = WebhookForm(request.POST if request.method == "POST" else None, instance=copy.copy(webhook))
    if request.method == "POST" and form.is_valid():
        try:
            services.webhook_update(webhook=webhook, actor=request.user, **form.service_fields())
        except (ValidationError, WebhookError) as exc:
            form_errors_add(form, exc)
        else:
            messages.success(request, gettext("Webhook “%(name)s” updated.") % {"name": webhook.name})
            encryption_key_message(request, webhook)
            return redirect(reverse_list())
    card = created_card(request, [webhook]) if request.method == "GET" else None
    response = render_page(
        request,
        "webhooks_app/webhook_form.html",
        update_context(webhook, form, insight=insight_context(request, webhook), created=card),
    )
    return no_store(response) if card else response


def insight_context(request, webhook: Webhook) -> dict | None:
    """The webhook page's chart (for those who may see its deliveries), ?period=24h|7d."""
    if not permissions.allowed(request.user, "webhook_deliveries"):
        return None
    params, _ = params_clean(WebhookStatsParams(request.GET))
    period = params.cleaned_data.get("period") or "24h"
    insight = selectors.webhook_insight(webhook=webhook, period=period)
    return {
        "chart": charts.insight_chart(insight),
        "insight": insight,
        "periods": list(INSIGHT_PERIOD_LABELS.items()),
    }


@console_view("webhook_delete", methods=("GET", "POST"))
def webhook_delete(request, pk):
    webhook = get_object_or_404(Webhook, pk=pk)
    if request.method == "POST":
        name = webhook.name
        services.webhook_delete(webhook=webhook)
        messages.success(
            request,
            gettext("Webhook “%(name)s” and its delivery log were deleted.") % {"name": name},
        )
        return redirect(reverse_list())
    return render_page(
        request,
        "webhooks_app/webhook_confirm_delete.html",
        {"webhook": webhook, "delivery_count": selectors.delivery_list(webhook=webhook).count()},
    )


@console_view("webhook_change", methods=("POST",))
def webhook_toggle(request, pk):
    """Enable or disable in place; answers JSON to the list's script, else redirects."""
    webhook = get_object_or_404(Webhook, pk=pk)
    wanted = request.POST.get("enabled")
    enabled = (not webhook.enabled) if wanted not in ("0", "1") else wanted == "1"
    services.webhook_set_enabled(webhook=webhook, enabled=enabled, actor=request.user)
    text = (
        gettext("Webhook “%(name)s” enabled.") if enabled else gettext("Webhook “%(name)s” disabled.")
    ) % {"name": webhook.name}
    if wants_json(request):
        return JsonResponse({"id": webhook.pk, "enabled": webhook.enabled, "message": text})
    messages.success(request, text)
    return HttpResponseRedirect(safe_next(request, reverse_list()))


def test_outcome(delivery: Delivery) -> tuple[int, str]:
    """A flash message level and text that say how a test delivery went so far."""
    code = f"HTTP {delivery.last_response_status}" if delivery.last_response_status else ""
    took = (
        (" " + gettext("in %(ms)s ms") % {"ms": delivery.last_duration_ms})
        if delivery.last_duration_ms is not None
        else ""
    )
    if delivery.status == Delivery.Status.SUCCEEDED:
        return messages.SUCCESS, gettext("Test event delivered: the receiver answered %(code)s%(took)s.") % {
            "code": code,
            "took": took,
        }
    error = texts.shown(delivery.last_error_code, delivery.last_error_params, delivery.last_error)
    if delivery.status == Delivery.Status.SKIPPED:
        # A recipient webhook's test event has no recipient of its own to send to.
        return messages.WARNING, gettext("Test event skipped: %(error)s") % {"error": error}
    problem = code or error or gettext("no answer")
    if delivery.status == Delivery.Status.FAILED:
        return messages.ERROR, gettext("Test event failed: %(problem)s.") % {"problem": problem}
    if delivery.attempt_count:
        return messages.WARNING, gettext(
            "The first try of the test event failed (%(problem)s); it will be retried."
        ) % {"problem": problem}
    return messages.INFO, gettext("Test event queued. This page updates when the receiver has answered.")


@console_view("webhook_send_test", methods=("POST",))
def webhook_test(request, pk):
    webhook = get_object_or_404(Webhook, pk=pk)
    delivery = services.webhook_send_test(webhook=webhook, actor=request.user)
    delivery.refresh_from_db()
    if permissions.allowed(request.user, "delivery_view"):
        # The delivery page says how the test went and keeps saying it as it changes
        # (a live part, not a flash message that would stay "queued" after success).
        return redirect(delivery.get_absolute_url() + "?test=1")
    messages.add_message(request, *test_outcome(delivery))
    return HttpResponseRedirect(safe_next(request, webhook.get_absolute_url()))


@console_view("webhook_secret", methods=("POST",))
def webhook_reveal_secret(request, pk):
    """The edit page with the signing secret in clear (POST, never cached)."""
    webhook = get_object_or_404(Webhook, pk=pk)
    context = update_context(
        webhook,
        WebhookForm(instance=copy.copy(webhook)),
        revealed_secret=webhook.secret,
        revealed_encryption_key=webhook.encryption_key,
    )
    return render_page(request, "webhooks_app/webhook_form.html", context)


@console_view("webhook_secret", methods=("POST",))
def webhook_rotate_encryption_key(request, pk):
    """A new payload encryption key, shown in the answer (POST, never cached)."""
    webhook = get_object_or_404(Webhook, pk=pk)
    services.webhook_encryption_key_rotate(webhook=webhook, actor=request.user)
    messages.success(
        request,
        gettext(
            "A new payload encryption key was generated; every request from now on is encrypted with "
            "it. Give it to the receiver."
        ),
    )
    context = update_context(
        webhook, WebhookForm(instance=copy.copy(webhook)), revealed_encryption_key=webhook.encryption_key
    )
    return render_page(request, "webhooks_app/webhook_form.html", context)


@console_view("webhook_secret", methods=("GET", "POST"))
def webhook_rotate_secret(request, pk):
    webhook = get_object_or_404(Webhook, pk=pk)
    if request.method == "POST":
        services.webhook_secret_rotate(webhook=webhook, actor=request.user)
        hours = services.secret_overlap().total_seconds() / 3600
        messages.success(
            request,
            gettext(
                "A new signing secret was generated. The previous one keeps signing for %(hours)s hours "
                "so the receiver can switch."
            )
            % {"hours": f"{hours:g}"}
            if hours
            else gettext("A new signing secret was generated; the previous one no longer signs."),
        )
        return redirect(webhook.get_absolute_url())
    hours = services.secret_overlap().total_seconds() / 3600
    return render_page(
        request,
        "webhooks_app/webhook_confirm_rotate.html",
        {"webhook": webhook, "overlap_hours": f"{hours:g}"},
    )


@console_view("webhook_secret", methods=("POST",))
def webhook_expire_previous_secret(request, pk):
    """End a rotation's overlap now: only the current secret signs from the next request on."""
    webhook = get_object_or_404(Webhook, pk=pk)
    services.webhook_previous_secret_expire(webhook=webhook, actor=request.user)
    messages.success(
        request, gettext("The previous signing secret no longer signs; only the current one does.")
    )
    return redirect(webhook.get_absolute_url())


FILTER_TEST_EVENTS = 20


@console_view("webhook_filters_test", methods=("POST",))
def webhook_filters_test(request):
    """Which of the last recorded events of the chosen types the filters would let through (JSON).

    The form's "Test filters" button posts the filters JSON and the checked events; the
    filters are validated by the model's validator, so an error reads as on save.
    """
    try:
        filters = json.loads(request.POST.get("filters") or "{}")
        validate_filters(filters)
    except ValueError:
        return JsonResponse({"error": gettext("The filters are not valid JSON.")}, status=400)
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    events = request.POST.getlist("events")
    if not events:
        return JsonResponse({"error": gettext("Choose the events to test the filters against.")}, status=400)
    results = selectors.events_filter_test(events=events, filters=filters, limit=FILTER_TEST_EVENTS)
    sent = sum(1 for r in results if r["sent"])
    summary = (
        ngettext(
            "Of the last %(count)d recorded event of the chosen types, "
            "%(sent)d would have been sent and %(filtered)d filtered out.",
            "Of the last %(count)d recorded events of the chosen types, "
            "%(sent)d would have been sent and %(filtered)d filtered out.",
            len(results),
        )
        % {"count": len(results), "sent": sent, "filtered": len(results) - sent}
        if results
        else gettext(
            "No recorded events of the chosen types yet (events that no webhook received are not recorded)."
        )
    )
    return JsonResponse({"summary": summary, "events": results})


@console_view("sending_change")
def sending_off(request):
    """Asks before all sending is switched off: what it holds, and that it is sent when on again."""
    return render_page(
        request,
        "webhooks_app/webhook_confirm_sending.html",
        {
            "pending_count": Delivery.objects.filter(status=Delivery.Status.PENDING).count(),
            "enabled_webhooks": Webhook.objects.filter(enabled=True).count(),
            "next": safe_next(request, reverse_list()),
        },
    )


@console_view("sending_change", methods=("POST",))
def sending_update(request):
    """The site-wide switch at the top of Webhook Settings: all sending on or off."""
    wanted = request.POST.get("enabled")
    enabled = (not selectors.sending.enabled()) if wanted not in ("0", "1") else wanted == "1"
    services.webhook_settings_update(enabled=enabled, actor=request.user)
    if enabled:
        messages.success(
            request, gettext("Webhooks are on: every held delivery is being sent, oldest first.")
        )
    else:
        messages.warning(
            request,
            gettext(
                "All webhook sending is off. Events and deliveries are still recorded and are sent "
                "when it is switched on again."
            ),
        )
    return HttpResponseRedirect(safe_next(request, reverse_list()))


# API token ------------------------------------------------------------------------

TOKEN_HINT_CHARS = 4


def api_docs_url() -> str:
    try:
        return reverse("webhooks_api:docs")
    except NoReverseMatch:
        return ""


@console_view("webhook_view", methods=("GET", "POST"))
def api_token(request):
    """The user's own REST API token: create (shown this once) or replace it, revoke it.

    The page that shows a new key is the answer to the POST, never cached, and the key
    is not kept anywhere else for the page: a reload shows only its last characters.
    """
    if not tokens_available():
        raise Http404(gettext("The REST API's token authentication is not installed."))
    from rest_framework.authtoken.models import Token

    created = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            if services.api_token_revoke(user=request.user):
                messages.success(request, gettext("Your API token was revoked; it no longer works."))
            return redirect("webhooks_app:api-token")
        created = services.api_token_create(user=request.user)
    token = created or Token.objects.filter(user=request.user).first()
    response = render_page(
        request,
        "webhooks_app/api_token.html",
        {
            "section": "tokens",
            "token": token,
            "new_key": created.key if created else "",
            "key_end": token.key[-TOKEN_HINT_CHARS:] if token else "",
            "docs_url": api_docs_url(),
        },
    )
    return no_store(response) if created else response


# Deliveries ---------------------------------------------------------------------


@console_view("webhook_deliveries")
def webhook_deliveries(request, pk):
    webhook = get_object_or_404(Webhook, pk=pk)
    # The API's parameters, cleaned the same way; a refused one is ignored with a
    # message and the page answers 400.
    filter_form, errors = params_clean(DeliveryFilterForm(request.GET))
    filters = filter_form.selector_kwargs()
    deliveries = selectors.delivery_list(webhook=webhook, **filters).defer("event__data", "event__context")
    # Newer/older by keyset: any page of a million-row log costs one index range scan.
    # A cursor that names no position is refused like a filter: the newest page, a 400.
    cursors, cursor_errors = params_clean(DeliveryPageParams(request.GET))
    page = selectors.delivery_page(queryset=deliveries, size=DELIVERIES_PER_PAGE, **cursors.selector_kwargs())
    query = request.GET.copy()
    for name in ("page", "older", "newer"):
        query.pop(name, None)
    for name in errors:
        query.pop(name, None)
    health.deliveries_state_attach(page.rows)
    return render_page(
        request,
        "webhooks_app/delivery_list.html",
        {
            "webhook": webhook,
            "webhook_health": health.webhook_health(webhook),
            "page": page,
            "filter_form": filter_form,
            "filtered": any(filters.values()),
            "query": query.urlencode(),
            "redeliver_form": RedeliverFailedForm(),
            "params_errors": params_messages(
                {**errors, **cursor_errors},
                {
                    n: f.label or n.replace("_", " ").capitalize()
                    for n, f in {**filter_form.fields, **cursors.fields}.items()
                },
            ),
        },
        status=400 if errors or cursor_errors else 200,
    )


@console_view("webhook_deliveries")
def delivery_log(request):
    """Every webhook's deliveries in one log, filtered like a webhook's, by keyset pages."""
    filter_form, errors = params_clean(DeliveryLogFilterForm(request.GET))
    filters = filter_form.log_kwargs()
    page = selectors.delivery_page(
        queryset=health.deliveries_log(**filters),
        size=DELIVERIES_PER_PAGE,
        older=request.GET.get("older", ""),
        newer=request.GET.get("newer", ""),
    )
    page.rows = health.deliveries_log_fill(page.rows)
    query = request.GET.copy()
    for name in ("page", "older", "newer", *errors):
        query.pop(name, None)
    period = filter_form.cleaned_data.get("period") if hasattr(filter_form, "cleaned_data") else ""
    without_period = query.copy()
    without_period.pop("period", None)
    return render_page(
        request,
        "webhooks_app/delivery_log.html",
        {
            "section": "deliveries",
            "page": page,
            "filter_form": filter_form,
            "filtered": any(v for v in filters.values()),
            "query": query.urlencode(),
            "period": period or "",
            "periods": list(LOG_PERIOD_LABELS.items()),
            "period_query": without_period.urlencode(),
            "params_errors": params_messages(
                errors,
                {n: f.label or n.replace("_", " ").capitalize() for n, f in filter_form.fields.items()},
            ),
        },
        status=400 if errors else 200,
    )


@console_view("deliveries_redeliver_failed", methods=("GET", "POST"))
def webhook_redeliver_failed(request, pk):
    """GET: what "Redeliver all failed" would send (how many, since when), to confirm; POST: send it.

    Refused on a disabled webhook (its redeliveries would be cancelled at once), with
    the page offering Enable.
    """
    webhook = get_object_or_404(Webhook, pk=pk)
    back = reverse("webhooks_app:webhook-deliveries", args=[webhook.pk])
    if request.method == "GET":
        data = request.GET
        if "since" not in data:  # the form's own default: the last 24 hours
            data = {"since": RedeliverFailedForm().initial["since"].strftime("%Y-%m-%dT%H:%M")}
        form = RedeliverFailedForm(data)
        count = None
        if form.is_valid():
            try:
                count = services.deliveries_redeliver_failed(
                    webhook=webhook, since=form.cleaned_data["since"], dry_run=True
                )
            except WebhookValidationError as exc:
                form_errors_add(form, exc)
        if count is None:
            for error in form.errors.get("since", []):
                messages.error(request, gettext("Redeliver failed deliveries: %(error)s") % {"error": error})
            return redirect(back)
        return render_page(
            request,
            "webhooks_app/webhook_confirm_redeliver_failed.html",
            {
                "webhook": webhook,
                "form": form,
                "count": count,
                "since": form.cleaned_data["since"],
                "enable_next": request.get_full_path(),
            },
        )
    form = RedeliverFailedForm(request.POST)
    count = None
    if form.is_valid():
        since = form.cleaned_data["since"]
        try:
            count = services.deliveries_redeliver_failed(webhook=webhook, since=since)
        except WebhookValidationError as exc:
            form_errors_add(form, exc)
        except WebhookDisabled:
            messages.error(request, disabled_message(webhook))
            return redirect(f"{request.path}?{urlencode({'since': request.POST.get('since', '')})}")
    if count is None:
        for error in form.errors.get("since", []):
            messages.error(request, gettext("Redeliver failed deliveries: %(error)s") % {"error": error})
        return redirect(back)
    when = timezone.localtime(since).strftime("%Y-%m-%d %H:%M")
    if count:
        messages.success(
            request,
            ngettext(
                "Redelivering %(count)d failed delivery since %(when)s.",
                "Redelivering %(count)d failed deliveries since %(when)s.",
                count,
            )
            % {"count": count, "when": when},
        )
    else:
        messages.info(
            request, gettext("No failed deliveries since %(when)s: nothing to redeliver.") % {"when": when}
        )
    return redirect(back)


def pretty(body: str, content_type: str = "") -> str:
    """A request or response body indented for reading, when it is JSON or XML."""
    text = (body or "").strip()
    if not text:
        return ""
    if text[:1] in "[{" or "json" in content_type:
        try:
            return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return body
    if text.startswith("<") or "xml" in content_type:
        try:
            return minidom.parseString(text).toprettyxml(indent="  ")  # noqa: S318 - bodies we sent
        except ExpatError:
            return body
    return body


def header(headers: dict, name: str) -> str:
    return next((v for k, v in (headers or {}).items() if k.lower() == name.lower()), "")


@console_view("delivery_view")
def delivery_detail(request, pk):
    try:
        delivery = selectors.delivery_get(pk=pk)
    except Delivery.DoesNotExist:
        raise Http404(gettext("No such delivery.")) from None
    webhook = delivery.webhook
    content_type, body = render(delivery.event, webhook.payload_format, webhook=webhook)
    attempts = [
        {
            "attempt": attempt,
            "request_body": pretty(attempt.request_body, header(attempt.request_headers, "Content-Type")),
            "response_body": pretty(attempt.response_body, header(attempt.response_headers, "Content-Type")),
        }
        for attempt in selectors.attempt_list(delivery=delivery)
    ]
    refresh = delivery.status == Delivery.Status.PENDING and (
        delivery.next_attempt_at is None
        or (delivery.next_attempt_at - timezone.now()).total_seconds() < AUTO_REFRESH_WINDOW_SECONDS
    )
    outcome = None
    if request.GET.get("test") and delivery.event_type == TEST_EVENT:
        level, text = test_outcome(delivery)
        outcome = {"level": messages.DEFAULT_TAGS.get(level, "info"), "text": text}
    return render_page(
        request,
        "webhooks_app/delivery_detail.html",
        {
            "webhook": webhook,
            "delivery": delivery,
            # Where it goes: its own URL, or (a row from before deliveries recorded it) the
            # webhook's, which is what the engine sends to then.
            "delivery_url": delivery.url
            or (webhook.url if webhook.destination == Webhook.Destination.URL else ""),
            "test_outcome": outcome,
            "event": envelope(delivery.event),
            "payload": pretty(body, content_type),
            "payload_format": webhook.get_payload_format_display(),
            "attempts": attempts,
            "auto_refresh": refresh,
            "redeliveries": selectors.delivery_list(webhook=webhook)
            .filter(event_id=delivery.event_id)
            .exclude(pk=delivery.pk)
            .select_related(None)
            .only("pk", "status", "created_at"),
        },
    )


@never_cache
@console_view("delivery_view", methods=("POST",))
def attempt_curl(request, pk):
    """ "Copy as curl": the attempt's request as a curl command (JSON to the page's script, else
    text); signed afresh for who may read the signing secret. A POST, never cached."""
    attempt = get_object_or_404(Attempt.objects.select_related("delivery__webhook"), pk=pk)
    text = replay.attempt_curl(attempt=attempt, signed=permissions.allowed(request.user, "webhook_secret"))
    if wants_json(request):
        return no_store(JsonResponse({"curl": text}))
    return no_store(HttpResponse(text, content_type="text/plain; charset=utf-8"))


def disabled_message(webhook: Webhook) -> str:
    return gettext("“%(name)s” is disabled, so what is sent to it is cancelled at once. Enable it first.") % {
        "name": webhook.name
    }


@console_view("delivery_redeliver", methods=("POST",))
def delivery_retry_now(request, pk):
    """Retry now: a pending delivery's next try is due at once (needs what Redeliver needs)."""
    delivery = get_object_or_404(Delivery.objects.select_related("webhook"), pk=pk)
    try:
        services.delivery_retry_now(delivery=delivery)
    except WebhookDisabled:
        messages.error(request, disabled_message(delivery.webhook))
    except DeliveryInProgress:
        messages.info(request, gettext("This delivery is being tried right now."))
    except IllegalTransition:
        messages.warning(
            request, gettext("This delivery has finished; redeliver it to send its event again.")
        )
    else:
        messages.success(request, gettext("Retrying delivery #%(pk)s now.") % {"pk": delivery.pk})
    return redirect(delivery.get_absolute_url())


@console_view("delivery_redeliver", methods=("POST",))
def delivery_redeliver(request, pk):
    delivery = get_object_or_404(Delivery.objects.select_related("webhook"), pk=pk)
    try:
        new = services.delivery_redeliver(delivery=delivery)
    except DeliveryInProgress as exc:
        messages.warning(request, str(exc))
        return redirect(delivery.get_absolute_url())
    except WebhookDisabled:
        messages.error(request, disabled_message(delivery.webhook))
        return redirect(delivery.get_absolute_url())
    new.refresh_from_db()
    messages.success(
        request,
        gettext(
            "Redelivery of event %(event_id)s started as delivery #%(pk)s (same webhook-id, "
            "receivers can drop it as a duplicate). Status: %(status)s."
        )
        % {"event_id": new.event_id, "pk": new.pk, "status": new.get_status_display().lower()},
    )
    return redirect(new.get_absolute_url())

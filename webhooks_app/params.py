"""Query parameters of the list pages, cleaned once for the console and the API.

Plain Django forms, so that the console needs no DRF: the API turns their
errors into a 400 with per-parameter messages, the console into a 400 page that
shows the messages and lists without the refused filter. Either way a value the
database cannot take (a NUL character, a text too long) never reaches a query.
Django's CharField refuses NUL characters by itself.
"""

from datetime import UTC

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Delivery


class UTCDateTimeField(forms.DateTimeField):
    """An ISO 8601 moment, kept in UTC.

    An offset PostgreSQL cannot take (beyond +-15:59, e.g. "+19:01") is moved to UTC
    here, and a moment that does not exist in UTC (year 1 minus an offset) is refused.
    """

    default_error_messages = {"overflow": _("Enter a moment between the years 1 and 9999 (UTC).")}

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(self.error_messages["overflow"], code="overflow") from None


class WebhookListParams(forms.Form):
    """``search``: part of a webhook's name or URL (the console's ``?q=``)."""

    search = forms.CharField(required=False, max_length=200, help_text="Part of the name or the URL.")


class DeliveryListParams(forms.Form):
    """Filters of a webhook's delivery log."""

    status = forms.ChoiceField(
        required=False,
        choices=[("", _("Any status")), *Delivery.Status.choices],
        help_text="Only deliveries in this status.",
    )
    event_type = forms.CharField(
        required=False, max_length=100, help_text="Only deliveries of this event type."
    )
    created_after = UTCDateTimeField(
        required=False, help_text="Only deliveries created at or after this moment (ISO 8601)."
    )
    created_before = UTCDateTimeField(
        required=False, help_text="Only deliveries created before this moment (ISO 8601)."
    )
    event_id = forms.CharField(
        required=False,
        max_length=40,
        help_text="Only deliveries of this event (its id, the webhook-id header).",
    )

    def selector_kwargs(self) -> dict:
        """The valid filters as keyword arguments of selectors.delivery_list (refused ones left out)."""
        data = getattr(self, "cleaned_data", {})
        return {
            "status": data.get("status") or "",
            "event_type": data.get("event_type") or "",
            "since": data.get("created_after"),
            "until": data.get("created_before"),
            "event_id": (data.get("event_id") or "").strip(),
        }


class DeliveryCursorField(forms.CharField):
    """A position in a webhook's delivery log, as the console's Newer and Older links write it."""

    default_error_messages = {
        "cursor": _("Not a position in the delivery log; follow the Newer and Older links.")
    }

    def validate(self, value):
        super().validate(value)
        from .selectors import delivery_cursor_parse  # selectors imports the models, as this does

        if value and delivery_cursor_parse(value) is None:
            raise forms.ValidationError(self.error_messages["cursor"], code="cursor")


class DeliveryPageParams(forms.Form):
    """The console's keyset cursors of the delivery log (the API pages with DRF's ``cursor``)."""

    older = DeliveryCursorField(
        required=False, max_length=60, label=_("Older"), help_text="The page of older deliveries."
    )
    newer = DeliveryCursorField(
        required=False, max_length=60, label=_("Newer"), help_text="The page of newer deliveries."
    )

    def selector_kwargs(self) -> dict:
        """older / newer for selectors.delivery_page ("" for a refused one: the newest page)."""
        data = getattr(self, "cleaned_data", {})
        return {"older": data.get("older") or "", "newer": data.get("newer") or ""}


INSIGHT_PERIOD_LABELS = {"24h": _("Last 24 hours"), "7d": _("Last 7 days")}


class WebhookStatsParams(forms.Form):
    """``period``: 24h (hourly buckets, the default) or 7d (6-hour buckets)."""

    period = forms.ChoiceField(
        required=False,
        choices=list(INSIGHT_PERIOD_LABELS.items()),
        help_text="24h: hourly buckets over the last 24 hours (default); 7d: 6-hour buckets over 7 days.",
    )


def params_clean(form: forms.Form) -> tuple[forms.Form, dict[str, list[str]]]:
    """Validate a params form: (the form, {parameter: [messages]}); no messages when all are valid.

    A refused parameter is dropped from ``cleaned_data``, so callers that go on
    (the console) list without it.
    """
    form.is_valid()
    return form, {name: list(messages) for name, messages in form.errors.items()}

"""Template tags of the console: relative times ("in 40 s", "4 min ago") that console.js keeps current."""

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext

register = template.Library()


def relative_time(value: datetime, *, now: datetime | None = None) -> str:
    """A moment relative to now, to the second below a minute: "just now", "in 40 s", "4 min ago".

    console.js computes the same text in the browser (RELATIVE in console.js) and
    updates it every second; the templates of both come from the same catalog.
    """
    now = now or timezone.now()
    seconds = (value - now).total_seconds()
    future, span = seconds > 0, abs(seconds)
    if span < 1 or (not future and span < 5):
        return gettext("now") if future else gettext("just now")
    if span < 60:
        amount, unit = round(span), "s"
        amount = min(max(amount, 1), 59)
    elif span < 3600:
        amount, unit = round(span / 60), "min"
        if amount >= 60:
            amount, unit = 1, "h"
    elif span < 86400:
        amount, unit = round(span / 3600), "h"
        if amount >= 24:
            amount, unit = 1, "d"
    else:
        amount, unit = round(span / 86400), "d"
    return _forms()[(future, unit)] % {"n": amount}


def _forms() -> dict:
    return {
        (True, "s"): gettext("in %(n)s s"),
        (False, "s"): gettext("%(n)s s ago"),
        (True, "min"): gettext("in %(n)s min"),
        (False, "min"): gettext("%(n)s min ago"),
        (True, "h"): gettext("in %(n)s h"),
        (False, "h"): gettext("%(n)s h ago"),
        (True, "d"): gettext("in %(n)s d"),
        (False, "d"): gettext("%(n)s d ago"),
    }


@register.simple_tag
def relative_texts():
    """The data-rel-* attributes console.js builds relative times from, in the page's language."""
    texts = {"rel-now": gettext("now"), "rel-just-now": gettext("just now")}
    for (future, unit), text in _forms().items():
        texts[f"rel-{'in' if future else 'ago'}-{unit}"] = text
    return format_html_join(" ", 'data-{}="{}"', texts.items())


@register.filter
def relative(value):
    """``{{ moment|relative }}``: the text alone (for attributes and announcements)."""
    if not value:
        return ""
    return relative_time(value)


@register.simple_tag
def reltime(value):
    """``{% reltime moment %}``: a <time> element with the relative text, the exact moment as
    its title, kept current by console.js (data-relative)."""
    if not value:
        return ""
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}" title="{}" data-relative>{}</time>',
        value.isoformat(),
        date_format(local, "Y-m-d H:i:s T"),
        relative_time(value),
    )


@register.simple_tag
def clock(value):
    """``{% clock moment %}``: "03:17" for a moment of the last 24 hours, else "2026-11-23 03:17"."""
    if not value:
        return ""
    local = timezone.localtime(value)
    recent = abs((timezone.now() - value).total_seconds()) < 86400
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.isoformat(),
        date_format(local, "Y-m-d H:i:s T"),
        date_format(local, "H:i" if recent else "Y-m-d H:i"),
    )


@register.filter
def delivery_state(delivery):
    """``{{ delivery|delivery_state }}``: its health.DeliveryState (attached by the view, or derived)."""
    from ..health import delivery_state as derive

    state = getattr(delivery, "state", None)
    return state if state is not None else derive(delivery)


@register.simple_tag
def engine_text(code, params, stored):
    """``{% engine_text attempt.error_code attempt.error_params attempt.error_message %}``: an
    engine's text in the reader's language (webhooks_app.texts), or as stored when it has no code."""
    from ..texts import shown

    return shown(code, params, stored or "")

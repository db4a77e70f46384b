"""Geometry of the console's server-rendered SVG charts (the numbers come from selectors.Insight).

The templates draw plain SVG from these dicts: no script, no chart library, and
each chart carries its text alternative (a summary and a table).
"""

from django.utils import dateformat, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .selectors import Insight

SERIES = (("succeeded", _("Succeeded")), ("failed", _("Failed")), ("pending", _("Pending")))


def _nice_max(value: int) -> int:
    """The smallest of 1, 2, 5 x 10^n at or above value (an axis top)."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if top * step >= value:
                return top * step
        top *= 10


def _stack(bucket, *, x: float, width: float, base: float, scale: float) -> list[dict]:
    rects, y = [], base
    for name, _label in SERIES:
        count = getattr(bucket, name)
        if not count:
            continue
        height = max(count * scale, 1.0)
        y -= height
        rects.append(
            {"series": name, "x": round(x, 2), "y": round(y, 2), "w": round(width, 2), "h": round(height, 2)}
        )
    return rects


def _label(bucket_start, period: str) -> str:
    local = timezone.localtime(bucket_start)
    # Django's date format names the weekday in the active language.
    return local.strftime("%H:%M") if period == "24h" else dateformat.format(local, "D d H:i")


def summary(insight: Insight) -> str:
    """The chart in one sentence (its text alternative)."""
    counts = {
        "succeeded": insight.succeeded,
        "failed": insight.failed,
        "pending": insight.pending,
        "rate": "—" if insight.success_rate is None else f"{insight.success_rate * 100:.1f}%",
    }
    if insight.period == "24h":
        text = gettext(
            "In the last 24 hours: %(succeeded)s succeeded, %(failed)s failed, %(pending)s pending; "
            "success rate %(rate)s"
        )
    else:
        text = gettext(
            "In the last 7 days: %(succeeded)s succeeded, %(failed)s failed, %(pending)s pending; "
            "success rate %(rate)s"
        )
    text %= counts
    p50, p95 = insight.percentile(0.5), insight.percentile(0.95)
    if p50 is not None:
        text += gettext("; response time p50 %(p50)s ms, p95 %(p95)s ms") % {"p50": p50, "p95": p95}
    return text + "."


def sparkline(insight: Insight, *, width: int = 96, height: int = 24) -> dict:
    """A small bar chart of the last 24 hours for the webhook list."""
    buckets = insight.buckets
    top = max((b.total for b in buckets), default=0)
    slot = width / max(len(buckets), 1)
    scale = (height - 2) / top if top else 0
    bars = []
    for i, bucket in enumerate(buckets):
        bars += _stack(bucket, x=i * slot, width=max(slot - 1, 1), base=height, scale=scale)
    return {"width": width, "height": height, "bars": bars, "summary": summary(insight), "empty": not top}


def insight_chart(insight: Insight) -> dict:
    """The webhook page's chart: stacked bars per bucket, a y axis, time labels and a table."""
    width, height = 720, 200
    left, right, top_margin, bottom = 40, 8, 10, 24
    plot_w, plot_h = width - left - right, height - top_margin - bottom
    buckets = insight.buckets
    top = _nice_max(max((b.total for b in buckets), default=0) or 1)
    slot = plot_w / len(buckets)
    scale = plot_h / top
    base = top_margin + plot_h
    bars, labels = [], []
    every = 6 if insight.period == "24h" else 4  # every 6 hours / every day
    for i, bucket in enumerate(buckets):
        x = left + i * slot
        bars.append(
            {
                "rects": _stack(bucket, x=x + 1, width=max(slot - 2, 1), base=base, scale=scale),
                "title": gettext("%(time)s: %(succeeded)s succeeded, %(failed)s failed, %(pending)s pending")
                % {
                    "time": _label(bucket.start, insight.period),
                    "succeeded": bucket.succeeded,
                    "failed": bucket.failed,
                    "pending": bucket.pending,
                },
            }
        )
        if i % every == 0:
            labels.append({"x": round(x + slot / 2, 2), "text": _label(bucket.start, insight.period)})
    ticks = [
        {"y": round(base - value * scale, 2), "value": value}
        for value in sorted({0, top // 2, top})
        if value or top
    ]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right_x": width - right,
        "base": base,
        "bars": bars,
        "labels": labels,
        "label_y": height - 6,
        "ticks": ticks,
        "summary": summary(insight),
        "rate": None if insight.success_rate is None else f"{insight.success_rate * 100:.1f}%",
        "p50": insight.percentile(0.5),
        "p95": insight.percentile(0.95),
        "rows": [
            {
                "start": bucket.start,
                "label": _label(bucket.start, insight.period),
                "succeeded": bucket.succeeded,
                "failed": bucket.failed,
                "pending": bucket.pending,
            }
            for bucket in buckets
        ],
        "series": SERIES,
    }

"""The app's periodic django-q2 schedules, created idempotently after migrate."""

from django.db import DEFAULT_DB_ALIAS

SCHEDULES = {
    "webhooks_app.sweep": "webhooks_app.tasks.deliveries_sweep",
    "webhooks_app.purge": "webhooks_app.tasks.retention_purge",
}


def schedules_ensure(using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    """Create or fix the sweep (every SWEEP_MINUTES) and the daily purge.

    django-q2 does not make schedule names unique, so rows are looked up by name
    and extra copies removed; every cluster's scheduler then sees one of each.
    """
    from django_q.models import Schedule

    from .conf import app_settings

    wanted = {
        "webhooks_app.sweep": {
            "func": SCHEDULES["webhooks_app.sweep"],
            "schedule_type": Schedule.MINUTES,
            "minutes": int(app_settings.SWEEP_MINUTES),
            "repeats": -1,
        },
        "webhooks_app.purge": {
            "func": SCHEDULES["webhooks_app.purge"],
            "schedule_type": Schedule.DAILY,
            "repeats": -1,
        },
    }
    for name, fields in wanted.items():
        rows = list(Schedule.objects.using(using).filter(name=name).order_by("pk"))
        if rows:
            first, extra = rows[0], rows[1:]
            for row in extra:
                row.delete()
            changed = [k for k, v in fields.items() if getattr(first, k) != v]
            if changed:
                for k in changed:
                    setattr(first, k, fields[k])
                first.save(using=using)
        else:
            Schedule.objects.using(using).create(name=name, **fields)

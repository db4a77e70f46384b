"""The soak command in a small size: a real qcluster SIGKILLed and restarted, a failing receiver, 0 lost.

The full size (10,000 events x 2 webhooks on PostgreSQL) is run by hand from the
repository (the command belongs to the demo project, config/contacts, not to the wheel):
``DATABASE_URL=postgres://... python manage.py webhooks_soak --events 10000 --fresh-db``.
"""

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_q.conf import Conf

from tests.conftest import require_service
from webhooks_app.conf import app_settings
from webhooks_app.models import Delivery, Event, Webhook

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


def figures(text: str) -> dict[str, str]:
    return dict(re.findall(r"^([a-z][a-z ()]+):\s+(.+)$", text, re.MULTILINE))


def soak(**options) -> tuple[dict, str]:
    out = io.StringIO()
    sync_before = Conf.SYNC
    call_command("webhooks_soak", stdout=out, stderr=io.StringIO(), **options)
    assert sync_before == Conf.SYNC  # the command restores this process' queue settings
    return figures(out.getvalue()), out.getvalue()


@pytest.mark.parametrize(
    "broker,events,kills",
    [("orm", 200, 2), pytest.param("redis", 100, 1, marks=pytest.mark.redis)],
)
def test_soak_with_kills_and_failures_loses_nothing(broker, events, kills):
    options = {"events": events, "webhooks": 2, "fail_share": 0.2, "kills": kills, "time_limit": 240}
    if broker == "redis":
        require_service("Redis", "127.0.0.1", 6379)
        options.update(broker="redis", redis_url="redis://127.0.0.1:6379/12")

    report, text = soak(**options)

    expected = events * 2
    assert report["events"] == str(events)
    assert report["deliveries expected"] == str(expected)
    assert report["unique deliveries received"] == str(expected), text
    assert report["lost"] == "0"
    assert report["cluster kills"] == str(kills)
    assert report["bad signatures"] == "0"
    assert report["deliveries failed (retries exhausted)"] == "0"
    assert report["deliveries still pending"] == "0"
    # About a fifth of the requests failed on purpose, and each failure was
    # recorded as an Attempt. A kill may cut what a worker had sent but not yet
    # recorded: its requests in flight (CONCURRENCY) and up to two rounds of
    # answered results waiting for the next write (the drain records a round at a
    # time); 2 workers per cluster.
    failures_sent = int(report["failures sent by the receiver"])
    assert failures_sent > expected * 0.1
    unrecorded = 2 * 3 * app_settings.CONCURRENCY
    assert failures_sent - unrecorded * kills <= int(report["failures recorded"]) <= failures_sent
    # At least once: only requests cut by a kill may arrive twice.
    assert int(report["duplicates"]) <= unrecorded * kills
    assert int(report["requests received"]) == expected + failures_sent + int(report["duplicates"])
    assert text.rstrip().endswith("0 lost.")
    # The soak's own rows are removed afterwards.
    assert not Webhook.objects.exists() and not Delivery.objects.exists() and not Event.objects.exists()


def test_soak_exits_non_zero_when_deliveries_are_not_delivered_in_time():
    out = io.StringIO()
    with pytest.raises(CommandError, match=r"^\d+ deliveries lost, 0 bad signatures\.$"):
        call_command("webhooks_soak", events=300, kills=0, time_limit=0.5, stdout=out, stderr=io.StringIO())
    report = figures(out.getvalue())
    assert int(report["lost"]) > 0
    assert int(report["deliveries still pending"]) > 0


def test_soak_refuses_nonsense_arguments():
    with pytest.raises(CommandError, match="fail-share"):
        call_command("webhooks_soak", events=10, fail_share=1.5)

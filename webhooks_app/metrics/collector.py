"""The metrics read from the database at scrape time, and the registry /metrics serves; needs prometheus-client.

Read at each scrape by whichever process answers it, so every process, machine
and cluster reports the same values: the database holds them. Labels are a
webhook's id (never its URL, name or a tenant's text) and closed sets of words.

- ``webhooks_deliveries_total{webhook, outcome}`` (counter): finished deliveries
  ever, by outcome (succeeded, failed, cancelled, skipped); the log plus what the
  purge deleted (PurgedDeliveryCount), so it never goes down;
- ``webhooks_deliveries_due{webhook}``: due deliveries no worker holds yet;
- ``webhooks_deliveries_due_oldest_seconds{webhook}``: how long the oldest of them has waited;
- ``webhooks_deliveries_in_flight{webhook}``: deliveries a worker is sending now;
- ``webhooks_lag_seconds``: the oldest due delivery's wait, site-wide (0 when none),
  what /healthz compares with HEALTH_MAX_LAG;
- ``webhooks_webhooks{state}``: webhooks enabled and disabled;
- ``webhooks_sending_enabled``: 1 while sending is on site-wide;
- ``webhooks_database_up``: 0 when this scrape's reads failed (the others are then left out).
"""

import logging
import os

from django.db import DatabaseError
from django.utils import timezone
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from . import instruments
from .reads import backlog_read, deliveries_finished_counts, oldest_due_at, sending_enabled, webhooks_by_state

logger = logging.getLogger(__name__)


class DatabaseCollector:
    """A prometheus-client collector of the figures the database holds (see the module's docstring).

    A host with a /metrics of its own can register it in its registry instead of
    including webhooks_app.metrics.urls: ``REGISTRY.register(DatabaseCollector())``.
    """

    def describe(self):
        return []  # not read at registration: collect() queries the database

    def collect(self):
        now = timezone.now()
        up = GaugeMetricFamily("webhooks_database_up", "1 when the database answered this scrape's reads.")
        try:
            totals = deliveries_finished_counts()
            backlog = backlog_read(now=now, names=False)
            oldest = oldest_due_at(now=now)
            states = webhooks_by_state()
            sending = sending_enabled()
        except DatabaseError:
            logger.exception("Metrics: the database does not answer")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        deliveries = CounterMetricFamily(
            "webhooks_deliveries",
            "Finished deliveries by webhook and outcome (the log plus what the retention purge deleted).",
            labels=["webhook", "outcome"],
        )
        for (webhook_id, status), count in sorted(totals.items()):
            deliveries.add_metric([str(webhook_id), status], count)
        yield deliveries

        due = GaugeMetricFamily(
            "webhooks_deliveries_due", "Due deliveries no worker holds yet, by webhook.", labels=["webhook"]
        )
        waited = GaugeMetricFamily(
            "webhooks_deliveries_due_oldest_seconds",
            "Seconds the oldest due delivery no worker holds has waited, by webhook.",
            labels=["webhook"],
        )
        flight = GaugeMetricFamily(
            "webhooks_deliveries_in_flight",
            "Deliveries a worker is sending now, by webhook.",
            labels=["webhook"],
        )
        for row in backlog.webhooks:
            label = [str(row.webhook_id)]
            due.add_metric(label, row.due)
            flight.add_metric(label, row.in_flight)
            if row.oldest_due_seconds is not None:
                waited.add_metric(label, row.oldest_due_seconds)
        yield due
        yield waited
        yield flight

        yield GaugeMetricFamily(
            "webhooks_lag_seconds",
            "Seconds the oldest due delivery no worker holds has waited, site-wide (0 when none).",
            value=0.0 if oldest is None else max((now - oldest).total_seconds(), 0.0),
        )
        webhooks = GaugeMetricFamily("webhooks_webhooks", "Webhooks by state.", labels=["state"])
        for state, count in states.items():
            webhooks.add_metric([state], count)
        yield webhooks
        yield GaugeMetricFamily(
            "webhooks_sending_enabled", "1 while sending is switched on site-wide.", value=1 if sending else 0
        )


class _InProcess:
    """This process' own in-process metrics (when not in multiprocess mode)."""

    def describe(self):
        return []

    def collect(self):
        yield from instruments.REGISTRY.collect()


def registry() -> CollectorRegistry:
    """What /metrics serves: the database's figures and the engine's in-process metrics.

    In multiprocess mode (PROMETHEUS_MULTIPROC_DIR) the in-process part is every
    process' files in that directory added up; otherwise it is this process' own.
    """
    served = CollectorRegistry(auto_describe=False)
    served.register(DatabaseCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(served)
    else:
        served.register(_InProcess())
    return served


def render(accept: str | None) -> tuple[bytes, str]:
    """The text exposition (or OpenMetrics, when the scraper asks for it) and its content type."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry()), content_type

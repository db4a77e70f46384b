"""Writes: emitting events, attempting deliveries, managing webhooks, retention.

Every state change of the app goes through here; views, serializers, tasks,
receivers and admin actions call these functions and nothing else. One module
per job: ``events`` (emit), ``queue`` (waking workers, the sweep),
``deliveries`` (attempts, retries, redelivery), ``webhooks`` (management) and
``retention`` (the purge).
"""

from .deliveries import (
    ALLOWED_TRANSITIONS,
    REDACTED,
    attempt_record,
    deliveries_redeliver_failed,
    delivery_attempt,
    delivery_cancel,
    delivery_claim,
    delivery_finish,
    delivery_redeliver,
    delivery_request,
    headers_redact,
    retry_after_seconds,
    retry_delay,
)
from .events import event_emit
from .queue import TASK, deliveries_enqueue, deliveries_sweep
from .retention import PURGE_TASK, retention_purge, retention_purge_slice
from .webhooks import (
    SECRET_OVERLAP,
    WEBHOOK_FIELDS,
    webhook_create,
    webhook_delete,
    webhook_disable,
    webhook_secret_rotate,
    webhook_send_test,
    webhook_set_enabled,
    webhook_update,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "PURGE_TASK",
    "REDACTED",
    "SECRET_OVERLAP",
    "TASK",
    "WEBHOOK_FIELDS",
    "attempt_record",
    "deliveries_enqueue",
    "deliveries_redeliver_failed",
    "deliveries_sweep",
    "delivery_attempt",
    "delivery_cancel",
    "delivery_claim",
    "delivery_finish",
    "delivery_redeliver",
    "delivery_request",
    "event_emit",
    "headers_redact",
    "retention_purge",
    "retention_purge_slice",
    "retry_after_seconds",
    "retry_delay",
    "webhook_create",
    "webhook_delete",
    "webhook_disable",
    "webhook_secret_rotate",
    "webhook_send_test",
    "webhook_set_enabled",
    "webhook_update",
]

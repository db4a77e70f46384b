"""Writes: emitting events, attempting deliveries, managing webhooks, retention.

Every state change of the app goes through here; views, serializers, tasks,
receivers and admin actions call these functions and nothing else. One module
per job: ``events`` (emit), ``queue`` (waking workers, the sweep, timed wake-ups),
``drain`` (what a woken worker does), ``deliveries`` (claims, requests, the attempt
log, retries, redelivery), ``webhooks`` (management), ``tokens`` (a user's API
token) and ``retention`` (the purge).
"""

from .deliveries import (
    ALLOWED_TRANSITIONS,
    REDACTED,
    attempt_record,
    attempts_record,
    deliveries_claim,
    deliveries_redeliver_failed,
    deliveries_release,
    delivery_attempt,
    delivery_cancel,
    delivery_finish,
    delivery_redeliver,
    delivery_request,
    delivery_retry_now,
    headers_redact,
    retry_after_seconds,
    retry_delay,
)
from .drain import deliveries_drain
from .events import event_emit
from .queue import DRAIN_TASK, TASK, deliveries_sweep, retries_schedule_wakeup, workers_wake
from .retention import PURGE_TASK, retention_purge, retention_purge_slice
from .tokens import api_token_create, api_token_revoke
from .webhooks import (
    DESTINATION_FIELDS,
    WEBHOOK_FIELDS,
    secret_overlap,
    webhook_create,
    webhook_credentials_reentry_errors,
    webhook_delete,
    webhook_disable,
    webhook_encryption_key_rotate,
    webhook_limit_check,
    webhook_previous_secret_expire,
    webhook_secret_rotate,
    webhook_send_test,
    webhook_set_enabled,
    webhook_settings_update,
    webhook_update,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "DESTINATION_FIELDS",
    "DRAIN_TASK",
    "PURGE_TASK",
    "REDACTED",
    "TASK",
    "WEBHOOK_FIELDS",
    "api_token_create",
    "api_token_revoke",
    "attempt_record",
    "attempts_record",
    "deliveries_claim",
    "deliveries_drain",
    "deliveries_redeliver_failed",
    "deliveries_release",
    "deliveries_sweep",
    "delivery_attempt",
    "delivery_cancel",
    "delivery_finish",
    "delivery_redeliver",
    "delivery_request",
    "delivery_retry_now",
    "event_emit",
    "headers_redact",
    "retention_purge",
    "retention_purge_slice",
    "retries_schedule_wakeup",
    "retry_after_seconds",
    "retry_delay",
    "secret_overlap",
    "webhook_create",
    "webhook_credentials_reentry_errors",
    "webhook_delete",
    "webhook_disable",
    "webhook_encryption_key_rotate",
    "webhook_limit_check",
    "webhook_previous_secret_expire",
    "webhook_secret_rotate",
    "webhook_send_test",
    "webhook_set_enabled",
    "webhook_settings_update",
    "webhook_update",
    "workers_wake",
]

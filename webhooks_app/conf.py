"""The app's settings: one ``WEBHOOKS`` dict, read lazily, with documented defaults."""

from django.conf import settings
from django.core.signals import setting_changed

DEFAULTS = {
    # Declared event types: {"contact.created": "A contact was created", ...}.
    "EVENTS": {},
    # Models to watch: {"app_label.Model": {"resource": "contact",
    #   "actions": ["created", "updated", "deleted"], "fields": ["accepts_email"],
    #   "serializer": "dotted.path.to.callable" (instance -> dict)}}.
    "MODELS": {},
    # Seconds per HTTP request (connect + response) when a webhook sets none.
    "TIMEOUT": 10,
    # Delays in seconds before each retry after the first try; its length is the
    # number of retries. Jitter of +-RETRY_JITTER (a share) is applied.
    "RETRY_SCHEDULE": [5, 60, 300, 1800, 7200],
    # Random spread of each retry delay, as a share of it (0.2: +-20 %).
    "RETRY_JITTER": 0.2,
    # A retry due within this many seconds gets a timed wake-up from the worker
    # that scheduled it, so the first retry really comes after a few seconds;
    # later ones are found by the periodic sweep (django-q2 has no delayed
    # enqueue). No worker sleeps for it either way.
    "RETRY_WAKEUP_HORIZON": 120,
    # Requests one worker process sends at once (a thread pool), and at most how
    # many of them go to one destination (an endpoint: the URL without its
    # query): a receiver that hangs occupies that many, never the whole worker.
    "CONCURRENCY": 16,
    # At most this many of a worker's requests in flight go to one destination
    # (an endpoint: the URL without its query).
    "DESTINATION_CONCURRENCY": 8,
    # A worker woken to send claims new work for this many seconds, then hands
    # the rest to another worker (keeps each django-q2 task well inside its timeout).
    "DRAIN_SECONDS": 30,
    # Seconds a process reuses its copy of the webhooks' subscriptions: a webhook
    # created or changed in another process receives events within this delay
    # (changes made in the same process count at once). 0 reads them on every emit.
    "SUBSCRIPTION_CACHE_SECONDS": 1,
    # Upper bound for a receiver's Retry-After (seconds).
    "MAX_RETRY_AFTER": 86400,
    # Hosts (names), addresses or networks that deliveries may reach although
    # they are private or loopback. Default: none.
    "ALLOWED_DESTINATIONS": [],
    # Days events, deliveries and attempts are kept by the purge.
    "RETENTION_DAYS": 30,
    # Bytes of a response body stored on an Attempt (the rest is not read).
    "MAX_RESPONSE_BYTES": 20_000,
    # Largest payload accepted by emit(), in bytes of the rendered body.
    "MAX_PAYLOAD_BYTES": 256 * 1024,
    # Webhooks the site may have at most (console, API, admin and services alike);
    # one more is refused with a message. It also bounds the deliveries one event
    # creates. None: no limit.
    "MAX_WEBHOOKS": None,
    # Requests per token (or user) to the REST API, per scope, as DRF rates
    # ("N/s", "N/min", "N/hour", "N/day"): "emit" is POST /api/events/, "writes"
    # every other POST, PUT, PATCH and DELETE, "reads" GET, HEAD and OPTIONS, and
    # "auth" the requests with a bad or missing token per client address (past
    # it, every request from that address gets 429 until the window passes, so
    # guessing tokens gains nothing). Past a rate: 429 with Retry-After. A scope
    # left out or None is not limited; None for the whole setting turns throttling
    # off. The counts live in Django's default cache: a site-wide limit over
    # several processes needs a shared cache (Redis, Memcached, the database).
    "API_THROTTLE_RATES": {"emit": "20/s", "writes": "10/s", "reads": "20/s", "auth": "20/min"},
    # A worker holds a delivery for TIMEOUT + this margin; past it the sweep
    # hands the delivery to another worker (a crashed worker costs this delay).
    "LEASE_MARGIN": 30,
    # Due deliveries the sweep counts per run at most (it wakes one worker per
    # CONCURRENCY of them, at most one per django-q2 worker).
    "SWEEP_BATCH": 1000,
    # Minutes between sweeps (a django-q2 schedule, created on migrate).
    "SWEEP_MINUTES": 1,
    # Disable a webhook whose receiver answers 410 Gone.
    "DISABLE_ON_GONE": True,
    # Auto-disable after this many consecutive failed deliveries spanning at
    # least AUTO_DISABLE_AFTER_DAYS. None turns auto-disable off.
    "AUTO_DISABLE_FAILURES": 50,
    # Days a run of AUTO_DISABLE_FAILURES failed deliveries must span before the
    # webhook is disabled.
    "AUTO_DISABLE_AFTER_DAYS": 5,
    # Fernet keys (urlsafe base64, 32 bytes) for secrets at rest; the first
    # encrypts, all decrypt. Empty: one key derived from SECRET_KEY.
    "ENCRYPTION_KEYS": [],
    # The django-q2 cluster name tasks go to (None: the default cluster).
    "Q_CLUSTER_NAME": None,
    # Dotted path of a callable f(event) -> str | None: the URL of the event's
    # recipient, for webhooks whose destination is the recipient's URL. An event
    # without one becomes a skipped delivery (with the reason), never an error.
    "RECIPIENT_URL": None,
    # Hours the previous signing secret keeps signing after a rotation (or a chosen
    # secret replacing the current one), so receivers switch without a failure.
    # 0 ends it at once.
    "SECRET_ROTATION_OVERLAP_HOURS": 24,
    # The base template the console extends (a host project may use its own).
    "BASE_TEMPLATE": "webhooks_app/base.html",
    # Mail active staff users who have an e-mail address when the app disables a
    # webhook itself (410 Gone, a long run of failures). Off: the host decides who
    # is told, with a receiver of webhooks_app.signals.webhook_disabled.
    "NOTIFY_ON_DISABLE": False,
}


class AppSettings:
    """Lazy view of ``settings.WEBHOOKS`` over DEFAULTS; follows override_settings."""

    def __init__(self, defaults):
        self._defaults = defaults
        self._cache = None

    @property
    def user_settings(self):
        if self._cache is None:
            self._cache = getattr(settings, "WEBHOOKS", None) or {}
        return self._cache

    def __getattr__(self, name):
        if name not in self._defaults:
            raise AttributeError(f"Invalid WEBHOOKS setting: {name!r}")
        return self.user_settings.get(name, self._defaults[name])

    def reload(self):
        self._cache = None


app_settings = AppSettings(DEFAULTS)


def _reload(*, setting, **kwargs):
    # Only this module's own state: crypto, the event registry and the selectors'
    # caches each listen for the settings they depend on.
    if setting == "WEBHOOKS":
        app_settings.reload()


setting_changed.connect(_reload, dispatch_uid="webhooks_app.conf")

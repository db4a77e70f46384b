"""REST API throttling: per token and scope (emit, writes, reads), and bad or missing tokens per address.

Real requests through DRF's APIClient with small rates (WEBHOOKS["API_THROTTLE_RATES"]);
the throttles' clock is frozen so that a window neither passes nor ends by chance on a
slow machine, and moved on to show that it does end. Throttle counts live in Django's
cache, cleared around each test.
"""

import pytest
from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from tests.test_api_support import PUBLIC_URL
from webhooks_app.conf import DEFAULTS
from webhooks_app.models import Event, Webhook

pytest_plugins = ["tests.test_api_support"]
pytestmark = pytest.mark.django_db

BAD_TOKEN = "Token " + "0" * 40
EMIT = {"event_type": "contact.created", "data": {"id": 1}}


@pytest.fixture(autouse=True)
def fresh_throttles():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def clock(monkeypatch):
    """The throttles' clock, frozen at a moment; ``clock.now += seconds`` moves it on."""

    class Clock:
        now = 1_000_000.0

    monkeypatch.setattr(SimpleRateThrottle, "timer", lambda self: Clock.now)
    return Clock


@pytest.fixture
def rates(settings):
    def set_rates(value):
        settings.WEBHOOKS = {**settings.WEBHOOKS, "API_THROTTLE_RATES": value}

    return set_rates


@pytest.fixture
def emitter(make_api_user, token_client_for):
    return token_client_for(make_api_user("webhooks_app.add_event", "webhooks_app.view_webhook"))


def assert_throttled(response, *, retry_after: int | None = None):
    assert response.status_code == 429, response.content
    assert response["Content-Type"].startswith("application/json")
    detail = response.json()["detail"]
    assert detail.startswith("Request was throttled.")
    wait = int(response["Retry-After"])
    assert wait >= 1
    if retry_after is not None:
        assert wait == retry_after
        assert f"{retry_after} second" in detail


def test_emits_past_the_emit_rate_get_429_with_retry_after_and_record_nothing(
    rates, clock, emitter, make_webhook
):
    rates({"emit": "3/min"})
    make_webhook(PUBLIC_URL)  # an event with a subscriber is recorded

    answers = [emitter.post("/api/events/", EMIT, format="json").status_code for _ in range(3)]
    refused = emitter.post("/api/events/", EMIT, format="json")

    assert answers == [201, 201, 201]
    assert_throttled(refused, retry_after=60)
    assert Event.objects.count() == 3

    clock.now += 60  # the window has passed
    assert emitter.post("/api/events/", EMIT, format="json").status_code == 201


def test_the_wait_is_until_the_oldest_request_leaves_the_window(rates, clock, emitter):
    rates({"emit": "2/min"})
    emitter.post("/api/events/", EMIT, format="json")
    clock.now += 45
    emitter.post("/api/events/", EMIT, format="json")

    assert_throttled(emitter.post("/api/events/", EMIT, format="json"), retry_after=15)
    clock.now += 15
    assert emitter.post("/api/events/", EMIT, format="json").status_code == 201


def test_scopes_are_counted_apart(rates, clock, make_api_user, token_client_for):
    rates({"emit": "1/min", "writes": "1/min", "reads": "1/min"})
    client = token_client_for(make_api_user(username="root", is_superuser=True))

    assert client.post("/api/events/", EMIT, format="json").status_code == 201
    assert_throttled(client.post("/api/events/", EMIT, format="json"))
    # Emits used up: reads and other writes still have theirs.
    assert client.get("/api/webhooks/").status_code == 200
    created = client.post("/api/webhooks/", {"name": "A", "events": ["*"], "url": PUBLIC_URL}, format="json")
    assert created.status_code == 201
    assert_throttled(client.get("/api/webhooks/"))
    assert_throttled(client.patch(f"/api/webhooks/{created.json()['id']}/", {"name": "B"}, format="json"))


def test_every_unsafe_method_other_than_emit_shares_the_writes_rate(rates, clock, admin_api, make_webhook):
    rates({"writes": "4/min"})
    hook = make_webhook(PUBLIC_URL)
    doomed = make_webhook(PUBLIC_URL, name="Doomed")

    answers = [
        admin_api.post("/api/webhooks/", {"name": "A", "events": ["*"], "url": PUBLIC_URL}, format="json"),
        admin_api.patch(f"/api/webhooks/{hook.pk}/", {"name": "B"}, format="json"),
        admin_api.post(f"/api/webhooks/{hook.pk}/rotate-secret/"),
        admin_api.patch("/api/webhook-settings/", {"enabled": True}, format="json"),
    ]
    refused = admin_api.delete(f"/api/webhooks/{doomed.pk}/")

    assert [a.status_code for a in answers] == [201, 200, 200, 200]
    assert_throttled(refused, retry_after=60)
    assert Webhook.objects.filter(pk=doomed.pk).exists()
    # Reads and emits are not writes.
    assert admin_api.get(f"/api/webhooks/{hook.pk}/").status_code == 200
    assert admin_api.options("/api/webhooks/").status_code == 200
    assert admin_api.post("/api/events/", EMIT, format="json").status_code == 201


def test_reads_are_limited_per_token_not_for_everyone(rates, clock, make_api_user, token_client_for):
    rates({"reads": "5/min"})
    first = token_client_for(make_api_user("webhooks_app.view_webhook"))
    second = token_client_for(make_api_user("webhooks_app.view_webhook"))

    assert [first.get("/api/webhooks/").status_code for _ in range(5)] == [200] * 5
    assert_throttled(first.get("/api/webhooks/"))
    assert first.head("/api/webhooks/").status_code == 429
    assert second.get("/api/webhooks/").status_code == 200
    assert second.get("/api/event-types/").status_code == 200


def test_a_session_user_is_limited_as_a_token_user_is(rates, clock, make_api_user):
    from rest_framework.test import APIClient

    rates({"reads": "2/min"})
    client = APIClient()
    client.force_login(make_api_user("webhooks_app.view_webhook"))

    assert [client.get("/api/webhooks/").status_code for _ in range(2)] == [200, 200]
    assert_throttled(client.get("/api/webhooks/"))


def test_a_scope_left_out_or_none_is_not_limited(rates, clock, emitter):
    rates({"emit": None})  # reads, writes and auth left out
    assert {emitter.post("/api/events/", EMIT, format="json").status_code for _ in range(30)} == {201}
    assert {emitter.get("/api/webhooks/").status_code for _ in range(30)} == {200}

    rates(None)  # throttling off
    assert {emitter.get("/api/webhooks/").status_code for _ in range(30)} == {200}


def test_the_production_defaults_throttle_each_scope(settings, clock, emitter):
    """The issue's report: 300 reads in 3 s and 100 bad tokens met no 429. With the defaults they do."""
    settings.WEBHOOKS = {k: v for k, v in settings.WEBHOOKS.items() if k != "API_THROTTLE_RATES"}
    defaults = DEFAULTS["API_THROTTLE_RATES"]
    assert set(defaults) == {"emit", "writes", "reads", "auth"}

    def allowed(rate: str) -> int:
        return SimpleRateThrottle.parse_rate(None, rate)[0]

    reads = [emitter.get("/api/webhooks/").status_code for _ in range(allowed(defaults["reads"]) + 1)]
    assert reads[:-1] == [200] * (len(reads) - 1) and reads[-1] == 429
    emits = [
        emitter.post("/api/events/", EMIT, format="json").status_code
        for _ in range(allowed(defaults["emit"]) + 1)
    ]
    assert emits[:-1] == [201] * (len(emits) - 1) and emits[-1] == 429

    from rest_framework.test import APIClient

    guesser = APIClient(HTTP_AUTHORIZATION=BAD_TOKEN, REMOTE_ADDR="203.0.113.9")
    guesses = [guesser.get("/api/webhooks/").status_code for _ in range(100)]
    assert guesses.count(401) == allowed(defaults["auth"]) and guesses[-1] == 429


# Bad or missing tokens ---------------------------------------------------------------


def test_bad_tokens_from_one_address_meet_429_and_then_so_does_a_good_one(
    rates, clock, make_api_user, token_client_for
):
    from rest_framework.test import APIClient

    rates({"auth": "5/min"})
    good = token_client_for(make_api_user("webhooks_app.view_webhook"))
    guesser = APIClient(HTTP_AUTHORIZATION=BAD_TOKEN)

    assert [guesser.get("/api/webhooks/").status_code for _ in range(5)] == [401] * 5
    assert_throttled(guesser.get("/api/webhooks/"), retry_after=60)
    # Blocked before the token is looked at: a right guess is not told apart from a wrong one.
    assert_throttled(good.get("/api/webhooks/"))
    # Another address is not blocked.
    assert guesser.get("/api/webhooks/", REMOTE_ADDR="198.51.100.7").status_code == 401
    assert good.get("/api/webhooks/", REMOTE_ADDR="198.51.100.7").status_code == 200

    clock.now += 60
    assert good.get("/api/webhooks/").status_code == 200


def test_missing_tokens_count_as_auth_failures(rates, clock):
    from rest_framework.test import APIClient

    rates({"auth": "3/min"})
    anonymous = APIClient()

    assert [anonymous.post("/api/events/", EMIT, format="json").status_code for _ in range(3)] == [401] * 3
    schema = anonymous.get("/api/schema/")
    assert schema.status_code == 429 and int(schema["Retry-After"]) == 60
    assert_throttled(anonymous.get("/api/event-types/"), retry_after=60)
    assert Event.objects.count() == 0


def test_a_forged_x_forwarded_for_does_not_escape_the_auth_limit(rates, clock):
    """DRF trusts X-Forwarded-For unless NUM_PROXIES is set; these throttles take the socket's address."""
    from rest_framework.test import APIClient

    rates({"auth": "3/min"})
    guesser = APIClient(HTTP_AUTHORIZATION=BAD_TOKEN)

    answers = [
        guesser.get("/api/webhooks/", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code for n in range(6)
    ]

    assert answers == [401, 401, 401, 429, 429, 429]


def test_with_num_proxies_the_client_address_comes_from_x_forwarded_for(rates, clock, settings):
    from rest_framework.test import APIClient

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    rates({"auth": "2/min"})
    guesser = APIClient(HTTP_AUTHORIZATION=BAD_TOKEN, HTTP_X_FORWARDED_FOR="192.0.2.1")

    assert [guesser.get("/api/webhooks/").status_code for _ in range(3)] == [401, 401, 429]
    # Behind the same proxy, another client is not blocked.
    assert guesser.get("/api/webhooks/", HTTP_X_FORWARDED_FOR="192.0.2.2").status_code == 401


def test_good_tokens_and_refused_permissions_are_not_auth_failures(
    rates, clock, make_api_user, token_client_for
):
    rates({"auth": "2/min"})
    reader = token_client_for(make_api_user("webhooks_app.view_webhook"))

    answers = [reader.get("/api/webhooks/").status_code for _ in range(5)]
    answers += [reader.post("/api/events/", EMIT, format="json").status_code for _ in range(5)]

    assert answers == [200] * 5 + [403] * 5


def test_the_host_s_global_throttles_do_not_apply_to_the_api(rates, clock, settings, emitter):
    """The API sets its own throttles, as it sets its own authentication and permissions."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
        "DEFAULT_THROTTLE_RATES": {"user": "1/min"},
    }
    rates({"reads": "3/min"})

    assert [emitter.get("/api/webhooks/").status_code for _ in range(4)] == [200, 200, 200, 429]


def test_the_schema_says_any_operation_may_answer_429_with_retry_after(admin_api):
    schema = admin_api.get("/api/schema/", {"format": "json"}).json()

    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            throttled = operation["responses"].get("429")
            assert throttled, (method, path)
            assert "Retry-After" in throttled["headers"], (method, path)
            assert throttled["headers"]["Retry-After"]["schema"]["type"] == "integer"
    assert "429" in schema["info"]["description"]


# The setting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        {},
        {"emit": "5/s", "writes": "100/min", "reads": "1000/hour", "auth": "50/day"},
        {"emit": None, "reads": "3/m", "auth": "10/minute"},
        DEFAULTS["API_THROTTLE_RATES"],
    ],
)
def test_throttle_rates_that_pass_the_check(settings, value):
    from webhooks_app.checks import check_settings

    settings.WEBHOOKS = {**settings.WEBHOOKS, "API_THROTTLE_RATES": value}
    assert check_settings() == []


@pytest.mark.parametrize(
    "value",
    [
        "20/s",
        ["emit", "20/s"],
        {"write": "10/s"},  # a scope misspelled would limit nothing
        {"emit": "fast"},
        {"emit": "20/fortnight"},
        {"emit": "0/s"},
        {"emit": "-1/s"},
        {"emit": 20},
        {"emit": "20 / s"},
    ],
)
def test_throttle_rates_the_check_refuses(settings, value):
    """A rate DRF cannot parse would be a 500 on every API request; a misspelt scope a silent no-limit."""
    from webhooks_app.checks import check_settings

    settings.WEBHOOKS = {**settings.WEBHOOKS, "API_THROTTLE_RATES": value}
    [error] = check_settings()
    assert error.id == "webhooks_app.E075"
    assert "API_THROTTLE_RATES" in error.msg and "emit" in error.hint


def test_the_production_settings_count_in_a_cache_every_process_shares():
    """The demo's default cache is per process; the production example's is Redis."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "config.settings_production",
        "SECRET_KEY": "p7#v$Qx2!mZ9@kLw4^rT8&yB1*eN6(uH3)sJ5_dF0+gC7=aV2-",
        "ALLOWED_HOSTS": "example.com",
        "REDIS_URL": "redis://127.0.0.1:6379/5",
    }
    code = (
        "from django.conf import settings; c = settings.CACHES['default']; print(c['BACKEND'], c['LOCATION'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.core.cache.backends.redis.RedisCache",
        "redis://127.0.0.1:6379/5",
    ]

"""Property-based: no input makes the API or the console answer 5xx, and a refused write changes nothing.

The cases are read from the OpenAPI schema (drf-spectacular's generator, in
process, as GET /api/schema/ serves it): one test per writable field of every
request body, and one per query parameter of every GET operation, so that a
field or a parameter added later is covered without touching this file (an
operation with a body needs its valid base body in BASE_BODIES; the test says
so). The console's list pages get the same, from the params forms they clean
their query strings with.

Each test sends, through the real URL routing and middleware:
- every value of a fixed hostile list: text that is not JSON (and JSON as text) for
  object fields, NUL, lone surrogates, non-ASCII digits ("²", "٣"), line breaks,
  huge integers, floats where integers belong, nesting deeper than Python's
  recursion limit, the field's maxLength + 1, wrong JSON types;
- then Hypothesis' values drawn from the field's schema type, mixed with the
  hostile ones (nested in lists and objects too).
It asserts: never a 5xx; after a 4xx, no row of any webhooks_app table differs
and no row was added; after a 2xx write, the webhook still reads (API detail and
list, the console's list and edit pages). Each example runs in a savepoint rolled
back afterwards, so all start from the same rows.

Bounded: PROPERTY_MAX_EXAMPLES (default 25) Hypothesis examples per test and a
deadline per example; the whole file takes well under two minutes per database.
"""

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

import pytest
from django.db import transaction
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_api_support import PUBLIC_URL, make_delivery
from webhooks_app.models import Attempt, Delivery, Erasure, Event, Webhook, WebhookSettings

pytest_plugins = ["tests.test_api_support"]
pytestmark = pytest.mark.django_db

MAX_EXAMPLES = int(os.environ.get("PROPERTY_MAX_EXAMPLES", "25"))
PROPERTY_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=timedelta(seconds=5),  # one request and its reads; a slow one is a finding too
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


# The schema ------------------------------------------------------------------------------


def openapi() -> dict:
    """The schema /api/schema/ serves, from the generator the schema view uses."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.settings import patched_settings

    from webhooks_app.api.schema import SCHEMA_SETTINGS

    with patched_settings(SCHEMA_SETTINGS):
        return SchemaGenerator().get_schema(request=None, public=True)


SCHEMA = openapi()


def resolve(node: dict) -> dict:
    """A schema with its $ref (and a single allOf, as drf-spectacular wraps enums) followed."""
    while True:
        if "$ref" in node:
            node = {
                **SCHEMA["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]],
                **{k: v for k, v in node.items() if k != "$ref"},
            }
        elif "allOf" in node and len(node["allOf"]) == 1:
            node = {**resolve(node["allOf"][0]), **{k: v for k, v in node.items() if k != "allOf"}}
        else:
            return node


def write_cases() -> list:
    """(method, path, field, field schema) of every writable field of every request body."""
    cases = []
    for path, operations in SCHEMA["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if not body:
                continue
            for field, field_schema in resolve(body["schema"]).get("properties", {}).items():
                if not field_schema.get("readOnly"):
                    cases.append(
                        pytest.param(
                            method.upper(), path, field, field_schema, id=f"{method.upper()} {path} {field}"
                        )
                    )
    return cases


def query_cases() -> list:
    """(path, parameter, parameter schema) of every query parameter of every GET operation."""
    return [
        pytest.param(path, parameter["name"], parameter["schema"], id=f"GET {path} ?{parameter['name']}")
        for path, operations in SCHEMA["paths"].items()
        for method, operation in operations.items()
        if method == "get"
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    ]


def max_length(field_schema: dict) -> int | None:
    field_schema = resolve(field_schema)
    lengths = [field_schema.get("maxLength")] + [
        resolve(s).get("maxLength") for s in field_schema.get("oneOf", [])
    ]
    lengths = [n for n in lengths if n]
    return max(lengths) if lengths else None


# Hostile values --------------------------------------------------------------------------


class RawJSON(str):
    """JSON text spliced into a body as it is (what json.dumps cannot write: deep nesting,
    an integer of 5,000 digits, NaN)."""


def nested(depth: int, kind: str = "object") -> RawJSON:
    opening, closing = ('{"a":', "}") if kind == "object" else ("[", "]")
    return RawJSON(opening * depth + "1" + closing * depth)


HOSTILE_TEXTS = [
    "X-A: v",  # not JSON
    "{",
    '{"X-A": "v"}',  # JSON, as text
    "[]",
    "null",
    "true",
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",  # a lone surrogate
    "a\udfffb",
    "\u00b2",  # ², which str.isdigit() takes
    "\u0663",  # ٣
    "\u00b2-1",
    "\r\nX-Evil: 1",
    "\u202e\u2066",  # bidi controls
    "\U0001f600",
    "9" * 30,
    "NaN",
    "*",
    "contact.*",
    "$or",
    "X-Webhook-Signature",
    "TE",
    "http://127.0.0.1/",
    "https://user:pw@hooks.example.com/",
    "javascript:alert(1)",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "2026-02-30T00:00:00Z",
    "2026-01-01T00:00:00+19:01",
]
HOSTILE_VALUES = [
    *HOSTILE_TEXTS,
    None,
    True,
    False,
    0,
    -1,
    1.5,
    5.0,
    2**31,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    2**64,
    10**30,
    1e308,
    [],
    {},
    [None],
    ["\x00"],
    ["\ud800"],
    {"\x00": "v"},
    {"\ud800": "v"},
    {"X-A": "\x00"},
    {"X-A": 1},
    {"X-A": None},
    {"": ""},
    {"a": {"$gt": "\u00b2"}},
    {"$or": [{}]},
    {f"k{i}": "v" for i in range(60)},
    RawJSON("9" * 5000),
    RawJSON("NaN"),
    RawJSON("1e400"),
    nested(990),
    nested(5000),
    nested(100_000),
    nested(990, "array"),
    nested(100_000, "array"),
]


def too_long(field_schema: dict) -> list:
    """Texts one character over the field's maxLength (and, for a URL, a URL that is)."""
    limit = max_length(field_schema)
    if not limit:
        return ["x" * 10_001]
    return ["x" * (limit + 1), PUBLIC_URL + "a" * (limit + 1 - len(PUBLIC_URL)), "\u00e9" * (limit + 1)]


def json_values() -> st.SearchStrategy:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=12,
    )


def from_schema(node: dict) -> st.SearchStrategy:
    """Values the schema allows, roughly (the model's own rules decide the rest)."""
    node = resolve(node)
    if "oneOf" in node:
        return st.one_of([from_schema(option) for option in node["oneOf"]])
    if "enum" in node:
        strategy = st.sampled_from(node["enum"])
    elif node.get("type") == "string":
        if node.get("format") == "date-time":
            strategy = st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat)
        elif node.get("format") == "uri":
            strategy = st.text(max_size=40).map(lambda tail: PUBLIC_URL + "/" + quote(tail, errors="replace"))
        else:
            strategy = st.text(min_size=node.get("minLength", 0), max_size=node.get("maxLength", 60))
    elif node.get("type") == "integer":
        strategy = st.integers(node.get("minimum"), node.get("maximum"))
    elif node.get("type") == "number":
        strategy = st.floats(node.get("minimum"), node.get("maximum"), allow_nan=False)
    elif node.get("type") == "boolean":
        strategy = st.booleans()
    elif node.get("type") == "array":
        strategy = st.lists(from_schema(node.get("items", {})), max_size=5)
    elif node.get("type") == "object":
        values = node.get("additionalProperties")
        strategy = st.dictionaries(
            st.text(max_size=20),
            from_schema(values) if isinstance(values, dict) and values else json_values(),
            max_size=5,
        )
    else:
        strategy = json_values()
    return strategy | st.none() if node.get("nullable") else strategy


def hostile(field_schema: dict) -> st.SearchStrategy:
    """The schema's values, hostile values, and hostile values inside the schema's shapes."""
    pieces = st.sampled_from(
        [v for v in HOSTILE_VALUES if not isinstance(v, RawJSON)] + too_long(field_schema)
    )
    return st.one_of(
        from_schema(field_schema),
        st.sampled_from(HOSTILE_VALUES + too_long(field_schema)),
        st.lists(pieces | from_schema(field_schema), max_size=4),
        st.dictionaries(st.sampled_from(HOSTILE_TEXTS) | st.text(max_size=10), pieces, max_size=4),
    )


def fragment(value) -> str:
    """A value as JSON text; json.dumps escapes NUL and lone surrogates ("\\u0000"), as a client's JSON would."""
    if isinstance(value, RawJSON):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{fragment(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(map(fragment, value)) + "]"
    return json.dumps(value)


# Rows, and what must not change ----------------------------------------------------------


@pytest.fixture
def rows(public_webhook):
    """A webhook with a failed delivery (two attempts) and a succeeded one: the rows the cases address."""
    make_delivery(public_webhook, status=Delivery.Status.FAILED, attempts=2, age=timedelta(hours=2))
    make_delivery(public_webhook)
    WebhookSettings.load()
    return {"webhook": public_webhook}


def snapshot() -> tuple:
    """Every row of the webhooks_app tables (they are few here), secrets decrypted.

    Not DeliveryStatsHour: the Insight rollup is a cache that reads write.
    """
    return tuple(
        list(model.objects.order_by("pk").values())
        for model in (Webhook, Event, Delivery, Attempt, WebhookSettings, Erasure)
    )


def in_savepoint(check):
    """Run ``check`` in a savepoint that is rolled back: every example starts from the same rows."""
    with transaction.atomic():
        check()
        transaction.set_rollback(True)


def assert_reads_after_write(admin_api, admin_client, webhook_pk) -> None:
    """What was accepted can be read back: through the API and on the console's edit page."""
    for response in (
        admin_api.get(f"/api/webhooks/{webhook_pk}/"),
        admin_client.get(reverse("webhooks_app:webhook-update", args=[webhook_pk])),
    ):
        assert response.status_code == 200, (response.request["PATH_INFO"], response.content[:500])


# Writes ----------------------------------------------------------------------------------


def base_bodies(webhook) -> dict:
    """A valid body per operation; each case puts its field into it."""
    hook = {"name": "Property", "events": ["*"], "url": PUBLIC_URL}
    return {
        ("POST", "/api/webhooks/"): hook,
        ("PUT", "/api/webhooks/{id}/"): hook,
        ("PATCH", "/api/webhooks/{id}/"): {},
        ("POST", "/api/events/"): {"event_type": "contact.created", "data": {"id": 1}},
        ("PATCH", "/api/webhook-settings/"): {},
        ("POST", "/api/webhooks/{id}/redeliver-failed/"): {
            "since": (datetime.now(UTC) - timedelta(days=1)).isoformat()
        },
        ("POST", "/api/erasures/"): {"key": "email", "value": "nobody@example.com"},
    }


def send_write(admin_api, admin_client, method, path, body: dict, webhook, before) -> None:
    """One write; ``before`` is the snapshot of the rows every example starts from."""
    url = path.replace("{id}", str(webhook.pk))
    text = "{" + ",".join(f"{json.dumps(k)}:{fragment(v)}" for k, v in body.items()) + "}"
    response = admin_api.generic(method, url, text, content_type="application/json")
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        assert snapshot() == before, f"a refused {method} {url} ({response.status_code}) changed rows"
        return
    if path.startswith("/api/webhooks/"):
        created = response.json().get("id") if method == "POST" and path == "/api/webhooks/" else None
        assert_reads_after_write(admin_api, admin_client, created or webhook.pk)


@pytest.mark.parametrize(("method", "path", "field", "field_schema"), write_cases())
def test_no_value_of_a_writable_field_is_a_5xx_or_a_change_when_refused(
    admin_api, admin_client, rows, method, path, field, field_schema
):
    webhook = rows["webhook"]
    bodies = base_bodies(webhook)
    assert (method, path) in bodies, f"{method} {path} takes a body: add its valid base body to base_bodies()"
    base, before = bodies[(method, path)], snapshot()

    def send(value):
        body = {**base, field: value}
        in_savepoint(lambda: send_write(admin_api, admin_client, method, path, body, webhook, before))

    for value in HOSTILE_VALUES + too_long(field_schema):
        send(value)

    @PROPERTY_SETTINGS
    @given(value=hostile(field_schema))
    def drawn(value):
        send(value)

    drawn()


# Query parameters ------------------------------------------------------------------------


def api_cursor(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()


# Percent-encoded, as they arrive: bytes that are not UTF-8 and encoded surrogates included.
HOSTILE_QUERY_VALUES = [
    "%00",
    "a%00b",
    "%ED%A0%80",  # a surrogate, UTF-8 encoded
    "%FF",
    "%C0%AF",
    "%C2%B2",
    "%D9%A3",
    "%C2%B2-1",
    "1-%C2%B2",
    "%E2%80%AE",
    "%0D%0AX-Evil:%201",
    "9" * 30,
    "9" * 5000,
    "-1",
    "0",
    "1.5",
    "1e400",
    "NaN",
    "true",
    "last",
    "",
    "%20",
    "%7B%7D",
    "0001-01-01T00:00:00%2B05:00",
    "9999-12-31T23:59:59-05:00",
    "2026-02-30T00:00:00Z",
    "2026-01-01T00:00:00%2B19:01",
    "2026-01-01T00:00:00%2B99:99",
    "2026-01-01",
    *(
        quote(api_cursor(text), safe="")
        for text in (
            "p=x",
            "p=\u00b2",
            "o=\u00b2",
            "r=\u00b2",
            "o=99999999999999999999",
            "p=0001-01-01T00:00:00%2B05:00",
            "p=9999-12-31T23:59:59-05:00",
            "p=2026-01-01T00:00:00%2B19:01",
            "p=\x00",
            "r=1&p=2026-01-01",
        )
    ),
    "cD14",  # base64 of "p=x", as the issue found it
    "%%%",
]


def query_value(field_schema: dict) -> st.SearchStrategy:
    """A query value from the parameter's schema, or a hostile one, percent-encoded."""
    node = resolve(field_schema)
    if node.get("type") == "integer":
        typed = st.integers(node.get("minimum"), node.get("maximum")).map(str) | st.integers().map(str)
    else:
        typed = from_schema(node)
    encoded = (typed | st.text(max_size=80)).map(lambda v: quote(str(v), safe="", errors="surrogatepass"))
    limit = max_length(node)
    long = [quote("x" * (limit + 1)), quote("\u00e9" * (limit + 1))] if limit else []
    return encoded | st.sampled_from(HOSTILE_QUERY_VALUES + long)


def send_query(client, url: str, query: str) -> None:
    response = client.get(f"{url}?{query}")
    assert response.status_code < 500, (url, query[:200], response.content[:500])


@pytest.mark.parametrize(("path", "name", "field_schema"), query_cases())
def test_no_query_parameter_value_is_a_5xx(admin_api, rows, path, name, field_schema):
    url = path.replace("{id}", str(rows["webhook"].pk))
    limit = max_length(field_schema)
    before = snapshot()
    for value in HOSTILE_QUERY_VALUES + ([quote("x" * (limit + 1))] if limit else []):
        send_query(admin_api, url, f"{name}={value}")
    send_query(admin_api, url, f"{name}=a&{name}=%00")  # the parameter twice

    @PROPERTY_SETTINGS
    @given(
        value=query_value(field_schema), others=st.lists(st.sampled_from(query_cases_for(path)), max_size=3)
    )
    def drawn(value, others):
        extra = "".join(f"&{other}" for other in others)
        send_query(admin_api, url, f"{name}={value}{extra}")

    drawn()
    assert snapshot() == before, "reads changed rows"


def query_cases_for(path: str) -> list[str]:
    """Valid name=value pairs of the other parameters of an operation, to combine with."""
    pairs = {
        "/api/webhooks/": ["search=CRM", "page=1", "page_size=1"],
        "/api/webhooks/{id}/deliveries/": [
            "status=failed",
            "event_type=contact.created",
            "created_after=2026-01-01T00:00:00Z",
            "created_before=2999-01-01T00:00:00Z",
            "page_size=1",
            "event_id=evt_0",
        ],
        "/api/webhooks/{id}/stats/": ["period=7d"],
    }
    return pairs.get(path, ["unknown=1"])


# The console's list pages ----------------------------------------------------------------


def console_cases() -> list:
    """(url name, parameter) of the console's list pages, from the params forms they clean with."""
    from webhooks_app.forms import DeliveryFilterForm
    from webhooks_app.params import DeliveryPageParams, WebhookListParams, WebhookStatsParams

    cases = [("webhook-list", "q")] + [
        ("webhook-list", n) for n in WebhookListParams.base_fields if n != "search"
    ]
    cases += [
        ("webhook-deliveries", n) for n in [*DeliveryFilterForm.base_fields, *DeliveryPageParams.base_fields]
    ]
    cases += [("webhook-update", n) for n in WebhookStatsParams.base_fields]
    return [pytest.param(url_name, name, id=f"console {url_name} ?{name}") for url_name, name in cases]


@pytest.mark.parametrize(("url_name", "name"), console_cases())
def test_no_console_query_parameter_value_is_a_5xx(admin_client, rows, url_name, name):
    args = [] if url_name == "webhook-list" else [rows["webhook"].pk]
    url = reverse(f"webhooks_app:{url_name}", args=args)
    before = snapshot()
    older = [quote(f"{10**15}-1"), quote(f"{10**17}-{2**63}")]
    for value in [*HOSTILE_QUERY_VALUES, quote("x" * 201), *older]:
        send_query(admin_client, url, f"{name}={value}")

    @PROPERTY_SETTINGS
    @given(value=st.text(max_size=80).map(lambda v: quote(v, safe="", errors="surrogatepass")))
    def drawn(value):
        send_query(admin_client, url, f"{name}={value}&{urlencode({'status': 'failed'})}")

    drawn()
    assert snapshot() == before, "reads changed rows"

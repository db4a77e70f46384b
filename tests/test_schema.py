"""The OpenAPI schema: valid, served with docs, and honoured by the API under Schemathesis.

Schemathesis generates valid and invalid requests for every operation of
/api/schema/ (a bounded number per operation and mode) and sends them through
the WSGI application as a superuser, with every check it has (`--checks all`):
no answer may be a server error, every answer must match the schema (status
code, content type, headers and body), invalid requests must be refused and
valid ones accepted. The few exclusions are listed in CHECK_EXCLUSIONS, each
with its reason.

Each operation is its own pytest item running a Hypothesis test over
``operation.as_strategy()``: Schemathesis' lazy pytest loader (needed because the
schema is served to authenticated users only, so it can only be fetched once the
test database exists) does not work with pytest 9.
"""

import os
import re
import time

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, given, reject, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as CHECK_REGISTRY
from schemathesis.checks import load_all_checks
from schemathesis.specs.openapi.checks import content_type_conformance, positive_data_acceptance

from tests.test_api_support import PUBLIC_URL, make_delivery
from webhooks_app.models import Delivery

pytest_plugins = ["tests.test_api_support"]

# Per operation and mode (valid, invalid): about 700 requests in all, each checked by
# every check. Raise it for a deeper local run: SCHEMATHESIS_MAX_EXAMPLES=500 pytest
# tests/test_schema.py. `make test` sets both bounds (Makefile).
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))
# And per operation, a time bound: no new case is drawn after this many seconds.
MAX_SECONDS = float(os.environ.get("SCHEMATHESIS_MAX_SECONDS", "30"))


def test_schema_is_valid_openapi_3_and_documents_errors(admin_api):
    from drf_spectacular.drainage import GENERATOR_STATS

    GENERATOR_STATS.reset()
    response = admin_api.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    assert not GENERATOR_STATS, "drf-spectacular warned: " + ", ".join(GENERATOR_STATS._warn_cache)
    schema = response.json()
    validate_schema(schema)
    assert schema["openapi"].startswith("3.") and schema["info"]["title"] == "webhooks_app API"
    for path, operations in schema["paths"].items():
        assert path.startswith("/api/")
        for method, operation in operations.items():
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
            assert "Permissions: `webhooks_app." in operation["description"], (method, path)
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= set(operation["responses"]), (method, path)
    components = schema["components"]["schemas"]
    assert components["DeliveryStatusEnum"]["enum"] == [
        "pending",
        "succeeded",
        "failed",
        "cancelled",
        "skipped",
    ]
    assert "contact.updated" in components["EventTypeEnum"]["enum"]
    assert "*" in components["EventsEnum"]["enum"]
    assert "api_key" not in components["Webhook"]["properties"]  # write-only: requests only
    assert components["WebhookRequest"]["properties"]["api_key"]["writeOnly"] is True
    assert "secret" not in components["Webhook"]["properties"]
    assert "secret" in components["WebhookCreated"]["properties"]


@pytest.mark.django_db
def test_docs_page_renders_swagger_ui(admin_api):
    response = admin_api.get("/api/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page.lower() and "/api/schema/" in page


# Schemathesis ------------------------------------------------------------------------


def schema_operations() -> list:
    """(METHOD, path) of every operation, from the generator the schema view uses."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.settings import patched_settings

    from webhooks_app.api.schema import SCHEMA_SETTINGS

    with patched_settings(SCHEMA_SETTINGS):
        paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return [
        pytest.param(method.upper(), path, id=f"{method.upper()} {path}")
        for path, operations in paths.items()
        for method in operations
    ]


@pytest.fixture
def api_objects(public_webhook):
    """Rows the generated requests can hit, besides the random ids that 404."""
    delivery = make_delivery(public_webhook, status=Delivery.Status.FAILED, attempts=2)
    return {"webhook": public_webhook, "delivery": delivery}


@pytest.fixture
def auth_headers(api_superuser):
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=api_superuser)
    return {"Authorization": f"Token {token.key}"}


@pytest.fixture
def wsgi_application():
    """The project's WSGI application, kept from closing the test's database connection.

    Django closes old connections at the start and end of each request; that would
    close the connection that holds the test's transaction. Django's test client
    disconnects the same receivers around its requests.
    """
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(db, wsgi_application, auth_headers):
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", wsgi_application, headers=auth_headers)


# The API's routes take digits as {id} (lookup_value_regex); any other id is a path the
# API has no route for.
ROUTED_ID = re.compile(r"[0-9]+")


def content_type_conformance_of_routed_paths(ctx, response, case):
    """content_type_conformance, but for a path the API has no route for.

    Excluded: the 404 of an {id} that is not digits ("abc", "-1"). No view of the API
    answers it: Django's URL resolver does, with the site's own 404 page (HTML, the
    host's handler404), as for any other unknown URL.
    """
    generated = (case.path_parameters or {}).get("id")
    if response.status_code == 404 and generated is not None and not ROUTED_ID.fullmatch(str(generated)):
        return None
    return content_type_conformance(ctx, response, case)


load_all_checks()
ALL_CHECKS = [
    content_type_conformance_of_routed_paths if check is content_type_conformance else check
    for check in map(CHECK_REGISTRY.get_one, CHECK_REGISTRY.get_all_names())
]

# Checks left out for one operation, each with the reason. positive_data_acceptance
# expects every request the schema allows to be accepted; these bodies carry rules of
# the model or of emit() that OpenAPI 3.0 cannot state, so a schema-valid body can
# rightly be a 400 (with the field named; the other checks still hold for it).
MODEL_RULES = (
    "url required unless destination is recipient (a condition on another field), a public "
    "http(s) host (the SSRF guard), declared event types, header names and values, filters "
    "in the filter language, a secret of 16+ characters"
)
CHECK_EXCLUSIONS = {
    ("POST", "/api/webhooks/"): {positive_data_acceptance: MODEL_RULES},
    ("PUT", "/api/webhooks/{id}/"): {positive_data_acceptance: MODEL_RULES},
    ("PATCH", "/api/webhooks/{id}/"): {positive_data_acceptance: MODEL_RULES},
    ("POST", "/api/events/"): {
        positive_data_acceptance: "data and context must be strict JSON at every depth (no NUL "
        "character, no lone surrogate) and the payload within WEBHOOKS['MAX_PAYLOAD_BYTES']"
    },
    ("POST", "/api/webhooks/{id}/redeliver-failed/"): {
        positive_data_acceptance: "since must be in the past (a moment relative to now)"
    },
}


def checks_for(method: str, path: str) -> list:
    excluded = CHECK_EXCLUSIONS.get((method, path), {})
    return [check for check in ALL_CHECKS if check not in excluded]


@pytest.mark.parametrize(("method", "path"), schema_operations())
def test_api_conforms_to_its_schema(api_schema, auth_headers, api_objects, make_webhook, method, path):
    operation = api_schema[path][method]

    def target_real_rows(case):
        """Most cases address real rows so that the operations do their work; the
        rest keep their generated id (usually a 404)."""
        generated = (case.path_parameters or {}).get("id")
        # Only a valid id is replaced: an invalid one may be what a negative case is about.
        if type(generated) is not int or generated < 0 or generated % 4 == 0:
            return
        if path.startswith("/api/deliveries/"):
            case.path_parameters["id"] = api_objects["delivery"].pk
        elif method == "DELETE":
            case.path_parameters["id"] = make_webhook(PUBLIC_URL, name="Doomed").pk
        else:
            case.path_parameters["id"] = api_objects["webhook"].pk

    checks = checks_for(method, path)
    out_of_time = time.monotonic() + MAX_SECONDS
    modes = [GenerationMode.POSITIVE]
    if operation.body or operation.query or operation.path_parameters:
        modes.append(GenerationMode.NEGATIVE)  # otherwise nothing about the request can be invalid
    for mode in modes:

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case):
            if time.monotonic() > out_of_time:
                reject()  # the time bound: the remaining cases cost nothing
            target_real_rows(case)
            case.call_and_validate(headers=auth_headers, checks=checks)

        run()

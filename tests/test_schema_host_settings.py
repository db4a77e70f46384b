"""The API brings its own schema class: a host's REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] changes nothing.

A host that documents its own API with another generator, or not at all, keeps
DRF's default (``rest_framework.schemas.openapi.AutoSchema``) or its own. The
app's views, their actions included, carry drf-spectacular's AutoSchema
themselves, so /api/schema/ gives the same document whatever the host sets.

drf-spectacular reads the setting when views.py is imported (decorators on view
methods), so each host setting is tried in a fresh process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIRequestFactory, force_authenticate

ROOT = Path(__file__).resolve().parent.parent

# The schema document, as GET /api/schema/?format=json serves it to a superuser.
GENERATE = """
import django, json, sys
django.setup()
from django.contrib.auth.models import User
from django.conf import settings
from rest_framework.test import APIRequestFactory, force_authenticate
from webhooks_app.api.views import SchemaView
assert ("DEFAULT_SCHEMA_CLASS" in settings.REST_FRAMEWORK) == (sys.argv[1] != "absent"), settings.REST_FRAMEWORK
request = APIRequestFactory().get("/api/schema/", {"format": "json"})
force_authenticate(request, user=User(username="schema", is_superuser=True, is_active=True))
response = SchemaView.as_view()(request)
response.render()
assert response.status_code == 200, response.content[:3000]
from tests.test_schema_host_settings import every_endpoint
json.dump([json.loads(response.content), json.loads(every_endpoint())], sys.stdout)
"""

HOST_SETTINGS = """
from tests.settings import *  # noqa: F403
from tests.settings import REST_FRAMEWORK

REST_FRAMEWORK = {{k: v for k, v in REST_FRAMEWORK.items() if k != "DEFAULT_SCHEMA_CLASS"}}
if {schema_class!r} != "absent":
    REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = {schema_class!r}
# A host that does not configure drf-spectacular: its defaults (the demo's settings
# leave the schema view out of every document).
SPECTACULAR_SETTINGS = {{}}
"""


def every_endpoint() -> str:
    """What drf-spectacular's own ``check --deploy`` and ``manage.py spectacular`` generate in a
    host that has no SPECTACULAR_SETTINGS: every endpoint, the schema and docs views included
    (of the app's API alone here, the demo's own views aside)."""
    from django.urls import include, path
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer
    from drf_spectacular.settings import patched_settings

    with patched_settings({"PREPROCESSING_HOOKS": []}):
        generator = SchemaGenerator(patterns=[path("api/", include("webhooks_app.api.urls"))])
        return OpenApiJsonRenderer().render(generator.get_schema(public=True)).decode()


def schema_here() -> dict:
    """/api/schema/ in this process, whose test settings set drf-spectacular's AutoSchema."""
    from webhooks_app.api.views import SchemaView

    request = APIRequestFactory().get("/api/schema/", {"format": "json"})
    force_authenticate(request, user=User(username="schema", is_superuser=True, is_active=True))
    response = SchemaView.as_view()(request)
    response.render()
    assert response.status_code == 200
    return json.loads(response.content)


def schemas_in_a_host(tmp_path, schema_class: str) -> tuple[dict, dict]:
    module = f"host_settings_{abs(hash(schema_class))}"
    (tmp_path / f"{module}.py").write_text(HOST_SETTINGS.format(schema_class=schema_class))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]), DJANGO_SETTINGS_MODULE=module)
    result = subprocess.run(
        [sys.executable, "-c", GENERATE, schema_class],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    api, everything = json.loads(result.stdout)
    return api, everything


@pytest.fixture(scope="module")
def documents_as_required_before(tmp_path_factory):
    """Both documents in a host that sets drf-spectacular's AutoSchema, as the install asked."""
    api, everything = schemas_in_a_host(tmp_path_factory.mktemp("host"), "drf_spectacular.openapi.AutoSchema")
    assert api == schema_here()
    assert "/api/webhooks/{id}/test/" in api["paths"]
    assert "409" in api["paths"]["/api/deliveries/{id}/redeliver/"]["post"]["responses"]
    assert "/api/schema/" not in api["paths"]
    assert "/api/schema/" in everything["paths"]  # drf-spectacular documents its own view
    return api, everything


@pytest.mark.parametrize("schema_class", ["absent", "rest_framework.schemas.openapi.AutoSchema"])
def test_the_schema_is_the_same_whatever_the_hosts_default_schema_class(
    tmp_path, documents_as_required_before, schema_class
):
    assert schemas_in_a_host(tmp_path, schema_class) == documents_as_required_before


def test_every_api_view_and_action_carries_the_apps_schema_class():
    """The views (the schema and docs views too) and each annotated action: WebhooksAutoSchema or a subclass."""
    from webhooks_app.api import urls
    from webhooks_app.api.schema import WebhooksAutoSchema

    seen = 0
    for pattern in urls.urlpatterns:
        view = pattern.callback.cls
        assert isinstance(view.schema, WebhooksAutoSchema), view
        actions = getattr(pattern.callback, "actions", None)
        methods = actions.values() if actions else [m for m in view.http_method_names if hasattr(view, m)]
        for method in methods:
            schema = getattr(getattr(view, method), "kwargs", {}).get("schema")
            if schema is not None:
                assert issubclass(schema, WebhooksAutoSchema), (view, method, schema.__mro__)
                seen += 1
    assert seen >= 10  # the annotated actions: list, retrieve, test, rotate-secret ...

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
sys.stdout.write(response.content.decode())
"""

HOST_SETTINGS = """
from tests.settings import *  # noqa: F403
from tests.settings import REST_FRAMEWORK

REST_FRAMEWORK = {{k: v for k, v in REST_FRAMEWORK.items() if k != "DEFAULT_SCHEMA_CLASS"}}
if {schema_class!r} != "absent":
    REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = {schema_class!r}
"""


def schema_here() -> dict:
    """The document in this process: the test settings set drf-spectacular's AutoSchema."""
    request = APIRequestFactory().get("/api/schema/", {"format": "json"})
    force_authenticate(request, user=User(username="schema", is_superuser=True, is_active=True))
    from webhooks_app.api.views import SchemaView

    response = SchemaView.as_view()(request)
    response.render()
    assert response.status_code == 200
    return json.loads(response.content)


def schema_in_a_host(tmp_path, schema_class: str) -> dict:
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
    return json.loads(result.stdout)


@pytest.mark.parametrize("schema_class", ["absent", "rest_framework.schemas.openapi.AutoSchema"])
def test_the_schema_is_the_same_whatever_the_hosts_default_schema_class(tmp_path, schema_class):
    expected = schema_here()
    assert "/api/webhooks/{id}/test/" in expected["paths"]
    assert "409" in expected["paths"]["/api/deliveries/{id}/redeliver/"]["post"]["responses"]

    assert schema_in_a_host(tmp_path, schema_class) == expected


def test_every_api_view_and_action_carries_the_apps_schema_class():
    """The views (the schema and docs views too) and each annotated action: WebhooksAutoSchema or a subclass."""
    from webhooks_app.api import urls
    from webhooks_app.api.schema import WebhooksAutoSchema

    seen = 0
    for pattern in urls.urlpatterns:
        view = pattern.callback.cls
        assert isinstance(view.schema, WebhooksAutoSchema), view
        for method in getattr(pattern.callback, "actions", {}).values():
            schema = getattr(getattr(view, method), "kwargs", {}).get("schema")
            if schema is not None:
                assert issubclass(schema, WebhooksAutoSchema), (view, method, schema.__mro__)
                seen += 1
    assert seen >= 10  # the annotated actions: list, retrieve, test, rotate-secret ...

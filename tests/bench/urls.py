"""URLs of the benchmark's web server: the demo's, plus the reference the API is compared with.

``POST /bench/minimal/`` is the smallest useful DRF endpoint (section 12's reference):
token authentication, a JSON body, one row inserted (an ``auth.Group``, a model
webhooks_app does not watch), a 201 with the row's id. ``POST /api/events/`` does
what it does plus the app's validation, emit and answer; the ratio of the two, on
the same server in the same run, is what the API costs over the framework.
"""

import uuid

from django.contrib.auth.models import Group
from django.urls import path
from rest_framework import status
from rest_framework.authentication import TokenAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as demo_urlpatterns


class MinimalView(APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]

    def post(self, request):
        kind = str(request.data.get("event_type", ""))[:40] if isinstance(request.data, dict) else ""
        group = Group.objects.create(name=f"bench-{kind}-{uuid.uuid4().hex}")
        return Response({"id": group.pk}, status=status.HTTP_201_CREATED)


urlpatterns = [path("bench/minimal/", MinimalView.as_view(), name="bench-minimal"), *demo_urlpatterns]

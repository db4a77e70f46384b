"""The demo's error pages that Django's defaults do not give (config.urls names them)."""

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.views import defaults

TOO_LARGE = (
    "The request body is larger than the %(limit)s bytes this site accepts (DATA_UPLOAD_MAX_MEMORY_SIZE)."
)


def bad_request(request, exception):
    """Django's 400 page, except for a body over DATA_UPLOAD_MAX_MEMORY_SIZE: a short 413 page.

    Django answers such a body (read by the CSRF check or a form) with its 400
    handler; the API answers it with a JSON 413 of its own (webhooks_app.api.errors).
    """
    if isinstance(exception, RequestDataTooBig):
        from django.conf import settings

        page = defaults.ERROR_PAGE_TEMPLATE % {
            "title": "Request too large (413)",
            "details": TOO_LARGE % {"limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
        }
        return HttpResponse(page, status=413)
    return defaults.bad_request(request, exception)

"""The framework test routes (see test_frameworks.py) in Django, as one
module: settings, URLconf and views."""
import json

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="kirin-e2e-not-secret",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={},
    USE_TZ=True,
)

import django  # noqa: E402

django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import JsonResponse, StreamingHttpResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.http import require_GET, require_POST  # noqa: E402

from fw_common import chunks, summary  # noqa: E402


@require_POST
def json_echo(request):
    return JsonResponse({"got": json.loads(request.body), "framework": "django"})


@require_POST
def upload(request):
    f = request.FILES["file"]
    return JsonResponse(summary(f.name, f.read(), request.POST["note"]))


@require_GET
def stream(request):
    return StreamingHttpResponse(chunks(request.GET.get("ctl")), content_type="text/plain")


@require_GET
def query(request):
    return JsonResponse({"x": request.GET.get("x"), "y": request.GET.getlist("y")})


@require_GET
def headers(request):
    value = request.headers.get("X-Test")
    resp = JsonResponse({"x_test": value, "ua": request.headers.get("User-Agent")})
    resp["X-Echo"] = value
    return resp


urlpatterns = [
    path("json", json_echo),
    path("upload", upload),
    path("stream", stream),
    path("query", query),
    path("headers", headers),
]

app = get_wsgi_application()

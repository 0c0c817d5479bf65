"""The Django framework test app (fw_django: settings, URLconf, views)
through Django's ASGI handler instead of its WSGI one."""
from django.core.asgi import get_asgi_application

import fw_django  # noqa: F401  (configures Django)

app = get_asgi_application()

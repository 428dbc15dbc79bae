"""ASGI entry point. In the embedded profile it also runs the task worker.

``CONCIERGE_EMBEDDED_WORKER=1`` (set by ``./concierge demo`` and
``./concierge serve`` without Redis) starts the database task worker in a
daemon thread of this process, so a laptop needs one process, and events
from background work reach the sockets held by this same process.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concierge.settings")

from django.conf import settings  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

application = get_asgi_application()

if settings.EMBEDDED_WORKER:
    from concierge.core.worker import start_embedded_worker  # noqa: E402

    start_embedded_worker()

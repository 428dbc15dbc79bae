"""URL map: the agent workspace at /, the customer portal under /portal/, the API under /api/v1/."""

from django.contrib import admin
from django.urls import include, path, re_path

from concierge.api.health import healthz, readyz
from concierge.portal.help_views import imported_address, robots_txt

admin.site.site_header = "Concierge administration"
admin.site.site_title = "Concierge admin"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("robots.txt", robots_txt, name="robots_txt"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("concierge.api.urls")),
    path("portal/", include("concierge.portal.urls")),
    path("widget/", include("concierge.api.widget")),
    # Old addresses of an imported help center (knowledge.imports): Zendesk Guide's
    # /hc/<locale>/articles/<id>-<title> and Help Scout Docs' /article/<number>-<title>
    # (and their sections, categories, collections).
    re_path(
        r"^hc/(?:[A-Za-z-]+/)?(?P<kind>articles|sections|categories)/(?P<external_id>\d+)",
        imported_address,
        {"source": "zendesk"},
        name="imported_zendesk",
    ),
    re_path(
        r"^(?P<kind>article|category|collection)/(?P<external_id>\d+)",
        imported_address,
        {"source": "helpscout"},
        name="imported_helpscout",
    ),
    path("", include("concierge.workspace.urls")),
]

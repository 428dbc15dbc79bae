"""URL map: the agent workspace at /, the customer portal under /portal/, the API under /api/v1/."""

from django.contrib import admin
from django.urls import include, path

from concierge.api.health import healthz, readyz
from concierge.portal.help_views import robots_txt

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
    path("", include("concierge.workspace.urls")),
]

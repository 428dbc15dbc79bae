"""URL map: the agent workspace at /, the customer portal under /portal/, the API under /api/v1/."""

from django.contrib import admin
from django.urls import include, path

from concierge.api.health import healthz, readyz

admin.site.site_header = "Concierge administration"
admin.site.site_title = "Concierge admin"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("concierge.api.urls")),
    path("portal/", include("concierge.portal.urls")),
    path("", include("concierge.workspace.urls")),
]

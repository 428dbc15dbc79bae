"""URLs under /api/v1/: the ninja API, its docs assets, JSON for unknown routes."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path, re_path

from concierge.api.app import api
from concierge.api.docs import docs_asset
from concierge.api.errors import not_found_view, with_json_method_errors

app_name = "api"


def _api_patterns() -> list[URLPattern | URLResolver]:
    patterns, _app_name, _namespace = api.urls
    result: list[URLPattern | URLResolver] = []
    for pattern in patterns:
        if isinstance(pattern, URLPattern) and pattern.name != "api-root":
            pattern.callback = with_json_method_errors(pattern.callback)
            result.append(pattern)
        elif isinstance(pattern, URLResolver):
            result.append(pattern)
    return result


urlpatterns: list[URLPattern | URLResolver] = [
    *_api_patterns(),
    path("docs/assets/<str:name>", docs_asset, name="docs-asset"),
    # ninja's own root view raises a bare Http404 (an HTML page); ours answers JSON.
    path("", not_found_view, name="api-root"),
    re_path(r"^.*$", not_found_view, name="not-found"),
]

"""The interactive API docs (Swagger UI), served from our origin under a strict CSP.

django-ninja renders Swagger UI from a CDN unless ``ninja`` is an installed
app; we keep it out of INSTALLED_APPS and serve the three assets it ships
(bundle, init script, stylesheet) from the package ourselves, so the page
needs nothing beyond ``script-src 'self'`` and ``style-src 'self'``: the
settings travel in a JSON data block, which CSP does not treat as script.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ninja
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import cache_control
from ninja.openapi.docs import DocsBase

if TYPE_CHECKING:
    from ninja import NinjaAPI

NINJA_STATIC = Path(ninja.__file__).resolve().parent / "static" / "ninja"
DOCS_ASSETS = frozenset(
    {"swagger-ui-bundle.js", "swagger-ui-init.js", "swagger-ui.css", "favicon.png"}
)


class SelfHostedSwagger(DocsBase):
    """Swagger UI with its assets served by ``docs_asset`` below."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        settings = {
            "url": self.get_openapi_url(api, kwargs),
            "layout": "BaseLayout",
            "deepLinking": True,
        }
        context = {
            "title": api.title,
            "swagger_settings": settings,
            "asset_prefix": reverse(f"{api.urls_namespace}:docs-asset", args=["x"])[:-1],
        }
        return render(request, "api/docs.html", context)


@cache_control(max_age=86400, public=True)
def docs_asset(request: HttpRequest, name: str) -> FileResponse:
    """One of Swagger UI's files from the installed django-ninja package."""
    if name not in DOCS_ASSETS:
        raise Http404("No such asset.")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse((NINJA_STATIC / name).open("rb"), content_type=content_type)

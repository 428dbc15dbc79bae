"""The OpenAPI document and the docs page."""

from __future__ import annotations

import pytest
from django.test import Client

from concierge.api.app import api

pytestmark = pytest.mark.django_db


def _api_routes() -> set[tuple[str, str]]:
    routes = set()
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                full = f"/api/v1{prefix}{path}".rstrip("/") if (prefix or path) else "/api/v1/"
                for method in operation.methods:
                    routes.add((method.lower(), full.replace("{int:", "{")))
    return routes


def test_openapi_document_is_valid_and_lists_every_route(db):
    response = Client().get("/api/v1/openapi.json")

    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.")
    assert spec["info"] == {**spec["info"], "title": "Concierge API", "version": "1"}
    documented = {
        (method, path) for path, operations in spec["paths"].items() for method in operations
    }
    assert _api_routes()
    assert documented == _api_routes()
    schemes = spec["components"]["securitySchemes"]
    assert {scheme["type"] for scheme in schemes.values()} == {"http", "apiKey"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("security"), f"{method} {path} is not authenticated"
            if method == "post":
                names = {param["name"] for param in operation.get("parameters", [])}
                assert "Idempotency-Key" in names, f"POST {path} lacks Idempotency-Key"


def test_docs_page_loads_assets_from_our_origin_under_strict_csp(db):
    client = Client()

    page = client.get("/api/v1/docs")

    assert page.status_code == 200
    html = page.content.decode()
    assert "cdn" not in html.lower()
    assert "<script>" not in html  # only src= scripts and a JSON data block
    csp = page["Content-Security-Policy"]
    assert "script-src 'self';" in csp + ";" and "unsafe-inline" not in csp
    for asset in ("swagger-ui-bundle.js", "swagger-ui-init.js", "swagger-ui.css"):
        assert f"/api/v1/docs/assets/{asset}" in html
        served = client.get(f"/api/v1/docs/assets/{asset}")
        assert served.status_code == 200
        assert b"".join(served.streaming_content)


def test_docs_assets_serve_only_the_known_files(db):
    response = Client().get("/api/v1/docs/assets/..%2F..%2F__init__.py")

    assert response.status_code == 404

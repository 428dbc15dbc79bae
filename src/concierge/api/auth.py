"""Who is calling: a personal API token, or the browser session (with CSRF).

Every route requires one of the two; the exceptions (the OpenAPI document
and the docs page) are listed in ``concierge.api.app``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer

from concierge.accounts.actions import authenticate_api_token


class ApiTokenAuth(HttpBearer):
    """``Authorization: Bearer cnc_...``: a personal token from the profile page."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        return authenticate_api_token(token.strip())


class SessionCookieAuth(APIKeyCookie):
    """The signed-in browser session; unsafe methods must carry the CSRF token.

    A request that sends an ``Authorization`` header is judged by that header
    alone: a bad token must answer 401, not fall back to a cookie the client
    may not know it sent.
    """

    param_name = settings.SESSION_COOKIE_NAME

    def __call__(self, request: HttpRequest) -> Any:
        if "authorization" in request.headers:
            return None
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        return super().__call__(request)  # checks CSRF, then authenticate()

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = request.user
        return user if user.is_authenticated and user.is_active else None


def current_user(request: HttpRequest) -> Any:
    """The authenticated user of an API request (set by the auth classes above)."""
    return request.auth  # type: ignore[attr-defined]

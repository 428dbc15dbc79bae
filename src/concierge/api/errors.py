"""One error format for the whole API: ``{"code", "message", "field_errors"}``.

Every failure a client can meet renders through here: domain errors
(``ConciergeError``), request validation, authentication, CSRF, unknown
routes, wrong methods and unexpected exceptions (logged, never leaked).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from concierge.core.errors import ConciergeError

logger = logging.getLogger(__name__)

# Codes for HTTP errors ninja raises itself (body parsing, CSRF, throttling).
HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    429: "throttled",
}


def error_body(
    code: str, message: str, field_errors: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    return {"code": code, "message": message, "field_errors": field_errors or {}}


def error_response(
    status: int, code: str, message: str, field_errors: dict[str, list[str]] | None = None
) -> JsonResponse:
    return JsonResponse(error_body(code, message, field_errors), status=status)


def field_path(location: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "payload", "requester", "email")`` -> ``"requester.email"``.

    The first part names where the value came from (body, query, path,
    header); for a body the second part is the view's parameter name, which
    means nothing to a client.
    """
    parts = list(location)
    if parts and parts[0] == "body":
        return ".".join(str(part) for part in parts[2:]) or "body"
    return ".".join(str(part) for part in parts[1:] or parts) or "__all__"


def _validation_error(request: HttpRequest, exc: Any) -> HttpResponse:
    field_errors: dict[str, list[str]] = {}
    for error in exc.errors:
        field_errors.setdefault(field_path(error.get("loc", ())), []).append(
            str(error.get("msg", "Invalid value."))
        )
    return error_response(422, "validation_error", "The request is invalid.", field_errors)


def _concierge_error(request: HttpRequest, exc: Any) -> HttpResponse:
    return JsonResponse(exc.as_dict(), status=exc.status)


def _authentication_error(request: HttpRequest, exc: Any) -> HttpResponse:
    return error_response(
        401,
        "not_authenticated",
        "Sign in, or send a personal API token as 'Authorization: Bearer <token>'.",
    )


def _http_error(request: HttpRequest, exc: Any) -> HttpResponse:
    code = HTTP_ERROR_CODES.get(exc.status_code, "error")
    if exc.status_code == 403 and "csrf" in exc.message.lower():
        code = "csrf_failed"
        message = "CSRF check failed: send the X-CSRFToken header with session requests."
    else:
        message = exc.message
    return error_response(exc.status_code, code, message)


def _not_found(request: HttpRequest, exc: Any) -> HttpResponse:
    return error_response(404, "not_found", "Not found.")


def _too_big(request: HttpRequest, exc: Any) -> HttpResponse:
    limit_mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
    return error_response(
        413, "limit_exceeded", f"The request body is over the {limit_mb:.0f} MB limit."
    )


def _server_error(request: HttpRequest, exc: Any) -> HttpResponse:
    # Logged with the traceback for operators; the client learns only that it failed.
    logger.exception("Unhandled error in API request %s %s", request.method, request.path)
    return error_response(500, "server_error", "Something went wrong on our side.")


def install_error_handlers(api: NinjaAPI) -> None:
    """Replaces ninja's default handlers with ones rendering our format."""
    api.add_exception_handler(ConciergeError, _concierge_error)
    api.add_exception_handler(ValidationError, _validation_error)
    api.add_exception_handler(AuthenticationError, _authentication_error)
    api.add_exception_handler(HttpError, _http_error)
    api.add_exception_handler(Http404, _not_found)
    api.add_exception_handler(RequestDataTooBig, _too_big)
    api.add_exception_handler(Exception, _server_error)


ViewFunction = Callable[..., HttpResponse]


def with_json_method_errors(view: ViewFunction) -> ViewFunction:
    """Renders ninja's plain-text 405 (a method the route lacks) in our format."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and "json" not in response.get("Content-Type", ""):
            allowed = response.get("Allow", "")
            json_response = error_response(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here. Allowed: {allowed}.",
            )
            json_response["Allow"] = allowed
            return json_response
        return response

    wrapped.csrf_exempt = True  # type: ignore[attr-defined]
    return wrapped


def not_found_view(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any /api/v1/ address no route matches."""
    return error_response(404, "not_found", f"No API route at {request.path}.")

"""Who reaches workspace pages, decided by concierge.core.policy, and how refusals look.

Anonymous visitors are sent to sign in; signed-in customers get a 403 page
pointing them to the portal; domain errors raised inside a view become the
matching error page, so a view only handles the errors it can explain on
its own form.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render

from concierge.core import policy
from concierge.core.errors import ConciergeError, NotFound, PermissionDenied

View = Callable[..., HttpResponseBase]


def page(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HttpResponse:
    """Renders a workspace page with what the header needs."""
    user = request.user
    full_context = {
        "nav_can_manage_settings": policy.can_manage_settings(user),
        **(context or {}),
    }
    return render(request, template, full_context, status=status)


def error_page(request: HttpRequest, error: ConciergeError) -> HttpResponse:
    titles = {404: "Not found", 403: "Not allowed"}
    return render(
        request,
        "workspace/error.html",
        {
            "title": titles.get(error.status, "Something went wrong"),
            "message": error.message,
            "is_staff": policy.is_staff(request.user),
        },
        status=error.status,
    )


def _sign_in_from_background(request: HttpRequest) -> HttpResponse:
    """A background (htmx) request from a page whose session ended: the whole page signs in.

    A plain redirect would be followed by htmx and the sign-in form swapped
    into a panel; HX-Redirect sends the browser there instead, back to the
    page afterwards (its path only: the header comes from the browser).
    """
    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    back = current.path + (f"?{current.query}" if current.query else "")
    response = HttpResponse(status=200)
    response["HX-Redirect"] = redirect_to_login(back or request.get_full_path()).url
    return response


def staff_required(view: View) -> View:
    """Lets staff through; sends anonymous visitors to sign in and refuses everyone else."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            if request.headers.get("HX-Request") == "true":
                return _sign_in_from_background(request)
            return redirect_to_login(request.get_full_path())
        if not policy.can_use_workspace(request.user):
            return error_page(
                request,
                PermissionDenied(
                    "This area is for the support team. Your requests are in the portal."
                ),
            )
        try:
            return view(request, *args, **kwargs)
        except (NotFound, PermissionDenied) as error:
            return error_page(request, error)

    return wrapper


def settings_required(view: View) -> View:
    """Staff pages that configure the desk: admins only."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        policy.require(
            policy.can_manage_settings(request.user), "Only admins change desk settings."
        )
        return view(request, *args, **kwargs)

    return staff_required(wrapper)

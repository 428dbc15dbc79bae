"""The access matrix: every URL of the app, for each of seven actors, against one fixed world.

The URLs are enumerated from the root URLconf (the API's routes included),
so an endpoint added without a rule in ``access_rules.RULES`` fails
``test_every_url_has_an_access_rule``. Each (actor, method, URL) is one test
case named after all three; every refused request must leave the database
exactly as it was, and so must every GET.

The world is built once for the module inside a transaction that is rolled
back at the end; each case runs in its own savepoint (pytest-django's ``db``),
so an allowed write never leaks into the next case.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib import messages
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from pytest_django.plugin import DjangoDbBlocker

from concierge.accounts.models import User
from concierge.api.app import api
from concierge.customers.models import Organization
from concierge.tickets.actions import create_ticket
from concierge.tickets.models import Channel, EntryKind, Status, Ticket
from tests.security.access_rules import (
    ALLOW,
    DEFAULT_PARAMS,
    DENY,
    NOT_FOUND,
    REFUSE,
    ROUTE_PARAMS,
    RULES,
    SIGN_IN,
    Rule,
)
from tests.security.world import (
    ACTORS,
    ADMIN,
    AGENT,
    ANONYMOUS,
    COLLEAGUE,
    INTERNAL_NOTE_TEXT,
    LIGHT_AGENT,
    NOTE_FILE,
    OUTSIDER,
    OWNER,
    PUBLIC_FILE,
    PUBLIC_REPLY_TEXT,
    STAFF,
    STAFF_ONLY_SECRETS,
    World,
    build_world,
    changed_tables,
    database_fingerprint,
    sign_in_everyone,
)

pytestmark = pytest.mark.django_db

SKIPPED_PREFIXES = ("admin/", "static/", "media/")
SIGN_IN_PATHS = {"/login/", "/portal/login/", "/admin/login/"}
API_PREFIX = "/api/v1/"


# --- the URLs the app serves ---------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    route: str  # the full route, e.g. "api/v1/tickets/<int:ticket_id>"
    name: str  # namespaced URL name, or the route when a pattern has no name
    params: tuple[str, ...]


def _pattern_params(pattern: URLPattern | URLResolver) -> list[str]:
    converters = getattr(pattern.pattern, "converters", None)
    if converters is not None:
        return list(converters)
    return list(pattern.pattern.regex.groupindex)


def enumerate_endpoints() -> list[Endpoint]:
    """Every URL pattern of the root URLconf except Django admin's (tested on its own)."""
    found: list[Endpoint] = []

    def walk(patterns: list[Any], prefix: str, namespace: str, params: tuple[str, ...]) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            here = (*params, *_pattern_params(pattern))
            if route.startswith(SKIPPED_PREFIXES):
                continue
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, route, inner, here)
            else:
                name = f"{namespace}{pattern.name}" if pattern.name else route
                found.append(Endpoint(route=route, name=name, params=here))

    walk(get_resolver().url_patterns, "", "", ())
    return found


def api_operation_methods() -> dict[str, set[str]]:
    """``{"api:get_ticket": {"GET"}, ...}``: the methods each API route answers."""
    methods: dict[str, set[str]] = {}
    for _prefix, router in api._routers:
        for path_view in router.path_operations.values():
            for operation in path_view.operations:
                name = f"api:{api.get_operation_url_name(operation, router=router)}"
                methods.setdefault(name, set()).update(operation.methods)
    return methods


ENDPOINTS = {endpoint.name: endpoint for endpoint in enumerate_endpoints()}


# --- the world, once per module ---------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated_media_and_mail(settings: Any) -> None:
    # Replaces the project-wide fixture: uploads must stay in the module's media folder,
    # where the world's attachments were stored.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    cache.clear()


@pytest.fixture(scope="module")
def world(
    django_db_setup: None, django_db_blocker: DjangoDbBlocker, tmp_path_factory: Any
) -> Iterator[World]:
    media: Path = tmp_path_factory.mktemp("access-matrix-media")
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=str(media)):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            built = build_world()
            sign_in_everyone(built)
            yield built
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


# --- making requests ----------------------------------------------------------------------------


# One client per (actor, API or pages) for the whole module: a new client loads the
# middleware again, and WhiteNoise then scans every static file.
_clients: dict[tuple[str, bool], Client] = {}


def client_for(world: World, actor: str, *, api_call: bool) -> Client:
    """A session for pages; a personal token for the API (nothing for anonymous)."""
    client = _clients.get((actor, api_call))
    if client is None:
        headers = {}
        if api_call and actor != ANONYMOUS:
            headers["Authorization"] = f"Bearer {world.tokens[actor]}"
        client = _clients[(actor, api_call)] = Client(headers=headers)
    client.cookies.clear()
    if actor != ANONYMOUS and not api_call:
        client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[actor]
    return client


def url_for(world: World, rule: Rule, actor: str) -> str:
    if rule.url:
        return rule.url
    endpoint = ENDPOINTS[rule.name]
    kwargs = {}
    for param in endpoint.params:
        value = rule.params.get(param)
        if value is None:
            value = next(
                (v for (prefix, p), v in ROUTE_PARAMS.items()
                 if p == param and endpoint.route.startswith(prefix)),
                DEFAULT_PARAMS[param],
            )  # fmt: skip
        kwargs[param] = value(world, actor)
    url = reverse(rule.name, kwargs=kwargs)
    if rule.query:
        url += rule.query.format(customer_id=world.owner_customer.pk)
    return url


def send(client: Client, method: str, url: str, body: dict[str, Any]) -> HttpResponse:
    if url.startswith(API_PREFIX):
        if method == "GET":
            return client.get(url)  # type: ignore[return-value]
        return client.generic(  # type: ignore[return-value]
            method, url, json.dumps(body), content_type="application/json"
        )
    if method == "GET":
        return client.get(url)  # type: ignore[return-value]
    return client.post(url, body)  # type: ignore[return-value]


def _redirects_to_sign_in(response: HttpResponse) -> bool:
    return 300 <= response.status_code < 400 and urlsplit(response["Location"]).path in (
        SIGN_IN_PATHS
    )


def _error_messages(response: HttpResponse) -> list[str]:
    request = getattr(response, "wsgi_request", None)
    if request is None:
        return []
    return [str(m) for m in get_messages(request) if m.level >= messages.ERROR]


def outcome_problem(
    expected: str, response: HttpResponse, *, actor: str, url: str, method: str, rule: Rule,
    changed: list[str],
) -> str | None:  # fmt: skip
    """What is wrong with ``response`` for the ``expected`` outcome, or None."""
    status = response.status_code
    is_api = url.startswith(API_PREFIX)
    location = response.get("Location", "")
    seen = f"got {status}{' -> ' + location if location else ''}"
    if expected == ALLOW:
        if not (200 <= status < 400) or _redirects_to_sign_in(response):
            return f"expected access, {seen}"
        if errors := _error_messages(response):
            return f"expected access, {seen} with error {errors}"
        if method != "GET" and rule.changes and not changed:
            return f"expected the write to change something, {seen} and nothing changed"
    elif expected == DENY:
        anonymous_status = 401 if rule.credential == "user" else 403
        if actor == ANONYMOUS and is_api and status != anonymous_status:
            return f"expected {anonymous_status} for an anonymous API call, {seen}"
        if actor == ANONYMOUS and not is_api and not _redirects_to_sign_in(response):
            return f"expected a redirect to sign in, {seen}"
        if actor != ANONYMOUS and status not in (401, 403, 404):
            if is_api or not _redirects_to_sign_in(response):
                return f"expected 401/403/404{'' if is_api else ' or sign-in'}, {seen}"
    elif expected == NOT_FOUND:
        if status != 404:
            return f"expected 404 (existence must not leak), {seen}"
    elif expected == REFUSE:
        refused_page = status in (200, 400, 403, 404, 409, 422, 429)
        refused_redirect = 300 <= status < 400 and bool(_error_messages(response))
        if not (refused_page or refused_redirect):
            return f"expected the request to be refused, {seen}"
    elif expected == SIGN_IN:
        if not _redirects_to_sign_in(response):
            return f"expected a redirect to sign in, {seen}"
    else:
        return f"unknown outcome {expected!r} in the rule table"
    if expected != ALLOW and changed:
        return f"{expected}: {seen}, but these tables changed: {changed}"
    if expected == ALLOW and method == "GET" and changed:
        return f"a GET changed these tables: {changed}"
    return None


def _body(response: HttpResponse) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return bytes(response.content)


def leaked_secret(response: HttpResponse, actor: str) -> str | None:
    """Customers and anonymous visitors never read staff-only text, whatever the endpoint."""
    if actor in STAFF:
        return None
    body = _body(response)
    leaked = [secret.decode() for secret in STAFF_ONLY_SECRETS if secret in body]
    return f"the response shows staff-only text: {leaked}" if leaked else None


def _case_id(rule: Rule, actor: str) -> str:
    route = rule.url or "/" + ENDPOINTS[rule.name].route if rule.name in ENDPOINTS else rule.name
    variant = f"[{rule.variant}]" if rule.variant else ""
    return f"{actor}-{rule.method}-{route}{variant}"


CASES = [(rule, actor) for rule in RULES for actor in ACTORS]


@pytest.mark.parametrize(("rule", "actor"), CASES, ids=[_case_id(r, a) for r, a in CASES])
def test_access_matrix(world: World, rule: Rule, actor: str) -> None:
    api_call = (rule.url or ENDPOINTS[rule.name].route).lstrip("/").startswith("api/v1/")
    client = client_for(world, actor, api_call=api_call)
    url = url_for(world, rule, actor)
    before = database_fingerprint()

    response = send(client, rule.method, url, rule.body_for(world, actor))

    changed = changed_tables(before, database_fingerprint())
    expected = rule.outcomes[actor]
    problem = outcome_problem(
        expected, response, actor=actor, url=url, method=rule.method, rule=rule, changed=changed
    ) or leaked_secret(response, actor)
    assert problem is None, f"{actor} {rule.method} {url}: {problem}"


# --- every URL has a decision -----------------------------------------------------------------


def test_every_url_has_an_access_rule() -> None:
    ruled = {rule.name for rule in RULES}
    ruled_methods = {(rule.name, rule.method) for rule in RULES}
    missing = sorted(
        f"/{endpoint.route} ({name})" for name, endpoint in ENDPOINTS.items() if name not in ruled
    )
    missing_methods = sorted(
        f"{method} {name}"
        for name, methods in api_operation_methods().items()
        for method in methods
        if (name, method) not in ruled_methods
    )
    stale = sorted(name for name in ruled if name not in ENDPOINTS)
    assert not missing, f"URLs without an access rule in tests/security/access_rules.py: {missing}"
    assert not missing_methods, f"API operations without an access rule: {missing_methods}"
    assert not stale, f"rules for URLs that no longer exist: {stale}"
    assert set(ACTORS) == {a for rule in RULES for a in rule.outcomes}


def test_matrix_covers_every_unsafe_api_operation_with_its_own_method() -> None:
    """The API routes' methods come from the API itself, not from the rule table."""
    operations = api_operation_methods()
    unsafe = {name for name, methods in operations.items() if methods - {"GET"}}
    assert unsafe, "no write operations found: the enumeration is broken"
    assert {"api:create_ticket", "api:update_ticket", "api:delete_view"} <= unsafe


# --- what a customer sees of ticket T ----------------------------------------------------------


def _session(world: World, actor: str) -> Client:
    return client_for(world, actor, api_call=False)


def _token(world: World, actor: str) -> Client:
    return client_for(world, actor, api_call=True)


def test_requester_sees_their_ticket_but_never_the_internal_note(world: World) -> None:
    ticket = world.ticket
    portal = _session(world, OWNER)
    api_client = _token(world, OWNER)

    page = portal.get(f"/portal/requests/{ticket.pk}/").content.decode()
    listing = portal.get("/portal/requests/").content.decode()
    entries = api_client.get(f"/api/v1/tickets/{ticket.pk}/entries").json()["items"]
    listed = [item["id"] for item in api_client.get("/api/v1/tickets").json()["items"]]
    public_file = portal.get(f"/attachments/{world.public_attachment.pk}/")
    api_file = api_client.get(f"/api/v1/attachments/{world.public_attachment.pk}")

    assert PUBLIC_REPLY_TEXT in page and ticket.subject in listing
    assert INTERNAL_NOTE_TEXT not in page and "approval.txt" not in page
    assert {entry["kind"] for entry in entries} == {EntryKind.PUBLIC_REPLY}
    assert all(INTERNAL_NOTE_TEXT not in json.dumps(entry) for entry in entries)
    assert ticket.pk in listed
    assert b"".join(public_file.streaming_content) == PUBLIC_FILE  # type: ignore[attr-defined]
    assert b"".join(api_file.streaming_content) == PUBLIC_FILE  # type: ignore[attr-defined]
    assert portal.get(f"/attachments/{world.note_attachment.pk}/").status_code == 404
    assert api_client.get(f"/api/v1/attachments/{world.note_attachment.pk}").status_code == 404


@pytest.mark.parametrize("actor", [COLLEAGUE, OUTSIDER])
def test_other_customers_do_not_find_the_ticket_anywhere(world: World, actor: str) -> None:
    ticket = world.ticket
    portal = _session(world, actor)
    api_client = _token(world, actor)
    before = database_fingerprint()

    statuses = {
        "portal page": portal.get(f"/portal/requests/{ticket.pk}/").status_code,
        "portal reply": portal.post(
            f"/portal/requests/{ticket.pk}/reply/", {"body": "me too"}
        ).status_code,
        "portal solve": portal.post(f"/portal/requests/{ticket.pk}/solve/").status_code,
        "api ticket": api_client.get(f"/api/v1/tickets/{ticket.pk}").status_code,
        "api entries": api_client.get(f"/api/v1/tickets/{ticket.pk}/entries").status_code,
        "api reply": api_client.post(
            f"/api/v1/tickets/{ticket.pk}/entries",
            {"kind": "reply", "body": "me too"},
            content_type="application/json",
        ).status_code,
        "download": portal.get(f"/attachments/{world.public_attachment.pk}/").status_code,
        "api download": api_client.get(
            f"/api/v1/attachments/{world.public_attachment.pk}"
        ).status_code,
    }
    listing = portal.get("/portal/requests/?scope=organization").content.decode()
    listed = [item["id"] for item in api_client.get("/api/v1/tickets").json()["items"]]
    searched = api_client.get(f"/api/v1/tickets?q={ticket.pk}").json()["items"]

    assert statuses == dict.fromkeys(statuses, 404)
    assert ticket.subject not in listing
    assert ticket.pk not in listed and searched == []
    assert changed_tables(before, database_fingerprint()) == []


def test_organization_visibility_lets_a_colleague_see_the_ticket_but_never_the_note(
    world: World,
) -> None:
    ticket = world.ticket
    response = _session(world, ADMIN).post(
        f"/settings/organizations/{world.organization_a.pk}/", {"members_see_all_requests": "on"}
    )
    assert response.status_code == 302
    assert Organization.objects.get(pk=world.organization_a.pk).members_see_all_requests

    portal = _session(world, COLLEAGUE)
    api_client = _token(world, COLLEAGUE)
    page = portal.get(f"/portal/requests/{ticket.pk}/")
    listing = portal.get("/portal/requests/?scope=organization").content.decode()
    api_ticket = api_client.get(f"/api/v1/tickets/{ticket.pk}")
    entries = api_client.get(f"/api/v1/tickets/{ticket.pk}/entries").json()["items"]
    listed = [item["id"] for item in api_client.get("/api/v1/tickets").json()["items"]]

    assert page.status_code == 200 and PUBLIC_REPLY_TEXT in page.content.decode()
    assert INTERNAL_NOTE_TEXT not in page.content.decode()
    assert ticket.subject in listing
    assert api_ticket.status_code == 200 and api_ticket.json()["id"] == ticket.pk
    assert ticket.pk in listed
    assert {entry["kind"] for entry in entries} == {EntryKind.PUBLIC_REPLY}
    assert portal.get(f"/attachments/{world.public_attachment.pk}/").status_code == 200
    assert portal.get(f"/attachments/{world.note_attachment.pk}/").status_code == 404
    assert api_client.get(f"/api/v1/attachments/{world.note_attachment.pk}").status_code == 404
    assert api_client.get(f"/api/v1/tickets/{ticket.pk}/audit").status_code == 403
    # The other organization's customers still learn nothing.
    assert _session(world, OUTSIDER).get(f"/portal/requests/{ticket.pk}/").status_code == 404
    assert _token(world, OUTSIDER).get(f"/api/v1/tickets/{ticket.pk}").status_code == 404


def test_organization_visibility_does_not_open_other_records_to_colleagues(world: World) -> None:
    Organization.objects.filter(pk=world.organization_a.pk).update(members_see_all_requests=True)
    api_client = _token(world, COLLEAGUE)
    before = database_fingerprint()

    customer = api_client.get(f"/api/v1/customers/{world.owner_customer.pk}")
    note = api_client.post(
        f"/api/v1/tickets/{world.ticket.pk}/entries",
        {"kind": "note", "body": "sneaky"},
        content_type="application/json",
    )
    update = api_client.patch(
        f"/api/v1/tickets/{world.ticket.pk}", {"status": "solved"}, content_type="application/json"
    )

    assert (customer.status_code, note.status_code, update.status_code) == (404, 403, 403)
    assert changed_tables(before, database_fingerprint()) == []


def test_signing_up_with_someone_elses_email_does_not_reveal_their_requests(
    world: World,
) -> None:
    # The old record wrote to us by email and never signed in; a stranger knows the address.
    emailed = create_ticket(
        actor=None,
        requester=world.duplicate_customer,
        subject="My home address changed",
        body="Please ship to 12 Elm Street from now on.",
        channel=Channel.EMAIL,
    )
    stranger = Client()

    stranger.post(
        "/portal/signup/",
        {"name": "Mallory", "email": "olive.old@acme.test", "password": "tangerine-kayak-71"},
    )
    signed_in = stranger.post(
        "/portal/login/", {"email": "olive.old@acme.test", "password": "tangerine-kayak-71"}
    )

    # Without the link mailed to the address, the account is not let in.
    assert signed_in.status_code == 403
    assert "Confirm your email address first" in signed_in.content.decode()
    assert stranger.get(f"/portal/requests/{emailed.pk}/").status_code in (302, 404)


# --- light agents, CSRF and the Django admin ----------------------------------------------------


def test_light_agent_note_cannot_change_the_ticket_status(world: World) -> None:
    response = _token(world, LIGHT_AGENT).post(
        f"/api/v1/tickets/{world.ticket.pk}/entries",
        {"kind": "note", "body": "Looks solved to me.", "status_after": "solved"},
        content_type="application/json",
    )

    assert response.status_code == 201
    assert Ticket.objects.get(pk=world.ticket.pk).status != Status.SOLVED


def test_light_agent_reads_everything_staff_read(world: World) -> None:
    ticket = world.ticket
    page = _session(world, LIGHT_AGENT).get(f"/tickets/{ticket.pk}/").content.decode()
    entries = _token(world, LIGHT_AGENT).get(f"/api/v1/tickets/{ticket.pk}/entries").json()
    note_file = _session(world, LIGHT_AGENT).get(f"/attachments/{world.note_attachment.pk}/")

    assert PUBLIC_REPLY_TEXT in page and INTERNAL_NOTE_TEXT in page
    assert EntryKind.INTERNAL_NOTE in {entry["kind"] for entry in entries["items"]}
    assert b"".join(note_file.streaming_content) == NOTE_FILE  # type: ignore[attr-defined]


def test_api_session_write_without_csrf_token_is_refused(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(pk=world.users[AGENT].pk))
    url = f"/api/v1/tickets/{world.ticket.pk}/entries"
    before = database_fingerprint()

    refused = client.post(url, {"kind": "note", "body": "x"}, content_type="application/json")

    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    assert changed_tables(before, database_fingerprint()) == []
    # The same request with the token goes through: the session itself was fine.
    client.get("/profile/")
    token = client.cookies["csrftoken"].value
    accepted = client.post(
        url,
        {"kind": "note", "body": "x"},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert accepted.status_code == 201


def test_inbound_mail_takes_the_mailbox_secret_and_no_user_credential(world: World) -> None:
    url = f"/api/v1/mail/inbound/{world.mailbox_id}/postmark"
    body = {
        "FromFull": {"Email": "olive@acme.test", "Name": "Olive"},
        "ToFull": [{"Email": "help@concierge.test"}],
        "Subject": "Parcel",
        "TextBody": "Still waiting.",
        "MessageID": "matrix-1@acme.test",
        "Headers": [],
    }
    admin_token = {"Authorization": f"Bearer {world.tokens[ADMIN]}"}
    before = database_fingerprint()

    with_token = Client().post(url, body, content_type="application/json", headers=admin_token)
    wrong_secret = Client().post(
        url,
        body,
        content_type="application/json",
        headers={"X-Concierge-Mailbox-Secret": "guess"},
    )
    assert (with_token.status_code, wrong_secret.status_code) == (403, 403)
    assert changed_tables(before, database_fingerprint()) == []

    accepted = Client().post(
        url,
        body,
        content_type="application/json",
        headers={"X-Concierge-Mailbox-Secret": world.mailbox_secret},
    )
    assert accepted.status_code == 202


def test_bad_token_is_refused_even_with_a_valid_session(world: World) -> None:
    client = _session(world, ADMIN)
    before = database_fingerprint()

    response = client.patch(
        f"/api/v1/tickets/{world.ticket.pk}",
        {"priority": "low"},
        content_type="application/json",
        headers={"Authorization": "Bearer cnc_not-a-real-token"},
    )

    assert response.status_code == 401
    assert changed_tables(before, database_fingerprint()) == []


@pytest.mark.parametrize("actor", ACTORS)
def test_django_admin_is_for_admins_only(world: World, actor: str) -> None:
    response = client_for(world, actor, api_call=False).get("/admin/")

    if actor == ADMIN:
        assert response.status_code == 200
    else:
        assert response.status_code in (302, 403)
        if response.status_code == 302:
            assert urlsplit(response["Location"]).path == "/admin/login/"

"""Authentication (tokens, sessions with CSRF) and the one error format."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from concierge.accounts.actions import create_api_token
from concierge.accounts.models import ApiToken
from concierge.api import tags as tags_module
from concierge.tickets.models import Ticket
from tests.api.helpers import api_client
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

ERROR_KEYS = {"code", "message", "field_errors"}


def test_valid_token_authenticates_and_stamps_last_use(agent_user):
    token, secret = create_api_token(actor=agent_user, name="ci")
    client = Client(headers={"Authorization": f"Bearer {secret}"})

    response = client.get("/api/v1/tickets")

    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert timezone.now() - token.last_used_at < timedelta(minutes=1)


def test_revoked_token_is_refused_with_401(agent_user):
    token, secret = create_api_token(actor=agent_user, name="old")
    token.revoke()
    client = Client(headers={"Authorization": f"Bearer {secret}"})

    response = client.get("/api/v1/tickets")

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert set(response.json()) == ERROR_KEYS


def test_unknown_token_is_refused_even_with_a_session_cookie(agent_user):
    client = Client(headers={"Authorization": "Bearer cnc_not-a-real-token"})
    client.force_login(agent_user)

    response = client.get("/api/v1/tickets")

    assert response.status_code == 401


def test_anonymous_request_gets_401_in_error_format(db):
    response = Client().get("/api/v1/tickets")

    assert response.status_code == 401
    assert response.json() == {
        "code": "not_authenticated",
        "message": response.json()["message"],
        "field_errors": {},
    }


def test_session_reads_without_csrf_but_writes_need_the_token(agent_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent_user)
    customer = CustomerFactory()
    body = {"subject": "Hi", "body": "Hello", "requester": {"id": customer.pk}}

    assert client.get("/api/v1/tickets").status_code == 200
    refused = client.post("/api/v1/tickets", body, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    assert not Ticket.objects.exists()

    csrf_token = client.get("/api/v1/docs").context["csrf_token"]
    accepted = client.post(
        "/api/v1/tickets",
        body,
        content_type="application/json",
        headers={"X-CSRFToken": str(csrf_token)},
    )
    assert accepted.status_code == 201
    assert Ticket.objects.count() == 1


def test_token_writes_need_no_csrf(agent_user):
    customer = CustomerFactory()
    client = api_client(agent_user)
    client.handler.enforce_csrf_checks = True

    response = client.post(
        "/api/v1/tickets",
        {"subject": "Hi", "body": "Hello", "requester": {"id": customer.pk}},
        content_type="application/json",
    )

    assert response.status_code == 201


def test_request_validation_errors_list_field_paths(agent_user):
    response = api_client(agent_user).post(
        "/api/v1/tickets",
        {"body": "Hello", "requester": {"id": "not-a-number"}},
        content_type="application/json",
    )

    assert response.status_code == 422
    data = response.json()
    assert data["code"] == "validation_error"
    assert set(data["field_errors"]) == {"subject", "requester.id"}


def test_query_parameter_errors_use_the_same_format(agent_user):
    response = api_client(agent_user).get("/api/v1/tickets?page_size=1000")

    assert response.status_code == 422
    assert list(response.json()["field_errors"]) == ["page_size"]


def test_domain_errors_keep_code_status_and_field_errors(agent_user):
    response = api_client(agent_user).get("/api/v1/tickets?status=bogus")

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert "status" in response.json()["field_errors"]


def test_permission_denied_renders_403(customer_user):
    response = api_client(customer_user).get("/api/v1/agents")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_unknown_ticket_is_404(agent_user):
    response = api_client(agent_user).get("/api/v1/tickets/999999")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_unknown_route_is_404_json(agent_user):
    response = api_client(agent_user).get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert set(response.json()) == ERROR_KEYS


def test_wrong_method_is_405_json_with_allow_header(agent_user):
    response = api_client(agent_user).delete("/api/v1/tickets")

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert set(response["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}


def test_malformed_json_is_400(agent_user):
    response = api_client(agent_user).post(
        "/api/v1/tickets", "{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"


def test_unexpected_exception_is_500_without_traceback(agent_user, monkeypatch):
    def explode(**kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(tags_module, "tag_counts", explode)

    response = api_client(agent_user).get("/api/v1/tags")

    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
    assert b"secret internals" not in response.content
    assert b"Traceback" not in response.content


def test_inactive_users_token_is_refused(agent_user):
    _token, secret = create_api_token(actor=agent_user, name="ci")
    agent_user.is_active = False
    agent_user.save()

    response = Client(headers={"Authorization": f"Bearer {secret}"}).get("/api/v1/tickets")

    assert response.status_code == 401
    assert ApiToken.objects.filter(user=agent_user).count() == 1
